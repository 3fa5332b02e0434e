"""Frequency reserve in the plan: power and energy headroom kept, and when offering pays."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    Problem,
    ReserveOffer,
    Site,
    SolveOptions,
    Vehicle,
    reserve_keep_value_per_kw_h,
    solve,
)

from .common import assert_balanced, ev, hours, problem
from .real_data import real_fleet, real_problem

PRICES = [0.30, 0.10, 0.10, 0.40, 0.45, 0.20, 0.10, 0.30]
"""Eight hourly slots: cheap at 1-2 and 6, dear at 3-4."""


def _offer(
    base: Problem,
    *,
    up_w: float = 3_000.0,
    down_w: float = 3_000.0,
    price: float | None = None,
    duration_h: float = 1.0,
    slots: slice = slice(None),
) -> Problem:
    n = len(base.grid)
    offered = np.zeros(n, dtype=bool)
    offered[slots] = True
    value = reserve_keep_value_per_kw_h(base) if price is None else price
    return dataclasses.replace(
        base,
        reserve_offer=ReserveOffer(
            up_w=np.where(offered, up_w, 0.0),
            down_w=np.where(offered, down_w, 0.0),
            price_per_kw_h=np.full(n, value),
            duration_h=duration_h,
            priced=price is not None,
        ),
    )


def _cash(plan_cost: object) -> float:
    return float(plan_cost.total_cost)  # type: ignore[attr-defined]


def test_unpriced_offer_keeps_power_headroom_both_ways() -> None:
    """A V2G EV charging cheaply leaves 3 kW to charge more and 3 kW to discharge more."""
    car = ev(soc_pct=30, target_soc_pct=70, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,))
    free = solve(base)
    assert free.vehicles[0].power_w.max() == pytest.approx(10_000)  # full power when cheap
    plan = solve(_offer(base))
    power = plan.vehicles[0].power_w
    assert power.max() <= 7_000 + 1e-3
    assert (-power).max() <= 7_000 + 1e-3
    assert plan.reserve_up_w == pytest.approx(np.full(8, 3_000.0))
    assert plan.reserve_down_w == pytest.approx(np.full(8, 3_000.0))
    assert plan.target_reachable
    assert plan.departure_soc_pct == pytest.approx(70, abs=0.01)
    assert_balanced(_offer(base), plan)


def test_energy_above_the_reserve_for_the_offered_duration() -> None:
    """Held at its reserve, an EV offering 5 kW for an hour first stores 5 kWh above it."""
    car = ev(soc_pct=20, target_soc_pct=20, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, export_price=[0.0] * 8, vehicles=(car,))
    assert solve(base).vehicles[0].charge_power_w.sum() == pytest.approx(0, abs=1e-3)
    offered = _offer(base, up_w=5_000, down_w=0, duration_h=1.0, slots=slice(3, 8))
    plan = solve(offered)
    # 100 kWh battery, efficiency 1: the SoC in the offered hours is at least 25 %.
    assert plan.soc_pct[3:8].min() >= 25 - 1e-6
    assert plan.reserve_up_w[3:8] == pytest.approx(np.full(5, 5_000.0))
    # Bought in the cheap hours before the offer.
    assert plan.vehicles[0].charge_power_w[1:3].sum() == pytest.approx(5_000, abs=1e-3)


def test_energy_below_the_cycling_cap_for_over_frequency() -> None:
    """An EV near its cycling cap keeps room to charge 4 kW more for half an hour."""
    car = ev(soc_pct=90, target_soc_pct=60, max_soc_pct=90, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,))
    plan = solve(_offer(base, up_w=0, down_w=4_000, duration_h=0.5))
    assert plan.soc_pct.max() <= 88 + 1e-6
    assert plan.reserve_down_w == pytest.approx(np.full(8, 4_000.0))


def test_the_offer_yields_to_the_drivers_target() -> None:
    """A charge-only EV needing every watt to reach its target gives up the offer for it."""
    car = ev(
        soc_pct=20,
        target_soc_pct=100,
        departure=hours(8),
        max_discharge_power_w=0,
        v2g_allowed=False,
    )
    base = problem(PRICES, vehicles=(car,))
    plan = solve(_offer(base))
    assert plan.target_reachable
    assert plan.departure_soc_pct == pytest.approx(100, abs=0.01)
    # Room to charge more where it charges at full power (and at the cycling cap): none.
    assert plan.reserve_down_w.sum() < 3_000 * 8


def test_unpriced_offer_charges_nothing_just_to_offer() -> None:
    """ "Less charging" only exists while charging: unpriced, nothing is bought for it."""
    car = ev(
        soc_pct=40,
        target_soc_pct=50,
        departure=hours(8),
        max_discharge_power_w=0,
        v2g_allowed=False,
    )
    base = problem(PRICES, vehicles=(car,))
    free = solve(base)
    plan = solve(_offer(base, up_w=5_000, down_w=2_000))
    charged = plan.vehicles[0].charge_power_w.sum()
    assert charged == pytest.approx(free.vehicles[0].charge_power_w.sum(), abs=1e-3)
    assert plan.reserve_down_w == pytest.approx(np.full(8, 2_000.0))


def test_priced_offer_is_kept_only_where_it_pays() -> None:
    """A capacity price worth less than arbitrage is not taken; one worth more is."""
    car = ev(soc_pct=50, target_soc_pct=50, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,))
    free = solve(base)
    nothing = solve(_offer(base, price=0.0))
    assert nothing.reserve_up_w.sum() == pytest.approx(0.0)
    assert nothing.cost.objective == pytest.approx(free.cost.objective, abs=1e-6)
    high = solve(_offer(base, price=5.0))
    assert high.reserve_up_w == pytest.approx(np.full(8, 3_000.0))
    # A market's product is symmetric: the same share both ways.
    assert high.reserve_down_w == pytest.approx(high.reserve_up_w)
    assert high.cost.reserve_value == pytest.approx(5.0 * 3 * 8)
    low = solve(_offer(base, price=0.002))
    # Optimal against both extremes: never worse than offering nothing or everything.
    for other in (free, high):
        low_net = low.cost.objective
        other_net = _cash(other.cost) - other.cost.terminal_value
        other_net -= 0.002 / 5.0 * other.cost.reserve_value
        assert low_net <= other_net + 1e-6


def test_offer_shared_by_a_fleet_within_the_fuse() -> None:
    """Two EVs on a 12 kW fuse: planned charging plus the over-frequency room fits the fuse."""
    cars = (
        ev(name="a", soc_pct=30, target_soc_pct=60, departure=hours(8)),
        ev(name="b", soc_pct=30, target_soc_pct=60, departure=hours(8)),
    )
    base = problem(PRICES, vehicles=cars, site=Site(import_limit_w=12_000), load_w=[500] * 8)
    plan = solve(_offer(base, up_w=2_000, down_w=4_000))
    assert (plan.grid_import_w + plan.reserve_down_w <= 12_000 + 1e-3).all()
    assert plan.reserve_down_w == pytest.approx(np.full(8, 4_000.0))
    assert all(v.target_reachable for v in plan.vehicles)


def test_below_the_reserve_now_the_reserve_comes_first() -> None:
    """An EV below its reserve charges back to it; the offer never takes it below."""
    car = ev(soc_pct=10, target_soc_pct=30, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,))
    plan = solve(_offer(base, up_w=4_000, down_w=0))
    assert plan.soc_pct[0] >= 20 - 1e-6
    assert plan.departure_soc_pct == pytest.approx(30, abs=0.01)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    soc=st.floats(5, 95),
    target=st.floats(20, 100),
    reserve=st.floats(0, 40),
    up=st.floats(0, 20_000),
    down=st.floats(0, 20_000),
    duration=st.sampled_from([0.25, 0.5, 1.0]),
    v2g=st.booleans(),
    minimum=st.sampled_from([0.0, 4_140.0]),
    price=st.one_of(st.none(), st.floats(0, 1)),
)
def test_kept_reserve_always_fits_the_plan(  # noqa: PLR0917
    soc: float,
    target: float,
    reserve: float,
    up: float,
    down: float,
    duration: float,
    v2g: bool,
    minimum: float,
    price: float | None,
) -> None:
    """Whatever is kept fits: power limits both ways, the fuse, reserve and cycling cap."""
    car = Vehicle(
        capacity_kwh=60,
        soc_pct=soc,
        target_soc_pct=max(target, reserve),
        departure=hours(8),
        min_soc_pct=reserve,
        max_charge_power_w=11_000,
        max_discharge_power_w=11_000 if v2g else 0.0,
        min_charge_power_w=minimum,
        min_discharge_power_w=minimum if v2g else 0.0,
        v2g_allowed=v2g,
    )
    site = Site(import_limit_w=14_000, export_limit_w=6_000)
    base = problem(PRICES, vehicles=(car,), site=site, load_w=[800] * 8)
    offered = _offer(base, up_w=up, down_w=down, price=price, duration_h=duration)
    plan = solve(offered)
    power = plan.vehicles[0].power_w
    kept_up, kept_down = plan.reserve_up_w, plan.reserve_down_w
    tol = 1e-3
    assert (kept_up <= up + tol).all()
    assert (kept_down <= down + tol).all()
    assert (power + kept_down <= 11_000 + tol).all()
    room_down = 11_000 if v2g else 0.0
    discharging = np.clip(-power, 0.0, None)
    # Priced, charging less counts; unpriced, only the discharging room the plan leaves.
    assert (kept_up - (power if price is not None else -discharging) <= room_down + tol).all()
    charging = np.clip(power, 0.0, None)
    assert (kept_down + (power if price is not None else charging) <= 11_000 + tol).all()
    assert (plan.grid_import_w - plan.grid_export_w + kept_down <= 14_000 + tol).all()
    assert (plan.grid_export_w - plan.grid_import_w + kept_up <= 6_000 + tol).all()
    soc_kwh = plan.soc_pct * 0.6
    assert (soc_kwh + duration * 0.92 * kept_down / 1000 <= 60 + 1e-4).all()
    if v2g:
        floor = 0.6 * reserve
        above = soc_kwh - duration / 0.92 * kept_up / 1000
        assert (above >= np.minimum(floor, soc_kwh) - 1e-4).all()
    if price is not None and up > 1 and down > 1:  # (a share of 5e-324 W rounds to itself)
        assert kept_up / up == pytest.approx(kept_down / down, abs=1e-6)


def test_minimum_power_inside_the_headroom_gives_the_offer_up() -> None:
    """7 kW kept of an 11 kW charger with a 4.14 kW minimum leaves it unable to run at all:
    reaching the target comes first, so the plan keeps no offer rather than miss it."""
    car = Vehicle(
        capacity_kwh=60,
        soc_pct=50,
        target_soc_pct=55,
        departure=hours(1),
        max_charge_power_w=11_000,
        max_discharge_power_w=11_000,
        min_charge_power_w=4_140,
        min_discharge_power_w=4_140,
        charge_efficiency=1.0,
        v2g_allowed=True,
    )
    base = problem(PRICES[:1], export_price=[0.0], vehicles=(car,))
    plan = solve(_offer(base, up_w=0, down_w=7_000, duration_h=0.25))
    assert plan.departure_soc_pct >= 55 - 1e-6
    assert plan.reserve_down_w == pytest.approx([0.0])
    assert plan.vehicles[0].charge_power_w[0] == pytest.approx(4_140)


@pytest.mark.parametrize("seed", range(6))
def test_with_minimum_powers_close_to_the_full_milp(seed: int) -> None:
    """Real prices, 32 quarter-hours: the LP's reserve and the exact search within 5 cents of
    the full MILP with the offer in it, and never better than it."""
    rng = np.random.default_rng(seed)
    base = real_problem(rng, 32, worn=True)
    car = dataclasses.replace(
        base.vehicles[0],
        min_charge_power_w=4_140.0,
        min_discharge_power_w=4_140.0 if base.vehicles[0].can_discharge else 0.0,
    )
    base = dataclasses.replace(base, vehicles=(car,))
    for price in (None, 0.02):
        offered = _offer(base, up_w=3_000, down_w=3_000, price=price, duration_h=0.25)
        plan = solve(offered)
        reference = solve(offered, SolveOptions(reference=True, time_limit_s=30))
        assert reference.ok
        assert plan.cost.objective >= reference.cost.objective - 1e-6
        assert plan.cost.objective <= reference.cost.objective + 0.05


def test_fleet_with_minimum_powers_keeps_the_offer() -> None:
    """Two EVs with 4.14 kW minimum powers: the rounded LP's plan keeps what it says it keeps."""
    cars = tuple(
        ev(
            name=name,
            soc_pct=30,
            target_soc_pct=60,
            departure=hours(8),
            min_charge_power_w=4_140,
            min_discharge_power_w=4_140,
        )
        for name in ("a", "b")
    )
    base = problem(PRICES, vehicles=cars, site=Site(import_limit_w=16_000), load_w=[500] * 8)
    plan = solve(_offer(base, up_w=3_000, down_w=3_000))
    assert plan.status.startswith(("optimal", "near-optimal"))
    assert all(v.target_reachable for v in plan.vehicles)
    assert (plan.grid_import_w + plan.reserve_down_w <= 16_000 + 1e-3).all()
    room_up = sum(10_000 - v.power_w for v in plan.vehicles)
    assert (plan.reserve_down_w <= room_up + 1e-3).all()
    for vehicle in plan.vehicles:
        running = vehicle.charge_power_w[vehicle.charge_power_w > 1e-3]
        assert (running >= 4_140 - 1e-3).all()
    assert plan.reserve_down_w.sum() > 0


