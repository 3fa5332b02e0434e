"""Fleets with minimum powers: the LP's on/off pattern, rounded and fixed, then the LP again.

For one vehicle `single` finds the exact MILP optimum. For a fleet sharing a connection the exact
MILP takes seconds to minutes (every vehicle's every slot may run or not, and the vehicles compete
for the import limit), so fleets with minimum powers get a heuristic with a bound:

1. The LP (minimum powers relaxed) gives a lower bound and a pattern: each vehicle's slots are
   off, running (at least the minimum power) or *fractional* (below the minimum, above 0).
2. Per vehicle its fractional slots are rounded (`fix_on_off`): some run at the minimum power or
   more, the others stop, so that the energy this adds or removes can be absorbed by slots that
   already run. Every slot of a vehicle with a minimum power is then fixed: off (upper bound 0)
   or running (lower bound the minimum).
3. The LP again, warm from the first one's basis: now every power is 0 or at least the minimum.
4. A vehicle the rounding left further from its target or reserve than the LP (for instance one
   that needs less than a minimum-power slot's worth to reach a target at its cycling cap) is
   planned again alone, exactly (`single`), around the others' fixed plans.
5. If a vehicle then misses its target while one of lower priority is planned, the vehicles are
   planned one after another, highest priority first, each exactly around the ones before it;
   that plan wins if it keeps more of the higher priorities' targets (`_served_first`). The
   rounding cannot see that a high-priority vehicle's share of a slot time-shared below the
   minimum power belongs to it rather than to the vehicle it shares the fuse with.

Its weak spot: the rounding is per vehicle and ignores the shared import limit, so where a scarce
limit is split among several vehicles below their minimum power (three vans sharing 12 kW at
4 kW each with a 4.14 kW minimum), some of it stays unused: a few percent of the target energy in
such cases (see `tests/optimizer/test_fleet.py`). Re-planning vehicles one at a time does not
mend that; it would take a per-slot rounding across vehicles.

The plan is optimal if its objective is within ``mip_rel_gap`` of the first LP's; otherwise its
status ("near-optimal: within x % of a bound") says how far above that bound it is at most. It is
never worse than charging at once (if a rounding were, that plan is returned instead).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .bounds import VehicleData, export_limit_kw, import_limit_kw, vehicle_data
from .costing import evaluate_data
from .formulation import Model, with_reserve
from .heuristics import charge_now
from .highs import OPTIMAL, LpHandle, persistent_available
from .model import BoolArray, FloatArray, Plan, Problem, SolveOptions
from .rules import any_broken, violations
from .single import solve_single

__all__ = ["FleetAnswer", "bounded_status", "fix_on_off", "solve_fleet"]

_TOL_KW = 1e-6
_SHORT_KWH = 1e-6
_TARGET_KWH = 1e-3


@dataclass(frozen=True, slots=True)
class FleetAnswer:
    """The fleet heuristic's outcome."""

    x: FloatArray
    """The second LP's answer (columns of the full formulation)."""
    plan: Plan | None
    """The finished plan, or None if ``x`` still breaks a direction rule (the caller goes on with
    integrality for those, the on/off pattern kept)."""
    short: bool = False
    """With a frequency offer: the rounding left a vehicle further from its target or reserve
    than the LP (the caller plans again without the offer)."""


