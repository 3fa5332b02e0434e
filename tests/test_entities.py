"""What users do with the entities, and what the Energy dashboard requires of them."""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.chargers.simulated import SimulatedCharger
from tests.conftest import only_backend

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


async def test_energy_dashboard_battery_sensors(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Energy in and out are total_increasing kWh; power is signed W with a measurement class."""
    for entity_id in ("sensor.garage_energy_charged", "sensor.garage_energy_discharged"):
        state = hass.states.get(entity_id)
        assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENERGY
        assert state.attributes["state_class"] == SensorStateClass.TOTAL_INCREASING
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
    power = hass.states.get("sensor.garage_power")
    assert power.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.POWER
    assert power.attributes["state_class"] == SensorStateClass.MEASUREMENT
    assert power.attributes[ATTR_UNIT_OF_MEASUREMENT] == "W"


async def test_min_soc_cannot_exceed_target(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.garage_ev_minimum_state_of_charge", "value": 90},
            blocking=True,
        )
    assert err.value.translation_key == "min_soc_above_target"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.garage_ev_target_state_of_charge", "value": 15},
            blocking=True,
        )
    assert hass.states.get("number.garage_ev_minimum_state_of_charge").state == "20"
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "80"


async def test_mode_off_stops_charging(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    backend = only_backend(init_integration)
    assert isinstance(backend, SimulatedCharger)
    assert hass.states.get("binary_sensor.garage_ev_charging").state == "on"

    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert backend.setpoint_w == 0.0
    assert hass.states.get("sensor.garage_power").state == "0.0"
    assert hass.states.get("sensor.garage_status").state == "idle"
    assert hass.states.get("binary_sensor.garage_ev_charging").state == "off"


async def test_max_charge_power_limits_setpoint(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.garage_maximum_charging_power", "value": 3700},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get("sensor.garage_power").state == "3700.0"


async def test_energy_needed_and_departure(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # The simulated EV starts at 40 % of 60 kWh; the target is 80 %: 24 kWh to go.
    assert hass.states.get("sensor.garage_ev_state_of_charge").state == "40.0"
    assert hass.states.get("sensor.garage_ev_energy_to_target").state == "24.0"
    # 18:30 -> 07:30 next morning is 13 hours.
    assert hass.states.get("sensor.garage_ev_time_to_departure").state == "13.0"


@pytest.mark.freeze_time("2026-10-24 22:00:00+02:00")
async def test_time_to_departure_across_dst_end(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # 22:00 CEST -> 07:30 CET: the clocks go back an hour in between, so it is 10.5 hours.
    assert hass.states.get("sensor.garage_ev_time_to_departure").state == "10.5"
