"""Smart mode driving the simulated charger through a night with a time-of-use tariff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.const import DEFAULT_OPTIONS

TOU_OPTIONS = {
    **DEFAULT_OPTIONS,
    "price_source": "schedule",
    "price_schedule": "00:30-04:30=0.10; 17:00-21:00=0.45",
    "price_schedule_default_per_kwh": 0.30,
    "export_price_source": "fixed",
    "export_price_fixed_per_kwh": 0.30,
    "load_source": "none",
}


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The garage charger with a time-of-use tariff: cheap at night, expensive in the evening."""
    return dict(TOU_OPTIONS)


async def _run_until(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: float, step_min: int = 5
) -> list[tuple[float, float]]:
    """Advance the clock; return (power W, SoC %) seen after every update."""
    seen = []
    for _ in range(int(hours * 60 / step_min)):
        freezer.tick(timedelta(minutes=step_min))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        power = float(hass.states.get("sensor.garage_power").state)
        soc = float(hass.states.get("sensor.garage_ev_state_of_charge").state)
        seen.append((power, soc))
    return seen


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_smart_charge_only_waits_for_the_cheap_window(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "smart_charge_only"},
        blocking=True,
    )
    plan = hass.states.get("sensor.garage_plan")
    assert plan.state == "waiting"
    # 40 % -> 80 % of 60 kWh is 26.1 kWh from the grid: it all fits in the cheap window.
    schedule = plan.attributes["schedule"]
    charging = [point["start"] for point in schedule if point["power_w"] > 0]
    assert charging
    assert min(charging) >= "2026-01-15T23:30:00+00:00"  # 00:30 local
    assert max(charging) < "2026-01-16T03:30:00+00:00"  # 04:30 local
    assert hass.states.get("sensor.garage_ev_state_of_charge_at_departure").state == "80.0"
    assert float(hass.states.get("sensor.garage_projected_savings").state) > 0
    # Cost: 26.1 kWh at 0.10.
    assert float(hass.states.get("sensor.garage_projected_cost").state) == pytest.approx(
        2.61, abs=0.05
    )
    assert (
        hass.states.get("sensor.garage_projected_cost").attributes["unit_of_measurement"] == "EUR"
    )

    seen = await _run_until(hass, freezer, hours=12.9)  # until just before 07:30
    assert all(power >= 0 for power, _ in seen)  # never discharges
    evening = seen[: int(5.5 * 12)]  # 18:30 -> 00:00
    assert all(power == 0 for power, _ in evening)
    assert seen[-1][1] == pytest.approx(80.0, abs=1.0)


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_smart_v2g_sells_the_evening_peak_and_refills_at_night(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    assert hass.states.get("sensor.garage_plan").state == "discharging"
    assert float(hass.states.get("sensor.garage_power").state) < 0

    seen = await _run_until(hass, freezer, hours=12.9)  # until just before 07:30
    socs = [soc for _, soc in seen]
    assert min(socs) >= 20.0 - 0.5  # never below the reserve
    assert min(socs) < 30.0  # sold most of what it had above the reserve
    night = seen[(6 * 12) : (10 * 12)]  # 00:30 -> 04:30
    assert max(power for power, _ in night) > 0
    # The driver's target is kept; cheap night energy may fill up to the V2G cycling cap (90 %)
    # for selling at tomorrow evening's peak.
    assert 79.0 <= socs[-1] <= 90.5
    assert float(hass.states.get("sensor.garage_energy_discharged").state) > 5.0


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_late_departure_charges_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The driver said 19:00 but the EV, plugged in since 18:30, is still there at 19:05."""
    await hass.services.async_call(
        "time",
        "set_value",
        {"entity_id": "time.garage_ev_departure_time", "time": "19:00:00"},
        blocking=True,
    )
    # Expensive evening until 21:00: 30 minutes are not enough for 24 kWh, so it charges now.
    seen = await _run_until(hass, freezer, hours=35 / 60)
    assert hass.states.get("sensor.garage_plan").state == "missed_departure"
    assert seen[-1][0] == 11_000.0
    # Four hours after the departure time the plan is for tomorrow's 19:00 again.
    await _run_until(hass, freezer, hours=4, step_min=30)
    assert hass.states.get("sensor.garage_plan").state == "target_reached"


@pytest.mark.freeze_time("2026-06-15 09:00:00+02:00")
async def test_solar_surplus_fills_the_battery(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Sun from 10:00 to 16:00: the EV waits for it and stores the surplus above its target."""
    forecast = [
        {"period_start": f"2026-06-15T{hour:02d}:{minute:02d}:00+02:00", "pv_estimate": 8.0}
        for hour in range(10, 16)
        for minute in (0, 30)
    ]
    hass.states.async_set(
        "sensor.solcast_pv_forecast_forecast_today",
        "48",
        {"unit_of_measurement": "kWh", "detailedForecast": forecast},
    )
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={
            **DEFAULT_OPTIONS,
            "price_source": "fixed",
            "price_fixed_per_kwh": 0.30,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.05,
            "solar_source": "entity",
            "solar_forecast_entities": ["sensor.solcast_pv_forecast_forecast_today"],
            "load_source": "constant",
            "load_constant_w": 400,
        },
    )
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "smart_charge_only"},
        blocking=True,
    )

    plan = hass.states.get("sensor.garage_plan")
    assert plan.state == "waiting"  # grid power at 0.30 now, or free sunshine in an hour
    schedule = plan.attributes["schedule"]
    before_sun = [p for p in schedule if p["start"] < "2026-06-15T10:00"]  # local time
    assert all(p["power_w"] == 0 for p in before_sun)
    # From 10:00 local the whole surplus (8 kW - 400 W house) goes into the EV until it is full.
    first_sunny = [p for p in schedule if "2026-06-15T10:00" <= p["start"] < "2026-06-15T12:00"]
    assert all(p["power_w"] == pytest.approx(7_600, abs=50) for p in first_sunny)
    # 6 h x 7.6 kW x 0.92 = 42 kWh of sunshine: past the 80 % target up to the 90 % cap.
    assert max(p["soc_pct"] for p in schedule) == pytest.approx(90.0, abs=0.2)
    cost = hass.states.get("sensor.garage_projected_cost")
    # No import at all: the EV's cost is the feed-in it forgoes, 30 kWh / 0.92 at 0.05.
    assert float(cost.state) == pytest.approx(30 / 0.92 * 0.05, abs=0.02)
