"""One vehicle alone on the site: an exact search over its per-slot cost curves.

`curves` turns every slot into a curve: cost against the energy stored in that slot, defined on
the powers the charger can run at. The slots are coupled only through the stored energy. So:

1. **Relaxation.** Each slot's curve replaced by its lower convex hull gives an LP (`hull`) whose
   value bounds the full MILP from below; where every slot lands on a point of its curve the LP's
   answer is feasible, hence optimal. Without minimum powers, export above import or negative
   prices the curves are convex and the first LP is the answer.
2. **Search.** Otherwise some slot sits on a chord of its hull (say 2 kW in a slot whose charger
   cannot run below 4.14 kW). Branch and bound, best bound first, each node an LP re-solved warm
   from the last basis:

   - *count*: with minimum powers, many slots are nearly interchangeable (equal prices, similar
     solar). The relaxation moves a fractional run from one to the next, and branching on single
     slots would try them all. So first branch on how many slots run at all (charging, or
     discharging) where the relaxation has that number fractional: ``N <= k`` or ``N >= k + 1``;
     over all slots, or over the slots before a second fractional one when the total is whole.
     That is what the integer answer hinges on ("seven slots at the minimum power and the rest on
     top of one of them"). A slot's share of a count is the fill of its hull chord across the gap
     next to idle; rows making counted slots fill their segments in order (the relaxed
     incremental formulation) keep that share honest. A slot running "in proportion" (share
     0.15 of a run, delivering 0.4 of a minimum run's energy) is branched on together with the
     slots of its kind (the same curve up to the tie-breaking epsilons, e.g. the four
     quarter-hours of an hourly price): "at most k of them run" or "at least k + 1"; on its own
     (runs or not) only when it has none. Excluding it alone would only hand its share to the
     next quarter-hour of the same price, a node each.
   - *slot*: otherwise split the slot's range of points at the gap or concave kink it straddles.

   Every branch is a disjunction no feasible plan violates, so the first node whose answer is
   feasible when it is the best open one is optimal (within ``mip_rel_gap``).
3. **Fallback.** After `NODE_LIMIT` nodes or half of ``SolveOptions.search_time_s``, two
   feasible plans are made, the better one kept: the best node's relaxation *repaired* (slot by
   slot the point or piece of the curve keeping the stored energy nearest the relaxation's
   within its bounds; idle always qualifies), and the cheapest path of a dynamic program over
   the stored energy on a fine grid (`dynamic`), which prices every non-convexity of the curves
   directly and so finds what the branching finds hard: which slots import and which export
   under a fixed feed-in tariff above the import price, or which of many near-equal hours run.
   Each fixes a pattern (which piece of its curve each slot uses) that the LP then prices and
   polishes exactly. That plan is used, with a status saying it is not proven optimal and how
   far from the optimum it can be at most, from the search's best open bound ("time limit:
   ...; cost within 0.4% of the optimum"); in the default budget that happens for a few
   percent of problems with minimum powers, mostly V2G over long horizons, and the plan is
   nearly always the optimum anyway. Only with time to spare (`_COMPACT_MIN_S`, or no plan
   at all) does the compact MILP of the same curves (incremental formulation; its relaxation
   is the hull LP) go to HiGHS with the time left, starting from that plan, to prove it or
   find a better one.

The objective is the full MILP's (energy at the meter, wear, shortfall penalties, terminal value
and tie-breaking epsilons): `tests/optimizer/test_single.py` checks the result against scipy's
``milp`` on the full formulation for hundreds of real-price windows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import heapq
import math
import time

import numpy as np

from .bounds import VehicleData
from .curves import Curves, IntArray, idle_gaps, power_kw, vehicle_curves
from .dynamic import pattern
from .formulation import Model
from .highs import OPTIMAL, TIME_LIMIT, persistent_available, run
from .hull import SNAP_KWH, HullLp
from .model import BoolArray, FloatArray, Problem, SolveOptions

__all__ = ["NODE_LIMIT", "SingleResult", "solve_single"]

NODE_LIMIT = 100
"""Branch-and-bound nodes before the fallback (see the module docstring) takes over."""

_FALLBACK_SHARE = 0.5
"""Share of ``search_time_s`` after which the branch and bound hands over to the fallback."""

_FALLBACK_MIN_S = 0.05
"""Least time the compact MILP gets when the search found no plan at all."""

_COMPACT_MIN_S = 0.5
"""Least time left for the compact MILP to be started with a plan in hand. In less it hardly
ever does better: on the 1,000 problems of ``benchmarks/speed.py``'s sweep it ran 50 times in
the 0.15 s budget (55-95 ms each), proved the plan optimal 3 times and found a cheaper one
once (by 0.35 cents); without it the sweep's p99 fell from about 160 to 105 ms. With a
patient budget (tests, benchmarks' references) it proves what the search could not."""

_LIKE = 1e-4
"""Slots whose curve costs differ by less than this (relative) are branched on as a group."""

_CHARGE = 1
_DISCHARGE = -1


@dataclass(frozen=True, slots=True)
class SingleResult:
    """The vehicle's plan from the single-vehicle search."""

    power_kw: FloatArray
    """Signed AC power per slot."""
    status: str
    """"optimal", or "time limit: ..." when the fallback MILP stopped at its time limit."""
    mip: bool
    """The relaxation was not integral: minimum powers or non-convex prices mattered."""
    nodes: int
    """Branch-and-bound nodes solved."""


def solve_single(problem: Problem, vd: VehicleData, options: SolveOptions) -> SingleResult | None:
    """The optimal plan of the one vehicle of ``problem``, or None if the search cannot run.

    None means: scipy's HiGHS binding is not available, the root LP failed, or the stored
    energy breaks its bounds before the vehicle can do anything (`_idle_start_keeps_bounds`);
    the caller then uses the general formulation (or, with a frequency offer, plans without it).
    """
    if not persistent_available():  # pragma: no cover - only if scipy moves its binding
        return None
    curves = vehicle_curves(problem, vd, tie_break=options.tie_break)
    lp = HullLp(problem, vd, curves, options)
    root = lp.solve()
    if root is None or not _idle_start_keeps_bounds(lp, root[1]):
        return None
    if lp.handle is None:  # never plugged in (or nothing it could do): idle
        return SingleResult(power_kw=np.zeros(lp.n), status="optimal", mip=False, nodes=0)
    search = _Search(lp, options)
    found = search.run(root)
    if found is not None:
        return SingleResult(
            power_kw=_power(found, curves, vd, problem),
            status="optimal",
            mip=search.nodes > 0,
            nodes=search.nodes,
        )
    ranges = pattern(problem, vd, curves)
    if ranges is not None:
        search.polish(ranges)
    energy, status = _fallback(lp, search, options)
    if energy is None:
        return None
    return SingleResult(
        power_kw=_power(energy, curves, vd, problem), status=status, mip=True, nodes=search.nodes
    )


def _idle_start_keeps_bounds(lp: HullLp, energy: FloatArray) -> bool:
    """Whether the stored energy keeps its bounds before the first active slot (or in all).

    The LP decides nothing there (slot energies ``energy``). A frequency reserve's floor above
    the stored energy breaks them, say, when the reserve leaves the charger no room for its
    minimum power in those slots: no plan keeps that offer (the caller drops it). Without an
    offer the bounds always hold there.
    """
    start = int(lp.active[0]) if lp.active.shape[0] else lp.n
    lower, upper = lp.vd.stored_bounds(lp.n)
    stored = lp.vd.initial_kwh + np.cumsum(energy[:start])
    return bool(
        np.all(stored >= lower[:start] - SNAP_KWH) and np.all(stored <= upper[:start] + SNAP_KWH)
    )


def _power(energy: FloatArray, curves: Curves, vd: VehicleData, problem: Problem) -> FloatArray:
    """Powers of the slots' energies, snapped to the curve points they are (numerically) at."""
    rows = np.arange(energy.shape[0])
    nearest = np.argmin(np.abs(curves.energy_kwh - energy[:, None]), axis=1)
    at_point = np.abs(curves.energy_kwh[rows, nearest] - energy) <= SNAP_KWH
    powers = power_kw(energy, vd, problem.grid.durations_h)
    snapped: FloatArray = np.where(at_point, curves.power_kw[rows, nearest], powers)
    return snapped


@dataclass(frozen=True, slots=True)
class _Count:
    """Branching row: the number of ``slots`` that run in ``direction`` is in [low, high]."""

    direction: int
    slots: IntArray
    low: float
    high: float


def _with(counts: tuple[_Count, ...], new: _Count) -> tuple[_Count, ...] | None:
    """``counts`` plus ``new``, merged into the row over the same slots if there is one.

    None if that row already implies ``new``: the relaxation then meets the row without running
    whole slots, and branching on it again would not change its answer.
    """
    for i, old in enumerate(counts):
        if old.direction == new.direction and np.array_equal(old.slots, new.slots):
            low, high = max(old.low, new.low), min(old.high, new.high)
            if (low, high) == (old.low, old.high):
                return None
            return (*counts[:i], _Count(new.direction, new.slots, low, high), *counts[i + 1 :])
    return (*counts, new)


@dataclass(order=True, slots=True)
class _Node:
    """A subproblem: slot ranges, count rows and order rows; its bound and LP answer."""

    bound: float
    serial: int
    ranges: dict[int, tuple[int, int]] = field(compare=False)
    counts: tuple[_Count, ...] = field(compare=False)
    ordered: frozenset[int] = field(compare=False)
    """Slots whose segments fill in order (see `HullLp.out_of_order`)."""
    energy: FloatArray = field(compare=False)
    fills: FloatArray = field(compare=False)
    fractional: list[int] | None = field(compare=False, default=None)
    """`_Search._fractional` of ``energy`` once known (it depends only on the node)."""


_Branch = tuple[dict[int, tuple[int, int]], tuple[_Count, ...], frozenset[int]]


class _Search:
    """Best-bound branch and bound over the hull LP (see the module docstring)."""

    def __init__(self, lp: HullLp, options: SolveOptions) -> None:
        """Per-slot data of the branching rules: the gaps next to idle."""
        self.lp = lp
        self.options = options
        curves = lp.curves
        self.n = lp.n
        self.linked = np.pad(curves.linked, ((0, 0), (0, 1)))
        # Running at all (charging or discharging) needs the minimum power: a gap next to idle.
        charging, discharging = idle_gaps(curves)
        self.gap = {_CHARGE: charging[0], _DISCHARGE: discharging[0]}
        self.gap_ends = {_CHARGE: charging[1:], _DISCHARGE: discharging[1:]}
        self._active_energy = curves.energy_kwh[lp.active]
        self.incumbent: tuple[float, FloatArray] | None = None
        self.nodes = 0
        self.bound = -math.inf
        """Lower bound on the optimum when the search stopped unfinished."""
        self.started = time.thread_time()
        """This thread's CPU time at the start: the budget is CPU time, as the capacity path's,
        so a busy host does not stop the search earlier (and change its plan)."""
        self._applied: _Branch = ({}, (), frozenset())
        self._order_rows = 0
        """Order rows in the LP (right after its structural rows, before the count rows)."""

    def run(self, root: tuple[float, FloatArray, FloatArray]) -> FloatArray | None:
        """Slot energies of an optimal plan, or None at the node or time limit."""
        heap = [_Node(root[0], 0, {}, (), frozenset(), root[1], root[2])]
        serial = 1
        deadline = self.started + _FALLBACK_SHARE * self.options.search_time_s
        while heap:
            node = heapq.heappop(heap)
            if self.incumbent is not None and node.bound >= self.incumbent[0] - self._gap():
                return self.incumbent[1]
            self._apply(node)
            fractional = node.fractional
            if fractional is None:
                fractional = self._fractional(node.energy)
            if not fractional:
                return node.energy
            if self.nodes >= NODE_LIMIT or time.thread_time() > deadline:
                self.bound = node.bound  # best first: no open node is lower
                if self.incumbent is None:  # the compact MILP may not find one in time
                    self._repair(node.energy)
                return None
            for ranges, counts, ordered in self._children(node, fractional):
                self.nodes += 1
                child = _Node(math.inf, serial, ranges, counts, ordered, node.energy, node.fills)
                serial += 1
                self._apply(child)
                solved = self.lp.solve()
                if solved is None:  # infeasible branch
                    continue
                child.bound, child.energy, child.fills = solved
                child.fractional = self._fractional(child.energy)
                if not child.fractional and (
                    self.incumbent is None or child.bound < self.incumbent[0]
                ):
                    self.incumbent = (child.bound, child.energy)
                heapq.heappush(heap, child)
        return None if self.incumbent is None else self.incumbent[1]

    def _repair(self, energy: FloatArray) -> None:
        """A feasible plan near ``energy`` (slot energies of a relaxation), as the incumbent.

        Slot by slot, the point or straight piece of the curve that keeps the stored energy
        closest to the relaxation's, within that slot's bounds (those of a frequency reserve
        included; idle when nothing qualifies, which the LP may then find infeasible). Then the
        LP prices and polishes it: first with every slot anywhere on its interval of allowed
        powers (evening out what the rounding missed, e.g. a target just out of reach), else on
        its piece. Without it, a search stopped before any node was feasible leaves the compact
        MILP to find a first plan in the little time left.
        """
        lp = self.lp
        vd = lp.vd
        curves = lp.curves
        lower, upper = vd.stored_bounds(lp.n)
        wanted = vd.initial_kwh + np.cumsum(energy)
        stored = vd.initial_kwh
        pieces: dict[int, tuple[int, int]] = {}
        for t in range(lp.n):
            count = int(curves.count[t])
            e = curves.energy_kwh[t, :count]
            if count == 1:  # inactive: its one point
                stored += float(e[0])
                continue
            linked = curves.linked[t, : count - 1]
            low, high = float(lower[t]) - stored, float(upper[t]) - stored
            chosen, pieces[t] = _nearest(e, linked, float(wanted[t]) - stored, (low, high))
            stored += chosen
        self.polish(pieces)

    def polish(self, pieces: dict[int, tuple[int, int]]) -> None:
        """The best plan with each active slot on its piece of ``pieces``, if better: incumbent.

        ``pieces`` holds a point ``(k, k)`` or a straight piece ``(k, k + 1)`` of each active
        slot's curve. The LP prices them, first with every slot anywhere on its interval of
        allowed powers (the piece's run of linked points: evening out what the choice of pieces
        missed, e.g. a target just out of reach), else on its piece.
        """
        curves = self.lp.curves
        intervals: dict[int, tuple[int, int]] = {}
        for t, (low, high) in pieces.items():
            linked = curves.linked[t, : int(curves.count[t]) - 1]
            first, last = low, high
            while first > 0 and linked[first - 1]:
                first -= 1
            while last < linked.shape[0] and linked[last]:
                last += 1
            intervals[t] = (first, last)
        for ranges in (intervals, pieces):
            self._apply(_Node(math.inf, -1, ranges, (), frozenset(), np.zeros(0), np.zeros(0)))
            solved = self.lp.solve()
            if solved is not None and not self._fractional(solved[1]):
                if self.incumbent is None or solved[0] < self.incumbent[0]:
                    self.incumbent = (solved[0], solved[1])
                return

    def _gap(self) -> float:
        assert self.incumbent is not None
        return self.options.mip_rel_gap * max(1.0, abs(self.incumbent[0]))

    def _apply(self, node: _Node) -> None:
        """Put the node's slot ranges and extra rows into the LP (only what changed).

        Extra rows refer to hull segments, so they are rebuilt when they change or when a slot
        they cover changes its range. Order rows come first and stay when only count rows
        change (most nodes once the order rows are in): their part of the basis carries over.
        """
        ranges, counts, ordered = self._applied
        curves = self.lp.curves
        changed = [t for t in set(ranges) | set(node.ranges) if ranges.get(t) != node.ranges.get(t)]
        for t in changed:
            low, high = node.ranges.get(t, (0, int(curves.count[t]) - 1))
            self.lp.restrict(t, low, high)
        covered = (
            np.unique(np.concatenate([count.slots for count in node.counts]))
            if node.counts
            else np.zeros(0, dtype=np.int64)
        )
        touched = np.asarray(changed, dtype=np.int64)
        if ordered != node.ordered or bool(
            np.isin(touched, np.fromiter(node.ordered, dtype=np.int64)).any()
        ):
            self._set_rows(node, order=True)
        elif counts is not node.counts or bool(np.isin(touched, covered).any()):
            self._set_rows(node, order=False)
        self._applied = (node.ranges, node.counts, node.ordered)

    def _set_rows(self, node: _Node, *, order: bool) -> None:
        """The node's order rows (if ``order``, else those in the LP stay) and count rows."""
        lower, upper, rows, cols, vals = [], [], [], [], []
        k = 0
        if order:
            slots = np.fromiter(sorted(node.ordered), dtype=np.int64)
            order_row, order_col, order_val, k = self.lp.order_rows(slots)
            lower.append(np.full(k, -np.inf))
            upper.append(np.zeros(k))
            rows.append(order_row)
            cols.append(order_col)
            vals.append(order_val)
            self._order_rows = k
        for i, count in enumerate(node.counts):
            col, val, constant = self._count_entries(count)
            lower.append(np.array([count.low - constant]))
            upper.append(np.array([count.high - constant]))
            rows.append(np.full(col.shape[0], k + i, dtype=np.int64))
            cols.append(col)
            vals.append(val)
        if not rows:
            self.lp.set_rows(self._order_rows, np.zeros(0), np.zeros(0), None)
            return
        self.lp.set_rows(
            0 if order else self._order_rows,
            np.concatenate(lower),
            np.concatenate(upper),
            (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)),
        )

    def _fractional(self, energy: FloatArray) -> list[int]:
        """Slots whose energy lies where the curve is above the hull, largest excess first."""
        lp = self.lp
        # Most slots sit on a hull vertex: those are not fractional (and the rest are few).
        near = np.abs(self._active_energy - energy[lp.active, None]) <= SNAP_KWH
        slots = lp.active[~np.any(near & lp.vertex[lp.active], axis=1)].tolist()
        excess = [(self._excess(t, float(energy[t])), t) for t in slots]
        return [t for above, t in sorted(excess, key=lambda pair: -pair[0]) if above > 0.0]

    def _excess(self, t: int, x: float) -> float:
        """How far slot ``t``'s curve is above its hull at energy ``x``; 0 if (nearly) on it."""
        lp = self.lp
        low, high = int(lp.low[t]), int(lp.high[t])
        if low == high:
            return 0.0
        count = int(lp.curves.count[t])
        e = lp.curves.energy_kwh[t, :count].tolist()
        f = lp.curves.cost[t, :count].tolist()
        x = min(max(x, e[low]), e[high])
        # The first point at or after x, and whether x is (numerically) on it.
        k = low
        while k < high and e[k] < x - SNAP_KWH:
            k += 1
        if abs(e[k] - x) <= SNAP_KWH:
            true_cost = f[k]
        elif self.linked[t, k - 1]:
            true_cost = f[k - 1] + (x - e[k - 1]) / (e[k] - e[k - 1]) * (f[k] - f[k - 1])
        else:  # inside a gap: no power the charger can run at
            true_cost = math.inf
        # The hull: between the last vertex at or before x and the first one at or after it.
        vertices = np.flatnonzero(lp.vertex[t]).tolist()
        left = max([i for i in vertices if e[i] <= x + SNAP_KWH] + [low])
        right = min([i for i in vertices if e[i] >= x - SNAP_KWH] + [high])
        width = e[right] - e[left]
        share = (x - e[left]) / width if width > 0.0 else 0.0
        hull_cost = f[left] + share * (f[right] - f[left])
        above = true_cost - hull_cost
        return above if above > 1e-9 * (1.0 + abs(hull_cost)) else 0.0

    def _children(self, node: _Node, fractional: list[int]) -> list[_Branch]:
        """The node's children: one with order rows, or two branches."""
        if node.counts:
            counted = np.unique(np.concatenate([count.slots for count in node.counts]))
            suspects = np.intersect1d(counted, np.asarray(fractional, dtype=np.int64))
            suspects = np.setdiff1d(suspects, np.fromiter(node.ordered, dtype=np.int64))
            if self.lp.out_of_order(suspects, node.fills).size:
                # Order every counted slot at once: otherwise the next one takes its place.
                return [(node.ranges, node.counts, node.ordered | frozenset(counted.tolist()))]
            miscounted = self._miscounted(node)
            if miscounted is not None:
                t, direction = miscounted
                group = self._group_split(node, t, direction)
                if group is not None:
                    return [(node.ranges, counts, node.ordered) for counts in group]
                # Either side of its gap: runs or does not.
                a, b = (int(end[t]) for end in self.gap_ends[direction])
                low, high = int(self.lp.low[t]), int(self.lp.high[t])
                return [
                    ({**node.ranges, t: (low, a)}, node.counts, node.ordered),
                    ({**node.ranges, t: (b, high)}, node.counts, node.ordered),
                ]
        count_split = self._count_split(node, fractional)
        if count_split is not None:
            return [(node.ranges, counts, node.ordered) for counts in count_split]
        t = fractional[0]
        left, right = self._split(t, float(node.energy[t]))
        return [
            ({**node.ranges, t: left}, node.counts, node.ordered),
            ({**node.ranges, t: right}, node.counts, node.ordered),
        ]

    def _count_split(
        self, node: _Node, fractional: list[int]
    ) -> tuple[tuple[_Count, ...], tuple[_Count, ...]] | None:
        """Count rows of the two children, or None.

        When a fractional slot sits in a gap next to idle and the number of running slots is
        fractional, the children say it is at most its floor, or at least its ceiling.
        """
        energy = node.energy
        for t in fractional:
            for direction in (_CHARGE, _DISCHARGE):
                if not self._in_gap(t, direction, float(energy[t])):
                    continue
                countable = self._countable(direction)
                running = self._running(direction, energy)
                # All countable slots; when that total is whole, fractional slots share runs,
                # and the slots before each later fractional slot tell them apart (a prefix
                # ending at t itself would only move the fraction one slot on).
                others = [u for u in fractional if u != t and self._in_gap(u, direction, energy[u])]
                cuts = sorted({max(u, t) for u in others})
                for slots in [countable] + [countable[countable < cut] for cut in cuts]:
                    total = float(running[slots].sum())
                    if abs(total - round(total)) <= 1e-6:
                        continue
                    below = math.floor(total)
                    fewer = _with(node.counts, _Count(direction, slots, -math.inf, below))
                    more = _with(node.counts, _Count(direction, slots, below + 1, math.inf))
                    if fewer is not None and more is not None:
                        return fewer, more
        return None

    def _in_gap(self, t: int, direction: int, energy: float) -> bool:
        if not self.gap[direction][t]:
            return False
        a, b = self.gap_ends[direction]
        e = self.lp.curves.energy_kwh[t]
        return bool(e[a[t]] + SNAP_KWH < energy < e[b[t]] - SNAP_KWH)

    def _running(self, direction: int, energy: FloatArray) -> FloatArray:
        """Per slot, the share of its gap crossed: 1 = runs, 0 = does not (by its energy)."""
        a, b = self.gap_ends[direction]
        e = self.lp.curves.energy_kwh
        rows = np.arange(self.n)
        e_a, e_b = e[rows, a], e[rows, b]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (energy - e_a) / (e_b - e_a)
        if direction == _DISCHARGE:
            share = 1.0 - share
        running: FloatArray = np.where(self.gap[direction], np.clip(np.nan_to_num(share), 0, 1), 0)
        return running

    def _countable(self, direction: int) -> IntArray:
        """Slots with a gap whose running share is linear in this LP and every descendant's.

        Either the gap's two ends are hull vertices (they stay so over any sub-range), or one end
        is out of the slot's range (then it runs, or does not, for good).
        """
        lp = self.lp
        a, b = self.gap_ends[direction]
        slots = np.flatnonzero(self.gap[direction])
        fixed = (lp.high[slots] < b[slots]) | (lp.low[slots] > a[slots])
        chord = lp.vertex[slots, a[slots]] & lp.vertex[slots, b[slots]]
        countable: IntArray = slots[fixed | chord].astype(np.int64)
        return countable

    def _chord_slots(self, count: _Count) -> IntArray:
        """The slots of ``count`` whose share is the fill of their gap's chord right now."""
        a, b = self.gap_ends[count.direction]
        slots = count.slots
        open_gap = (self.lp.high[slots] >= b[slots]) & (self.lp.low[slots] <= a[slots])
        chord: IntArray = slots[open_gap]
        return chord

    def _count_entries(self, count: _Count) -> tuple[IntArray, FloatArray, float]:
        """Columns, coefficients and constant of ``count``'s running shares in the current LP.

        A slot whose range ends before its gap's far end never runs; one whose range starts after
        its near end always runs; otherwise its share is the fill of the gap's chord.
        """
        a, b = self.gap_ends[count.direction]
        slots = count.slots
        low, high = self.lp.low[slots], self.lp.high[slots]
        no_charge, no_idle = high < b[slots], low > a[slots]
        charge = count.direction == _CHARGE
        constant = float(np.sum(no_idle if charge else no_charge))
        chord = self._chord_slots(count)
        col = self.lp.chord_columns(chord, a[chord])
        e = self.lp.curves.energy_kwh
        length = e[chord, b[chord]] - e[chord, a[chord]]
        if charge:
            return col, 1.0 / length, constant
        # The chord fills from the discharging end: running share = 1 - fill / length.
        return col, -1.0 / length, constant + float(chord.shape[0])

    def _miscounted(self, node: _Node) -> tuple[int, int] | None:
        """A slot whose share in a count row differs from its energy's, and the row's direction.

        None if there is none. With order rows a slot may still fill its segments in proportion
        (the relaxed incremental formulation: "runs with weight 0.6 at 2.5 kWh"), a feasible
        energy that counts 0.6 of a run. Branching on whether it runs settles that.
        """
        worst: tuple[float, int, int] | None = None
        for count in node.counts:
            col, val, _ = self._count_entries(count)
            lp_share = node.fills[col] * val + (1.0 if count.direction == _DISCHARGE else 0.0)
            chord = self._chord_slots(count)
            difference = np.abs(lp_share - self._running(count.direction, node.energy)[chord])
            if difference.size and float(difference.max()) > 1e-6:
                i = int(np.argmax(difference))
                if worst is None or float(difference[i]) > worst[0]:
                    worst = (float(difference[i]), int(chord[i]), count.direction)
        return None if worst is None else (worst[1], worst[2])

    def _group_split(
        self, node: _Node, t: int, direction: int
    ) -> tuple[tuple[_Count, ...], tuple[_Count, ...]] | None:
        """Count rows over the slots like ``t`` (the same curve up to the tie-breaking epsilons).

        A slot running "in proportion" is branched on with the others of its kind at once:
        otherwise excluding it only hands its share to the next slot of the same price (four
        quarter-hours of an hourly price, or a run of equal feed-in prices).
        """
        curves = self.lp.curves
        countable = self._countable(direction)
        e, f = curves.energy_kwh[countable], curves.cost[countable]
        e_t, f_t = curves.energy_kwh[t], curves.cost[t]
        tolerance = _LIKE * (1.0 + np.abs(f_t))
        with np.errstate(invalid="ignore"):  # padding: inf - inf
            like = np.all((e == e_t) | (np.abs(e - e_t) <= SNAP_KWH), axis=1) & np.all(
                (f == f_t) | (np.abs(f - f_t) <= tolerance), axis=1
            )
        group = countable[like]
        if group.shape[0] < 2:
            return None
        count = _Count(direction, group, -math.inf, math.inf)
        col, val, constant = self._count_entries(count)
        total = float(node.fills[col] @ val) + constant
        if abs(total - round(total)) <= 1e-6:
            return None
        below = math.floor(total)
        fewer = _with(node.counts, _Count(direction, group, -math.inf, below))
        more = _with(node.counts, _Count(direction, group, below + 1, math.inf))
        if fewer is None or more is None:
            return None
        return fewer, more

    def _split(self, t: int, energy: float) -> tuple[tuple[int, int], tuple[int, int]]:
        """Ranges of slot ``t``'s two children: either side of its gap or concave kink."""
        lp = self.lp
        low, high = int(lp.low[t]), int(lp.high[t])
        e = lp.curves.energy_kwh[t]
        k = int(np.searchsorted(e[low : high + 1], energy - SNAP_KWH, side="left")) + low
        k = min(max(k, low + 1), high)
        if abs(e[k] - energy) <= SNAP_KWH:  # on a point above the hull
            return (low, k), (k, high)
        if not self.linked[t, k - 1]:  # inside a gap
            return (low, k - 1), (k, high)
        # Inside a straight piece whose ends are not both hull vertices: split at the one that
        # is not (the curve is concave there).
        kink = k - 1 if not lp.vertex[t, k - 1] else k
        return (low, kink), (kink, high)


