"""Config, options and reconfigure flows."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

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

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


async def test_user_flow_simulated(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["ocpp", "simulated"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "simulated"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Driveway",
            CONF_MAX_CHARGE_POWER_W: 7400,
            CONF_MAX_DISCHARGE_POWER_W: 0,
            CONF_CAPACITY_KWH: 40,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Driveway"
    assert result["data"] == {
        CONF_CHARGER_KIND: "simulated",
        CONF_MAX_CHARGE_POWER_W: 7400.0,
        CONF_MAX_DISCHARGE_POWER_W: 0.0,
        CONF_CAPACITY_KWH: 40.0,
    }
    assert result["options"] == {**DEFAULT_OPTIONS, **DEFAULT_INPUT_OPTIONS}
    entry = result["result"]
    assert entry.unique_id == "simulated_driveway"
    await hass.async_block_till_done()
    # A charger that cannot discharge is offered no discharge power.
    assert hass.states.get("number.driveway_maximum_discharging_power").attributes["max"] == 0


async def test_user_flow_rejects_zero_charge_power(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    user_input = {
        CONF_NAME: "Driveway",
        CONF_MAX_CHARGE_POWER_W: 0,
        CONF_MAX_DISCHARGE_POWER_W: 0,
        CONF_CAPACITY_KWH: 40,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_MAX_CHARGE_POWER_W: "charge_power_required"}

    # The user corrects the value and the entry is created.
    user_input[CONF_MAX_CHARGE_POWER_W] = 3700
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_already_configured(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Garage",
            CONF_MAX_CHARGE_POWER_W: 11000,
            CONF_MAX_DISCHARGE_POWER_W: 11000,
            CONF_CAPACITY_KWH: 60,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


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
    # The reloaded entry plans with the schedule: 18:30 is in the expensive evening window.
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


async def test_reconfigure_flow(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MAX_CHARGE_POWER_W: 0, CONF_MAX_DISCHARGE_POWER_W: 0, CONF_CAPACITY_KWH: 75},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_MAX_CHARGE_POWER_W: "charge_power_required"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MAX_CHARGE_POWER_W: 7400, CONF_MAX_DISCHARGE_POWER_W: 3700, CONF_CAPACITY_KWH: 75},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_MAX_CHARGE_POWER_W] == 7400.0
    assert init_integration.data[CONF_MAX_DISCHARGE_POWER_W] == 3700.0
    assert init_integration.data[CONF_CAPACITY_KWH] == 75.0
    # The reloaded charger applies the new hardware limit.
    assert hass.states.get("sensor.garage_power").state == "7400.0"
