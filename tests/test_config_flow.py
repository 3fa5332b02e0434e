"""Config, options and reconfigure flows."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.v2g.const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DEFAULT_INPUT_OPTIONS,
    DEFAULT_OPTIONS,
    DOMAIN,
    OPT_EXPORT_ALLOWED,
    OPT_GRID_IMPORT_LIMIT_W,
)
from tests.conftest import only_backend

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


async def _new_site(hass: HomeAssistant, name: str = "Home") -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_NAME: name})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["ocpp", "modbus", "ha_entities", "simulated"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )


SIMULATED = {
    CONF_NAME: "Driveway",
    CONF_MAX_CHARGE_POWER_W: 7400,
    CONF_MAX_DISCHARGE_POWER_W: 0,
    CONF_CAPACITY_KWH: 40,
}


async def test_user_flow_site_with_simulated_charger(hass: HomeAssistant) -> None:
    result = await _new_site(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "simulated"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], SIMULATED)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    assert result["options"] == {**DEFAULT_OPTIONS, **DEFAULT_INPUT_OPTIONS}
    entry = result["result"]
    assert entry.unique_id is None
    [charger] = entry.subentries.values()
    assert charger.subentry_type == "charger"
    assert charger.title == "Driveway"
    assert charger.unique_id == "simulated_driveway"
    assert dict(charger.data) == {
        CONF_CHARGER_KIND: "simulated",
        CONF_NAME: "Driveway",
        CONF_MAX_CHARGE_POWER_W: 7400.0,
        CONF_MAX_DISCHARGE_POWER_W: 0.0,
        CONF_CAPACITY_KWH: 40.0,
        "ev_soc_entity": None,
    }
    await hass.async_block_till_done()
    # A charger that cannot discharge is offered no discharge power.
    assert hass.states.get("number.driveway_maximum_discharging_power").attributes["max"] == 0
    assert hass.states.get("sensor.home_ev_power") is not None


async def test_user_flow_keeps_input_after_errors(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    # The next free name is suggested; a taken one is refused.
    assert _suggested(result)[CONF_NAME] == "Home 2"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_NAME: "Home"})
    assert result["errors"] == {CONF_NAME: "site_exists"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_NAME: "Cabin"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    user_input = {**SIMULATED, CONF_MAX_CHARGE_POWER_W: 0}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_MAX_CHARGE_POWER_W: "charge_power_required"}
    assert _suggested(result)[CONF_NAME] == "Driveway"  # what the user typed is kept
    # A charger another site has already is refused.
    user_input = {**SIMULATED, CONF_NAME: "Garage"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["errors"] == {"base": "charger_exists"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SIMULATED)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Cabin"


def _suggested(result: Any) -> dict[str, Any]:
    """What a form shows in its fields."""
    values = {}
    for marker in result["data_schema"].schema:
        description = marker.description or {}
        if "suggested_value" in description:
            values[str(marker)] = description["suggested_value"]
        elif not callable(marker.default) or marker.default is not vol.UNDEFINED:
            default = marker.default() if callable(marker.default) else marker.default
            if default is not vol.UNDEFINED:
                values[str(marker)] = default
    return values


async def test_options_vehicle_site(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["vehicle_site", "prices", "export_price", "solar_load"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "vehicle_site"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "vehicle_site"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**DEFAULT_OPTIONS, OPT_GRID_IMPORT_LIMIT_W: 11_000, OPT_EXPORT_ALLOWED: False},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[OPT_GRID_IMPORT_LIMIT_W] == 11_000
    assert init_integration.options[OPT_EXPORT_ALLOWED] is False


async def _options_step(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> str:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return str(result["flow_id"])


async def test_options_prices_schedule(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    flow_id = await _options_step(hass, init_integration, "prices")
    # A schedule without windows is refused, with the reason, and nothing is saved.
    result = await hass.config_entries.options.async_configure(
        flow_id, {"price_source": "schedule", "price_schedule": ""}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"price_schedule": "invalid_option"}
    assert "no time windows" in result["description_placeholders"]["detail"]
    assert "price_source" not in init_integration.options

    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            "price_source": "schedule",
            "price_schedule": "00:30-04:30=0.10; 17:00-21:00=0.45",
            "price_schedule_default_per_kwh": 0.3,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["price_source"] == "schedule"
    # The site plans with the schedule at once: 18:30 is in the expensive evening window.
    inputs = init_integration.runtime_data.coordinator.data.inputs
    assert inputs is not None
    assert inputs.import_price_per_kwh[0] == pytest.approx(0.45)


async def test_options_price_entity_required(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    flow_id = await _options_step(hass, init_integration, "prices")
    result = await hass.config_entries.options.async_configure(flow_id, {"price_source": "entity"})
    assert result["errors"] == {"price_entity": "invalid_option"}

    hass.states.async_set(
        "sensor.nordpool_kwh_dk2_eur",
        "0.25",
        {
            "unit_of_measurement": "EUR/kWh",
            "raw_today": [
                {
                    "start": "2026-01-15T18:00:00+01:00",
                    "end": "2026-01-15T19:00:00+01:00",
                    "value": 0.25,
                }
            ],
        },
    )
    result = await hass.config_entries.options.async_configure(
        flow_id, {"price_source": "entity", "price_entity": "sensor.nordpool_kwh_dk2_eur"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["price_entity"] == "sensor.nordpool_kwh_dk2_eur"


async def test_options_export_and_solar_load(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    flow_id = await _options_step(hass, init_integration, "export_price")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"export_price_source": "fixed", "export_price_fixed_per_kwh": 0.08}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["export_price_fixed_per_kwh"] == 0.08

    flow_id = await _options_step(hass, init_integration, "solar_load")
    # A statistics-based load forecast needs a sensor; the error is shown on the form.
    result = await hass.config_entries.options.async_configure(
        flow_id, {"solar_source": "none", "load_source": "statistics"}
    )
    assert result["errors"] == {"load_entity": "invalid_option"}
    result = await hass.config_entries.options.async_configure(
        flow_id, {"solar_source": "none", "load_source": "constant", "load_constant_w": 650}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["load_constant_w"] == 650
    # Earlier choices of other steps are kept.
    assert init_integration.options["export_price_fixed_per_kwh"] == 0.08


async def test_add_reconfigure_and_remove_chargers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    hass_storage: dict[str, Any],
) -> None:
    """Chargers come and go while the site runs; the others are untouched."""
    entry = init_integration
    garage = only_backend(entry)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    assert result["step_id"] == "simulated"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**SIMULATED, CONF_MAX_DISCHARGE_POWER_W: 7400}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert len(entry.runtime_data.chargers) == 2
    # Both EVs are planned together, under the site's 17.25 kW fuse less the 400 W house load
    # (11 kW + 7.4 kW would be above it).
    plan = entry.runtime_data.coordinator.data.plan
    assert plan is not None
    assert len(plan.vehicle_ids) == 2
    assert float(hass.states.get("sensor.home_ev_power").state) == pytest.approx(16_850, abs=1)
    assert float(hass.states.get("sensor.driveway_power").state) > 1400

    # Reconfigure the new charger: it reconnects with the new limit, the other keeps going.
    driveway = next(s for s in entry.subentries.values() if s.title == "Driveway")
    result = await entry.start_subentry_reconfigure_flow(hass, driveway.subentry_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_MAX_CHARGE_POWER_W: 0, CONF_MAX_DISCHARGE_POWER_W: 0, CONF_CAPACITY_KWH: 75},
    )
    assert result["errors"] == {CONF_MAX_CHARGE_POWER_W: "charge_power_required"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_MAX_CHARGE_POWER_W: 3700, CONF_MAX_DISCHARGE_POWER_W: 0, CONF_CAPACITY_KWH: 75},
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[driveway.subentry_id].data[CONF_MAX_CHARGE_POWER_W] == 3700.0
    assert hass.states.get("sensor.driveway_power").state == "3700.0"
    assert only_backend_of(entry, "Garage") is garage  # never rebuilt

    # Remove it: idle, its devices, entities and settings gone; the garage charges on.
    backend = only_backend_of(entry, "Driveway")
    settings_key = f"{DOMAIN}.{entry.entry_id}.{driveway.subentry_id}"
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.driveway_mode", "option": "charge_now"},
        blocking=True,
    )
    await entry.runtime_data.chargers[driveway.subentry_id].settings_store.async_flush()
    assert settings_key in hass_storage
    hass.config_entries.async_remove_subentry(entry, driveway.subentry_id)
    await hass.async_block_till_done()
    assert backend.setpoint_w == 0.0
    assert settings_key not in hass_storage
    assert hass.states.get("sensor.driveway_power") is None
    assert (
        device_registry.async_get_device(identifiers={(DOMAIN, "simulated_driveway_charger")})
        is None
    )
    assert next(iter(entry.runtime_data.chargers.values())).backend is garage
    assert hass.states.get("sensor.garage_power").state == "11000.0"
    assert entry.state is ConfigEntryState.LOADED


def only_backend_of(entry: MockConfigEntry, title: str) -> Any:
    return next(c.backend for c in entry.runtime_data.chargers.values() if c.title == title)