def _nearest(
    e: FloatArray, linked: BoolArray, goal: float, bounds: tuple[float, float]
) -> tuple[float, tuple[int, int]]:
    """The energy of a curve with points ``e`` nearest to ``goal`` within ``bounds``.

    Returns it and its range of points: (k, k) on point k, (k, k + 1) inside a straight piece.
    Idle (0) is the fallback when nothing is within the bounds (a stored energy below a floor
    the curve cannot reach in one slot, say).
    """
    low, high = bounds
    goal = min(max(goal, low), high)
    zero = int(np.argmin(np.abs(e)))
    best, where = math.inf, (zero, zero)
    for k in range(e.shape[0]):
        if low - SNAP_KWH <= e[k] <= high + SNAP_KWH and abs(e[k] - goal) < abs(best - goal):
            best, where = float(e[k]), (k, k)
        if k < linked.shape[0] and linked[k]:
            x = min(max(goal, float(e[k]), low), float(e[k + 1]), high)
            if e[k] <= x <= e[k + 1] and low <= x <= high and abs(x - goal) < abs(best - goal):
                best, where = x, (k, k + 1)
    if math.isinf(best):
        return float(e[zero]), where
    return best, where


def _fallback(lp: HullLp, search: _Search, options: SolveOptions) -> tuple[FloatArray | None, str]:
    """The compact MILP from the best plan so far, in the time left; (energies or None, status).

    With a plan in hand and under `_COMPACT_MIN_S` left, that plan, unproven.
    """
    incumbent = search.incumbent
    left = options.search_time_s - (time.thread_time() - search.started)
    if incumbent is not None and left < _COMPACT_MIN_S:
        return incumbent[1], _unproven("Time limit reached", incumbent[0], search.bound)
    model, start = _compact_milp(lp, None if incumbent is None else incumbent[1])
    limited = dataclasses.replace(
        options, time_limit_s=min(options.time_limit_s, max(left, _FALLBACK_MIN_S))
    )
    status, message, x = run(model, limited, start=start)
    if x is None or status not in {OPTIMAL, TIME_LIMIT}:
        if incumbent is None:
            return None, ""
        return incumbent[1], _unproven(message, incumbent[0], search.bound)
    energy = lp.curves.energy_kwh[:, 0] + np.bincount(
        lp.segment_slot, weights=x[: lp.s_col], minlength=lp.n
    )
    if status == OPTIMAL:
        return energy, "optimal"
    return energy, _unproven(message, float(model.cost @ x) + lp.constant, search.bound)


