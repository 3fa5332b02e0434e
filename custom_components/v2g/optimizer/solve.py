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

import dataclasses
import itertools
import time

import numpy as np

from .bounds import VehicleData, vehicle_data, vehicles_data
from .capacity import billed_peaks_kw
from .costing import evaluate_data, with_kept_reserve
from .curves import price_scale, site_flows_kw
from .fleet import FleetAnswer, bounded_status, fix_on_off, solve_fleet
from .formulation import (
    IntArray,
    Model,
    build,
    plain_cost,
    reserve_site_limits_kw,
    with_reserve,
)
from .heuristics import charge_now
from .highs import OPTIMAL, TIME_LIMIT, run
from .model import FloatArray, Plan, Problem, SolveOptions
from .rounding import solve_lexicographic
from .rules import Rules, any_broken, candidates, impose, restrict, violations
from .single import solve_single

__all__ = ["RESERVE_FROM_LP", "solve"]

RESERVE_FROM_LP = "the frequency reserve kept as the LP relaxation chose"
"""Status detail of a plan with a frequency offer that its LP's bound does not prove optimal."""


def _solve_model(
    model: Model, options: SolveOptions | None, start: FloatArray | None = None
) -> tuple[int, str, FloatArray | None]:
    """HiGHS's answer to ``model``; options None: no time to improve on ``start``, the answer."""
    if options is None:
        assert start is not None
        return TIME_LIMIT, "Time limit reached", start
    if model.grid_binaries and not options.reference:
        return solve_lexicographic(model, options)
    if start is None:
        return run(model, options)
    return run(model, options, start=start)


def solve(problem: Problem, options: SolveOptions | None = None) -> Plan:
    """Optimal plan for every vehicle of ``problem`` (one or a fleet sharing the site limits).

    Never raises for a well-formed Problem: if HiGHS fails, the answer is the charge-now plan with
    ``status`` saying why.
    """
    started = time.perf_counter()
    opts = options or SolveOptions()
    data = vehicles_data(problem)
    capacity_priced = (
        problem.site.capacity_price_per_kw > 0 or problem.site.capacity_tariff is not None
    )
    if (
        len(data) == 1
        and problem.reserve_offer is not None
        and not capacity_priced
        and not opts.reference
        and not _site_dispatch(problem, data)
        and (plan := _single_with_offer(problem, data, opts, started)) is not None
    ):
        return plan
    if (
        len(data) == 1
        and not capacity_priced
        and problem.reserve_offer is None
        and not opts.reference
        and not _site_dispatch(problem, data)
    ):
        plan = _single_vehicle(problem, data[0], opts, started)
        if plan is not None:
            return plan
    return _general(problem, data, opts, started)


def _site_dispatch(problem: Problem, data: list[VehicleData]) -> bool:
    """A dispatch the single-vehicle search does not model.

    That is a site bound, a preference or a slot that must run (its curves assume idle is
    possible in every slot); dispatch ceilings are only lower maxima, which the curves take.
    """
    if not problem.dispatched:
        return False
    if any(vd.forced for vd in data):
        return True
    site = np.isfinite(problem.grid_floor) | np.isfinite(problem.grid_ceiling)
    site |= ~np.isnan(problem.grid_preferred)
    return bool(site.any()) or any(vd.preferred_kw.shape[0] > 0 for vd in data)


