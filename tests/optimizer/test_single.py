"""The single-vehicle search (`optimizer.single`) finds the full MILP's optimum.

The reference is scipy's ``milp`` on the full formulation with every rule enforced in every slot
where it can bite (direction binaries for the meter and the vehicle, semi-continuous minimum
powers): `solve` with ``reference=True`` and scipy's private HiGHS binding hidden, so that
`highs.run` goes through ``scipy.optimize.milp``.
"""

from __future__ import annotations

import dataclasses
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
    make_grid,
    single as single_module,
    solve,
)
from custom_components.v2g.optimizer.bounds import vehicle_data
from custom_components.v2g.optimizer.single import solve_single

from .common import assert_balanced, assert_no_simultaneous
from .real_data import real_problem

highs_module = sys.modules["custom_components.v2g.optimizer.highs"]

REFERENCE = SolveOptions(reference=True, mip_rel_gap=1e-9, time_limit_s=60.0)
PATIENT = SolveOptions(search_time_s=60.0)
"""The search with time to prove every answer (the default stops after 0.15 s)."""


def scipy_milp_reference(problem: Problem, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """The full MILP solved by ``scipy.optimize.milp``."""
    with monkeypatch.context() as patch:
        patch.setattr(highs_module, "_highs", None)
        return solve(problem, REFERENCE)


def assert_same_optimum(plan: Plan, reference: Plan) -> None:
    assert plan.ok, plan.status
    assert reference.ok, reference.status
    # Both minimise the same objective (with the same tie-breaking epsilons) to a 1e-6 gap.
    tolerance = 2e-6 * max(1.0, abs(reference.cost.objective))
    assert plan.cost.objective == pytest.approx(reference.cost.objective, abs=tolerance)


def assert_minimum_powers(problem: Problem, plan: Plan) -> None:
    for vehicle, vp in zip(problem.vehicles, plan.vehicles, strict=True):
        c, d = vp.charge_power_w, vp.discharge_power_w
        assert ((c < 1e-3) | (c >= vehicle.min_charge_power_w - 1e-3)).all()
        assert ((d < 1e-3) | (d >= vehicle.min_discharge_power_w - 1e-3)).all()


@pytest.mark.parametrize("batch", range(4))
def test_same_optimum_as_the_full_milp_on_real_prices(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 windows of 16-40 quarter-hours (the full MILP is slow beyond that)."""
    rng = np.random.default_rng(1000 + batch)
    searched = 0
    for _ in range(75):
        problem = real_problem(rng, int(rng.integers(16, 41)), worn=True)
        plan = solve(problem, PATIENT)
        assert_same_optimum(plan, scipy_milp_reference(problem, monkeypatch))
        assert_minimum_powers(problem, plan)
        assert_no_simultaneous(plan)
        assert_balanced(problem, plan)
        searched += plan.mip
    assert searched >= 5  # the set exercises the search, not only the first LP


def test_node_limit_hands_over_to_the_compact_milp(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no nodes allowed, the compact MILP of the curves (warm-started) gives the answer."""
    rng = np.random.default_rng(7)
    tried = 0
    for _ in range(40):
        problem = real_problem(rng, 32)
        vd = vehicle_data(problem, problem.vehicles[0])
        if solve_single(problem, vd, SolveOptions()) is None:
            continue
        with monkeypatch.context() as patch:
            patch.setattr(single_module, "NODE_LIMIT", 0)
            plan = solve(problem, PATIENT)
        if not plan.mip:
            continue
        tried += 1
        assert_same_optimum(plan, scipy_milp_reference(problem, monkeypatch))
        assert_minimum_powers(problem, plan)
    assert tried >= 5


def test_failed_compact_milp_keeps_the_best_plan_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the node limit, with time left for the compact MILP but the MILP failing: the best
    feasible plan so far (a node's, the repaired relaxation's or the dynamic program's),
    flagged with its proven gap; never worse than the optimum by more than that."""
    rng = np.random.default_rng(11)
    kept = 0
    for _ in range(60):
        problem = real_problem(rng, 32)
        with monkeypatch.context() as patch:
            patch.setattr(single_module, "NODE_LIMIT", 1)
            patch.setattr(single_module, "run", lambda *_, **__: (2, "boom", None))
            vd = vehicle_data(problem, problem.vehicles[0])
            result = solve_single(problem, vd, PATIENT)
            assert result is not None
            if result.status == "optimal":
                continue
            plan = solve(problem, PATIENT)
        kept += 1
        assert result.mip
        # The search's best bound proves how far from the optimum the plan can be.
        assert result.status.startswith("time limit: boom; cost within ")
        assert result.status.endswith("% of the optimum")
        assert_minimum_powers(problem, plan)
        assert_no_simultaneous(plan)
        assert_balanced(problem, plan)
        assert plan.status == result.status
        gap = float(result.status.split("within ")[1].split("%")[0]) / 100.0
        best = solve(problem, PATIENT).cost.objective
        assert plan.cost.objective >= best - 1e-6 * max(1.0, abs(best))
        assert plan.cost.objective - best <= gap * max(1.0, abs(plan.cost.objective)) + 0.01
    assert kept >= 5


def test_no_plan_found_hands_over_to_the_full_formulation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a feasible plan from the search (repair and dynamic program disabled) and a
    failing compact MILP, `solve` uses the full formulation instead."""
    rng = np.random.default_rng(11)
    handed_over = 0
    monkeypatch.setattr(single_module, "NODE_LIMIT", 1)
    monkeypatch.setattr(single_module._Search, "_repair", lambda self, energy: None)
    monkeypatch.setattr(single_module, "pattern", lambda *_: None)
    monkeypatch.setattr(single_module, "run", lambda *_, **__: (2, "boom", None))
    for _ in range(40):
        problem = real_problem(rng, 32)
        result = solve_single(problem, vehicle_data(problem, problem.vehicles[0]), SolveOptions())
        if result is None:
            handed_over += 1
            # The full formulation takes over (a hard case for it too: keep it short).
            plan = solve(problem, SolveOptions(time_limit_s=0.5))
            assert plan.strategy == "optimal"
            assert_minimum_powers(problem, plan)
    assert handed_over >= 1


def test_root_failure_falls_back_to_the_full_formulation(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = real_problem(np.random.default_rng(3), 24)
    expected = solve(problem)
    monkeypatch.setattr(highs_module.LpHandle, "solve", lambda self: (2, "boom"))
    plan = solve(problem)
    assert plan.ok
    assert plan.cost.objective == pytest.approx(expected.cost.objective, rel=1e-6, abs=1e-6)


def test_idle_vehicle_needs_no_lp() -> None:
    """A vehicle that is not plugged in during the horizon: idle, nothing to solve."""
    problem = real_problem(np.random.default_rng(5), 16)
    away = dataclasses.replace(problem.vehicles[0], available=np.zeros(16, dtype=bool))
    plan = solve(dataclasses.replace(problem, vehicles=(away,)))
    assert plan.ok
    assert not plan.mip
    assert (plan.charge_power_w == 0.0).all()
    assert (plan.discharge_power_w == 0.0).all()


def _flat_sunny_window(wear: float) -> Problem:
    """19 quarter-hours of DK2 2019-08-22 from 09:30 UTC (Energinet, CC BY 4.0): prices within
    0.6 EUR/MWh, 3-3.5 kW of solar; V2G with 4.14 kW minimum powers both ways, export at spot
    minus a 0.0435 EUR/kWh fee. Without wear, charging and discharging nearly tie everywhere."""
    spot_mwh = [36.59, 36.59] + [36.53] * 4 + [36.3] * 4 + [36.11] * 4 + [36.05] * 4 + [36.02]
    solar = [2937, 2937] + [3315] * 4 + [3549] * 4 + [3510] * 4 + [3281] * 4 + [2801]
    spot = np.array(spot_mwh) / 1000.0
    start = datetime(2019, 8, 22, 9, 30, tzinfo=UTC)
    grid = make_grid(start, start + timedelta(minutes=15 * 19))
    vehicle = Vehicle(
        capacity_kwh=60.0,
        soc_pct=68.51,
        target_soc_pct=80.0,
        departure=start + timedelta(minutes=15 * 17),
        min_soc_pct=20.0,
        max_soc_pct=90.0,
        max_charge_power_w=11_000.0,
        max_discharge_power_w=11_000.0,
        min_charge_power_w=4_140.0,
        min_discharge_power_w=4_140.0,
        charge_efficiency=0.92,
        discharge_efficiency=0.92,
        wear_cost_per_kwh=wear,
        v2g_allowed=True,
    )
    return Problem(
        grid=grid,
        import_price_per_kwh=spot + 0.10,
        export_price_per_kwh=spot - 0.0435,
        vehicles=(vehicle,),
        solar_power_w=np.array(solar, dtype=float),
        base_load_power_w=np.full(19, 450.0),
        site=Site(import_limit_w=17_000.0, export_limit_w=17_000.0),
    )


@pytest.mark.parametrize("wear", [0.0, 0.02])
def test_near_ties_do_not_make_the_search_branch_long(
    wear: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #12: a 19-slot window like this took the old MILP rounds to their 5 s time limit
    without wear (14 ms with wear 0.02). The search settles it in a few nodes."""
    problem = _flat_sunny_window(wear)
    result = solve_single(problem, vehicle_data(problem, problem.vehicles[0]), SolveOptions())
    assert result is not None
    assert result.status == "optimal"
    assert result.nodes <= 20
    plan = solve(problem, PATIENT)
    assert_same_optimum(plan, scipy_milp_reference(problem, monkeypatch))
    assert_minimum_powers(problem, plan)


def test_time_budget_returns_the_best_plan_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of time: the best plan the search found, flagged, rules kept (no time is left for the
    compact MILP)."""
    rng = np.random.default_rng(1000)
    for _ in range(75):
        problem = real_problem(rng, int(rng.integers(16, 41)), worn=True)
        with monkeypatch.context() as patch:
            patch.setattr(single_module, "NODE_LIMIT", 1)
            plan = solve(problem, SolveOptions(search_time_s=0.0))
        assert_minimum_powers(problem, plan)
        assert_no_simultaneous(plan)
        if plan.status.startswith("time limit"):
            assert plan.strategy == "optimal"
            return
    pytest.fail("every problem was proven within the minimum time")


@pytest.mark.parametrize("like", [single_module._LIKE, 0.0])
def test_slots_of_one_price_are_branched_on_together(
    like: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """166 quarter-hours with 4.14 kW minimum powers both ways: the relaxation runs one slot of
    an hourly price "in proportion", and the search branches on the four quarter-hours of that
    price at once (``like`` 0: no two slots alike, one slot at a time, as before). Too long for
    the full MILP: the reference is the compact MILP of the same curves, solved by HiGHS
    (`test_node_limit_hands_over_to_the_compact_milp` ties it to milp)."""
    monkeypatch.setattr(single_module, "_LIKE", like)
    rng = np.random.default_rng(5)
    for _ in range(4):
        problem = real_problem(rng, int(rng.integers(96, 193)), worn=True)
    vehicle = dataclasses.replace(
        problem.vehicles[0],
        min_charge_power_w=4_140.0,
        min_discharge_power_w=4_140.0,
        max_discharge_power_w=11_000.0,
        v2g_allowed=True,
    )
    problem = dataclasses.replace(problem, vehicles=(vehicle,))
    groups = []
    original = single_module._Search._group_split

    def counted(self: object, *args: object) -> object:
        split = original(self, *args)  # type: ignore[arg-type]
        groups.extend([] if split is None else [len(split[0][-1].slots)])
        return split

    with monkeypatch.context() as patch:
        patch.setattr(single_module._Search, "_group_split", counted)
        plan = solve(problem, PATIENT)
    assert plan.status == "optimal"
    if like:
        assert groups
        assert min(groups) >= 2
    else:
        assert not groups
    with monkeypatch.context() as patch:
        patch.setattr(single_module, "NODE_LIMIT", 0)
        reference = solve(problem, PATIENT)
    assert plan.mip
    assert_same_optimum(plan, reference)
    assert_minimum_powers(problem, plan)
    assert_no_simultaneous(plan)
    assert_balanced(problem, plan)


def test_repair_leaves_idle_when_idle_breaks_a_bound() -> None:
    """A stored energy 7 Wh below a frequency reserve's floor (a real case: 12.808 kWh against
    12.815): idle is nearer to the relaxation's 7 Wh than the 0.95 kWh minimum run, but only the
    run keeps the floor, so the repair takes it (taking idle made the repaired plan infeasible,
    and the search then fell back to the compact MILP, three HiGHS tries and 0.2 s)."""
    energies = np.array([-2.989, -1.125, 0.0, 0.952, 2.53])
    linked = np.array([True, False, False, True])
    chosen, where = single_module._nearest(energies, linked, 0.007, (0.0066, 35.2))
    assert (chosen, where) == (0.952, (3, 3))
    # Idle within the bounds is still the nearest choice.
    assert single_module._nearest(energies, linked, 0.007, (-12.0, 35.2)) == (0.0, (2, 2))
    # Nothing within the bounds (above the largest run): idle, for the LP to judge.
    assert single_module._nearest(energies, linked, 3.0, (2.6, 35.2)) == (0.0, (2, 2))
