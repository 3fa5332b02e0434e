"""The hull LP of one vehicle: each slot somewhere on the lower convex hull of its cost curve.

Replacing each slot's curve (`curves`) by its lower convex hull gives an LP whose value is a
lower bound on the full MILP; where every slot lands on a point of its curve the LP's answer is
feasible, hence optimal. `single` searches from there. `HullLp` keeps the LP alive in HiGHS so
the search can restrict a slot to a range of its points, add rows and re-solve from the last
basis in a few simplex iterations.

Only *active* slots (where the vehicle can do more than idle) get columns and rows: in the others
the stored energy does not change. Columns: per active slot a block of ``count - 1`` segment
columns (the hull's segments between consecutive vertices, filled left to right because the hull
is convex; unused ones have length 0), then the stored energy after each active slot, the reserve
shortfalls (soft reserve only; one per active slot, priced for every slot until the next active
one) and the target shortfall. Rows: the dynamics ``s_j - s_{j-1} - sum(segments of j) = first
point of j`` (plus the initial energy for the first), the soft reserve rows, the target row, then
the search's rows. Whatever is constant (inactive slots, the first points' costs) is
``offset_cost``; costs are in units of the curves' price scale, like the full formulation.
"""

from __future__ import annotations

import numpy as np

from .bounds import VehicleData
from .costing import penalty_per_kwh, terminal_value_per_kwh
from .curves import Curves, IntArray
from .formulation import Model
from .highs import OPTIMAL, LpHandle
from .model import BoolArray, FloatArray, Problem, SolveOptions

__all__ = ["SNAP_KWH", "HullLp", "lower_hull", "ranks"]

SNAP_KWH = 1e-9
"""Energies this close to a curve point are that point; fills this close to a bound are at it."""


def lower_hull(energy: FloatArray, cost: FloatArray) -> list[int]:
    """Indices of the lower convex hull's vertices of points sorted by energy.

    Collinear points are kept: then idle and the minimum power stay vertices of a slot whose cost
    is linear across them, and "does the slot run at all" remains a hull segment of its own.
    """
    hull: list[int] = []
    for i in range(energy.shape[0]):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            share = (energy[b] - energy[a]) / (energy[i] - energy[a])
            chord = cost[a] + (cost[i] - cost[a]) * share
            if cost[b] <= chord + 1e-12 * (1.0 + abs(chord)):
                break
            hull.pop()
        hull.append(i)
    return hull


def _all_vertices(curves: Curves) -> BoolArray:
    """Hull vertices of every slot's full curve, vectorised (O(m^2) per slot).

    A point is a vertex iff some line below all points touches it: iff the steepest chord
    arriving from the left is no steeper than the flattest chord leaving to the right.
    """
    e, f = curves.energy_kwh, curves.cost
    m = e.shape[1]
    valid = np.isfinite(e)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (f[:, None, :] - f[:, :, None]) / (e[:, None, :] - e[:, :, None])  # [t, i, j]
    pairs = np.triu(np.ones((m, m), dtype=bool), 1)[None] & valid[:, :, None] & valid[:, None, :]
    arriving = np.where(pairs, slope, -np.inf).max(axis=1)
    leaving = np.where(pairs, slope, np.inf).min(axis=2)
    vertex: BoolArray = valid & (arriving <= leaving + 1e-12 * (1.0 + np.abs(leaving)))
    return vertex