def _unproven(message: str, value: float, bound: float) -> str:
    """Status of a plan not proven optimal: the solver's message and the proven gap."""
    gap = (value - bound) / max(1.0, abs(value))
    if not math.isfinite(gap):
        return f"time limit: {message}"
    return f"time limit: {message}; cost within {max(gap, 0.0):.2%} of the optimum"


def _compact_milp(lp: HullLp, start_energy: FloatArray | None) -> tuple[Model, FloatArray | None]:
    """The MILP of the curves themselves: incremental formulation with gap binaries.

    Per slot, one column per piece between neighbouring points, filled left to right: binary
    ``y_k`` says piece ``k`` is full (only then piece ``k + 1`` may start), and a piece across a
    gap is empty or full. Its relaxation is the hull LP. With ``start_energy`` (slot energies of
    a feasible plan) also returns the MILP's variables for it, HiGHS's first incumbent.
    """
    curves = lp.curves
    e, f = curves.energy_kwh, curves.cost
    model = lp.model.copy()
    used = np.arange(e.shape[1] - 1)[None, :] < (curves.count - 1)[:, None]
    with np.errstate(invalid="ignore"):
        lengths = np.where(used, np.diff(e, axis=1), 0.0)
        slopes = np.where(used, np.diff(f, axis=1) / np.where(used, lengths, 1.0), 0.0)
    length = lengths[used]
    pieces = lp.s_col
    model.cost[:pieces] = slopes[used]
    model.upper[:pieces] = length
    rhs = e[lp.active, 0].copy()
    rhs[0] += lp.vd.initial_kwh
    model.row_lower[0] = rhs
    model.row_upper[0] = rhs.copy()
    model.integrality = np.zeros(model.cost.shape[0], dtype=np.uint8)
    col = np.arange(pieces, dtype=np.int64)
    this = col[(col - lp.offset[lp.segment_slot]) < (curves.count - 2)[lp.segment_slot]]
    k = this.shape[0]
    y = model.add_columns(np.zeros(k), np.zeros(k), np.ones(k))
    r = np.arange(k, dtype=np.int64)
    # piece_k >= length_k y_k ; piece_{k+1} <= length_{k+1} y_k
    model.add_rows(
        k, [(r, this, np.ones(k)), (r, y, -length[this])], np.zeros(k), np.full(k, np.inf)
    )
    model.add_rows(
        k, [(r, this + 1, np.ones(k)), (r, y, -length[this + 1])], np.full(k, -np.inf), np.zeros(k)
    )
    gap = col[~curves.linked[used] & (length > 0.0)]
    g = model.add_columns(np.zeros(gap.shape[0]), np.zeros(gap.shape[0]), np.ones(gap.shape[0]))
    r = np.arange(gap.shape[0], dtype=np.int64)
    model.add_rows(
        gap.shape[0],
        [(r, gap, np.ones(gap.shape[0])), (r, g, -length[gap])],
        np.zeros(gap.shape[0]),
        np.zeros(gap.shape[0]),
    )
    model.integrality[y] = 1
    model.integrality[g] = 1
    if start_energy is None:
        return model, None
    return model, _milp_start(lp, model, start_energy, (e[:, :-1][used], length, this, y, gap, g))