def _general(problem: Problem, data: list[VehicleData], opts: SolveOptions, started: float) -> Plan:
    """The full formulation: LP first, integrality added where the LP answer breaks a rule.

    With a monthly capacity tariff the rounds for minimum powers cost more than they save (the
    LP spreads charging thinly below every minimum power, each round's MILP moves it to other
    slots): every slot where a minimum power can bite is semi-continuous from the start (the
    direction rules stay pre-emptive and by rounds), and the MILP starts from the LP's on/off
    pattern rounded (`_capacity_start`) with ``SolveOptions.search_time_s`` to prove it optimal,
    after which the best plan found is used (status "time limit").
    """
    tariff = problem.site.capacity_tariff is not None and not opts.reference
    n = len(problem.grid)
    model = build(problem, data, opts.tie_break)
    # Right after `build` the only integer columns are a step tariff's (one binary per step).
    step_cols = np.flatnonzero(model.integrality == 1) if model.integrality is not None else None
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
    allowed = candidates(data, g_max, x_max)
    have = Rules(
        direction=[np.zeros(n, dtype=bool) for _ in data],
        charge_min=[np.zeros(n, dtype=bool) for _ in data],
        discharge_min=[np.zeros(n, dtype=bool) for _ in data],
        grid=np.zeros(n, dtype=bool),
    )
    # Pre-emptive: where the LP is known to be gameable (negative import price: burning energy
    # by charging and discharging at once pays; export paying more than import: import to export).
    negative = problem.import_price_per_kwh < 0
    # With a capacity tariff: every slot where a minimum power can bite.
    pre = Rules(
        direction=[negative.copy() for _ in data],
        charge_min=[m & tariff for m in allowed.charge_min],
        discharge_min=[m & tariff for m in allowed.discharge_min],
        grid=problem.export_price_per_kwh > problem.import_price_per_kwh,
    )
    impose(
        model,
        data,
        n,
        have,
        allowed if opts.reference else restrict(pre, allowed),
        limits=limits,
        net_kw=net_kw,
    )
    # The first round's options: with a tariff's start, only the time left to improve on it.
    start, first_opts = (
        _capacity_start(problem, data, (model, step_cols), opts, started)
        if tariff
        else (None, opts)
    )

    status_text = "optimal"
    solution: FloatArray | None = None
    fleet = solve_fleet(problem, data, model, opts)
    if fleet is not None and (fleet.plan is not None or fleet.short):
        return _fleet_plan(problem, data, fleet, opts, started)
    # Otherwise the rounds (with a fleet's on/off pattern kept if a direction rule was broken).
    rounds = max(2, opts.max_rounds)
    for round_index in range(rounds):
        if opts.tie_break and model.grid_binaries and model.plain_cost is None:
            model.plain_cost = plain_cost(problem, data, model)
        first = round_index == 0
        status, message, x = _solve_model(
            model, first_opts if first else opts, start if first else None
        )
        if x is None or status not in {OPTIMAL, TIME_LIMIT}:
            status_text = f"solver failed: {message}"
            solution = None
            break
        solution = x
        status_text = "optimal" if status == OPTIMAL else f"time limit: {message}"
        broken = violations(x, data, n)
        if not any_broken(broken):
            break
        if round_index >= rounds - 2:
            # Last resort: the full MILP (every slot where a rule can bite).
            impose(model, data, n, have, allowed, limits=limits, net_kw=net_kw)
        else:
            impose(model, data, n, have, restrict(broken, allowed), limits=limits, net_kw=net_kw)
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
            dispatch_unmet_kwh=fallback.dispatch_unmet_kwh,
        )
    return _plan(problem, data, model, solution, status=status_text, started=started)


def _fleet_plan(
    problem: Problem,
    data: list[VehicleData],
    fleet: FleetAnswer,
    opts: SolveOptions,
    started: float,
) -> Plan:
    """The fleet heuristic's plan.

    Where a frequency offer's rounding would strand a driver (``fleet.short``): the plan
    without the offer, keeping none.
    """
    if fleet.plan is not None:
        return dataclasses.replace(fleet.plan, solve_time_s=time.perf_counter() - started)
    plain = _general(dataclasses.replace(problem, reserve_offer=None), data, opts, started)
    n = len(problem.grid)
    return with_kept_reserve(problem, plain, np.zeros(n), np.zeros(n))