def test_priced_less_charging_from_a_charge_only_ev() -> None:
    """Sold "less charging": a charge-only EV charges at least the response it sold."""
    car = ev(
        soc_pct=40,
        target_soc_pct=60,
        departure=hours(8),
        max_discharge_power_w=0,
        v2g_allowed=False,
        min_charge_power_w=2_000,
    )
    base = problem(PRICES, vehicles=(car,))
    plan = solve(_offer(base, up_w=2_500, down_w=2_500, price=1.0, slots=slice(0, 4)))
    kept = plan.reserve_up_w[:4] > 0
    assert kept.any()
    assert (plan.vehicles[0].charge_power_w[:4][kept] >= plan.reserve_up_w[:4][kept] - 1e-3).all()
    assert plan.departure_soc_pct <= car.max_soc_pct + 1e-6


def test_unpriced_offer_discharges_nothing_just_to_offer() -> None:
    """ "More charging" room from a discharge is not worth cycling the battery for: an EV at
    its target on a 4 kW charger stays idle and keeps 4 kW, not 8 kW by discharging 4."""
    car = ev(
        soc_pct=60, target_soc_pct=50, departure=hours(8), min_soc_pct=20, max_charge_power_w=4_000
    )
    base = problem([0.20] * 8, export_price=[0.0] * 8, vehicles=(car,))
    plan = solve(_offer(base, up_w=0, down_w=8_000))
    assert plan.vehicles[0].discharge_power_w.sum() == pytest.approx(0.0, abs=1e-3)
    assert plan.reserve_down_w == pytest.approx(np.full(8, 4_000.0))


