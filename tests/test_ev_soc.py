"""The EV's state of charge from another integration (the car's own), for every kind of charger."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.v2g.const import DOMAIN, UPDATE_INTERVAL

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

CAR_SOC = "sensor.car_battery"


@pytest.fixture
async def car(hass: HomeAssistant) -> None:
    """The car's battery level (55 %) and, to pick by mistake, a power sensor."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    sensors = [
        {"name": "Car battery", "unit_of_measurement": "%", "state": "55"},
        {"name": "Car charging power", "unit_of_measurement": "W", "state": "0"},
    ]
    assert await async_setup_component(hass, "template", {"template": [{"sensor": sensors}]})
    await hass.async_block_till_done()


async def _update(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_soc_sensor_on_a_simulated_charger(
    hass: HomeAssistant, car: None, freezer: FrozenDateTimeFactory
) -> None:
    """The charger's own SoC wins while it has one; the car's sensor fills in when it has none."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Home"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "simulated"}
    )
    form = {
        "name": "Garage",
        "max_charge_power_w": 11_000,
        "max_discharge_power_w": 0,
        "capacity_kwh": 60,
        "ev_soc_entity": "sensor.car_charging_power",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["errors"] == {"ev_soc_entity": "soc_unit"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**form, "ev_soc_entity": CAR_SOC}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    [charger] = entry.subentries.values()
    assert charger.data["ev_soc_entity"] == CAR_SOC
    await hass.async_block_till_done()
    # Plugged in, the simulation knows its EV (40 %); the car's sensor says 55 %.
    assert hass.states.get("sensor.garage_ev_state_of_charge").state == "40.0"

    # The EV left at 07:30: the charger no longer knows its SoC, the car's sensor does.
    freezer.move_to("2026-01-16 08:00:00+01:00")
    await _update(hass, freezer)
    assert hass.states.get("binary_sensor.garage_ev_plugged_in").state == "off"
    assert hass.states.get("sensor.garage_ev_state_of_charge").state == "55.0"

    # The sensor can be cleared again.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": charger.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"max_charge_power_w": 11_000, "max_discharge_power_w": 0}
    )
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    assert entry.subentries[charger.subentry_id].data["ev_soc_entity"] is None
