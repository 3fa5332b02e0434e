"""The live grid meter keeps the site within its main fuse and export limit."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.const import DEFAULT_OPTIONS
from custom_components.v2g.decision import limit_to_grid

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The garage charger behind a 11 kW main fuse with a live grid meter."""
    return {
        **DEFAULT_OPTIONS,
        "grid_import_limit_w": 11_000,
        "grid_power_entity": "sensor.grid_power",
    }


async def test_charging_backs_off_for_the_house(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.grid_power", "6000", {"unit_of_measurement": "W"})
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # The plan charges at 11 kW, but the house already draws 6 kW of the 11 kW fuse.
    assert hass.states.get("sensor.garage_power").state == "5000.0"
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["limited_by_grid"] is True

    # The meter now shows house + EV; the house alone is still 6 kW: the EV keeps 5 kW.
    hass.states.async_set("sensor.grid_power", "11000", {"unit_of_measurement": "W"})
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get("sensor.garage_power").state == "5000.0"

    # The house turns its heat pump off (meter: 0.5 kW house + 5 kW EV): the EV gets 10.5 kW.
    hass.states.async_set("sensor.grid_power", "5500", {"unit_of_measurement": "W"})
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get("sensor.garage_power").state == "10500.0"
    # ...and with the house at 0 W, what the plan wanted: the fuse less the forecast 400 W load.
    hass.states.async_set("sensor.grid_power", "10500", {"unit_of_measurement": "W"})
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get("sensor.garage_power").state == "10600.0"
    assert hass.states.get("sensor.garage_plan").attributes["limited_by_grid"] is False


def test_discharging_limits() -> None:
    # V2H without export: cover the house's 2 kW, no more.
    assert (
        limit_to_grid(
            -7_000,
            grid_power_w=2_000,
            ev_power_w=0,
            import_limit_w=11_000,
            export_limit_w=5_000,
            export_allowed=False,
        )
        == -2_000
    )
    # With export: house plus the export limit.
    assert (
        limit_to_grid(
            -9_000,
            grid_power_w=-5_000,
            ev_power_w=-7_000,
            import_limit_w=11_000,
            export_limit_w=5_000,
            export_allowed=True,
        )
        == -7_000
    )
    assert (
        limit_to_grid(
            0, grid_power_w=0, ev_power_w=0, import_limit_w=1, export_limit_w=1, export_allowed=True
        )
        == 0
    )