def _capacity_start(
    problem: Problem,
    data: list[VehicleData],
    built: tuple[Model, IntArray | None],
    opts: SolveOptions,
    started: float,
) -> tuple[FloatArray | None, SolveOptions | None]:
    """A MILP answer to start from, and the options with the time left to improve on it.

    The answer: the LP (every minimum power relaxed) gives an on/off pattern; its fractional
    slots are rounded as for a fleet (`fix_on_off`) and every minimum-power slot fixed off or
    running; the LP again with that pattern. With a step tariff this is done per choice of
    step (`_step_choices`: the LP relaxation of the steps would price a kW between two steps
    pro rata, and its pattern rarely keeps a step), and the cheapest answer wins. None if no
    answer is found, or with meter direction binaries (their own search starts itself). The
    time limit: what is left of ``search_time_s`` of this thread's CPU time. With less than
    `_LEAST_MILP_S` left the options are None: the start is the answer. Step choices stop
    being tried once ``search_time_s`` is spent on them (the likeliest come first).
    """
    model, step_cols = built
    if model.integrality is None or model.grid_binaries:
        return None, opts
    started_start, cpu_start = time.perf_counter(), time.thread_time()
    semi = model.integrality == 2
    best: FloatArray | None = None
    for choice in _step_choices(problem, step_cols):
        if best is not None and time.thread_time() - cpu_start > opts.search_time_s:
            break  # the likeliest steps come first
        relaxed = model.copy()
        relaxed.integrality = None
        relaxed.lower[semi] = 0.0
        if choice is not None:
            relaxed.lower[choice[0]] = relaxed.upper[choice[0]] = choice[1]
        status, _, x = run(relaxed, opts)
        if x is None or status != OPTIMAL:
            continue
        pattern = relaxed.copy()
        pattern.integrality = model.integrality.copy()
        pattern.integrality[semi] = 0
        if choice is not None:
            pattern.integrality[choice[0]] = 0
        fix_on_off(x, data, pattern, problem.grid.durations_h)
        if not pattern.integrality.any():
            pattern.integrality = None
        status, _, x = run(pattern, opts)
        if (
            x is not None
            and status == OPTIMAL
            and (best is None or model.cost @ x < model.cost @ best)
        ):
            best = x
    if best is None:
        return None, opts
    # HiGHS's limit is wall clock; the budget is this thread's CPU time. On a machine busy with
    # other work the start's LPs show how much of the wall clock the thread gets (at least a
    # third is assumed), and the limit stretches by that much.
    wall = time.perf_counter() - started_start
    share = min(1.0, max(_MIN_CPU_SHARE, (time.thread_time() - cpu_start) / max(wall, 1e-9)))
    spent = (time.perf_counter() - started) * share
    if opts.search_time_s - spent < _LEAST_MILP_S:
        return best, None
    limit = (opts.search_time_s - spent) / share
    return best, dataclasses.replace(opts, time_limit_s=min(opts.time_limit_s, limit))


_LEAST_MILP_S = 0.05
"""CPU time the capacity MILP needs at least to improve on its start: with less left, the start
is the answer (status "time limit")."""


_MIN_CPU_SHARE = 1.0 / 3.0
"""The least share of the wall clock the solving thread is assumed to get (caps the stretch of
the capacity MILP's time limit at three times its CPU budget)."""


_STEP_CHOICES = 3
"""Steps tried per month of a step tariff, from the one the month's history already reached."""


def _step_choices(
    problem: Problem, step_cols: IntArray | None
) -> list[tuple[IntArray, FloatArray] | None]:
    """The step binaries fixed at each choice of steps (None: not fixed, no step tariff).

    Per month the horizon touches: the step its history alone reaches and the next ones (up to
    ``_STEP_CHOICES``); every combination over the months.
    """
    tariff = problem.site.capacity_tariff
    if tariff is None or not tariff.steps or step_cols is None or step_cols.size == 0:
        return [None]
    count = len(tariff.steps)
    groups = step_cols.reshape(-1, count)
    reached = list(billed_peaks_kw(tariff, problem.grid).values())
    firsts = [
        _step_index(tariff.steps, reached[i]) if len(reached) == groups.shape[0] else 0
        for i in range(groups.shape[0])
    ]
    choices: list[tuple[IntArray, FloatArray] | None] = []
    for picks in itertools.product(
        *(range(first, min(first + _STEP_CHOICES, count)) for first in firsts)
    ):
        values = np.zeros(groups.shape)
        values[np.arange(groups.shape[0]), list(picks)] = 1.0
        choices.append((groups.ravel(), values.ravel()))
    return choices