def test_the_feed_in_limit_bounds_the_under_frequency_response() -> None:
    """A site that may feed in 4 kW keeps no more room to give than that, discharge included."""
    car = ev(soc_pct=60, target_soc_pct=50, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,), site=Site(export_limit_w=4_000))
    plan = solve(_offer(base, up_w=8_000, down_w=0, price=1.0))
    assert (plan.grid_export_w + plan.reserve_up_w <= 4_000 + 1e-3).all()
    assert plan.reserve_up_w.max() == pytest.approx(4_000)


def test_no_reserve_under_a_site_dispatch_or_at_no_price() -> None:
    """A site dispatch's hours and hours the market pays nothing for keep no reserve."""
    car = ev(soc_pct=60, target_soc_pct=50, departure=hours(8), min_soc_pct=20)
    base = problem(PRICES, vehicles=(car,))
    ceiling = np.full(8, np.inf)
    ceiling[2:4] = 0.0
    offered = _offer(dataclasses.replace(base, grid_ceiling_w=ceiling), price=1.0)
    prices = offered.reserve_offer.price_per_kw_h.copy()  # type: ignore[union-attr]
    prices[6:] = 0.0
    offered = dataclasses.replace(
        offered,
        reserve_offer=dataclasses.replace(offered.reserve_offer, price_per_kw_h=prices),  # type: ignore[arg-type]
    )
    plan = solve(offered)
    kept = plan.reserve_up_w > 0
    assert kept.tolist() == [True, True, False, False, True, True, False, False]


