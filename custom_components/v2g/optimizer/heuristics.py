"""Simple schedules behind the optimizer's interface: Problem in, Plan out.

- `charge_now`: full power from the first available slot until the target is reached (what a
  charger does on its own). Also the optimizer's safe fallback when HiGHS fails.
- `cheapest_slots`: the evcc / EV Smart Charging heuristic: the cheapest available slots before
  departure (by import price, earlier first on ties), just enough of them to reach the target.

They never discharge. They respect the charger limits (including the minimum charging power)
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
    """Import power left for the vehicles per slot after the house (solar surplus counts)."""
    net_kw = (problem.load - problem.solar) / 1000.0
    return np.clip(problem.site.import_limit_w / 1000.0 - net_kw, 0.0, None)


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

    The last slot used gets the remainder (at least the minimum power).
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
    charges = [np.zeros(len(problem.grid)) for _ in data]
    # The site's headroom goes to the vehicles in order of priority (the problem's order on ties).
    for i in sorted(range(len(data)), key=lambda i: -data[i].vehicle.priority):
        vd = data[i]
        power = np.minimum(vd.charge_max_kw, headroom)
        order = choose(vd, power)
        c = _fill(
            order,
            power,
            h,
            vd.eta_c,
            _goal_kwh(vd) - vd.initial_kwh,
            vd.charge_min_kw,
            vd.upper_kwh - vd.initial_kwh,
        )
        headroom = np.clip(headroom - c, 0.0, None)
        charges[i] = c * 1000.0
    zeros = [np.zeros(len(problem.grid)) for _ in problem.vehicles]
    return evaluate_data(
        problem,
        data,
        charges,
        zeros,
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