def solve_fleet(
    problem: Problem, data: list[VehicleData], model: Model, opts: SolveOptions
) -> FleetAnswer | None:
    """Plan a fleet with minimum powers (see the module docstring); None if it does not apply.

    It does not apply to one vehicle (except with a frequency offer that `solve` could not plan
    in two steps: see `_with_offer`), without minimum powers, to the reference MILP, to a model
    that already needs integrality, or when an LP fails (then ``model`` is left as it was).
    """
    minimum = any(vd.charge_min_kw > 0 or vd.discharge_min_kw > 0 for vd in data)
    offer = problem.reserve_offer is not None
    applies = (len(data) >= 2 or offer) and minimum and not opts.reference
    # persistent_available() is False only if scipy moves its binding.
    if not applies or model.integrality is not None or not persistent_available():
        return None
    n = len(problem.grid)
    handle = LpHandle(model, opts, presolve=opts.presolve)
    if handle.solve()[0] != OPTIMAL:
        return None
    relaxed = handle.values
    lower, upper = model.lower.copy(), model.upper.copy()
    fix_on_off(relaxed, data, model, problem.grid.durations_h)
    cols = np.flatnonzero((model.lower != lower) | (model.upper != upper)).astype(np.int32)
    handle.set_columns(cols, model.lower[cols], model.upper[cols], model.cost[cols])
    if handle.solve()[0] != OPTIMAL:  # the rounded pattern is infeasible
        model.lower, model.upper = lower, upper
        return None
    x = handle.values
    if any_broken(violations(x, data, n)):
        return FleetAnswer(x=x, plan=None)
    if offer:
        return _with_offer(problem, data, model, (relaxed, x), opts)
    charge = [np.clip(x[vd.c : vd.c + n], 0.0, None) for vd in data]
    discharge = [np.clip(x[vd.d(n) : vd.d(n) + n], 0.0, None) for vd in data]
    repaired = _repair(problem, data, (relaxed, x), (charge, discharge), opts)
    bound = _evaluate(problem, data, relaxed, None).cost.objective
    # Repaired plans no longer match the LP's grid flows: evaluate derives them.
    plan = _evaluate(problem, data, None if repaired else x, (charge, discharge))
    by_priority = _by_priority(problem, data, (plan, relaxed), opts)
    if by_priority is not None and _served_first(data, by_priority, plan):
        plan = by_priority
    fallback = charge_now(problem)  # a rounding can, rarely, do worse than the simplest plan
    if fallback.cost.objective < plan.cost.objective:
        plan = replace(fallback, strategy="optimal")
    return FleetAnswer(x=x, plan=bounded_status(plan, bound, opts))


def _with_offer(
    problem: Problem,
    data: list[VehicleData],
    model: Model,
    answers: tuple[FloatArray, FloatArray],
    opts: SolveOptions,
) -> FleetAnswer:
    """With a frequency offer: the rounded LP's plan as it is, bounded by the first LP.

    A frequency offer ties each vehicle's power to its stored energy in rows the repairs below
    do not see, so the rounded pattern's LP answer is the plan (for one vehicle too, when
    `solve`'s two-step plan could not be made; the full MILP takes seconds). A rounding that
    leaves a vehicle short of its target or reserve is not used: the drivers come first.
    """
    relaxed, x = answers
    n = len(problem.grid)
    if any(_shortfall(x, vd, n) > _shortfall(relaxed, vd, n) + _SHORT_KWH for vd in data):
        return FleetAnswer(x=x, plan=None, short=True)
    bound = with_reserve(problem, _evaluate(problem, data, relaxed, None), model, relaxed)
    plan = with_reserve(problem, _evaluate(problem, data, x, None), model, x)
    return FleetAnswer(x=x, plan=bounded_status(plan, bound.cost.objective, opts))


def bounded_status(plan: Plan, bound: float, opts: SolveOptions) -> Plan:
    """``plan`` with its status: optimal within ``mip_rel_gap`` of ``bound``, or how far off."""
    gap = (plan.cost.objective - bound) / max(1.0, abs(plan.cost.objective))
    percent = f"{gap * 100:.2g} %"
    status = "optimal" if gap <= opts.mip_rel_gap else f"near-optimal: within {percent} of a bound"
    return replace(plan, status=status, mip=True)


def _evaluate(
    problem: Problem,
    data: list[VehicleData],
    x: FloatArray | None,
    powers: tuple[list[FloatArray], list[FloatArray]] | None,
) -> Plan:
    """Cost an LP answer ``x`` (with its grid flows) or per-vehicle powers in kW."""
    n = len(problem.grid)
    if powers is None:
        assert x is not None
        powers = (
            [np.clip(x[vd.c : vd.c + n], 0.0, None) for vd in data],
            [np.clip(x[vd.d(n) : vd.d(n) + n], 0.0, None) for vd in data],
        )
    flows = None if x is None else (x[:n], x[n : 2 * n])
    return evaluate_data(
        problem,
        data,
        [c * 1000.0 for c in powers[0]],
        [d * 1000.0 for d in powers[1]],
        strategy="optimal",
        grid_import_w=None if flows is None else np.clip(flows[0], 0.0, None) * 1000.0,
        grid_export_w=None if flows is None else np.clip(flows[1], 0.0, None) * 1000.0,
    )


def _shortfall(x: FloatArray, vd: VehicleData, n: int) -> float:
    """Energy below the target at departure and below the reserve (kWh, kWh-hours) in ``x``."""
    stored = x[vd.s(n) : vd.s(n) + n]
    short = float(np.sum(vd.reserve_hours * np.clip(vd.reserve_kwh - stored, 0.0, None)))
    if vd.departure_index:
        short += max(0.0, vd.target_kwh - float(stored[vd.departure_index - 1]))
    return short


