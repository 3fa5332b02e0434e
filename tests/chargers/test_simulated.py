"""The simulated charger's physics: efficiency, SoC limits, plug pattern, counters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.v2g.chargers import ChargerStatus, ChargerUnavailableError
from custom_components.v2g.chargers.simulated import (
    BatteryModel,
    PlugSchedule,
    SimulatedCharger,
    SimulatedChargerConfig,
)

CPH = ZoneInfo("Europe/Copenhagen")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, delta: timedelta) -> None:
        self.now += delta


def test_battery_efficiency_both_ways() -> None:
    battery = BatteryModel(
        capacity_kwh=50, soc_pct=50, charge_efficiency=0.9, discharge_efficiency=0.8
    )
    assert battery.step(10_000, 3600) == pytest.approx(10.0)  # 10 kWh from the grid...
    assert battery.soc_pct == pytest.approx(50 + 9.0 / 50 * 100)  # ...9 kWh stored
    assert battery.step(-8_000, 3600) == pytest.approx(-8.0)  # 8 kWh to the grid...
    assert battery.soc_pct == pytest.approx(68 - 10.0 / 50 * 100)  # ...10 kWh out of the battery


def test_battery_stops_at_limits() -> None:
    battery = BatteryModel(capacity_kwh=10, soc_pct=95, charge_efficiency=1.0, min_soc_pct=10)
    assert battery.step(10_000, 3600) == pytest.approx(0.5)  # only 0.5 kWh fits
    assert battery.soc_pct == 100
    battery.soc_pct = 12
    assert battery.step(-10_000, 3600) == pytest.approx(-0.2 * battery.discharge_efficiency)
    assert battery.soc_pct == pytest.approx(10)
    assert battery.max_power_w(0, 60) == 0.0


def test_plug_schedule_across_midnight() -> None:
    schedule = PlugSchedule(arrival=time(18), departure=time(7, 30))
    assert schedule.is_plugged_in(datetime(2026, 1, 15, 23, tzinfo=CPH))
    assert schedule.is_plugged_in(datetime(2026, 1, 15, 3, tzinfo=CPH))
    assert not schedule.is_plugged_in(datetime(2026, 1, 15, 12, tzinfo=CPH))
    assert schedule.next_change(datetime(2026, 1, 15, 12, tzinfo=CPH)) == datetime(
        2026, 1, 15, 18, tzinfo=CPH
    )
    assert schedule.next_change(datetime(2026, 1, 15, 20, tzinfo=CPH)) == datetime(
        2026, 1, 16, 7, 30, tzinfo=CPH
    )
    daytime = PlugSchedule(arrival=time(9), departure=time(17))
    assert daytime.is_plugged_in(datetime(2026, 1, 15, 12, tzinfo=CPH))
    assert not daytime.is_plugged_in(datetime(2026, 1, 15, 20, tzinfo=CPH))
    always = PlugSchedule(arrival=time(0), departure=time(0))
    assert always.is_plugged_in(datetime(2026, 1, 15, 20, tzinfo=CPH))


async def test_charger_day_cycle() -> None:
    clock = Clock(datetime(2026, 1, 15, 17, 0, tzinfo=CPH).astimezone(UTC))
    config = SimulatedChargerConfig(
        capacity_kwh=60, initial_soc_pct=50, charge_efficiency=1.0, start_plugged_in=False
    )
    charger = SimulatedCharger(config, clock, CPH)
    await charger.async_start()

    state = await charger.async_read_state()
    assert not state.plugged_in
    assert state.status is ChargerStatus.DISCONNECTED
    assert state.soc_pct is None

    clock.tick(timedelta(hours=1, minutes=30))  # 18:30: home, minus the 8 kWh trip
    state = await charger.async_read_state()
    assert state.plugged_in
    assert state.status is ChargerStatus.IDLE
    assert state.soc_pct == pytest.approx(50 - 8 / 60 * 100, abs=0.01)

    await charger.async_apply_setpoint(20_000)  # clamped to the charger's 11 kW
    assert charger.setpoint_w == 11_000
    clock.tick(timedelta(hours=1))
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.CHARGING
    assert state.power_w == 11_000
    assert state.energy_charged_kwh == pytest.approx(11.0)

    await charger.async_apply_setpoint(-5_000)
    clock.tick(timedelta(minutes=30))
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.DISCHARGING
    assert state.power_w == -5_000
    assert state.energy_discharged_kwh == pytest.approx(2.5)

    await charger.async_apply_setpoint(500)  # below the charger's minimum: nothing flows
    assert charger.setpoint_w == 0.0

    await charger.async_apply_setpoint(11_000)
    clock.tick(timedelta(hours=14))  # past 07:30: the EV left, the charger stopped
    state = await charger.async_read_state()
    assert not state.plugged_in
    assert charger.setpoint_w == 0.0
    assert state.power_w == 0.0

    await charger.async_stop()
    assert not charger.started


async def test_charger_offline() -> None:
    charger = SimulatedCharger(SimulatedChargerConfig(), Clock(datetime(2026, 1, 15, tzinfo=UTC)))
    charger.online = False
    with pytest.raises(ChargerUnavailableError):
        await charger.async_read_state()
    with pytest.raises(ChargerUnavailableError):
        await charger.async_apply_setpoint(1000)
    assert charger.capabilities.bidirectional
    assert (
        SimulatedCharger(
            SimulatedChargerConfig(max_discharge_power_w=0),
            Clock(datetime(2026, 1, 15, tzinfo=UTC)),
        ).capabilities.bidirectional
        is False
    )
