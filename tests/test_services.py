"""The actions: read the plan, set a one-off departure."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.const import DOMAIN

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


async def test_get_plan(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "get_plan",
        {"config_entry": init_integration.entry_id},
        blocking=True,
        return_response=True,
    )
    assert response["mode"] == "smart"
    assert response["reason"] == "charging"
    assert response["departure"] == "2026-01-16T07:30:00+01:00"
    plan = response["plan"]
    assert plan["status"] == "optimal"
    assert plan["target_reachable"] is True
    assert plan["departure_soc_pct"] == pytest.approx(80.0, abs=0.1)
    assert plan["currency"] == "EUR"
    # Local times, whole watts, prices per slot.
    assert plan["schedule"][0] == {
        "start": "2026-01-15T18:30:00+01:00",
        "power_w": 11000,
        "soc_pct": pytest.approx(44.2, abs=0.1),  # + 11 kW x 0.25 h x 0.92 of 60 kWh
        "import_price": 0.3,
        "export_price": 0.3,
        "estimated": False,
    }
    # The site's plan and every charger's are there too.
    assert response["site"]["site"] == "Home"
    assert response["site"]["plan"]["vehicles"] == 1
    assert response["site"]["plan"]["schedule"][1]["start"] == "2026-01-15T18:45:00+01:00"
    assert [c["charger"] for c in response["chargers"]] == ["Garage"]


async def test_actions_name_a_charger_on_a_site_with_several(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    entry = init_integration
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(
                {
                    "charger_kind": "simulated",
                    "name": "Carport",
                    "max_charge_power_w": 7400.0,
                    "max_discharge_power_w": 0.0,
                    "capacity_kwh": 40.0,
                }
            ),
            subentry_type="charger",
            title="Carport",
            unique_id="simulated_carport",
        ),
    )
    await hass.async_block_till_done()
    departure = {"config_entry": entry.entry_id, "departure": "2026-01-15 22:00:00"}
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "set_departure", departure, blocking=True)
    assert err.value.translation_key == "charger_required"
    site_device = device_registry.async_get_device(identifiers={(DOMAIN, f"{entry.entry_id}_site")})
    assert site_device is not None
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "set_departure", departure | {"device_id": site_device.id}, blocking=True
        )
    assert err.value.translation_key == "unknown_charger"
    ev = device_registry.async_get_device(identifiers={(DOMAIN, "simulated_carport_ev")})
    assert ev is not None
    await hass.services.async_call(
        DOMAIN, "set_departure", departure | {"device_id": ev.id}, blocking=True
    )
    assert hass.states.get("sensor.carport_ev_departure").attributes["source"] == "one_off"
    assert hass.states.get("sensor.garage_ev_departure").attributes["source"] == "daily"
    response = await hass.services.async_call(
        DOMAIN,
        "get_plan",
        {"config_entry": entry.entry_id, "device_id": ev.id},
        blocking=True,
        return_response=True,
    )
    assert response["charger"] == "Carport"
    assert len(response["chargers"]) == 2


async def test_set_departure_one_off(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "set_departure",
        {
            "config_entry": init_integration.entry_id,
            "departure": "2026-01-15 22:00:00",
            "target_soc": 90,
        },
        blocking=True,
    )
    plan = hass.states.get("sensor.garage_plan")
    assert datetime.fromisoformat(plan.attributes["departure"]) == datetime.fromisoformat(
        "2026-01-15T22:00:00+01:00"
    )
    # The trip's own target: the daily target stays.
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "80"
    assert hass.states.get("sensor.garage_ev_departure_source").state == "one_off"
    departure = hass.states.get("sensor.garage_ev_departure")
    assert departure.state == "2026-01-15T21:00:00+00:00"
    assert departure.attributes["source"] == "one_off"
    # 3.5 h at 11 kW (35.4 kWh into the battery) covers 40 % -> 90 % of 60 kWh (30 kWh).
    assert plan.attributes["target_reachable"] is True
    assert hass.states.get("sensor.garage_ev_state_of_charge_at_departure").state == "90.0"
    assert hass.states.get("sensor.garage_ev_time_to_departure").state == "3.5"

    # Cancelled: the daily departure and target count again.
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.garage_ev_cancel_one_off_departure"}, blocking=True
    )
    assert hass.states.get("sensor.garage_ev_departure_source").state == "daily"
    assert hass.states.get("button.garage_ev_cancel_one_off_departure").state == "unavailable"
    assert hass.states.get("sensor.garage_ev_state_of_charge_at_departure").state == "80.0"


async def test_departure_inside_a_quarter_hour(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A 20:50 departure is planned to 20:50, not to the quarter's start at 20:45."""
    # 40 % -> 79 % of 60 kWh at 11 kW and 92 % takes 2 h 19 min: 20:49 from 18:30.
    await hass.services.async_call(
        DOMAIN,
        "set_departure",
        {
            "config_entry": init_integration.entry_id,
            "departure": "2026-01-15 20:50:00",
            "target_soc": 79,
        },
        blocking=True,
    )
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["target_reachable"] is True
    assert plan.attributes["departure_soc_pct"] == pytest.approx(79.0, abs=0.1)
    starts = [point["start"] for point in plan.attributes["schedule"]]
    assert "2026-01-15T20:45:00+01:00" in starts
    assert "2026-01-15T20:50:00+01:00" in starts
    await hass.services.async_call(
        DOMAIN, "cancel_departure", {"config_entry": init_integration.entry_id}, blocking=True
    )
    assert hass.states.get("sensor.garage_ev_departure_source").state == "daily"


async def test_set_departure_rejects_bad_input(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_departure",
            {"config_entry": init_integration.entry_id, "departure": "2026-01-15 06:00:00"},
            blocking=True,
        )
    assert err.value.translation_key == "departure_in_past"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_departure",
            {
                "config_entry": init_integration.entry_id,
                "departure": "2026-01-16 06:00:00",
                "target_soc": 15,
            },
            blocking=True,
        )
    assert err.value.translation_key == "min_soc_above_target"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "get_plan", {"config_entry": "nope"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "invalid_config_entry"
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "get_plan",
            {"config_entry": init_integration.entry_id},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "unloaded_config_entry"