def _repair(
    problem: Problem,
    data: list[VehicleData],
    answers: tuple[FloatArray, FloatArray],
    powers: tuple[list[FloatArray], list[FloatArray]],
    opts: SolveOptions,
) -> bool:
    """Re-plan alone each vehicle the rounding left shorter than the LP did (in place).

    The vehicle sees the others' fixed powers as house load; its new plan is kept only if the
    site limits hold with it. Returns whether any plan changed.
    """
    relaxed, fixed = answers
    charge, discharge = powers
    n = len(problem.grid)
    limits = (import_limit_kw(problem), export_limit_kw(problem), problem.solar / 1000.0)
    changed = False
    order = sorted(range(len(data)), key=lambda i: -data[i].vehicle.priority)
    for i in order:
        vd = data[i]
        if _shortfall(fixed, vd, n) <= _shortfall(relaxed, vd, n) + _SHORT_KWH:
            continue
        others = sum(
            (c - d for j, (c, d) in enumerate(zip(charge, discharge, strict=True)) if j != i),
            np.zeros(n),
        )
        alone = replace(
            problem, vehicles=(vd.vehicle,), base_load_power_w=problem.load + others * 1000.0
        )
        result = solve_single(alone, vehicle_data(alone, vd.vehicle), opts)
        if result is None or result.status != "optimal":
            continue
        # Alone, the vehicle may take the import limit as raised to the others' load: keep the
        # new plan only if the site limits still hold with it.
        net_kw = (problem.load - problem.solar) / 1000.0 + others + result.power_kw
        within = np.all(net_kw <= limits[0] + 1e-9) and np.all(
            -net_kw <= limits[1] + limits[2] + 1e-9
        )
        if within and problem.dispatched:
            # The site's `must` bounds hold too (the vehicle alone did not see them).
            within = np.all(net_kw >= problem.grid_floor / 1000.0 - 1e-9) and np.all(
                net_kw <= problem.grid_ceiling / 1000.0 + 1e-9
            )
        if within:
            charge[i] = np.clip(result.power_kw, 0.0, None)
            discharge[i] = np.clip(-result.power_kw, 0.0, None)
            changed = True
    return changed


def _by_priority(
    problem: Problem, data: list[VehicleData], answers: tuple[Plan, FloatArray], opts: SolveOptions
) -> Plan | None:
    """Plan the vehicles one after another, highest priority first, each exactly around the last.

    Only tried when a vehicle misses its target while one of lower priority is planned: the
    rounding is per vehicle and blind to the shared import limit, so it can leave the
    high-priority vehicle a fraction of a slot short (its share of a slot time-shared below the
    minimum power rounded away), and re-planning it alone around the others' fixed plans cannot
    take that energy back from a lower-priority vehicle. Here each vehicle sees only the ones
    before it in priority order. None if it does not apply or a site limit would be broken.
    """
    plan, relaxed = answers
    n = len(problem.grid)
    lowest = min(vd.vehicle.priority for vd in data)
    # Only where the relaxation (the LP, minimum powers relaxed) did better for that vehicle:
    # a target the site cannot serve at all is not worth a re-plan of the whole fleet.
    if not any(
        not vp.target_reachable
        and vd.vehicle.priority > lowest
        and _shortfall(relaxed, vd, n) + _TARGET_KWH
        < vd.target_kwh - (vp.departure_soc_pct or 0.0) / 100.0 * vd.capacity_kwh
        for vd, vp in zip(data, plan.vehicles, strict=True)
    ):
        return None
    limits = (import_limit_kw(problem), export_limit_kw(problem), problem.solar / 1000.0)
    charge = [np.zeros(n) for _ in data]
    discharge = [np.zeros(n) for _ in data]
    planned = np.zeros(n)
    for i in sorted(range(len(data)), key=lambda i: -data[i].vehicle.priority):
        vd = data[i]
        alone = replace(
            problem, vehicles=(vd.vehicle,), base_load_power_w=problem.load + planned * 1000.0
        )
        result = solve_single(alone, vehicle_data(alone, vd.vehicle), opts)
        if result is None:
            return None
        charge[i] = np.clip(result.power_kw, 0.0, None)
        discharge[i] = np.clip(-result.power_kw, 0.0, None)
        planned = planned + result.power_kw
    net_kw = (problem.load - problem.solar) / 1000.0 + planned
    if np.any(net_kw > limits[0] + 1e-9) or np.any(-net_kw > limits[1] + limits[2] + 1e-9):
        return None
    return _evaluate(problem, data, None, (charge, discharge))


