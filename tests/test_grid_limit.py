"""The live grid meter keeps the site within its main fuse and export limit."""

from __future__ import annotations

from dataclasses import replace
import math
from typing import Any

from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.const import DEFAULT_OPTIONS
from custom_components.v2g.decision import (
    GridShare,
    follow_limits_w,
    limit_site_to_grid,
    makeup_w,
)
from custom_components.v2g.optimizer import Vehicle, VehiclePlan

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


def _limit(
    *shares: GridShare,
    grid_power_w: float,
    export: bool = True,
    planned_export_w: float | None = None,
    planned_import_w: float | None = None,
) -> list[float]:
    return limit_site_to_grid(
        shares,
        grid_power_w=grid_power_w,
        import_limit_w=17_250,
        export_limit_w=5_000,
        export_allowed=export,
        planned_export_w=planned_export_w,
        planned_import_w=planned_import_w,
    )


def test_discharging_limits() -> None:
    # V2H without export: cover the house's 2 kW, no more.
    assert _limit(GridShare(setpoint_w=-7_000, power_w=0), grid_power_w=2_000, export=False) == [
        -2_000
    ]
    # With export: the house (2 kW behind a meter showing -5 kW while the EV gives 7 kW) plus
    # the export limit.
    assert _limit(GridShare(setpoint_w=-9_000, power_w=-7_000), grid_power_w=-5_000) == [-7_000]
    # Solar already exports: discharging would only push more out.
    assert _limit(GridShare(setpoint_w=-3_000, power_w=0), grid_power_w=-2_000, export=False) == [
        0.0
    ]
    assert _limit(GridShare(setpoint_w=0, power_w=0), grid_power_w=0) == [0.0]


def test_discharging_for_the_house_is_not_sold_by_accident() -> None:
    """Export allowed, but the plan meant to cover a 2 kW house: the house draws only 500 W."""
    v2h = GridShare(setpoint_w=-2_000, power_w=0)
    # The plan exports nothing now: the EV gives the house what it draws, instead of selling
    # 1.5 kW at the feed-in price.
    assert _limit(v2h, grid_power_w=500, planned_export_w=0.0) == pytest.approx([-500])
    # Without a plan (rules only), only the export limit applies.
    assert _limit(v2h, grid_power_w=500) == [-2_000]
    # The plan sells 3 kW now (a price peak): that much is exported, and no more.
    v2g = GridShare(setpoint_w=-5_000, power_w=0)
    assert _limit(v2g, grid_power_w=500, planned_export_w=3_000.0) == pytest.approx([-3_500])
    # Charging is never cut for solar the plan did not foresee.
    charging = GridShare(setpoint_w=3_000, power_w=0)
    assert _limit(charging, grid_power_w=-4_000, planned_export_w=0.0) == [3_000]