def test_a_fleet_rounding_that_would_strand_a_driver_is_not_used() -> None:
    """Two EVs on real prices where rounding the LP's on/off pattern with the offer leaves
    targets shorter than the LP: the fleet is planned without the offer, as if none were made."""
    base = real_fleet(np.random.default_rng(19), 2, 32)
    plan = solve(_offer(base, up_w=3_000, down_w=3_000, price=0.02, duration_h=0.25))
    plain = solve(base)
    assert plan.reserve_up_w == pytest.approx(np.zeros(32))
    assert plan.cost.shortfall_penalty == pytest.approx(plain.cost.shortfall_penalty, rel=1e-6)


@pytest.mark.parametrize(
    ("soc", "reserve", "up_w", "down_w", "duration", "price"),
    [
        (20.0, 16.0, 2_661.0, 6_861.0, 1.0, None),  # the floor the offer needs is above the car
        (92.0, 0.0, 2_661.0, 10_436.0, 0.5, None),  # the ceiling is 0.6 Wh below it
        (5.0, 4.0, 2_702.0, 11_038.0, 0.25, 1.0),  # only the first slot, priced
    ],
)
def test_an_offer_the_car_cannot_hold_idle_is_dropped(  # noqa: PLR0917
    soc: float, reserve: float, up_w: float, down_w: float, duration: float, price: float | None
) -> None:
    """Found by `test_kept_reserve_always_fits_the_plan`. Kept, the offer leaves the charger less
    than its 4.14 kW minimum both ways (14 kW fuse and 6 kW feed-in, 0.8 kW of house) in the
    first slots, so there the car can only idle, and idle its stored energy cannot sustain the
    offer. The plan used to keep the offer anyway; now it keeps none rather than too much."""
    car = Vehicle(
        capacity_kwh=60,
        soc_pct=soc,
        target_soc_pct=max(20.0, reserve),
        departure=hours(8),
        min_soc_pct=reserve,
        max_charge_power_w=11_000,
        max_discharge_power_w=11_000,
        min_charge_power_w=4_140.0,
        min_discharge_power_w=4_140.0,
        v2g_allowed=True,
    )
    site = Site(import_limit_w=14_000, export_limit_w=6_000)
    base = problem(PRICES, vehicles=(car,), site=site, load_w=[800] * 8)
    plan = solve(_offer(base, up_w=up_w, down_w=down_w, price=price, duration_h=duration))
    soc_kwh = plan.soc_pct * 0.6
    assert (soc_kwh + duration * 0.92 * plan.reserve_down_w / 1000 <= 60 + 1e-4).all()
    assert (soc_kwh - duration / 0.92 * plan.reserve_up_w / 1000 >= 0.6 * reserve - 1e-4).all()
    assert plan.cost.reserve_value == 0.0
