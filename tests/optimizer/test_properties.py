"""Property tests: random small problems, invariants every plan must keep."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings, strategies as st
import numpy as np

from custom_components.v2g.optimizer import (
    Plan,
    Problem,
    Site,
    Vehicle,
    charge_now,
    cheapest_slots,
    make_grid,
    solve,
)
from custom_components.v2g.optimizer.bounds import vehicle_data

from .common import T0, assert_balanced, assert_no_simultaneous

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@st.composite
def problems(draw: st.DrawFn, max_vehicles: int = 1) -> Problem:
    n = draw(st.integers(2, 16))
    slot_s = draw(st.sampled_from([900, 1800, 3600]))
    grid = make_grid(T0, T0 + timedelta(seconds=n * slot_s), slot_s)
    prices = st.floats(-0.15, 0.6, allow_nan=False).map(lambda p: round(p, 3))
    spot = np.array(draw(st.lists(prices, min_size=n, max_size=n)))
    fee = draw(st.sampled_from([0.0, 0.1]))
    solar = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 2e3, 6e3]), min_size=n, max_size=n)))
    load = np.array(draw(st.lists(st.sampled_from([0.0, 500.0, 3e3]), min_size=n, max_size=n)))
    vehicles = []
    for i in range(draw(st.integers(1, max_vehicles))):
        capacity = draw(st.sampled_from([20.0, 60.0]))
        reserve = draw(st.sampled_from([0.0, 20.0]))
        soc = draw(st.floats(5.0, 95.0))
        target = draw(st.floats(reserve, 100.0))
        v2g = draw(st.booleans())
        departure_slot = draw(st.integers(1, n + 2))
        vehicles.append(
            Vehicle(
                name=f"ev{i}",
                capacity_kwh=capacity,
                soc_pct=soc,
                target_soc_pct=target,
                departure=T0 + timedelta(seconds=departure_slot * slot_s),
                min_soc_pct=reserve,
                max_soc_pct=draw(st.sampled_from([80.0, 100.0])),
                max_charge_power_w=draw(st.sampled_from([3_700.0, 11_000.0])),
                max_discharge_power_w=draw(st.sampled_from([0.0, 5_000.0])),
                min_charge_power_w=draw(st.sampled_from([0.0, 0.0, 1_400.0, 4_140.0])),
                min_discharge_power_w=draw(st.sampled_from([0.0, 0.0, 1_400.0, 4_140.0])),
                charge_efficiency=draw(st.sampled_from([0.9, 1.0])),
                discharge_efficiency=draw(st.sampled_from([0.9, 1.0])),
                wear_cost_per_kwh=draw(st.sampled_from([0.0, 0.03])),
                v2g_allowed=v2g,
                reserve_within_s=draw(st.sampled_from([None, None, 1800.0, 7200.0])),
                care_cost_per_kwh_h=draw(st.sampled_from([0.0, 0.0, 0.01])),
                charge_late=draw(st.booleans()),
                finish_margin_s=draw(st.sampled_from([0.0, 0.0, 1800.0])),
            )
        )
    site = Site(
        import_limit_w=draw(st.sampled_from([np.inf, 8_000.0, 17_000.0])),
        export_limit_w=draw(st.sampled_from([np.inf, 4_000.0])),
        export_allowed=draw(st.booleans()),
        capacity_price_per_kw=draw(st.sampled_from([0.0, 0.0, 2.0])),
    )
    return Problem(
        grid=grid,
        import_price_per_kwh=spot + fee,
        export_price_per_kwh=spot,
        vehicles=tuple(vehicles),
        solar_power_w=solar,
        base_load_power_w=load,
        site=site,
    )


def _check_physics(problem: Problem, plan: Plan) -> None:
    assert plan.ok, plan.status
    assert_balanced(problem, plan)
    assert_no_simultaneous(plan)
    h = problem.grid.durations_h
    for vehicle, vp in zip(problem.vehicles, plan.vehicles, strict=True):
        assert (vp.charge_power_w >= -1e-6).all()
        assert (vp.charge_power_w <= vehicle.max_charge_power_w + 1e-3).all()
        assert (vp.discharge_power_w >= -1e-6).all()
        limit = vehicle.max_discharge_power_w if vehicle.v2g_allowed else 0.0
        assert (vp.discharge_power_w <= limit + 1e-3).all()
        # Minimum powers: never strictly between 0 and the minimum, either way.
        on = vp.charge_power_w > 1e-3
        assert (vp.charge_power_w[on] >= vehicle.min_charge_power_w - 1e-3).all()
        out = vp.discharge_power_w > 1e-3
        assert (vp.discharge_power_w[out] >= vehicle.min_discharge_power_w - 1e-3).all()
        # SoC follows the energy that went in and out.
        stored = vehicle.soc_pct / 100 * vehicle.capacity_kwh + np.cumsum(
            h
            * (
                vehicle.charge_efficiency * vp.charge_power_w
                - vp.discharge_power_w / vehicle.discharge_efficiency
            )
            / 1000.0
        )
        np.testing.assert_allclose(vp.soc_pct, stored / vehicle.capacity_kwh * 100, atol=1e-6)
        upper = max(vehicle.max_soc_pct, vehicle.target_soc_pct, vehicle.soc_pct)
        assert vp.soc_pct.max() <= min(max(upper, vehicle.soc_pct), 100.0) + 1e-6
        if vehicle.soc_pct >= vehicle.min_soc_pct:
            assert vp.soc_pct.min() >= vehicle.min_soc_pct - 1e-6
        elif vehicle.reserve_within_s is not None:
            # Below the reserve: never discharged before the deadline to reach it.
            window = problem.grid.end_s < problem.grid.start_s[0] + vehicle.reserve_within_s
            assert (vp.discharge_power_w[window] <= 1e-3).all()
    assert (plan.grid_export_w <= problem.site.export_limit_w + 1e-3).all()
    if not problem.site.export_allowed:
        assert (plan.grid_export_w <= 1e-3).all()


@SETTINGS
@given(problems())
def test_single_vehicle_invariants(problem: Problem) -> None:
    plan = solve(problem)
    _check_physics(problem, plan)
    reference = charge_now(problem)
    # Never worse than charging now on the same objective (cost, wear, peak, terminal value,
    # shortfall penalties) ...
    tolerance = 1e-6 * max(1.0, abs(reference.cost.objective))
    assert plan.cost.objective <= reference.cost.objective + tolerance
    assert plan.cost.objective <= cheapest_slots(problem).cost.objective + tolerance
    # ... and a target that charging now reaches is reached.
    for mine, theirs in zip(plan.vehicles, reference.vehicles, strict=True):
        if theirs.target_reachable:
            assert mine.target_reachable


@settings(max_examples=20, deadline=None, derandomize=True)
@given(problems(max_vehicles=3))
def test_fleet_invariants(problem: Problem) -> None:
    """Fleets with minimum powers get the two-LP heuristic: optimal, or near-optimal with a
    bound (`optimizer.fleet`); either way a plan that keeps every rule."""
    plan = solve(problem)
    if len(problem.vehicles) > 1 and plan.status.startswith("near-optimal"):
        plan = dataclasses.replace(plan, status="optimal")  # checked like an optimal plan
    _check_physics(problem, plan)
    reference = charge_now(problem)
    tolerance = 1e-6 * max(1.0, abs(reference.cost.objective))
    assert plan.cost.objective <= reference.cost.objective + tolerance
    limit = np.maximum(problem.site.import_limit_w, problem.load - problem.solar)
    assert (plan.grid_import_w <= limit + 1e-3).all()


def _shortfall_kwh(problem: Problem, plan: Plan, index: int) -> float:
    """Vehicle ``index``'s penalised shortfall in kWh (and kWh-hours below the reserve)."""
    vehicle, vp = problem.vehicles[index], plan.vehicles[index]
    stored = vp.soc_pct / 100.0 * vehicle.capacity_kwh
    reserve = vehicle.min_soc_pct / 100.0 * vehicle.capacity_kwh
    h = problem.grid.durations_h
    below = float(np.sum(h * np.clip(reserve - stored, 0.0, None)))
    if vp.departure_index is None:
        return below
    # The target the optimizer uses (lowered for departures after the horizon, capped).
    at_departure = float(stored[vp.departure_index - 1])
    return below + max(0.0, _target_kwh(problem, index) - at_departure)


def _target_kwh(problem: Problem, index: int) -> float:
    return vehicle_data(problem, problem.vehicles[index]).target_kwh


@settings(max_examples=25, deadline=None, derandomize=True)
@given(problems(max_vehicles=3), st.integers(0, 2), st.sampled_from([3.0, 20.0]))
def test_raising_a_priority_never_increases_that_vehicles_shortfall(
    problem: Problem, which: int, factor: float
) -> None:
    """Optimality of both plans gives (w2 - w1)(short2 - short1) <= 0: monotone in priority."""
    which %= len(problem.vehicles)
    before = solve(problem)
    raised = list(problem.vehicles)
    raised[which] = dataclasses.replace(raised[which], priority=factor)
    after = solve(dataclasses.replace(problem, vehicles=tuple(raised)))
    # Optimality is what makes it monotone: fleets with minimum powers may be near-optimal.
    assume(before.ok and after.ok)
    _check_physics(problem, after)
    short_before = _shortfall_kwh(problem, before, which)
    short_after = _shortfall_kwh(problem, after, which)
    assert short_after <= short_before + 1e-4 + 1e-5 * short_before
