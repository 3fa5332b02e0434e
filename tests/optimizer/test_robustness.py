"""Failure paths: the solver never leaves the coordinator without a plan."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from custom_components.v2g.optimizer import Problem, SlotGrid, SolveOptions, solve
from custom_components.v2g.optimizer.bounds import vehicles_data
from custom_components.v2g.optimizer.formulation import Model, build
from custom_components.v2g.optimizer.highs import run

from .common import assert_no_simultaneous, ev, hours, kw, problem

solve_module = sys.modules["custom_components.v2g.optimizer.solve"]
highs_module = sys.modules["custom_components.v2g.optimizer.highs"]


def _fail_the_single_vehicle_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every LP of the single-vehicle search fail, so `solve` uses the full formulation."""
    monkeypatch.setattr(highs_module.LpHandle, "solve", lambda self: (2, "boom"))


def test_solver_failure_falls_back_to_charge_now(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_the_single_vehicle_search(monkeypatch)
    monkeypatch.setattr(solve_module, "run", lambda model, options: (2, "boom", None))
    vehicle = ev(soc_pct=40.0, departure=hours(2), v2g_allowed=False)
    plan = solve(problem([0.3, 0.1], vehicles=(vehicle,)))
    assert not plan.ok
    assert plan.status == "solver failed: boom"
    assert plan.strategy.startswith("charge_now")
    assert kw(plan.charge_power_w) == [10.0, 0.0]


def test_time_limit_keeps_the_feasible_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_the_single_vehicle_search(monkeypatch)
    real = solve_module.run

    def limited(model: object, options: object) -> tuple[int, str, object]:
        _, _, x = real(model, options)
        return 1, "Time limit reached", x

    monkeypatch.setattr(solve_module, "run", limited)
    plan = solve(problem([0.3, 0.1], vehicles=(ev(soc_pct=40.0, departure=hours(2)),)))
    assert plan.status == "time limit: Time limit reached"
    assert not plan.ok
    assert plan.target_reachable


def test_last_round_is_the_full_milp(monkeypatch: pytest.MonkeyPatch) -> None:
    """With two rounds, violations of the LP go straight to the full MILP."""
    _fail_the_single_vehicle_search(monkeypatch)
    vehicle = ev(departure=hours(3), min_discharge_power_w=3_000.0)
    prob = problem(
        [0.40, 0.40, 0.10], export_price=[0.0] * 3, vehicles=(vehicle,), load_w=[500.0] * 3
    )
    plan = solve(prob, SolveOptions(max_rounds=2))
    assert plan.ok
    assert plan.mip
    d = plan.discharge_power_w
    assert ((d < 1e-3) | (d >= 3_000.0 - 1e-3)).all()
    assert_no_simultaneous(plan)


def test_rules_still_broken_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_the_single_vehicle_search(monkeypatch)
    real = solve_module.violations

    def always(x: object, data: list[object], n: int) -> object:
        broken = real(x, data, n)
        broken.grid[:] = True
        return broken

    monkeypatch.setattr(solve_module, "violations", always)
    prob = problem([0.3, 0.1], vehicles=(ev(departure=hours(2)),), solar_w=[5e3, 5e3])
    plan = solve(prob, SolveOptions(max_rounds=3))
    assert plan.status == "rule violations remain after the last round"


def test_vehicle_and_problem_validation() -> None:
    with pytest.raises(ValueError, match="max_charge_power_w"):
        ev(max_charge_power_w=-1.0)
    assert ev().can_discharge
    assert not ev(v2g_allowed=False).can_discharge
    prob = problem([0.1, 0.2])
    with pytest.raises(ValueError, match="required"):
        Problem(
            grid=prob.grid,
            import_price_per_kwh=None,  # type: ignore[arg-type]
            export_price_per_kwh=prob.export_price_per_kwh,
            vehicles=(),
        )
    empty = SlotGrid(np.array([], dtype="datetime64[s]"), np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="empty"):
        Problem(
            grid=empty,
            import_price_per_kwh=np.array([]),
            export_price_per_kwh=np.array([]),
            vehicles=(),
        )


def test_signed_power() -> None:
    plan = solve(problem([0.30, 0.10], vehicles=(ev(departure=hours(2)),)))
    assert kw(plan.vehicles[0].power_w) == [-10.0, 10.0]


def test_pure_lp_would_burn_energy_at_negative_prices() -> None:
    """Why the direction binaries exist: a full battery paid to consume charges and discharges at
    once in the LP relaxation; the solve never does."""
    vehicle = ev(soc_pct=95.0, charge_efficiency=0.9, discharge_efficiency=0.9)
    prob = problem([-0.10, -0.10, -0.10, 0.20], vehicles=(vehicle,))
    data = vehicles_data(prob)
    model = build(prob, data, tie_break=True)
    status, _, x = run(model, SolveOptions())
    assert status == 0
    assert x is not None
    n = len(prob.grid)
    c, d = x[data[0].c : data[0].c + n], x[data[0].d(n) : data[0].d(n) + n]
    assert ((c > 1e-6) & (d > 1e-6)).any()
    plan = solve(prob)
    assert plan.ok
    assert plan.mip
    assert_no_simultaneous(plan)


def test_solve_error_is_retried_with_other_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS's "Solve error" on a call that solves with presolve off: retried, not a fallback.

    The two real re-plans that failed this way are not at hand, so the first attempt is made to
    fail the same way.
    """
    real = highs_module._attempt
    tried: list[dict[str, object]] = []

    def first_fails(*args: object) -> tuple[int, str, object, bool]:
        overrides = args[3]
        assert isinstance(overrides, dict)
        tried.append(overrides)
        if not overrides:
            return highs_module.FAILED, "Solve error", None, False
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(highs_module, "_attempt", first_fails)
    vehicles = (ev(name="a", departure=hours(2)), ev(name="b", departure=hours(2)))
    plan = solve(problem([0.30, 0.10], vehicles=vehicles))
    assert plan.ok
    assert plan.strategy == "optimal"
    assert tried[:2] == [{}, {"presolve": "off"}]


def test_infeasible_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(
        highs_module,
        "_attempt",
        lambda *args: calls.append(args) or (highs_module.FAILED, "Infeasible", None, True),
    )
    status, message, x = highs_module.run(build(problem([0.1]), [], tie_break=True), SolveOptions())
    assert (status, message, x) == (highs_module.FAILED, "Infeasible", None)
    assert len(calls) == 1


def test_solve_error_in_the_single_vehicle_search_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = highs_module.LpHandle._run
    failed: list[bool] = []

    def first_fails(self: object) -> tuple[object, str]:
        if not failed:
            failed.append(True)
            return highs_module._highs.HighsModelStatus.kSolveError, "Solve error"
        return real(self)  # type: ignore[arg-type]

    monkeypatch.setattr(highs_module.LpHandle, "_run", first_fails)
    vehicle = ev(soc_pct=40.0, departure=hours(3), min_charge_power_w=4_000.0, v2g_allowed=False)
    plan = solve(problem([0.3, 0.1, 0.2], vehicles=(vehicle,)))
    assert failed
    assert plan.ok
    assert kw(plan.charge_power_w) == [0.0, 10.0, 0.0]


def test_out_of_time_without_taking_the_start_keeps_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS out of time before it took the start (here: one a hair over a row bound, as an LP
    answer can be): the start is the answer, not a retry taking as long again (a capacity
    tariff plan took 300 ms that way)."""
    rng = np.random.default_rng(0)
    n = 60
    weight, value = rng.uniform(1, 10, n), rng.uniform(1, 10, n)
    model = Model(cost=-value, lower=np.zeros(n), upper=np.ones(n))
    every = np.arange(n, dtype=np.int64)
    start = np.zeros(n)
    start[np.argsort(weight)[:12]] = 1.0
    limit = float(weight @ start) * (1.0 - 1e-6)
    model.add_rows(
        1, [(np.zeros(n, dtype=np.int64), every, weight)], np.array([-np.inf]), np.array([limit])
    )
    model.integrality = np.ones(n, dtype=np.uint8)
    real = highs_module._attempt
    tried: list[object] = []
    monkeypatch.setattr(
        highs_module, "_attempt", lambda *args: tried.append(args[3]) or real(*args)
    )
    status, message, x = run(model, SolveOptions(time_limit_s=0.0), start=start)
    assert (status, message) == (highs_module.TIME_LIMIT, "Time limit reached")
    assert x is not None
    assert (x == start).all()
    assert tried == [{}]