def test_solar_charging_follows_the_real_surplus() -> None:
    """The plan charges 2 kW from a forecast 2 kW solar surplus, importing nothing."""
    solar = GridShare(setpoint_w=2_000, power_w=2_000, max_charge_power_w=11_000)
    # The house draws 700 W less than forecast (meter: -700 W): the EV takes it too.
    assert _limit(
        solar, grid_power_w=-700, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([2_700])
    # ...and when the house draws 500 W more (meter: +500 W), the EV charges that much less
    # instead of importing, as far as later slots can make it up before the departure.
    flexible = replace(solar, max_cut_w=1_000.0)
    assert _limit(
        flexible, grid_power_w=500, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([1_500])
    assert _limit(
        flexible, grid_power_w=1_500, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([1_000])
    assert _limit(
        solar, grid_power_w=500, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([2_000])
    # Never above its own limit; a plan that also exports 1 kW keeps exporting that.
    capped = GridShare(setpoint_w=2_000, power_w=2_000, max_charge_power_w=2_400)
    assert _limit(
        capped, grid_power_w=-3_000, planned_export_w=1_000.0, planned_import_w=0.0
    ) == pytest.approx([2_400])
    assert _limit(
        solar, grid_power_w=-1_700, planned_export_w=1_000.0, planned_import_w=0.0
    ) == pytest.approx([2_700])
    # A plan that buys from the grid now is left alone, and so is an EV without a known limit.
    assert _limit(solar, grid_power_w=-700, planned_export_w=0.0, planned_import_w=3_000.0) == [
        2_000
    ]
    unknown = GridShare(setpoint_w=2_000, power_w=2_000)
    assert _limit(unknown, grid_power_w=-700, planned_export_w=0.0, planned_import_w=0.0) == [2_000]
    # Without the plan's import (no plan, or a dispatch), nothing follows.
    assert _limit(solar, grid_power_w=-700, planned_export_w=0.0) == [2_000]


def test_vehicle_to_home_follows_the_real_load() -> None:
    """The plan covers a forecast 1 kW house from the EV (V2H), importing nothing."""
    v2h = GridShare(setpoint_w=-1_000, power_w=-1_000, max_discharge_power_w=11_000)
    # The kettle is on (meter: +2 kW): the EV covers it instead of importing at the peak price.
    assert _limit(
        v2h, grid_power_w=2_000, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([-3_000])
    # The house draws 400 W less (meter: -400 W): the EV gives 400 W less, nothing is sold.
    assert _limit(
        v2h, grid_power_w=-400, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([-600])
    # Without export (V2H only), the same.
    assert _limit(
        v2h, grid_power_w=2_000, export=False, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([-3_000])
    # Never above its discharge limit.
    small = GridShare(setpoint_w=-1_000, power_w=-1_000, max_discharge_power_w=1_500)
    assert _limit(
        small, grid_power_w=2_000, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([-1_500])
    # V2G selling now (planned export) is not raised by the house's load.
    assert _limit(
        v2h, grid_power_w=2_000, planned_export_w=3_000.0, planned_import_w=0.0
    ) == pytest.approx([-1_000])
    # Two EVs pointing both ways are left to the plan.
    charging = GridShare(setpoint_w=2_000, power_w=2_000, max_charge_power_w=11_000)
    assert _limit(
        v2h, charging, grid_power_w=2_000, planned_export_w=0.0, planned_import_w=0.0
    ) == pytest.approx([-1_000, 2_000])


def test_follow_limits() -> None:
    """Following the meter stays within the plan's limits of the first slot."""
    ev = Vehicle(
        capacity_kwh=60, soc_pct=50, max_charge_power_w=11_000, max_discharge_power_w=7_000
    )
    assert follow_limits_w(ev) == (11_000, 7_000)
    headroom = replace(
        ev, power_ceiling_w=np.array([8_000.0, 11_000.0]), power_floor_w=np.array([-5_000.0, 0.0])
    )
    assert follow_limits_w(headroom) == (8_000, 5_000)
    must_charge = replace(ev, power_floor_w=np.array([2_000.0]))
    assert follow_limits_w(must_charge) == (11_000, 0)


def test_what_later_slots_make_up() -> None:
    """Charging cut now must be made up before the departure: only the later slots' spare."""
    hours = np.full(4, 0.25)
    plan = VehiclePlan(
        charge_power_w=np.array([2_000.0, 11_000.0, 5_000.0, 0.0]),
        discharge_power_w=np.zeros(4),
        soc_pct=np.full(4, 50.0),
        target_reachable=True,
        best_reachable_soc_pct=None,
        departure_soc_pct=80.0,
        departure_index=3,
        wear_cost=0.0,
    )
    # Slots 1 and 2 come before the departure: 0 + 6 kW spare for a quarter hour each.
    assert makeup_w(plan, 11_000.0, hours) == pytest.approx(6_000)
    assert makeup_w(replace(plan, departure_index=1), 11_000.0, hours) == 0.0
    assert makeup_w(replace(plan, target_reachable=False), 11_000.0, hours) == 0.0
    assert makeup_w(replace(plan, departure_index=None), 11_000.0, hours) == math.inf


def test_two_chargers_share_the_fuse() -> None:
    """Cuts fall on the lower priority first, in proportion within one priority."""
    both = (GridShare(setpoint_w=7_000, power_w=0), GridShare(setpoint_w=7_000, power_w=0))
    # House 6 kW + 14 kW planned = 20 kW > 17.25 kW: 2.75 kW off, half each.
    assert _limit(*both, grid_power_w=6_000) == pytest.approx([5_625, 5_625])
    high = GridShare(setpoint_w=7_000, power_w=0, priority=2.0)
    normal = GridShare(setpoint_w=7_000, power_w=0, priority=1.0, min_charge_power_w=4_140)
    assert _limit(high, normal, grid_power_w=6_000) == pytest.approx([7_000, 4_250])
    # Cut below its minimum, the normal-priority EV pauses instead; the other keeps its power.
    assert _limit(high, normal, grid_power_w=9_000) == pytest.approx([7_000, 0])
    # A discharging EV makes room for a charging one (the meter sees both).
    v2h = GridShare(setpoint_w=-3_000, power_w=-3_000)
    assert _limit(high, v2h, grid_power_w=6_000 - 3_000) == pytest.approx([7_000, -3_000])


@pytest.mark.parametrize(
    "entry_options",
    [
        {
            **DEFAULT_OPTIONS,
            "grid_power_entity": "sensor.grid_power",
            "price_source": "schedule",
            "price_schedule": "17:00-21:00=0.60",
            "price_schedule_default_per_kwh": 0.10,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.02,
            "load_source": "constant",
            "load_constant_w": 2_000,
        }
    ],
)
async def test_vehicle_to_home_follows_the_real_house_load(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """The plan covers a forecast 2 kW house at the evening peak; the house draws 500 W."""
    hass.states.async_set("sensor.grid_power", "500", {"unit_of_measurement": "W"})
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch",
        "turn_on",
        {"entity_id": "switch.garage_allow_vehicle_to_grid"},
        blocking=True,
    )
    await hass.async_block_till_done()
    plan = hass.states.get("sensor.garage_plan")
    assert plan.state == "discharging"
    # Export is allowed, but selling at 0.02 was never the plan: the EV covers the house only.
    assert float(hass.states.get("sensor.garage_power").state) == pytest.approx(-500, abs=1)
    assert plan.attributes["limited_by_grid"] is True

    # The oven goes on: the house draws 3 kW (the meter shows it less the EV's 500 W). The plan
    # meant to import nothing at the peak: the EV covers the real load, not the forecast 2 kW.
    hass.states.async_set("sensor.grid_power", "2500", {"unit_of_measurement": "W"})
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get("sensor.garage_power").state) == pytest.approx(-3_000, abs=1)
