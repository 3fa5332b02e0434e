"""Simple schedules behind the optimizer's interface: Problem in, Plan out.

- `charge_now`: full power from the first available slot until the target is reached (what a
  charger does on its own). Also the optimizer's safe fallback when HiGHS fails.
- `cheapest_slots`: the evcc / EV Smart Charging heuristic: the cheapest available slots before
  departure (by import price, earlier first on ties), just enough of them to reach the target.

They never discharge (except where a `must` dispatch says so: its floors and ceilings are kept
too). They respect the charger limits (including the minimum charging power)
and the site import limit after the house load (shared out in order of vehicle priority), so
their plans are feasible for the optimizer too, and are costed by the same
`costing.evaluate_data` as the optimizer's plans.
"""

from __future__ import annotations

from collections.abc import Callable
import time

import numpy as np
import numpy.typing as npt

from .bounds import VehicleData, vehicles_data
from .costing import evaluate_data
from .model import FloatArray, Plan, Problem

__all__ = ["charge_now", "cheapest_slots"]


def _headroom_kw(problem: Problem) -> FloatArray:
    """Import power left for the vehicles per slot after the house (solar surplus counts).

    A site `must` dispatch's ceiling counts as a lower fuse.
    """
    net_kw = (problem.load - problem.solar) / 1000.0
    limit_kw = np.minimum(problem.site.import_limit_w, problem.grid_ceiling) / 1000.0
    return np.clip(limit_kw - net_kw, 0.0, None)


def _goal_kwh(vd: VehicleData) -> float:
    """Return the stored energy a baseline charges to: target (or reserve if higher), capped."""
    vehicle = vd.vehicle
    goal = max(vehicle.target_soc_pct / 100.0 * vd.capacity_kwh, vd.reserve_kwh)
    return min(goal, vd.upper_kwh)


def _fill(  # noqa: PLR0917
    order: npt.NDArray[np.int64],
    power_kw: FloatArray,
    h: FloatArray,
    eta: float,
    needed_kwh: float,
    minimum_kw: float,
    room_kwh: float,
) -> FloatArray:
    """Charge at ``power_kw`` in the slots of ``order`` until ``needed_kwh`` is stored.

    The last slot used gets the remainder (at least the minimum power); if the minimum power
    would overshoot the battery's room, the slot before gives up what the remainder lacks of
    the minimum (if it stays at the minimum or above).
    """
    result = np.zeros(power_kw.shape[0])
    if needed_kwh <= 0 or order.size == 0:
        return result
    usable = np.where(power_kw[order] >= max(minimum_kw, 1e-9), power_kw[order], 0.0)
    energy = usable * h[order] * eta
    cumulative = np.cumsum(energy)
    full = int(np.searchsorted(cumulative, needed_kwh, side="left"))
    result[order[:full]] = usable[:full]
    if full < order.size:
        before = float(cumulative[full - 1]) if full > 0 else 0.0
        slot = order[full]
        rest_kw = (needed_kwh - before) / (h[slot] * eta)
        rest_kw = min(usable[full], max(rest_kw, minimum_kw))
        # The minimum power may overshoot the goal: only if the battery has room for it.
        if before + rest_kw * h[slot] * eta <= room_kwh + 1e-9:
            result[slot] = rest_kw
        elif full > 0 and (wanted_kw := (needed_kwh - before) / (h[slot] * eta)) < minimum_kw:
            # Only the minimum power overshoots: the slot before gives up the difference.
            prev = order[full - 1]
            lower_kw = usable[full - 1] - (minimum_kw - wanted_kw) * h[slot] / h[prev]
            if lower_kw >= minimum_kw and minimum_kw <= usable[full]:
                result[prev] = lower_kw
                result[slot] = minimum_kw
    return result


def _schedule(
    problem: Problem,
    strategy: str,
    choose: Callable[[VehicleData, FloatArray], npt.NDArray[np.int64]],
) -> Plan:
    started = time.perf_counter()
    h = problem.grid.durations_h
    headroom = _headroom_kw(problem)
    data = vehicles_data(problem)
    n = len(problem.grid)
    charges = [np.zeros(n) for _ in data]
    discharges = [np.zeros(n) for _ in data]
    # The site's headroom goes to the vehicles in order of priority (the problem's order on ties).
    for i in sorted(range(len(data)), key=lambda i: -data[i].vehicle.priority):
        vd = data[i]
        # A `must` dispatch first: its floors are kept (they are feasible, see `bounds`), and
        # the heuristic fills the target in the slots left free.
        forced_c, forced_d = vd.charge_floor(n), vd.discharge_floor(n)
        forced_kwh = np.cumsum(h * (vd.eta_c * forced_c - forced_d / vd.eta_d))
        free = (forced_c <= 0) & (forced_d <= 0)
        power = np.where(free, np.minimum(vd.charge_max_kw, headroom), 0.0)
        order = choose(vd, power)
        top = float(forced_kwh.max()) if vd.forced else 0.0
        c = _fill(
            order,
            power,
            h,
            vd.eta_c,
            _goal_kwh(vd) - vd.initial_kwh - (float(forced_kwh[-1]) if vd.forced else 0.0),
            vd.charge_min_kw,
            vd.upper_kwh - vd.initial_kwh - max(top, 0.0),
        )
        c += forced_c
        headroom = np.clip(headroom - c, 0.0, None)
        charges[i] = c * 1000.0
        discharges[i] = forced_d * 1000.0
    return evaluate_data(
        problem,
        data,
        charges,
        discharges,
        strategy=strategy,
        solve_time_s=time.perf_counter() - started,
    )


def charge_now(problem: Problem) -> Plan:
    """Charge at full power from the first available slot until the target is reached."""

    def choose(vd: VehicleData, power: FloatArray) -> npt.NDArray[np.int64]:
        return np.flatnonzero(power > 0).astype(np.int64)

    return _schedule(problem, "charge_now", choose)


def cheapest_slots(problem: Problem) -> Plan:
    """Charge in the cheapest available slots before departure, just enough to reach the target.

    Slots are ranked by import price (earlier first on ties) and used at full power; the last
    one chosen gets the remainder. Without a departure the whole horizon is the window.
    """
    prices = problem.import_price_per_kwh

    def choose(vd: VehicleData, power: FloatArray) -> npt.NDArray[np.int64]:
        window = power > 0
        if vd.departure_index is not None:
            window[vd.departure_index :] = False
        candidates = np.flatnonzero(window).astype(np.int64)
        ranked = candidates[np.argsort(prices[candidates], kind="stable")]
        return ranked.astype(np.int64)

    return _schedule(problem, "cheapest_slots", choose)
