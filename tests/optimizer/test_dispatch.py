"""Dispatch in the optimizer: per-slot bounds on vehicles and the site, `prefer` targets."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    Site,
    Vehicle,
    charge_now,
    cheapest_slots,
    prefer_penalty_per_kwh,
    solve,
)

from .common import ev, hours, problem

PRICES = [0.30, 0.10, 0.10, 0.40, 0.45, 0.20, 0.10, 0.30]
"""Eight hourly slots: cheap at 1-2 and 6, dear at 3-4."""


def _bounds(n: int, window: slice, value: float) -> np.ndarray:
    bound = np.full(n, np.nan)
    bound[window] = value
    return bound


def _must(vehicle: Vehicle, n: int, window: slice, power_w: float) -> Vehicle:
    floor = np.full(n, -np.inf)
    ceiling = np.full(n, np.inf)
    floor[window] = power_w
    ceiling[window] = power_w
    return dataclasses.replace(vehicle, power_floor_w=floor, power_ceiling_w=ceiling)


def test_must_export_window_is_kept_and_the_target_still_reached() -> None:
    """5 kW out in the cheapest hours (a grid operator asks): the plan pays back later."""
    n = len(PRICES)
    car = ev(soc_pct=50, target_soc_pct=60, departure=hours(8), min_soc_pct=20)
    plan = solve(problem(PRICES, vehicles=(_must(car, n, slice(1, 3), -5_000),)))
    assert plan.vehicles[0].power_w[1:3] == pytest.approx([-5_000, -5_000])
    assert plan.target_reachable
    assert plan.departure_soc_pct == pytest.approx(60, abs=0.01)
    assert plan.dispatch_unmet_kwh == pytest.approx(0.0, abs=1e-6)
    # Without the dispatch it would charge in these very hours.
    free = solve(problem(PRICES, vehicles=(car,)))
    assert free.vehicles[0].power_w[1:3].max() > 0


def test_must_never_below_the_reserve() -> None:
    """A discharge longer than the energy above the reserve stops at the reserve."""
    n = len(PRICES)
    car = ev(soc_pct=30, target_soc_pct=30, min_soc_pct=20, departure=hours(8))
    plan = solve(problem(PRICES, vehicles=(_must(car, n, slice(0, 4), -5_000),)))
    assert plan.soc_pct.min() >= 20 - 1e-6
    # 10 kWh above the reserve: two hours at 5 kW, then the reserve stops it.
    assert plan.vehicles[0].power_w[:2] == pytest.approx([-5_000, -5_000])
    assert plan.dispatch_unmet_kwh == pytest.approx(10.0, abs=1e-6)


def test_must_never_above_the_fuse() -> None:
    """Two EVs told to charge 10 kW each under a 12 kW fuse: the fuse wins, by priority."""
    n = len(PRICES)
    first = _must(ev(name="a", priority=2.0), n, slice(0, 2), 10_000)
    second = _must(ev(name="b"), n, slice(0, 2), 10_000)
    plan = solve(problem(PRICES, vehicles=(first, second), site=Site(import_limit_w=12_000)))
    assert plan.grid_import_w.max() <= 12_000 + 1e-6
    assert plan.vehicles[0].power_w[:2] == pytest.approx([10_000, 10_000])
    assert plan.dispatch_unmet_kwh > 0


def test_site_must_export_shared_by_two_evs_keeps_both_targets() -> None:
    n = len(PRICES)
    cars = (
        ev(name="a", soc_pct=50, target_soc_pct=70, departure=hours(8), min_soc_pct=20),
        ev(name="b", soc_pct=40, target_soc_pct=60, departure=hours(8), min_soc_pct=20),
    )
    floor = np.full(n, -np.inf)
    ceiling = np.full(n, np.inf)
    ceiling[1:3] = -12_000  # export at least 12 kW at the cheapest hours
    base = problem(PRICES, vehicles=cars, load_w=np.full(n, 500.0))
    plan = solve(dataclasses.replace(base, grid_floor_w=floor, grid_ceiling_w=ceiling))
    net = plan.grid_import_w - plan.grid_export_w
    assert np.all(net[1:3] <= -12_000 + 1e-6)
    assert all(v.target_reachable for v in plan.vehicles)
    assert plan.dispatch_unmet_kwh == pytest.approx(0.0, abs=1e-6)


def test_prefer_beats_arbitrage_but_yields_to_the_target() -> None:
    n = len(PRICES)
    # Plenty of time: the preference (discharge 3 kW at hour 1, when energy is cheap) is kept.
    car = ev(soc_pct=50, target_soc_pct=55, departure=hours(8))
    pref = dataclasses.replace(car, preferred_power_w=_bounds(n, slice(1, 2), -3_000))
    plan = solve(problem(PRICES, vehicles=(pref,)))
    assert plan.vehicles[0].power_w[1] == pytest.approx(-3_000)
    assert plan.target_reachable
    # The target needs every slot at full power: the preference yields.
    tight = ev(soc_pct=20, target_soc_pct=100, departure=hours(8))
    tight = dataclasses.replace(tight, preferred_power_w=_bounds(n, slice(1, 2), -3_000))
    plan = solve(problem(PRICES, vehicles=(tight,)))
    assert plan.vehicles[0].power_w[1] == pytest.approx(10_000)
    assert plan.departure_soc_pct == pytest.approx(100, abs=0.01)
    assert prefer_penalty_per_kwh(problem(PRICES)) > 2 * max(PRICES)


def test_baselines_keep_the_bounds() -> None:
    n = len(PRICES)
    car = ev(soc_pct=30, target_soc_pct=80, departure=hours(8), min_soc_pct=20)
    must = _must(car, n, slice(0, 2), -4_000)
    capped = dataclasses.replace(must, power_ceiling_w=np.where(np.arange(n) < 2, -4_000, 3_000))
    for strategy in (charge_now, cheapest_slots):
        plan = strategy(problem(PRICES, vehicles=(capped,)))
        power = plan.vehicles[0].power_w
        assert power[:2] == pytest.approx([-4_000, -4_000])
        assert power[2:].max() <= 3_000 + 1e-6
        assert plan.dispatch_unmet_kwh == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n_vehicles=st.integers(1, 2),
    minimum=st.sampled_from([0.0, 1_400.0]),
)
def test_bounds_always_respected(data: st.DataObject, n_vehicles: int, minimum: float) -> None:
    """Random prices, SoCs and bounds: every plan keeps every bound it can keep, and what it
    cannot keep is only what the reserve, the cycling cap and the fuse forbid."""
    n = 8
    prices = data.draw(st.lists(st.floats(-0.05, 0.6), min_size=n, max_size=n))
    cars = []
    for i in range(n_vehicles):
        low = data.draw(
            st.lists(st.sampled_from([-np.inf, -6e3, -2e3, 0.0, 3e3]), min_size=n, max_size=n)
        )
        span = data.draw(st.lists(st.sampled_from([0.0, 2e3, 5e3, np.inf]), min_size=n, max_size=n))
        floor = np.asarray(low)
        ceiling = np.where(np.isinf(floor), np.inf, np.nan_to_num(floor) + np.asarray(span))
        cars.append(
            ev(
                name=f"ev{i}",
                soc_pct=data.draw(st.floats(10, 90)),
                target_soc_pct=data.draw(st.floats(10, 90)),
                min_soc_pct=20,
                max_soc_pct=90,
                departure=hours(n),
                min_charge_power_w=minimum,
                min_discharge_power_w=minimum,
                charge_efficiency=0.9,
                discharge_efficiency=0.9,
                power_floor_w=floor,
                power_ceiling_w=ceiling,
            )
        )
    p = problem(prices, vehicles=tuple(cars), site=Site(import_limit_w=14_000), load_w=[800.0] * n)
    for plan in (solve(p), charge_now(p), cheapest_slots(p)):
        assert plan.grid_import_w.max() <= 14_000 + 1e-3
        for car, vp in zip(cars, plan.vehicles, strict=True):
            power = vp.power_w
            assert car.power_ceiling_w is not None
            assert car.power_floor_w is not None
            # Ceilings are never crossed (idle is always within them or below them).
            assert np.all(power <= np.maximum(car.power_ceiling_w, 0.0) + 1e-3)
            assert np.all(power >= np.minimum(car.power_floor_w, 0.0) - 1e-3)
            # The reserve is never crossed by a dispatch (an EV starting below it may stay).
            start = min(car.soc_pct, 20.0)
            assert vp.soc_pct.min() >= start - 1e-6
            # Floors: kept unless the reserve, the cap or the fuse forbid; a miss is reported.
            missed = np.clip(car.power_floor_w - power, 0.0, None)
            if missed.sum() > 1e-3:
                assert plan.dispatch_unmet_kwh > 0