def _step_index(steps: tuple[tuple[float, float], ...], billed_kw: float) -> int:
    for index, (upper, _) in enumerate(steps[:-1]):
        if billed_kw <= upper + 1e-9:
            return index
    return len(steps) - 1


def _plan(
    problem: Problem,
    data: list[VehicleData],
    model: Model,
    x: FloatArray,
    *,
    status: str,
    started: float,
) -> Plan:
    """The plan of the full formulation's answer ``x``."""
    n = len(problem.grid)
    charge = [np.clip(x[vd.c : vd.c + n], 0.0, None) * 1000.0 for vd in data]
    discharge = [np.clip(x[vd.d(n) : vd.d(n) + n], 0.0, None) * 1000.0 for vd in data]
    plan = evaluate_data(
        problem,
        data,
        charge,
        discharge,
        strategy="optimal",
        status=status,
        solve_time_s=time.perf_counter() - started,
        mip=model.integrality is not None or any(vd.charge_min_kw > 0 for vd in data),
        grid_import_w=np.clip(x[:n], 0.0, None) * 1000.0,
        grid_export_w=np.clip(x[n : 2 * n], 0.0, None) * 1000.0,
    )
    return with_reserve(problem, plan, model, x)


def _single_with_offer(
    problem: Problem, data: list[VehicleData], opts: SolveOptions, started: float
) -> Plan | None:
    """One vehicle with a frequency offer: the LP keeps the reserve, the exact search plans.

    1. The full formulation's LP (minimum powers relaxed) decides how much response to keep
       available per slot, weighing its price against arbitrage and the driver's target.
    2. That response becomes bounds of the vehicle (`_within_reserve`), and the exact
       single-vehicle search plans within them (`single`). If minimum powers make that plan miss
       the target or the reserve by more than the LP did, the vehicle is planned without the
       offer and keeps none; if the search runs out of time, the general formulation gets a
       short try and the better plan wins.

    "optimal" when the plan meets the LP's bound; otherwise "near-optimal" (`RESERVE_FROM_LP`).
    On real prices it costs within a cent of the full MILP in 23 of 24 windows of 192
    quarter-hours, 0.05 EUR at most, in p50 26 ms against 0.51 s (`benchmarks/reserve.py`).
    None: the general formulation takes over (an LP failed, or a priced offer has a charge-only
    EV charge for "less charging").
    """
    vd = data[0]
    model = build(problem, data, opts.tie_break)
    status, _message, x = run(model, opts)
    if x is None or status != OPTIMAL:
        return None
    relaxed = _plan(problem, data, model, x, status="", started=started)
    assert relaxed.reserve_up_w is not None
    assert relaxed.reserve_down_w is not None
    if _offer_from_charging(problem, vd, relaxed):
        return None  # "less charging" sold: the vehicle must charge at least that much
    within = _within_reserve(problem, vd, relaxed, opts, started)
    n = len(problem.grid)
    plan, up_kw, down_kw = within if within is not None else (None, np.zeros(n), np.zeros(n))
    keep = plan is not None and plan.cost.shortfall_penalty <= (
        relaxed.cost.shortfall_penalty + 1e-6 * max(1.0, abs(relaxed.cost.objective))
    )
    if not keep:
        plan = _single_vehicle(dataclasses.replace(problem, reserve_offer=None), vd, opts, started)
        up_kw, down_kw = np.zeros(n), np.zeros(n)
    if plan is None:
        return None
    costed = evaluate_data(
        problem,
        data,
        [plan.vehicles[0].charge_power_w],
        [plan.vehicles[0].discharge_power_w],
        strategy="optimal",
        solve_time_s=time.perf_counter() - started,
        mip=plan.mip,
        grid_import_w=plan.grid_import_w,
        grid_export_w=plan.grid_export_w,
    )
    result = with_kept_reserve(problem, costed, up_kw * 1000.0, down_kw * 1000.0)
    if not plan.ok:  # the search ran out of time: a short try of the general formulation
        quick = dataclasses.replace(
            opts, time_limit_s=min(opts.time_limit_s, opts.search_time_s), max_rounds=2
        )
        general = _general(problem, data, quick, started)
        better = general.cost.objective < result.cost.objective
        return general if better else dataclasses.replace(result, status=plan.status)
    if bounded_status(result, relaxed.cost.objective, opts).ok:
        return dataclasses.replace(result, status="optimal")
    # The LP's bound is weak with minimum powers; the plan is exact for the reserve it keeps.
    return dataclasses.replace(result, status=f"near-optimal: {RESERVE_FROM_LP}")


