"""Frequency response: a droop on a frequency trace, answered by the simulated charger."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.const import DEFAULT_OPTIONS
from custom_components.v2g.frequency import Droop, Room, room, share_response
from custom_components.v2g.optimizer import Problem, Vehicle, make_grid
from custom_components.v2g.planner import reserve_prices, with_frequency_offer
from simulator.frequency import frequency_trace
from tests.conftest import only_backend, only_charger

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

DROOP = Droop(deadband_hz=0.02, full_hz=0.2, max_up_w=5_000, max_down_w=3_000)


def test_droop() -> None:
    assert DROOP.response_w(50.0) == 0.0
    assert DROOP.response_w(50.019) == 0.0  # inside the deadband
    assert DROOP.response_w(49.98) == 0.0
    assert DROOP.response_w(49.89) == pytest.approx(-5_000 * 90 / 180)  # half-way: half
    assert DROOP.response_w(49.5) == -5_000  # beyond the droop: the full offer
    assert DROOP.response_w(50.2) == 3_000
    assert DROOP.response_w(float("nan")) == 0.0
    evening = Droop(max_up_w=1, start=DROOP.start.replace(hour=17), end=DROOP.end.replace(hour=21))
    assert not evening.offered_at(__import__("datetime").datetime(2026, 1, 1, 12))
    assert evening.offered_at(__import__("datetime").datetime(2026, 1, 1, 18))
    overnight = Droop(start=DROOP.start.replace(hour=22), end=DROOP.end.replace(hour=6))
    assert overnight.offered_at(__import__("datetime").datetime(2026, 1, 1, 23))


def test_room_and_shares() -> None:
    free = room(
        setpoint_w=2_000,
        max_charge_w=11_000,
        max_discharge_w=7_000,
        soc_pct=50,
        min_soc_pct=20,
        max_soc_pct=90,
    )
    assert free == Room(up_w=9_000, down_w=9_000)
    at_reserve = room(
        setpoint_w=0,
        max_charge_w=11_000,
        max_discharge_w=7_000,
        soc_pct=20.5,
        min_soc_pct=20,
        max_soc_pct=90,
    )
    assert at_reserve.down_w == 0.0  # never below the reserve (with a margin)
    full = room(
        setpoint_w=0,
        max_charge_w=11_000,
        max_discharge_w=7_000,
        soc_pct=90,
        min_soc_pct=20,
        max_soc_pct=90,
    )
    assert full.up_w == 0.0
    assert share_response(-3_000, [free, at_reserve]) == pytest.approx([-3_000, 0])
    assert share_response(20_000, [Room(1_000, 0), Room(3_000, 0)]) == [1_000, 3_000]
    assert share_response(0, [free]) == [0.0]
    assert share_response(100, [Room(0, 0)]) == [0.0]


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A site offering frequency response from a grid-frequency sensor."""
    return {
        **DEFAULT_OPTIONS,
        "frequency_sensor": "sensor.grid_frequency",
        "frequency_max_up_w": 5_000,
        "frequency_max_down_w": 3_000,
    }


async def _play(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, trace: np.ndarray[Any, Any]
) -> None:
    for value in trace:
        hass.states.async_set(
            "sensor.grid_frequency", f"{value:.4f}", {"unit_of_measurement": "Hz"}
        )
        await hass.async_block_till_done()
        freezer.tick(timedelta(seconds=1))


async def _energy_kwh(hass: HomeAssistant, entry: MockConfigEntry) -> float:
    backend = only_backend(entry)
    await backend.async_read_state()
    return float(backend.energy_charged_kwh - backend.energy_discharged_kwh)