def ranks(counts: IntArray) -> IntArray:
    """0, 1, ..., c - 1 for every ``c`` of ``counts``, concatenated."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    ranked: IntArray = np.arange(int(counts.sum()), dtype=np.int64) - starts
    return ranked


class HullLp:
    """The hull LP of one vehicle in HiGHS (see the module docstring)."""

    def __init__(
        self, problem: Problem, vd: VehicleData, curves: Curves, options: SolveOptions
    ) -> None:
        """Build the LP of the full curves and pass it to HiGHS (if any slot is active)."""
        n = curves.energy_kwh.shape[0]
        self.curves = curves
        self.vd = vd
        self.n = n
        width = curves.count - 1
        self.active: IntArray = np.flatnonzero(width > 0).astype(np.int64)
        self.row_of = np.full(n, -1, dtype=np.int64)
        self.row_of[self.active] = np.arange(self.active.shape[0])
        self.offset: IntArray = np.concatenate([[0], np.cumsum(width)]).astype(np.int64)
        self.segment_slot: IntArray = np.repeat(np.arange(n, dtype=np.int64), width)
        self.s_col = int(self.offset[-1])
        """Column of the stored energy after the first active slot (segments come first)."""
        # Per slot: the allowed range of points and the hull's vertices over it.
        self.low = np.zeros(n, dtype=np.int64)
        self.high = curves.count - 1
        self.vertex = _all_vertices(curves)
        self.segments = self.vertex.sum(axis=1) - 1
        self.first_point = curves.energy_kwh[:, 0].copy()
        self.first_cost = curves.cost[:, 0].copy()
        self.model, self.offset_cost = self._model(problem)
        self.constant = self.offset_cost
        """The constant cost of the full curves (``offset_cost`` before any restriction)."""
        self.lengths = self.model.upper[: self.s_col].copy()
        self.base_rows = self.model.n_rows
        self.handle = LpHandle(self.model, options, devex=True) if self.active.shape[0] else None

    def _hull_segments(self) -> tuple[FloatArray, FloatArray]:
        """Lengths and slopes of the hull segments of every slot, one column per segment."""
        e, f = self.curves.energy_kwh, self.curves.cost
        order = np.argsort(~self.vertex, axis=1, kind="stable")  # vertices first, in order
        hull_e = np.take_along_axis(np.where(self.vertex, e, np.inf), order, axis=1)
        hull_f = np.take_along_axis(np.where(self.vertex, f, np.inf), order, axis=1)
        with np.errstate(invalid="ignore"):
            lengths = np.diff(hull_e, axis=1)
            slopes = np.diff(hull_f, axis=1) / lengths
        unused = ~np.isfinite(lengths)
        lengths[unused] = 0.0
        slopes[unused] = 0.0
        used = np.arange(lengths.shape[1])[None, :] < (self.curves.count - 1)[:, None]
        return lengths[used], slopes[used]

    def _stored_bounds(self) -> tuple[FloatArray, FloatArray]:
        """Bounds of each stretch's stored energy (the slot's, and its inactive followers').

        The stored energy of an active slot holds through the inactive slots after it.
        """
        lower, upper = self.vd.stored_bounds(self.n)
        if not self.active.shape[0]:
            return lower[:0], upper[:0]
        return np.maximum.reduceat(lower, self.active), np.minimum.reduceat(upper, self.active)

    def _model(self, problem: Problem) -> tuple[Model, float]:
        """The LP (see the module docstring) and its constant cost."""
        vd, n = self.vd, self.n
        active = self.active.shape[0]
        segments = self.s_col
        penalty = penalty_per_kwh(problem) * vd.shortfall_weight / self.curves.scale
        v_term = terminal_value_per_kwh(problem) / self.curves.scale
        # Stretch j: active slot j and the inactive slots after it share its stored energy.
        stretch = np.searchsorted(self.active, np.arange(n), side="right") - 1
        before = stretch < 0  # before the first active slot: the initial energy
        constant = float(self.first_cost.sum())
        hours = vd.reserve_hours
        if vd.soft_reserve:
            below = max(0.0, vd.reserve_kwh - vd.initial_kwh)
            constant += penalty * float(hours[before].sum()) * below
        target_row: int | None = None
        if vd.departure_index:
            target_row = int(stretch[vd.departure_index - 1])
            if target_row < 0:
                constant += penalty * max(0.0, vd.target_kwh - vd.initial_kwh)
                target_row = None
        if active == 0:
            constant -= v_term * vd.initial_kwh

        lengths, slopes = self._hull_segments()
        stored_cost = np.zeros(active)
        if active:
            stored_cost[-1] = -v_term
        lower, upper = self._stored_bounds()
        model = Model(
            cost=np.concatenate([slopes, stored_cost]),
            lower=np.concatenate([np.zeros(segments), lower]),
            upper=np.concatenate([lengths, upper]),
        )
        idx = np.arange(active, dtype=np.int64)
        rhs = self.first_point[self.active].copy()
        if active:
            rhs[0] += vd.initial_kwh
        model.add_rows(
            active,
            [
                (idx, segments + idx, np.ones(active)),
                (idx[1:], segments + idx[:-1], -np.ones(max(active - 1, 0))),
                (self.row_of[self.segment_slot], np.arange(segments), -np.ones(segments)),
            ],
            rhs,
            rhs.copy(),
        )
        self.reserve_col: int | None = None
        """First reserve shortfall column (soft reserve only)."""
        self.target_col: int | None = None
        """Target shortfall column (a target inside or at the end of the active slots)."""
        if vd.soft_reserve:
            per_stretch = np.bincount(stretch[~before], weights=hours[~before], minlength=active)
            shortfall = model.add_columns(
                penalty * per_stretch.astype(np.float64),
                np.zeros(active),
                np.full(active, vd.reserve_kwh),
            )
            self.reserve_col = int(shortfall[0]) if active else None
            model.add_rows(
                active,
                [(idx, segments + idx, np.ones(active)), (idx, shortfall, np.ones(active))],
                np.full(active, vd.reserve_kwh),
                np.full(active, np.inf),
            )
        if target_row is not None:
            short = model.add_columns(
                np.array([penalty]), np.zeros(1), np.array([max(vd.target_kwh, 0.0)])
            )
            self.target_col = int(short[0])
            one = np.zeros(1, dtype=np.int64)
            model.add_rows(
                1,
                [(one, one + segments + target_row, np.ones(1)), (one, short, np.ones(1))],
                np.array([vd.target_kwh]),
                np.array([np.inf]),
            )
        self.care_col: int | None = None
        """First battery care column (kWh above the care threshold per active slot)."""
        if vd.care:
            constant += self._add_care(model, stretch)
        return model, constant

    def _add_care(self, model: Model, stretch: IntArray) -> float:
        """Battery care columns ``z_j >= s_j - care_kwh`` per active slot; returns the constant.

        A stretch's stored energy is costed for each of its slots (until the departure); before
        the first active slot the initial energy is, as a constant.
        """
        vd = self.vd
        active = self.active.shape[0]
        before = stretch < 0
        weight = vd.care_weight / self.curves.scale
        constant = float(weight[before].sum()) * max(0.0, vd.initial_kwh - vd.care_kwh)
        if not active:
            return constant
        per_stretch = np.bincount(stretch[~before], weights=weight[~before], minlength=active)
        room = max(0.0, vd.upper_kwh - vd.care_kwh)
        above = model.add_columns(
            per_stretch.astype(np.float64), np.zeros(active), np.full(active, room)
        )
        self.care_col = int(above[0])
        idx = np.arange(active, dtype=np.int64)
        model.add_rows(
            active,
            [(idx, above, np.ones(active)), (idx, self.s_col + idx, -np.ones(active))],
            np.full(active, -vd.care_kwh),
            np.full(active, np.inf),
        )
        return constant

    def vertices(self, t: int) -> IntArray:
        """Indices of slot ``t``'s hull vertices over its allowed range."""
        return np.flatnonzero(self.vertex[t]).astype(np.int64)

    def restrict(self, t: int, low: int, high: int) -> None:
        """Allow the active slot ``t`` only the points ``low..high`` of its curve."""
        if (int(self.low[t]), int(self.high[t])) == (low, high):
            return
        assert self.handle is not None
        e = self.curves.energy_kwh[t, low : high + 1]
        f = self.curves.cost[t, low : high + 1]
        hull = lower_hull(e, f)
        self.vertex[t] = False
        self.vertex[t, [low + i for i in hull]] = True
        self.segments[t] = len(hull) - 1
        self.low[t], self.high[t] = low, high
        first, stop = int(self.offset[t]), int(self.offset[t + 1])
        lengths = np.zeros(stop - first)
        slopes = np.zeros(stop - first)
        used = len(hull) - 1
        lengths[:used] = np.diff(e[hull])
        slopes[:used] = np.diff(f[hull]) / lengths[:used]
        self.handle.set_columns(
            np.arange(first, stop, dtype=np.int32), np.zeros(stop - first), lengths, slopes
        )
        self.lengths[first:stop] = lengths
        self.offset_cost += float(f[0] - self.first_cost[t])
        self.first_point[t] = e[0]
        self.first_cost[t] = f[0]
        row = int(self.row_of[t])
        bound = float(e[0]) + (self.vd.initial_kwh if row == 0 else 0.0)
        self.handle.set_row_bounds(row, bound, bound)

    def solve(self) -> tuple[float, FloatArray, FloatArray] | None:
        """Bound (LP value plus constants), slot energies and segment fills; None if it fails."""
        if self.handle is None:  # nothing the vehicle can do
            return self.offset_cost, self.first_point.copy(), np.zeros(0)
        status, _ = self.handle.solve()
        if status != OPTIMAL:
            return None
        fills = self.handle.values[: self.s_col].copy()
        return self.handle.objective + self.offset_cost, self.energy(fills), fills

    def energy(self, fills: FloatArray) -> FloatArray:
        """Slot energies from segment fills (the first point plus the slot's segments)."""
        sums = np.bincount(self.segment_slot, weights=fills, minlength=self.n)
        energy: FloatArray = self.first_point + sums
        return energy

    def chord_columns(self, slots: IntArray, start: IntArray) -> IntArray:
        """Columns of the hull segments of ``slots`` that start at their points ``start``."""
        position = np.cumsum(self.vertex[slots], axis=1)[np.arange(slots.shape[0]), start] - 1
        columns: IntArray = self.offset[slots] + position
        return columns

    def out_of_order(self, slots: IntArray, fills: FloatArray) -> IntArray:
        """Those of ``slots`` whose segments are not filled left to right.

        The hull's convexity makes the LP fill a slot's segments in order; extra rows (the
        search's counts) can make it do otherwise, and then the slot's energy and its share of
        a count disagree.
        """
        out = []
        for t in slots.tolist():
            first, stop = int(self.offset[t]), int(self.offset[t + 1])
            short = np.flatnonzero(fills[first:stop] < self.lengths[first:stop] - SNAP_KWH)
            filled = np.flatnonzero(fills[first:stop] > SNAP_KWH)
            if short.size and filled.size and filled[-1] > short[0]:
                out.append(t)
        return np.asarray(out, dtype=np.int64)

    def order_rows(self, slots: IntArray) -> tuple[IntArray, IntArray, FloatArray, int]:
        """Rows filling the segments of ``slots`` in order (the incremental formulation, relaxed).

        Each row reads ``fill_{j+1} / length_{j+1} - fill_j / length_j <= 0``. Returns the
        (row within the block, column, value) triplets and the number of rows.
        """
        pairs = np.maximum(self.segments[slots] - 1, 0)
        a = np.repeat(self.offset[slots], pairs) + ranks(pairs)
        k = a.shape[0]
        rows = np.arange(k, dtype=np.int64)
        return (
            np.concatenate([rows, rows]),
            np.concatenate([a, a + 1]),
            np.concatenate([-1.0 / self.lengths[a], 1.0 / self.lengths[a + 1]]),
            k,
        )

    def set_rows(
        self,
        keep: int,
        lower: FloatArray,
        upper: FloatArray,
        entries: tuple[IntArray, IntArray, FloatArray] | None,
    ) -> None:
        """Keep the first ``keep`` rows after the structural ones, replace the rest by these.

        ``entries``: (row within the new block, column, value).
        """
        assert self.handle is not None
        self.handle.keep_rows(self.base_rows + keep)
        if lower.shape[0] == 0 or entries is None:
            return
        row, col, val = entries
        order = np.argsort(row, kind="stable")
        starts = np.searchsorted(row[order], np.arange(lower.shape[0])).astype(np.int32)
        self.handle.add_rows(lower, upper, starts, col[order].astype(np.int32), val[order])
