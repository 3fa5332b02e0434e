"""A dynamic program over the stored energy of one vehicle: a near-optimal plan in 10-30 ms.

The slots of one vehicle are coupled only through the energy it stores (`curves`). On a grid of
stored energies ``initial + k * step`` the problem is a shortest path: the cheapest way to reach
each grid energy after slot ``t`` is the cheapest over the slot's moves (grid multiples of
``step`` where its curve is defined, priced on the curve) of the way to the energy before. Costs
of the stored energy itself are added per slot: bounds (infinite outside), the soft reserve's
shortfall, battery care above its threshold, the target's shortfall at departure and the terminal
value at the end. Every curve's non-convexity (minimum powers, export paying more than import,
negative prices) is just another price of a move, so nothing is branched on.

Each slot's moves are taken a straight piece at a time, as a sliding-window minimum over the
grid (`_window_min`), so a slot costs a few array operations per piece of its curve.

On the grid (`STATES` energies) the path is only near the optimum. What it decides is the
*pattern*: which piece of its curve each slot uses (idle, or one straight piece).
`single` then prices that pattern exactly with the hull LP restricted to those pieces, where the
amounts are continuous again: the LP finds the best plan with that pattern, and the search's
lower bound says how far from the optimum it can be at most.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import minimum_filter1d

try:  # scipy's C routine behind minimum_filter1d, without its per-call checks (a third of it)
    from scipy.ndimage import _nd_image
    from scipy.ndimage._ni_support import _extend_mode_to_code

    _CONSTANT = _extend_mode_to_code("constant")
except ImportError:  # pragma: no cover - only if scipy moves it
    _nd_image = None

from .bounds import VehicleData
from .costing import penalty_per_kwh, terminal_value_per_kwh
from .curves import Curves, IntArray, idle_gaps
from .hull import SNAP_KWH
from .model import FloatArray, Problem

__all__ = ["STATES", "pattern"]

STATES = 2048
"""Grid energies between the lowest and the highest stored energy allowed (or across the widest
slot's range of energies, if that is wider): about 0.03 kWh for a 60 kWh battery between 10 and
100 %, adjusted so that a run at the minimum charging power is a whole number of steps and
one at the minimum discharging power nearly so (`_aligned`). Half as many states made 11 of
115 plans dearer, some by a missed target. Horizons longer than `_SLOTS` get proportionally
fewer (the time grows with slots times states)."""

_SLOTS = 192
"""Slots (48 hours of quarter-hours) up to which the grid has `STATES` energies."""


def pattern(
    problem: Problem, vd: VehicleData, curves: Curves, states: int | None = None
) -> dict[int, tuple[int, int]] | None:
    """Per active slot, the range of curve points of its piece on the cheapest grid path.

    ``(k, k)`` is point ``k``; ``(k, k + 1)`` the straight piece between points ``k`` and
    ``k + 1``. None if no grid path meets the bounds (the grid may be too coarse for them).
    ``states``: grid energies (default `STATES`, fewer beyond `_SLOTS` slots).
    """
    n = curves.count.shape[0]
    if states is None:
        states = STATES * min(_SLOTS, n) // max(n, 1)
    lower, upper = vd.stored_bounds(n)
    stored, first, step = _grid(vd, curves, (lower, upper), states)
    pieces = _linear_pieces(curves, step)
    first_ok, last_ok = _allowed(stored, (lower, upper))
    extra, at_departure, at_end = _state_costs(problem, vd, curves.scale, stored)
    departure = (vd.departure_index or 0) - 1  # the slot after which the target counts

    size = stored.shape[0]
    pad = max((max(abs(p[0]), abs(p[1])) for slot in pieces for p in slot), default=0)
    index = np.arange(size, dtype=np.float64)
    padded = np.full(size + 2 * pad, np.inf)
    reach = np.full((n + 1, size), np.inf)
    reach[0, -first] = 0.0
    window = np.empty_like(padded)
    line = np.empty(size)
    moved = np.empty(size)
    for t in range(n):
        before, best = reach[t], reach[t + 1]
        for k_low, k_high, at_zero, slope in pieces[t]:
            if k_low == k_high:  # one move: a shift
                _shifted_min(best, before, k_low, at_zero + slope * k_low, moved)
                continue
            # min over k in [k_low, k_high] of before[j - k] + at_zero + slope * k, for every j:
            # with i = j - k, slope * (j - i) + at_zero + min over i of (before[i] - slope * i)
            np.multiply(index, slope, out=line)
            np.subtract(before, line, out=padded[pad : pad + size])
            _window_min(padded, k_high - k_low + 1, window)
            start = pad - k_high
            np.add(window[start : start + size], line, out=moved)
            moved += at_zero
            np.minimum(best, moved, out=best)
        best[: first_ok[t]] = np.inf
        best[last_ok[t] + 1 :] = np.inf
        if extra is not None:
            best += extra[t]
        if t == departure and at_departure is not None:
            best += at_departure
    final = reach[n] + at_end
    end = int(np.argmin(final))
    if not np.isfinite(final[end]):
        return None
    energy = np.zeros(n)
    at = end
    for t in range(n - 1, -1, -1):
        move = _best_move(reach[t], pieces[t], at)
        energy[t] = move * step
        at -= move
    return _pieces(curves, energy)


def _grid(
    vd: VehicleData, curves: Curves, bounds: tuple[FloatArray, FloatArray], states: int
) -> tuple[FloatArray, int, float]:
    """The grid energies ``initial + k * step``, the lowest ``k`` (0 or below) and ``step``."""
    lower, upper = bounds
    low = min(float(lower.min()), vd.initial_kwh)
    high = max(float(upper.max()), vd.initial_kwh)
    e = np.where(np.isfinite(curves.energy_kwh), curves.energy_kwh, 0.0)
    widest = float((e.max(axis=1) - e.min(axis=1)).max())
    step = _aligned(max(high - low, widest, 1e-3) / states, _minimum_runs(curves))
    first = int(np.ceil((low - vd.initial_kwh) / step - 1e-9))
    last = int(np.floor((high - vd.initial_kwh) / step + 1e-9))
    stored: FloatArray = vd.initial_kwh + step * np.arange(first, last + 1, dtype=np.float64)
    return stored, first, step


def _minimum_runs(curves: Curves) -> tuple[float, float]:
    """The energy a slot stores charging at the minimum power, and gives discharging at it.

    Medians over the slots; 0 where no slot has such a minimum. Idle stores nothing, so a run is
    the width of the gap next to idle.
    """
    rows = np.arange(curves.count.shape[0])
    runs = []
    for gap, low, high in idle_gaps(curves):
        widths = (curves.energy_kwh[rows, high] - curves.energy_kwh[rows, low])[gap]
        runs.append(float(np.median(widths)) if widths.size else 0.0)
    return runs[0], runs[1]


def _aligned(step: float, runs: tuple[float, float]) -> float:
    """``step`` adjusted so that minimum runs are whole numbers of steps.

    Off the grid, the path rounds every such run, and over many slots the rounding picks the
    wrong number of them or misses a bound the LP then cannot meet. The charging run is made
    exact; of the steps within 10 % of ``step`` that do so, the one that leaves the discharging
    run nearest a whole number. On 115 real-price windows with 4.14 kW minimum powers both ways
    the pattern became the optimum in all 115 instead of 104 (the others had been up to 4.96 EUR
    dearer); on 93 windows of the speed benchmark's sweep in 88 instead of 68.
    """
    charge, discharge = runs
    if charge <= step:
        charge, discharge = discharge, 0.0
    if charge <= step:
        return step
    middle = round(charge / step)
    best = charge / middle
    if discharge > step:
        counts = np.arange(max(1, int(0.9 * middle)), int(1.1 * middle) + 1)
        steps = charge / counts
        off = np.abs(discharge / steps - np.round(discharge / steps))
        best = float(steps[int(np.argmin(off + 1e-9 * np.abs(counts - middle)))])
    return best


def _shifted_min(
    best: FloatArray, before: FloatArray, move: int, cost: float, buf: FloatArray
) -> None:
    """``best[j] = min(best[j], before[j - move] + cost)`` where ``j - move`` is a grid energy."""
    size = best.shape[0]
    if move >= size or -move >= size:
        return
    if move >= 0:
        target, source = best[move:], before[: size - move]
    else:
        target, source = best[:move], before[-move:]
    out = buf[: target.shape[0]]
    np.add(source, cost, out=out)
    np.minimum(target, out, out=target)


def _window_min(values: FloatArray, width: int, out: FloatArray) -> None:
    """``out[q] = min(values[q : q + width])`` (inf beyond the end)."""
    if _nd_image is None:  # pragma: no cover
        minimum_filter1d(
            values, size=width, output=out, mode="constant", cval=np.inf, origin=-(width // 2)
        )
    else:
        _nd_image.min_or_max_filter1d(values, width, 0, out, _CONSTANT, np.inf, -(width // 2), 1)


def _best_move(before: FloatArray, pieces: list[tuple[int, int, float, float]], at: int) -> int:
    """The cheapest move (the smallest of equal ones) of a slot onto grid energy ``at``."""
    size = before.shape[0]
    best, chosen = math.inf, 0
    for k_low, k_high, at_zero, slope in pieces:
        low, high = max(k_low, at - size + 1), min(k_high, at)
        if low > high:
            continue
        # moves low, low + 1, ..., high: from grid energies at - low, at - low - 1, ...
        totals = before[at - high : at - low + 1][::-1] + (at_zero + slope * low)
        totals += slope * np.arange(high - low + 1)
        i = int(np.argmin(totals))
        total, move = float(totals[i]), low + i
        if total < best or (total == best and move < chosen):
            best, chosen = total, move
    return chosen


def _linear_pieces(curves: Curves, step: float) -> list[list[tuple[int, int, float, float]]]:
    """Per slot, its moves as straight pieces: (first move, last move, cost at move 0, slope).

    A piece's moves are the grid multiples inside it (its ends are then approximated from
    inside); a point at the end of no such piece (idle, or a charger whose minimum is its
    maximum) is a piece of one move, the nearest, at its cost.
    """
    e, f = curves.energy_kwh, curves.cost
    n, m = e.shape
    out: list[list[tuple[int, int, float, float]]] = [[] for _ in range(n)]
    covered = np.zeros((n, m), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = np.diff(f, axis=1) / np.diff(e, axis=1)
        first = np.ceil(e[:, :-1] / step - 1e-9)
        last = np.floor(e[:, 1:] / step + 1e-9)
        usable = curves.linked & (first <= last)
        covered[:, :-1] |= usable & (np.abs(first * step - e[:, :-1]) <= SNAP_KWH)
        covered[:, 1:] |= usable & (np.abs(last * step - e[:, 1:]) <= SNAP_KWH)
    for t, k in zip(*np.nonzero(usable), strict=True):
        slope = float(slopes[t, k]) * step
        at_zero = float(f[t, k]) - float(slopes[t, k]) * float(e[t, k])
        out[t].append((int(first[t, k]), int(last[t, k]), at_zero, slope))
    finite = np.isfinite(e)
    for t, k in zip(*np.nonzero(finite & ~covered), strict=True):
        move = round(float(e[t, k]) / step)
        out[t].append((move, move, float(f[t, k]), 0.0))
    return out


def _allowed(
    stored: FloatArray, bounds: tuple[FloatArray, FloatArray]
) -> tuple[IntArray, IntArray]:
    """Per slot, the first and last grid energy within the stored energy's bounds."""
    lower, upper = bounds
    first: IntArray = np.searchsorted(stored, lower - SNAP_KWH, side="left").astype(np.int64)
    last: IntArray = np.searchsorted(stored, upper + SNAP_KWH, side="right").astype(np.int64) - 1
    return first, last


