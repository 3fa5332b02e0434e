"""Fleets with minimum powers: the two-LP heuristic (`optimizer.fleet`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import sys

import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    Plan,
    Problem,
    Site,
    SolveOptions,
    Vehicle,
    charge_now,
    make_grid,
    solve,
)

from .common import assert_balanced, assert_no_simultaneous, ev, hours, kw, problem
from .real_data import real_fleet
from .test_single import assert_minimum_powers, scipy_milp_reference

highs_module = sys.modules["custom_components.v2g.optimizer.highs"]


def _check(prob: Problem, plan: Plan) -> None:
    assert plan.strategy == "optimal"
    assert plan.status == "optimal" or plan.status.startswith("near-optimal: within ")
    assert_minimum_powers(prob, plan)
    assert_no_simultaneous(plan)
    assert_balanced(prob, plan)
    limit = np.maximum(prob.site.import_limit_w, prob.load - prob.solar)
    assert (plan.grid_import_w <= limit + 1e-3).all()


def test_close_to_the_exact_milp_on_real_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small fleets (the exact MILP is slow beyond), three vans sharing 12 kW: never better than
    the optimum (a sanity check of feasibility), never worse than charging at once, and close to
    the optimum: a scarce limit shared below the minimum powers is the heuristic's weak spot."""
    rng = np.random.default_rng(21)
    excess = []
    for _ in range(12):
        prob = real_fleet(rng, vehicles=3, slots=24)
        plan = solve(prob)
        _check(prob, plan)
        exact = scipy_milp_reference(prob, monkeypatch)
        assert exact.ok
        tolerance = 1e-6 * max(1.0, abs(exact.cost.objective))
        assert plan.cost.objective >= exact.cost.objective - tolerance
        assert plan.cost.objective <= charge_now(prob).cost.objective + tolerance
        excess.append((plan.cost.objective - exact.cost.objective) / abs(exact.cost.objective))
    assert float(np.mean(excess)) < 0.03
    assert float(np.median(excess)) < 0.01


def test_fifty_vans_keep_every_rule() -> None:
    prob = real_fleet(np.random.default_rng(3), vehicles=50, slots=96)
    plan = solve(prob)
    _check(prob, plan)
    assert plan.mip


def test_van_needing_less_than_a_minimum_slot_is_replanned_alone() -> None:
    """0.4 kWh short of a target at the cycling cap: no minimum-power slot fits, so the rounding
    leaves it short; alone, the exact search discharges and recharges to land on the target."""
    full = ev(
        name="full",
        capacity_kwh=60.0,
        soc_pct=89.3,
        target_soc_pct=90.0,
        max_soc_pct=90.0,
        departure=hours(4),
        min_charge_power_w=4_000.0,
        min_discharge_power_w=4_000.0,
    )
    other = ev(
        name="other",
        capacity_kwh=60.0,
        soc_pct=40.0,
        target_soc_pct=60.0,
        departure=hours(4),
        min_charge_power_w=4_000.0,
        v2g_allowed=False,
    )
    prob = problem(
        [0.30, 0.20, 0.25, 0.30], vehicles=(full, other), site=Site(import_limit_w=22_000.0)
    )
    plan = solve(prob)
    _check(prob, plan)
    assert plan.vehicles[0].departure_soc_pct == pytest.approx(90.0)
    assert plan.vehicles[1].departure_soc_pct == pytest.approx(60.0)
    assert min(kw(plan.vehicles[0].discharge_power_w)) == 0.0


def test_infeasible_rounding_falls_back_to_the_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the LP with the rounded on/off pattern fails, the exact rounds plan the fleet."""
    real = highs_module.LpHandle.solve
    calls: list[int] = []

    def second_fails(self: object) -> tuple[int, str]:
        calls.append(1)
        if len(calls) == 2:
            return highs_module.FAILED, "Infeasible"
        return real(self)  # type: ignore[arg-type]

    monkeypatch.setattr(highs_module.LpHandle, "solve", second_fails)
    vehicles = tuple(
        ev(name=f"ev{i}", soc_pct=40.0, departure=hours(3), min_charge_power_w=4_000.0)
        for i in range(2)
    )
    prob = problem([0.3, 0.1, 0.2], vehicles=vehicles, site=Site(import_limit_w=15_000.0))
    plan = solve(prob, SolveOptions(max_rounds=3))
    assert plan.ok
    _check(prob, plan)


@pytest.mark.parametrize("first", [0, 1])
def test_high_priority_keeps_a_reachable_target_under_a_scarce_fuse(first: int) -> None:
    """Two 60 kWh EVs at 40 % wanting 80 % in 13 h behind 2.6 kW left by the fuse, both with a
    1.4 kW minimum (so they cannot share a slot) and a grid starting at an odd second: ample for
    one target, not for two. The high-priority EV reaches its target; the other gets the rest."""
    start = datetime(2026, 1, 15, 17, 30, 30, tzinfo=UTC)
    grid = make_grid(start, start + timedelta(hours=13))
    n = len(grid)

    def vehicle(name: str, priority: float) -> Vehicle:
        return Vehicle(
            name=name,
            capacity_kwh=60.0,
            soc_pct=40.0,
            target_soc_pct=80.0,
            departure=start + timedelta(hours=13),
            max_charge_power_w=11_000.0,
            max_discharge_power_w=11_000.0,
            min_charge_power_w=1_400.0,
            min_discharge_power_w=1_400.0,
            priority=priority,
            v2g_allowed=True,
        )

    priorities = [2.0, 1.0] if first == 0 else [1.0, 2.0]
    prob = Problem(
        grid=grid,
        import_price_per_kwh=np.full(n, 0.30),
        export_price_per_kwh=np.full(n, 0.30),
        base_load_power_w=np.full(n, 400.0),
        vehicles=(vehicle("garage", priorities[0]), vehicle("carport", priorities[1])),
        site=Site(import_limit_w=3_000.0),
    )
    plan = solve(prob)
    _check(prob, plan)
    high, low = plan.vehicles[first], plan.vehicles[1 - first]
    assert high.target_reachable
    assert high.departure_soc_pct == pytest.approx(80.0, abs=0.01)
    assert not low.target_reachable
    # The rest of the fuse goes to the other EV: 2.6 kW x 13 h less the first one's 26.1 kWh,
    # less at most one slot that neither can use at its minimum power.
    assert low.departure_soc_pct is not None
    assert 50.0 < low.departure_soc_pct < 53.0