async def test_energy_follows_the_droop_on_a_trace(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """10 minutes of noise with a contingency dip to 49.5 Hz, on an EV charging at 11 kW.

    At full power it can only answer under-frequency (by charging less, down to 6 kW: never
    into the band below the charger's minimum); over-frequency finds no room.
    """
    for entity_id, service, data in (
        ("select.garage_mode", "select_option", {"option": "charge_now"}),
    ):
        await hass.services.async_call(
            entity_id.split(".")[0], service, {"entity_id": entity_id, **data}, blocking=True
        )
    trace = frequency_trace(duration_s=600, seed=3, contingency_at_s=240)
    before = await _energy_kwh(hass, init_integration)
    await _play(hass, freezer, trace)
    delivered = await _energy_kwh(hass, init_integration) - before
    expected = sum(min(0.0, DROOP.response_w(float(f))) for f in trace) / 3_600_000.0
    assert expected < -0.1  # the dip made the EV take less
    assert delivered - 11.0 * 600 / 3600 == pytest.approx(expected, rel=0.02)
    coordinator = init_integration.runtime_data.coordinator
    assert len(coordinator.frequency_latency_s) >= 100
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["setpoint_w"] == pytest.approx(
        11_000 + min(0.0, DROOP.response_w(float(trace[-1]))), abs=10
    )


async def test_no_response_inside_the_deadband(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    calm = 50.0 + 0.019 * np.sin(np.arange(120) / 7.0)
    before = await _energy_kwh(hass, init_integration)
    await _play(hass, freezer, calm)
    assert await _energy_kwh(hass, init_integration) == pytest.approx(before, abs=1e-9)


async def test_reserve_and_target_are_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A long under-frequency never takes the EV below its reserve; it still leaves on target."""
    charger = only_charger(init_integration)
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    backend = only_backend(init_integration)
    backend.battery.soc_pct = 23.0  # just above the 20 % reserve
    low = np.full(900, 49.6)  # 15 minutes of full under-frequency response
    await _play(hass, freezer, low)
    assert backend.battery.soc_pct >= charger.settings.min_soc_pct
    # Back to normal, the plan re-plans every update and charges to the target by 07:30.
    for _ in range(12 * 13):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        hass.states.async_set("sensor.grid_frequency", "50.0", {"unit_of_measurement": "Hz"})
    assert backend.battery.soc_pct >= charger.settings.target_soc_pct - 0.6


async def test_the_plan_keeps_the_offered_response_available(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Offered all day: the plan leaves 3 kW of charging room for over-frequency, unless the
    driver's target needs the full power."""
    hass.states.async_set("sensor.grid_frequency", "50.0", {"unit_of_measurement": "Hz"})
    coordinator = init_integration.runtime_data.coordinator
    await coordinator.async_refresh()
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["target_reachable"] is True
    planned = [point["power_w"] for point in plan.attributes["schedule"]]
    assert max(planned) == pytest.approx(11_000 - 3_000, abs=1)
    assert plan.attributes["setpoint_w"] == pytest.approx(8_000, abs=1)

    # Leaving at 20:00 (in an hour and a half) the target needs every watt: no room is kept.
    await hass.services.async_call(
        "time",
        "set_value",
        {"entity_id": "time.garage_ev_departure_time", "time": "20:00:00"},
        blocking=True,
    )
    await coordinator.async_refresh()
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["setpoint_w"] > 10_000


async def test_over_frequency_never_lifts_a_charger_above_the_operators_cap(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """§14a holds the charger at 4.2 kW: high frequency asks for more charging, it gets none."""
    hass.config_entries.async_update_entry(
        init_integration,
        options={**init_integration.options, "operator_limit_entity": "input_boolean.dimmed"},
    )
    hass.states.async_set("input_boolean.dimmed", "on")
    await hass.async_block_till_done()
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "charge_now"},
        blocking=True,
    )
    await init_integration.runtime_data.coordinator.async_refresh()
    hass.states.async_set("sensor.grid_frequency", "50.2", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["limited_by_operator"] is True
    assert plan.attributes["setpoint_w"] <= 4_200
    assert only_backend(init_integration).state().power_w <= 4_200


async def test_a_capacity_price_decides_when_reserve_is_offered(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Priced by a market sensor: no price, no offer (and no response); a price, both."""
    hass.config_entries.async_update_entry(
        init_integration,
        options={**init_integration.options, "frequency_reserve_price": "sensor.fcr_price"},
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    coordinator = init_integration.runtime_data.coordinator
    await coordinator.async_refresh()
    site = hass.states.get("sensor.home_plan")  # the price sensor is missing: no offer
    assert site.attributes["frequency_reserve"] == {"up_w": 0, "down_w": 0, "revenue": 0.0}
    hass.states.async_set("sensor.grid_frequency", "49.8", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.garage_plan").attributes["frequency_response_w"] == 0

    # 3 EUR per kW and hour for the next two days: worth more than any arbitrage.
    start = dt_util.now().replace(minute=0, second=0, microsecond=0)
    prices = [
        {
            "start": (start + timedelta(hours=h)).isoformat(),
            "end": (start + timedelta(hours=h + 1)).isoformat(),
            "price": 3.0,
        }
        for h in range(48)
    ]
    hass.states.async_set("sensor.fcr_price", "3.0", {"prices": prices})
    hass.states.async_set("sensor.grid_frequency", "50.0", {"unit_of_measurement": "Hz"})
    await coordinator.async_refresh()
    site = hass.states.get("sensor.home_plan")
    reserve = site.attributes["frequency_reserve"]
    assert reserve["up_w"] == 5_000  # the whole offer, both ways
    assert reserve["down_w"] == 3_000
    assert reserve["revenue"] > 0
    assert site.attributes["schedule"][0]["reserve_up_w"] == 5_000
    hass.states.async_set("sensor.grid_frequency", "49.8", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["frequency_response_w"] == -5_000
    assert plan.attributes["reason"].endswith(
        " Frequency response: 5.0 kW less from the grid (low grid frequency)."
    )
    hass.states.async_set("sensor.grid_frequency", "50.2", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    plan = hass.states.get("sensor.garage_plan")
    assert plan.attributes["frequency_response_w"] == 3_000
    assert plan.attributes["reason"].endswith(
        " Frequency response: charging 3.0 kW more (high grid frequency)."
    )
    # Charging now, the EV is not planned: nothing is kept for the market, nothing answered.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "charge_now"},
        blocking=True,
    )
    hass.states.async_set("sensor.grid_frequency", "49.8", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.garage_plan").attributes["frequency_response_w"] == 0


def test_reserve_prices_from_a_price_entity() -> None:
    """The list where it covers a slot, the state for the first slot, 0 where nothing is known."""
    now = datetime(2026, 1, 15, 17, 30, tzinfo=UTC)
    grid = make_grid(now, now + timedelta(hours=3))
    assert reserve_prices(2.5, {}, grid, UTC).tolist() == [2.5] * 12  # an input_number: flat
    per_mw = reserve_prices(2500.0, {"unit_of_measurement": "EUR/MW/h"}, grid, UTC)
    assert per_mw.tolist() == [2.5] * 12
    listed = {
        "prices": [
            {"start": "2026-01-15T18:00:00+00:00", "end": "2026-01-15T19:00:00+00:00", "price": 4}
        ]
    }
    assert reserve_prices(None, listed, grid, UTC).tolist() == [0.0] * 2 + [4.0] * 4 + [0.0] * 6
    assert reserve_prices(3.0, listed, grid, UTC).tolist() == [3.0, 0.0] + [4.0] * 4 + [0.0] * 6
    assert reserve_prices(float("nan"), listed, grid, UTC)[0] == 0.0


def test_no_offer_without_power_or_offered_hours() -> None:
    """A droop offering no power, or offered only outside the horizon, changes nothing."""
    now = datetime(2026, 1, 15, 17, 30, tzinfo=UTC)
    grid = make_grid(now, now + timedelta(hours=2))
    problem = Problem(
        grid=grid,
        import_price_per_kwh=0.2,
        export_price_per_kwh=0.1,
        vehicles=(Vehicle(capacity_kwh=60, soc_pct=50),),
    )
    nothing = Droop(max_up_w=0, max_down_w=0)
    assert with_frequency_offer(problem, nothing, UTC, duration_h=0.25) is problem
    later = Droop(max_up_w=3_000, max_down_w=3_000, start=time(2, 0), end=time(4, 0))
    assert with_frequency_offer(problem, later, UTC, duration_h=0.25) is problem
    now_offered = Droop(max_up_w=3_000, max_down_w=1_000, start=time(17, 0), end=time(18, 0))
    offer = with_frequency_offer(problem, now_offered, UTC, duration_h=0.5).reserve_offer
    assert offer is not None
    assert offer.up_w.tolist() == [3_000.0] * 2 + [0.0] * 6
    assert offer.down_w.tolist() == [1_000.0] * 2 + [0.0] * 6
    assert not offer.priced
