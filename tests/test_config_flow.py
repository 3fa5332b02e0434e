"""Config, options and reconfigure flows."""

from __future__ import annotations

from datetime import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.v2g.chargers.simulated import PlugSchedule
from custom_components.v2g.const import (
    CONF_ARRIVAL,
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_DEPARTURE,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    CONF_TRIP_ENERGY_KWH,
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
        # The simulated EV's usual day, unless the form says otherwise.
        CONF_ARRIVAL: "18:00:00",
        CONF_DEPARTURE: "07:30:00",
        CONF_TRIP_ENERGY_KWH: 8.0,
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
    assert result["menu_options"] == [
        "vehicle_site",
        "battery_care",
        "prices",
        "export_price",
        "solar",
        "house_load",
        "grid_operator",
        "flex_events",
        "openadr",
        "frequency",
        "capacity_tariff",
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "vehicle_site"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "vehicle_site"
    # An import limit of 0 is refused: "no limit" is said explicitly.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**DEFAULT_OPTIONS, OPT_GRID_IMPORT_LIMIT_W: 0}
    )
    assert result["errors"] == {OPT_GRID_IMPORT_LIMIT_W: "import_limit_zero"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**DEFAULT_OPTIONS, OPT_GRID_IMPORT_LIMIT_W: 11_000, OPT_EXPORT_ALLOWED: False},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[OPT_GRID_IMPORT_LIMIT_W] == 11_000
    assert init_integration.options[OPT_EXPORT_ALLOWED] is False
    # Applied at once, without a reload: the EV charges within the new fuse.
    assert hass.states.get("sensor.garage_power").state == "10600.0"
    flow_id = await _options_step(hass, init_integration, "vehicle_site")
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            **DEFAULT_OPTIONS,
            OPT_GRID_IMPORT_LIMIT_W: 0,
            "grid_import_limited": False,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert hass.states.get("sensor.garage_power").state == "11000.0"


async def _options_step(hass: HomeAssistant, entry: MockConfigEntry, *steps: str) -> str:
    """Open the options and walk menus to a form."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    for step in steps:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == steps[-1]
    return str(result["flow_id"])


async def test_options_prices_schedule(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    flow_id = await _options_step(hass, init_integration, "prices", "price_schedule")
    # A window the parser cannot read is named in the error, in the user's words.
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            "price_schedule": "00:30-04:30=0.10; 17:00-2000=0.45",
            "price_schedule_default_per_kwh": 0.3,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"price_schedule": "schedule_invalid"}
    assert result["description_placeholders"]["window"] == "17:00-2000=0.45"
    assert "price_source" not in init_integration.options

    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
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

    # A feed-in derived from a time-of-use retail price would pay the retail price: refused.
    flow_id = await _options_step(hass, init_integration, "export_price", "export_derived")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"export_price_factor": 1.0, "export_price_fee_per_kwh": 0.0}
    )
    assert result["errors"] == {"base": "derived_needs_spot"}

    # Back to a flat price: the schedule's values are dropped.
    flow_id = await _options_step(hass, init_integration, "prices", "price_fixed")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"price_fixed_per_kwh": 0.25}
    )
    await hass.async_block_till_done()
    assert init_integration.options["price_source"] == "fixed"
    assert "price_schedule" not in init_integration.options


async def test_options_price_entity_must_be_a_price(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.house_power", "600", {"unit_of_measurement": "W"})
    flow_id = await _options_step(hass, init_integration, "prices", "price_entity")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"price_entity": "sensor.house_power"}
    )
    assert result["errors"] == {"price_entity": "not_a_price"}
    assert result["description_placeholders"]["unit"] == "W"

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
        flow_id, {"price_entity": "sensor.nordpool_kwh_dk2_eur"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["price_entity"] == "sensor.nordpool_kwh_dk2_eur"
    assert init_integration.options["price_source"] == "entity"
    # Now a derived feed-in has a spot price to derive from.
    flow_id = await _options_step(hass, init_integration, "export_price", "export_derived")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"export_price_factor": 0.9, "export_price_fee_per_kwh": 0.02}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["export_price_source"] == "derived"


async def test_options_export_solar_and_load(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    flow_id = await _options_step(hass, init_integration, "export_price", "export_fixed")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"export_price_fixed_per_kwh": 0.08}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["export_price_fixed_per_kwh"] == 0.08

    # No forecast service set up: the step says so instead of showing an empty list.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "solar"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "solar_energy"}
    )
    assert result["reason"] == "no_solar_forecast"
    flow_id = await _options_step(hass, init_integration, "solar", "solar_none")
    result = await hass.config_entries.options.async_configure(flow_id, {})
    assert init_integration.options["solar_source"] == "none"

    # A statistics-based load forecast needs a power or energy sensor.
    hass.states.async_set("sensor.outdoor", "4", {"unit_of_measurement": "°C"})
    flow_id = await _options_step(hass, init_integration, "house_load", "load_statistics")
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {"load_entity": "sensor.outdoor", "load_history_weeks": 4, "load_constant_w": 400},
    )
    assert result["errors"] == {"load_entity": "wrong_unit"}
    flow_id = await _options_step(hass, init_integration, "house_load", "load_constant")
    result = await hass.config_entries.options.async_configure(flow_id, {"load_constant_w": 650})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["load_constant_w"] == 650
    assert init_integration.options["load_source"] == "constant"
    # Earlier choices of other steps are kept.
    assert init_integration.options["export_price_fixed_per_kwh"] == 0.08

    hass.states.async_set("sensor.grid", "1200", {"unit_of_measurement": "W"})
    flow_id = await _options_step(hass, init_integration, "house_load", "grid_meter")
    result = await hass.config_entries.options.async_configure(
        flow_id, {"grid_power_entity": "sensor.grid", "grid_power_invert": False}
    )
    await hass.async_block_till_done()
    assert init_integration.options["grid_power_entity"] == "sensor.grid"
    assert init_integration.runtime_data.coordinator.data.grid_power_w == 1200.0


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
    assert not [key for key in hass_storage if key.startswith(settings_key)]  # ledger too
    assert hass.states.get("sensor.driveway_power") is None
    assert (
        device_registry.async_get_device(identifiers={(DOMAIN, "simulated_driveway_charger")})
        is None
    )
    assert next(iter(entry.runtime_data.chargers.values())).backend is garage
    assert hass.states.get("sensor.garage_power").state == "11000.0"
    assert entry.state is ConfigEntryState.LOADED


async def test_simulated_ev_keeps_the_day_of_its_form(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A simulated van that comes home at 09:30 and leaves at 16:15 after a 23.5 kWh trip."""
    entry = init_integration
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    day = {CONF_ARRIVAL: "09:30", CONF_DEPARTURE: "16:15:00", CONF_TRIP_ENERGY_KWH: 23.5}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**SIMULATED, **day}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    van = next(s for s in entry.subentries.values() if s.title == "Driveway")
    assert van.data[CONF_ARRIVAL] == "09:30:00"
    assert van.data[CONF_DEPARTURE] == "16:15:00"
    want = PlugSchedule(time(9, 30), time(16, 15), 23.5)
    assert only_backend_of(entry, "Driveway").config.schedule == want
    # The garage's charger was made before these fields: it keeps the usual day.
    assert only_backend_of(entry, "Garage").config.schedule == PlugSchedule()

    # A new day in its reconfigure form rebuilds the simulation with it.
    result = await entry.start_subentry_reconfigure_flow(hass, van.subentry_id)
    shown = _suggested(result)
    assert shown[CONF_ARRIVAL] == "09:30:00"
    # As the frontend sends it: an empty optional field (the EV's SoC sensor) is left out.
    kept = {key: value for key, value in shown.items() if value is not None}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**kept, CONF_DEPARTURE: "17:00"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    schedule = only_backend_of(entry, "Driveway").config.schedule
    assert schedule == PlugSchedule(time(9, 30), time(17, 0), 23.5)