def _state_costs(
    problem: Problem, vd: VehicleData, scale: float, stored: FloatArray
) -> tuple[FloatArray | None, FloatArray | None, FloatArray]:
    """What holding each grid energy costs, besides its bounds.

    After every slot (n, states: the soft reserve's shortfall and battery care; None if
    neither applies), at departure (the target's shortfall; None without a departure) and at
    the end (the terminal value).
    """
    penalty = penalty_per_kwh(problem) * vd.shortfall_weight / scale
    extra: FloatArray | None = None
    if vd.soft_reserve:
        below = np.clip(vd.reserve_kwh - stored, 0.0, None)
        extra = np.outer(penalty * vd.reserve_hours, below).astype(np.float64)
    if vd.care:
        above = np.clip(stored - vd.care_kwh, 0.0, None)
        care: FloatArray = np.outer(vd.care_weight / scale, above).astype(np.float64)
        extra = care if extra is None else extra + care
    at_departure = None
    if vd.departure_index:
        at_departure = penalty * np.clip(vd.target_kwh - stored, 0.0, None)
    at_end: FloatArray = -terminal_value_per_kwh(problem) / scale * stored
    return extra, at_departure, at_end


def _pieces(curves: Curves, energy: FloatArray) -> dict[int, tuple[int, int]]:
    """The point or straight piece of each active slot's curve that its grid move stands for."""
    ranges: dict[int, tuple[int, int]] = {}
    for t in np.flatnonzero(curves.count > 1).tolist():
        count = int(curves.count[t])
        e = curves.energy_kwh[t, :count]
        x = float(energy[t])
        on_piece = [
            k
            for k in range(count - 1)
            if curves.linked[t, k] and e[k] - SNAP_KWH <= x <= e[k + 1] + SNAP_KWH
        ]
        if on_piece:
            k = min(on_piece, key=lambda k: float(curves.cost[t, k]))
            ranges[t] = (k, k + 1)
        else:
            k = int(np.argmin(np.abs(e - x)))
            ranges[t] = (k, k)
    return ranges