def _missing_by_priority(data: list[VehicleData], plan: Plan) -> list[float]:
    """Energy short of the departure targets (kWh) per priority level, highest first."""
    levels = sorted({vd.vehicle.priority for vd in data}, reverse=True)
    missing = dict.fromkeys(levels, 0.0)
    for vd, vp in zip(data, plan.vehicles, strict=True):
        if vp.departure_soc_pct is not None and not vp.target_reachable:
            short = vd.target_kwh - vp.departure_soc_pct / 100.0 * vd.capacity_kwh
            missing[vd.vehicle.priority] += max(0.0, short)
    return [missing[level] for level in levels]


def _served_first(data: list[VehicleData], candidate: Plan, plan: Plan) -> bool:
    """Whether ``candidate`` keeps more of the higher priorities' targets than ``plan``.

    Priorities are served in order: the first level (from the highest) where the two plans'
    shortfalls differ by more than a Wh decides, whatever the lower levels lose. The weights alone
    (priority / lowest) could trade a high-priority EV's last 0.1 kWh for a few tenths of a kWh
    the minimum powers would otherwise waste for a low-priority one, and leave a reachable
    target of the EV the user ranked first just short.
    """
    for new, old in zip(
        _missing_by_priority(data, candidate), _missing_by_priority(data, plan), strict=True
    ):
        if abs(new - old) > _TARGET_KWH:
            return new < old
    return False


def fix_on_off(x: FloatArray, data: list[VehicleData], model: Model, hours: FloatArray) -> None:
    """Round the fractional slots of ``x`` and fix every minimum-power slot off or running.

    Changes ``model``'s column bounds in place.
    """
    n = hours.shape[0]
    for vd in data:
        stored = x[vd.s(n) : vd.s(n) + n]
        floor = 0.0 if vd.soft_reserve else vd.reserve_kwh
        # Energy the battery can still take, or give, anywhere without leaving its bounds.
        above = max(0.0, vd.upper_kwh - float(stored.max()))
        below = max(0.0, float(stored.min()) - floor)
        if vd.charge_min_kw > 0:
            power = x[vd.c : vd.c + n]
            run = _round(power, vd.charge_min_kw, vd.charge_max_kw, hours * vd.eta_c, above)
            _fix(model, vd.c, run, vd.charge_min_kw)
        if vd.discharge_min_kw > 0:
            power = x[vd.d(n) : vd.d(n) + n]
            run = _round(power, vd.discharge_min_kw, vd.discharge_max_kw, hours / vd.eta_d, below)
            _fix(model, vd.d(n), run, vd.discharge_min_kw)


def _fix(model: Model, first: int, run: BoolArray, minimum_kw: float) -> None:
    cols = first + np.arange(run.shape[0])
    model.upper[cols[~run]] = 0.0
    # A `must` floor above the minimum stays.
    model.lower[cols[run]] = np.maximum(
        model.lower[cols[run]], np.minimum(minimum_kw, model.upper[cols[run]])
    )


def _round(
    power: FloatArray, minimum: float, maximum: FloatArray, energy: FloatArray, room: float
) -> BoolArray:
    """Which slots run: those at the minimum or above, and some of the fractional ones.

    ``energy``: battery kWh per kW in each slot (stored when charging, drawn when discharging);
    ``room``: how much further the battery's trajectory can move this way without leaving its
    bounds. Running ``k`` fractional slots (the ones the LP used most) at the minimum and
    stopping the others changes this direction's energy by ``k * minimum - fractional``. Running
    slots absorb a change within their spare room (up to their maximum, down to their minimum);
    a surplus beyond that must fit in ``room`` (else the LP is infeasible), a deficit costs target
    or revenue. The ``k`` that fits with the smallest deficit, then the smallest change, wins.
    """
    running = power >= minimum - _TOL_KW
    fractional = (power > _TOL_KW) & ~running
    if not fractional.any():
        return running
    candidates = np.flatnonzero(fractional)
    candidates = candidates[np.argsort(-power[candidates], kind="stable")]
    needed = float(np.sum(power[candidates] * energy[candidates]))
    up = float(np.sum((maximum - power)[running] * energy[running]))
    down = float(np.sum((power - minimum)[running] * energy[running]))
    added = np.cumsum(minimum * energy[candidates])
    change = np.concatenate([[-needed], added - needed])
    extra = np.cumsum((maximum - minimum)[candidates] * energy[candidates])
    deficit = np.clip(-change - (up + np.concatenate([[0.0], extra])), 0.0, None)
    score = np.where(change <= down + room + 1e-9, deficit * 1e6 + np.abs(change), np.inf)
    k = int(np.argmin(score)) if np.isfinite(score).any() else 0
    run = running.copy()
    run[candidates[:k]] = True
    return run