def _offer_from_charging(problem: Problem, vd: VehicleData, relaxed: Plan) -> bool:
    """A priced under-frequency offer the vehicle can only give by charging less."""
    assert problem.reserve_offer is not None
    assert relaxed.reserve_up_w is not None
    return (
        problem.reserve_offer.priced
        and vd.discharge_max_kw.max() <= 0
        and relaxed.reserve_up_w.max() > 0
    )


def _within_reserve(
    problem: Problem, vd: VehicleData, relaxed: Plan, opts: SolveOptions, started: float
) -> tuple[Plan, FloatArray, FloatArray] | None:
    """The exact single-vehicle plan that keeps the response ``relaxed`` keeps, and that response.

    The response is what the vehicle can give whatever it plans: at most its charger's maximum
    and the fuse's room each way (the LP may count the room a planned discharge leaves to charge
    more, which bounds on the vehicle alone cannot keep; priced, both directions by one share).
    Its power stays the over-frequency part below its maximum and the fuse, and the
    under-frequency part above its most discharging and within the feed-in limit; its stored
    energy keeps each sustainable for the offer's duration (`VehicleData.stored_bounds`).
    Returns (plan, under-frequency kW, over-frequency kW), or None when the search cannot run.
    """
    offer = problem.reserve_offer
    assert offer is not None
    assert relaxed.reserve_up_w is not None
    assert relaxed.reserve_down_w is not None
    import_kw, export_kw = reserve_site_limits_kw(problem)
    net_kw = (problem.load - problem.solar) / 1000.0
    room_up = np.clip(np.minimum(vd.discharge_max_kw, export_kw + net_kw), 0.0, None)
    room_down = np.clip(np.minimum(vd.charge_max_kw, import_kw - net_kw), 0.0, None)
    up_kw = np.minimum(relaxed.reserve_up_w / 1000.0, room_up)
    down_kw = np.minimum(relaxed.reserve_down_w / 1000.0, room_down)
    if offer.priced:  # one share both ways
        share = np.ones_like(up_kw)
        for kept, wanted in ((up_kw, relaxed.reserve_up_w), (down_kw, relaxed.reserve_down_w)):
            share = np.minimum(
                share, np.where(wanted > 0, kept * 1000.0 / np.maximum(wanted, 1e-9), 1.0)
            )
        up_kw = share * relaxed.reserve_up_w / 1000.0
        down_kw = share * relaxed.reserve_down_w / 1000.0
    ceiling_w = 1000.0 * (np.minimum(vd.charge_max_kw, import_kw - net_kw) - down_kw)
    floor_w = -1000.0 * np.clip(
        np.minimum(vd.discharge_max_kw, export_kw + net_kw) - up_kw, 0.0, None
    )
    vehicle = vd.vehicle
    if vehicle.power_ceiling_w is not None:
        ceiling_w = np.minimum(ceiling_w, vehicle.power_ceiling_w)
    if vehicle.power_floor_w is not None:
        floor_w = np.maximum(floor_w, vehicle.power_floor_w)
    bounded = dataclasses.replace(
        vehicle, power_ceiling_w=np.clip(ceiling_w, 0.0, None), power_floor_w=floor_w
    )
    alone = dataclasses.replace(problem, vehicles=(bounded,), reserve_offer=None)
    kept = vehicle_data(alone, bounded)
    if vd.discharge_max_kw.max() > 0:
        kept.stored_floor_kwh = vd.reserve_kwh + offer.duration_h / vd.eta_d * up_kw
    kept.stored_ceiling_kwh = vd.upper_kwh - offer.duration_h * vd.eta_c * down_kw
    plan = _single_vehicle(alone, kept, opts, started)
    return None if plan is None else (plan, up_kw, down_kw)


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
