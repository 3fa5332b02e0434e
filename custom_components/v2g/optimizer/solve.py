"""The public `solve`: the LP first, integrality only where the LP answer breaks a rule.

Integrality only where a pure LP can be gamed or is wrong: the LP (`formulation.build`) is solved
first; if any slot charges and discharges at once (pays only with negative import prices),
imports and exports at once (only when export pays more than import), or charges below the
charger's minimum power, binaries (direction) or semi-continuous variables (minimum power) are
added for exactly those slots — pre-emptively for slots with negative import price or export
above import — and the problem re-solved, until the answer satisfies all of them. Since each
round solves a relaxation of the full MILP, an answer that satisfies every rule is optimal for
the full MILP too. After ``max_rounds - 1`` rounds the full MILP is solved (every slot where a
rule can bite). Rounds with meter direction binaries go through `rounding.solve_lexicographic`.

Whatever happens, `solve` returns a plan: if HiGHS fails, the charge-now plan with a status
saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
import time

import numpy as np

from .bounds import VehicleData, vehicle_data
from .costing import evaluate_data
from .curves import price_scale, site_flows_kw
from .formulation import (
    Model,
    add_direction_binaries,
    add_grid_binaries,
    build,
    plain_cost,
    set_semicontinuous,
)
from .heuristics import charge_now
from .highs import OPTIMAL, TIME_LIMIT, run
from .model import BoolArray, FloatArray, Plan, Problem, SolveOptions
from .rounding import solve_lexicographic
from .single import solve_single

__all__ = ["solve"]

_TOL_KW = 1e-6
"""Powers below this (kW, i.e. 1 mW) count as zero when checking the LP answer."""


def _solve_model(model: Model, options: SolveOptions) -> tuple[int, str, FloatArray | None]:
    if model.grid_binaries and not options.reference:
        return solve_lexicographic(model, options)
    return run(model, options)


@dataclass(slots=True)
class _Rules:
    """Which slots already carry integrality, per rule (vehicle rules: one mask per vehicle)."""

    direction: list[BoolArray]
    charge_min: list[BoolArray]
    discharge_min: list[BoolArray]
    grid: BoolArray


def _candidates(data: list[VehicleData], g_max: FloatArray, x_max: FloatArray) -> _Rules:
    """Slots where each rule can bite at all."""
    return _Rules(
        direction=[(vd.charge_max_kw > 0) & (vd.discharge_max_kw > 0) for vd in data],
        charge_min=[(vd.charge_max_kw >= vd.charge_min_kw) & (vd.charge_min_kw > 0) for vd in data],
        discharge_min=[
            (vd.discharge_max_kw >= vd.discharge_min_kw) & (vd.discharge_min_kw > 0) for vd in data
        ],
        grid=(g_max > 0) & (x_max > 0),
    )


def _violations(x: FloatArray, data: list[VehicleData], n: int) -> _Rules:
    """Slots whose LP answer breaks a rule the LP does not enforce."""
    direction: list[BoolArray] = []
    charge_min: list[BoolArray] = []
    discharge_min: list[BoolArray] = []
    for vd in data:
        c = x[vd.c : vd.c + n]
        d = x[vd.d(n) : vd.d(n) + n]
        direction.append((c > _TOL_KW) & (d > _TOL_KW))
        charge_min.append((c > _TOL_KW) & (c < vd.charge_min_kw - _TOL_KW))
        discharge_min.append((d > _TOL_KW) & (d < vd.discharge_min_kw - _TOL_KW))
    grid = (x[:n] > _TOL_KW) & (x[n : 2 * n] > _TOL_KW)
    return _Rules(direction, charge_min, discharge_min, grid)


def _any(rules: _Rules) -> bool:
    masks = [*rules.direction, *rules.charge_min, *rules.discharge_min, rules.grid]
    return any(bool(mask.any()) for mask in masks)


def _impose(
    model: Model,
    data: list[VehicleData],
    n: int,
    have: _Rules,
    want: _Rules,
    *,
    limits: tuple[FloatArray, FloatArray],
    net_kw: FloatArray,
) -> None:
    """Add integrality for the slots in ``want`` not yet in ``have`` (and record them)."""
    for i, vd in enumerate(data):
        new = np.flatnonzero(want.direction[i] & ~have.direction[i]).astype(np.int64)
        add_direction_binaries(
            model, vd.c, vd.d(n), new, vd.charge_max_kw[new], vd.discharge_max_kw[new]
        )
        have.direction[i] |= want.direction[i]
        new = np.flatnonzero(want.charge_min[i] & ~have.charge_min[i]).astype(np.int64)
        set_semicontinuous(model, vd.c, new, vd.charge_min_kw)
        have.charge_min[i] |= want.charge_min[i]
        new = np.flatnonzero(want.discharge_min[i] & ~have.discharge_min[i]).astype(np.int64)
        set_semicontinuous(model, vd.d(n), new, vd.discharge_min_kw)
        have.discharge_min[i] |= want.discharge_min[i]
    new = np.flatnonzero(want.grid & ~have.grid).astype(np.int64)
    add_grid_binaries(model, data, n, new, limits=limits, net_kw=net_kw)
    have.grid |= want.grid


def _restrict(want: _Rules, allowed: _Rules) -> _Rules:
    return _Rules(
        direction=[w & a for w, a in zip(want.direction, allowed.direction, strict=True)],
        charge_min=[w & a for w, a in zip(want.charge_min, allowed.charge_min, strict=True)],
        discharge_min=[
            w & a for w, a in zip(want.discharge_min, allowed.discharge_min, strict=True)
        ],
        grid=want.grid & allowed.grid,
    )


def solve(problem: Problem, options: SolveOptions | None = None) -> Plan:
    """Optimal plan for every vehicle of ``problem`` (one or a fleet sharing the site limits).

    Never raises for a well-formed Problem: if HiGHS fails, the answer is the charge-now plan with
    ``status`` saying why.
    """
    started = time.perf_counter()
    opts = options or SolveOptions()
    data = [vehicle_data(problem, v) for v in problem.vehicles]
    if len(data) == 1 and problem.site.capacity_price_per_kw <= 0 and not opts.reference:
        plan = _single_vehicle(problem, data[0], opts, started)
        if plan is not None:
            return plan
    return _general(problem, data, opts, started)


def _general(problem: Problem, data: list[VehicleData], opts: SolveOptions, started: float) -> Plan:
    """The full formulation: LP first, integrality added where the LP answer breaks a rule."""
    n = len(problem.grid)
    model = build(problem, data, opts.tie_break)
    # Finite bounds on import and export (big-M of the direction binaries): the limits, or what
    # the house and the vehicles could possibly draw or deliver.
    # These are also the variables' bounds: more import than the house and the vehicles can
    # draw (with all solar curtailed), or more export than solar and V2G can deliver, is useless.
    load_kw = problem.load / 1000.0
    solar_kw = problem.solar / 1000.0
    charge_all = sum((vd.charge_max_kw for vd in data), np.zeros(n))
    discharge_all = sum((vd.discharge_max_kw for vd in data), np.zeros(n))
    g_max = np.minimum(model.upper[:n], load_kw + charge_all)
    x_max = np.minimum(model.upper[n : 2 * n], np.clip(solar_kw + discharge_all - load_kw, 0, None))
    model.upper[:n] = g_max
    model.upper[n : 2 * n] = x_max

    limits = (g_max, x_max)
    net_kw = load_kw - solar_kw
    for vd in data:  # a charger that cannot reach its minimum power cannot run at all there
        model.upper[vd.c + np.flatnonzero(vd.charge_max_kw < vd.charge_min_kw)] = 0.0
        model.upper[vd.d(n) + np.flatnonzero(vd.discharge_max_kw < vd.discharge_min_kw)] = 0.0
    allowed = _candidates(data, g_max, x_max)
    have = _Rules(
        direction=[np.zeros(n, dtype=bool) for _ in data],
        charge_min=[np.zeros(n, dtype=bool) for _ in data],
        discharge_min=[np.zeros(n, dtype=bool) for _ in data],
        grid=np.zeros(n, dtype=bool),
    )
    # Pre-emptive: where the LP is known to be gameable (negative import price: burning energy
    # by charging and discharging at once pays; export paying more than import: import to export).
    negative = problem.import_price_per_kwh < 0
    pre = _Rules(
        direction=[negative.copy() for _ in data],
        charge_min=[np.zeros(n, dtype=bool) for _ in data],
        discharge_min=[np.zeros(n, dtype=bool) for _ in data],
        grid=problem.export_price_per_kwh > problem.import_price_per_kwh,
    )
    _impose(
        model,
        data,
        n,
        have,
        allowed if opts.reference else _restrict(pre, allowed),
        limits=limits,
        net_kw=net_kw,
    )

    status_text = "optimal"
    solution: FloatArray | None = None
    rounds = max(2, opts.max_rounds)
    for round_index in range(rounds):
        if opts.tie_break and model.grid_binaries and model.plain_cost is None:
            model.plain_cost = plain_cost(problem, data, model)
        status, message, x = _solve_model(model, opts)
        if x is None or status not in {OPTIMAL, TIME_LIMIT}:
            status_text = f"solver failed: {message}"
            solution = None
            break
        solution = x
        status_text = "optimal" if status == OPTIMAL else f"time limit: {message}"
        broken = _violations(x, data, n)
        if not _any(broken):
            break
        if round_index >= rounds - 2:
            # Last resort: the full MILP (every slot where a rule can bite).
            _impose(model, data, n, have, allowed, limits=limits, net_kw=net_kw)
        else:
            _impose(model, data, n, have, _restrict(broken, allowed), limits=limits, net_kw=net_kw)
    else:
        status_text = "rule violations remain after the last round"

    if solution is None:
        fallback = charge_now(problem)
        return Plan(
            grid=fallback.grid,
            vehicles=fallback.vehicles,
            grid_import_w=fallback.grid_import_w,
            grid_export_w=fallback.grid_export_w,
            curtailed_solar_w=fallback.curtailed_solar_w,
            cost=fallback.cost,
            status=status_text,
            solve_time_s=time.perf_counter() - started,
            strategy="charge_now (solver fallback)",
        )
    x = solution
    charge = [np.clip(x[vd.c : vd.c + n], 0.0, None) * 1000.0 for vd in data]
    discharge = [np.clip(x[vd.d(n) : vd.d(n) + n], 0.0, None) * 1000.0 for vd in data]
    return evaluate_data(
        problem,
        data,
        charge,
        discharge,
        strategy="optimal",
        status=status_text,
        solve_time_s=time.perf_counter() - started,
        mip=model.integrality is not None,
        grid_import_w=np.clip(x[:n], 0.0, None) * 1000.0,
        grid_export_w=np.clip(x[n : 2 * n], 0.0, None) * 1000.0,
    )


def _single_vehicle(
    problem: Problem, vd: VehicleData, options: SolveOptions, started: float
) -> Plan | None:
    """One vehicle without a capacity price: the exact search over its per-slot cost curves.

    See `single`; None if it cannot run (the general formulation then takes over).
    """
    result = solve_single(problem, vd, options)
    if result is None:
        return None
    eps = 1e-4 * price_scale(problem) if options.tie_break else 0.0
    grid_import, grid_export = site_flows_kw(problem, result.power_kw, eps)
    return evaluate_data(
        problem,
        [vd],
        [np.clip(result.power_kw, 0.0, None) * 1000.0],
        [np.clip(-result.power_kw, 0.0, None) * 1000.0],
        strategy="optimal",
        status=result.status,
        solve_time_s=time.perf_counter() - started,
        mip=result.mip,
        grid_import_w=grid_import * 1000.0,
        grid_export_w=grid_export * 1000.0,
    )
