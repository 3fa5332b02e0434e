"""The actions: read the plan, set a one-off departure."""

from __future__ import annotations

from datetime import datetime

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
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
    assert plan["schedule"][0] == {
        "start": "2026-01-15T17:30:00+00:00",
        "power_w": 11000.0,
        "soc_pct": pytest.approx(44.2, abs=0.1),  # + 11 kW x 0.25 h x 0.92 of 60 kWh
    }


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
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "90.0"
    departure = hass.states.get("sensor.garage_ev_departure")
    assert departure.state == "2026-01-15T21:00:00+00:00"
    assert departure.attributes["source"] == "one_off"
    # 3.5 h at 11 kW (35.4 kWh into the battery) covers 40 % -> 90 % of 60 kWh (30 kWh).
    assert plan.attributes["target_reachable"] is True
    assert hass.states.get("sensor.garage_ev_state_of_charge_at_departure").state == "90.0"
    assert hass.states.get("sensor.garage_ev_time_to_departure").state == "3.5"


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