def _milp_start(
    lp: HullLp,
    model: Model,
    energy: FloatArray,
    layout: tuple[FloatArray, FloatArray, IntArray, IntArray, IntArray, IntArray],
) -> FloatArray:
    """The compact MILP's variables for the plan with slot energies ``energy``."""
    left, length, this, y, gap, g = layout
    vd = lp.vd
    start = np.zeros(model.cost.shape[0])
    fill = np.clip(energy[lp.segment_slot] - left, 0.0, length)
    start[: lp.s_col] = fill
    active = lp.active
    stored = vd.initial_kwh + np.cumsum(energy)
    start[lp.s_col : lp.s_col + active.shape[0]] = stored[active]
    if lp.reserve_col is not None:
        below = np.clip(vd.reserve_kwh - stored[active], 0.0, None)
        start[lp.reserve_col : lp.reserve_col + active.shape[0]] = below
    if lp.target_col is not None:
        assert vd.departure_index
        start[lp.target_col] = max(0.0, vd.target_kwh - float(stored[vd.departure_index - 1]))
    if lp.care_col is not None:
        above = np.clip(stored[active] - vd.care_kwh, 0.0, None)
        start[lp.care_col : lp.care_col + active.shape[0]] = above
    full = fill >= length - SNAP_KWH
    start[y] = full[this]
    start[g] = full[gap]
    return start