def only_backend_of(entry: MockConfigEntry, title: str) -> Any:
    return next(c.backend for c in entry.runtime_data.chargers.values() if c.title == title)


async def test_options_every_source_kind(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Each kind of source saves only its own fields."""
    hass.states.async_set("sensor.feed_in", "0.07", {"unit_of_measurement": "EUR/kWh"})
    flow_id = await _options_step(hass, init_integration, "export_price", "export_entity")
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            "export_price_entity": "sensor.feed_in",
            "export_price_factor": 1.0,
            "export_price_fee_per_kwh": 0.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options["export_price_source"] == "entity"
    flow_id = await _options_step(hass, init_integration, "export_price", "export_none")
    await hass.config_entries.options.async_configure(flow_id, {})
    assert init_integration.options["export_price_source"] == "none"
    assert "export_price_entity" not in init_integration.options

    hass.states.async_set("sensor.pv_forecast", "3", {"forecast": []})
    flow_id = await _options_step(hass, init_integration, "solar", "solar_entity")
    await hass.config_entries.options.async_configure(
        flow_id, {"solar_forecast_entities": ["sensor.pv_forecast"]}
    )
    assert init_integration.options["solar_source"] == "entity"
    flow_id = await _options_step(hass, init_integration, "house_load", "load_none")
    await hass.config_entries.options.async_configure(flow_id, {})
    assert init_integration.options["load_source"] == "none"
    # A grid meter left empty is removed.
    flow_id = await _options_step(hass, init_integration, "house_load", "grid_meter")
    await hass.config_entries.options.async_configure(flow_id, {})
    assert "grid_power_entity" not in init_integration.options
    await hass.async_block_till_done()


async def test_options_frequency_response(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.mains_frequency", "50.01", {"unit_of_measurement": "Hz"})
    flow_id = await _options_step(hass, init_integration, "frequency")
    answer = {
        "frequency_sensor": "sensor.mains_frequency",
        "frequency_deadband_mhz": 200,
        "frequency_full_response_mhz": 100,
        "frequency_max_up_w": 3000,
        "frequency_max_down_w": 3000,
        "frequency_start": "17:00:00",
        "frequency_end": "21:00:00",
    }
    result = await hass.config_entries.options.async_configure(flow_id, answer)
    assert result["errors"] == {"frequency_full_response_mhz": "droop_inside_deadband"}
    result = await hass.config_entries.options.async_configure(
        flow_id, answer | {"frequency_deadband_mhz": 20}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    droop = init_integration.runtime_data.coordinator.droop()
    assert droop is not None
    assert droop.max_up_w == 3000
    assert droop.start.hour == 17


async def test_options_battery_care(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The battery care step: late charging and a care cost reach the plan, and a battery's
    price, capacity and cycle life set the wear cost per kWh (shown in the step)."""
    plan = hass.states.get("sensor.garage_plan")
    assert plan is not None
    assert "hours_above_care_soc" in plan.attributes
    assert "full_cycles" in plan.attributes
    # Today's default: at a flat price the EV charges at once.
    assert hass.states.get("sensor.garage_power").state == "11000.0"
    # Charging late: the same cost, but the EV waits and is full 30 min before departure.
    flow_id = await _options_step(hass, init_integration, "battery_care")
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            "care_soc_pct": 80,
            "care_cost_per_kwh_h": 0.0,
            "charge_late": True,
            "finish_margin_min": 30,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert hass.states.get("sensor.garage_power").state == "0.0"
    assert hass.states.get("sensor.garage_ev_state_of_charge_at_departure").state == "80.0"
    schedule = hass.states.get("sensor.garage_plan").attributes["schedule"]
    charging = [point for point in schedule if point["power_w"] > 0]
    assert charging
    assert charging[0]["start"] > schedule[0]["start"]
    flow_id = await _options_step(hass, init_integration, "battery_care")
    result = await hass.config_entries.options.async_configure(
        flow_id,
        {
            "care_soc_pct": 70,
            "care_cost_per_kwh_h": 0.002,
            "charge_late": False,
            "finish_margin_min": 30,
            "battery_price": 9_000,
            "battery_usable_kwh": 60,
            "battery_cycle_life": 2_500,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    options = init_integration.options
    assert options["wear_cost_per_kwh"] == pytest.approx(0.03)  # 9000 / (2 x 60 x 2500)
    assert options["care_soc_pct"] == 70
    assert options["charge_late"] is False
    # Opened again, the step shows the wear cost now and the one from the battery's figures.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "battery_care"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"]["wear_per_kwh"] == "0.0300"
    assert result["description_placeholders"]["wear_now"] == "0.0300"
