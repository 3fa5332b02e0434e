"""Monthly capacity tariffs: the billed peak of a month, costed exactly and as LP / MILP rows.

One rule covers the tariffs in use (`CapacityTariff`):

- import is averaged over clock windows of ``window_minutes`` (15 in Flanders, 60 in Norway and
  Sweden); each window's average (kW) is weighted by the window's local time: 0 outside the
  counted months, weekdays or hours, ``night_weight`` in the night hours, else 1;
- with ``distinct_days`` a day counts with its highest weighted window (Norway: "three highest
  hours on three different days"), else every window counts on its own;
- the month's billed peak is the mean of its ``top_n`` highest counted values (fewer values
  than ``top_n``: the missing ones count as 0);
- the month's charge is ``price_per_kw * max(billed, minimum_kw)`` (Flanders: 15-minute
  windows, top 1, 2.5 kW minimum; Sweden: 60-minute windows, top 1 to 3, maybe only winter
  weekday daytime, night at half weight), or, with ``steps``, the monthly price of the first
  step whose upper bound the billed peak does not exceed (Norway).

A plan sees only 48 hours of a month, so the tariff carries the month's past (``history``: the
window averages measured so far, the energy already imported in the current window): the plan
pays only for what it adds to the month's charge. `horizon_charge` is that increment (summed
over the months the horizon touches; a month starting inside the horizon starts empty), priced
exactly by `costing.evaluate`; `add_rows` puts the same charge in the LP:

- a day (or window) value ``D >= weight / L * (energy of the window)`` per counted window;
- the sum of the ``k`` largest values as ``k t + sum z``, ``t >= 0``, ``z >= value - t``,
  ``z >= 0`` (exact when minimised: the top-k sum is convex), with the past values as
  constants;
- a linear price: ``B >= (k t + sum z) / k``, ``B >= minimum``, cost ``price B``: exact, an LP;
- steps: one binary per step, ``sum y = 1``, ``billed <= sum y upper``, cost ``sum y price``:
  exact, a small MILP (a step table of 6 rows adds 6 binaries per month in the horizon).

Windows are aligned on UTC (the same as local time for whole-hour time zones); a slot belongs
to the window its start falls in (slots of a `make_grid` grid never straddle windows).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
import itertools
import math
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:
    from .formulation import Model
    from .model import FloatArray
    from .slots import SlotGrid

__all__ = ["CapacityTariff", "Layout", "billed_peaks_kw", "horizon_charge", "layout"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MonthKey = tuple[int, int]
GroupKey = tuple[int, int, int, int]  # (year, month, day or 0, window epoch or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityTariff:
    """A monthly capacity (demand) charge on grid import; see the module docstring."""

    window_minutes: int = 15
    """Length of the averaging window (15 or 60)."""
    top_n: int = 1
    """Billed peak: mean of this many highest values of the month."""
    distinct_days: bool = False
    """The values are the days' highest windows (one per day), not every window."""
    price_per_kw: float = 0.0
    """Monthly price per kW of billed peak (ignored when ``steps`` are set)."""
    minimum_kw: float = 0.0
    """Lowest billed peak (linear price only)."""
    steps: tuple[tuple[float, float], ...] = ()
    """(upper bound kW, monthly price) in increasing order; the last step has no upper bound."""
    months: tuple[int, ...] = ()
    """Months (1-12) in which peaks count; empty: all."""
    weekdays_only: bool = False
    """Only Monday to Friday count."""
    hours: tuple[int, int] | None = None
    """Local hours [start, end) that count; None: all day."""
    night_hours: tuple[int, int] | None = None
    """Local hours [start, end) (may wrap midnight) weighted by ``night_weight``."""
    night_weight: float = 1.0
    timezone: str = "UTC"
    """Local time zone of the tariff's months, days and hours."""
    history: tuple[tuple[datetime, float], ...] = ()
    """This month's measured window averages so far: (window start, average import kW)."""
    current_window_kwh: float = 0.0
    """Energy imported in the current window before the horizon's first slot."""

    def __post_init__(self) -> None:
        """Check the rule."""
        if self.window_minutes <= 0 or 60 % self.window_minutes:
            msg = "window_minutes must divide an hour"
            raise ValueError(msg)
        if self.top_n < 1:
            msg = "top_n must be at least 1"
            raise ValueError(msg)
        uppers = [upper for upper, _ in self.steps]
        if any(b <= a for a, b in itertools.pairwise(uppers)):
            msg = "steps must have increasing upper bounds"
            raise ValueError(msg)
        for value in (self.price_per_kw, self.minimum_kw, self.night_weight):
            if value < 0 or not math.isfinite(value):
                msg = "prices, minimum and night weight must be finite and >= 0"
                raise ValueError(msg)

    @property
    def window_h(self) -> float:
        """Window length, hours."""
        return self.window_minutes / 60.0

    def charge(self, billed_kw: float) -> float:
        """The month's charge for a billed peak."""
        if self.steps:
            for upper, price in self.steps[:-1]:
                if billed_kw <= upper + 1e-9:
                    return price
            return self.steps[-1][1]
        return self.price_per_kw * max(billed_kw, self.minimum_kw)

    def max_price_per_kwh(self) -> float:
        """An upper bound on what one kWh more can add to the charge (for the penalty rule)."""
        weight = max(1.0, self.night_weight)
        if self.steps:
            prices = [price for _, price in self.steps]
            return max(prices) - min(prices)
        return self.price_per_kw * weight / self.window_h

    def compact(self) -> CapacityTariff:
        """The same tariff with only the history that can matter (same charges, faster).

        Per value (a day, or a window) its highest weighted entry; per month the ``top_n``
        highest values.
        """
        window_s = self.window_minutes * 60
        best: dict[GroupKey, tuple[float, datetime, float]] = {}
        for moment, kw in self.history:
            aligned = _EPOCH + timedelta(seconds=(int(moment.timestamp()) // window_s) * window_s)
            value = self.weight(aligned) * max(0.0, float(kw))
            if value <= 0:
                continue
            key = self.group(aligned)
            if key not in best or value > best[key][0]:
                best[key] = (value, moment, kw)
        by_month: dict[MonthKey, list[tuple[float, datetime, float]]] = defaultdict(list)
        for key, entry in best.items():
            by_month[(key[0], key[1])].append(entry)
        kept = [
            (moment, kw)
            for entries in by_month.values()
            for _, moment, kw in sorted(entries, key=lambda e: e[0], reverse=True)[: self.top_n]
        ]
        return replace(self, history=tuple(sorted(kept)))

    def weight(self, window_start: datetime) -> float:
        """The weight of the window starting at this instant (aware datetime)."""
        local = window_start.astimezone(ZoneInfo(self.timezone))
        if self.months and local.month not in self.months:
            return 0.0
        if self.weekdays_only and local.weekday() >= 5:
            return 0.0
        if self.hours is not None and not _in_hours(local.hour, self.hours):
            return 0.0
        if self.night_hours is not None and _in_hours(local.hour, self.night_hours):
            return self.night_weight
        return 1.0

    def group(self, window_start: datetime) -> GroupKey:
        """The value a window counts in: its day (``distinct_days``) or the window itself."""
        local = window_start.astimezone(ZoneInfo(self.timezone))
        if self.distinct_days:
            return (local.year, local.month, local.day, 0)
        return (local.year, local.month, 0, int(window_start.timestamp()))


def _in_hours(hour: int, span: tuple[int, int]) -> bool:
    start, end = span
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


@dataclass(slots=True)
class Layout:
    """Where each slot's import counts, for one horizon."""

    window_of_slot: np.ndarray
    """Per slot: index of its window."""
    window_weight: FloatArray
    window_energy0: FloatArray
    """Energy (kWh) imported in each window before the horizon."""
    window_group: list[GroupKey]
    months: list[MonthKey] = field(default_factory=list)
    """Months the horizon touches, in order."""
    past: dict[GroupKey, float] = field(default_factory=dict)
    """Each group's highest weighted value measured so far."""


def _window_epochs(grid: SlotGrid, window_s: int) -> np.ndarray:
    starts = grid.starts.astype("datetime64[s]").astype(np.int64)
    return (starts // window_s) * window_s


def layout(tariff: CapacityTariff, grid: SlotGrid) -> Layout:
    """Map the grid's slots to the tariff's windows, days and months."""
    window_s = tariff.window_minutes * 60
    epochs = _window_epochs(grid, window_s)
    unique, inverse = np.unique(epochs, return_inverse=True)
    starts = [_EPOCH + timedelta(seconds=int(e)) for e in unique]
    weights = np.array([tariff.weight(s) for s in starts], dtype=np.float64)
    groups = [tariff.group(s) for s in starts]
    energy0 = np.zeros(unique.shape[0])
    first_start = int(grid.starts[0].astype("datetime64[s]").astype(np.int64))
    if first_start > int(unique[0]):
        energy0[0] = tariff.current_window_kwh
    months: list[MonthKey] = []
    for g in groups:
        if (g[0], g[1]) not in months:
            months.append((g[0], g[1]))
    past: dict[GroupKey, float] = {}
    for moment, kw in tariff.history:
        aligned = _EPOCH + timedelta(
            seconds=(int(moment.timestamp()) // window_s) * window_s,
        )
        value = tariff.weight(aligned) * max(0.0, float(kw))
        key = tariff.group(aligned)
        past[key] = max(past.get(key, 0.0), value)
    return Layout(
        window_of_slot=inverse.astype(np.int64),
        window_weight=weights,
        window_energy0=energy0,
        window_group=groups,
        months=months,
        past=past,
    )


def _month_values(
    tariff: CapacityTariff, lay: Layout, values: FloatArray | None
) -> dict[MonthKey, list[float]]:
    """Each month's counted values: past groups, merged with the horizon's windows if given."""
    merged = dict(lay.past)
    if values is not None:
        for k, key in enumerate(lay.window_group):
            if lay.window_weight[k] > 0:
                merged[key] = max(merged.get(key, 0.0), float(values[k]))
    by_month: dict[MonthKey, list[float]] = defaultdict(list)
    for key, value in merged.items():
        by_month[(key[0], key[1])].append(value)
    return by_month


def _top_mean(values: list[float], k: int) -> float:
    return sum(sorted(values, reverse=True)[:k]) / k


def window_values(
    tariff: CapacityTariff, lay: Layout, grid: SlotGrid, import_kw: FloatArray
) -> FloatArray:
    """Each window's weighted average import (kW) for a plan's per-slot import."""
    energy = np.bincount(
        lay.window_of_slot,
        weights=grid.durations_h * import_kw,
        minlength=lay.window_weight.shape[0],
    )
    return lay.window_weight * (energy + lay.window_energy0) / tariff.window_h


def billed_peaks_kw(
    tariff: CapacityTariff, grid: SlotGrid, import_w: FloatArray | None = None
) -> dict[MonthKey, float]:
    """The billed peak (kW, before the minimum) of each month the horizon touches.

    With ``import_w`` None: from the history alone (what is billed if nothing more is imported).
    """
    lay = layout(tariff, grid)
    values = None if import_w is None else window_values(tariff, lay, grid, import_w / 1000.0)
    by_month = _month_values(tariff, lay, values)
    return {m: _top_mean(by_month.get(m, []), tariff.top_n) for m in lay.months}


def horizon_charge(tariff: CapacityTariff, grid: SlotGrid, import_kw: FloatArray) -> float:
    """What a plan's import adds to the months' capacity charges (exact)."""
    lay = layout(tariff, grid)
    with_plan = _month_values(tariff, lay, window_values(tariff, lay, grid, import_kw))
    without = _month_values(tariff, lay, None)
    total = 0.0
    for month in lay.months:
        before = tariff.charge(_top_mean(without.get(month, []), tariff.top_n))
        after = tariff.charge(_top_mean(with_plan.get(month, []), tariff.top_n))
        total += after - before
    return total


def add_rows(
    model: Model, tariff: CapacityTariff, grid: SlotGrid, scale: float, peak_kw: float
) -> None:
    """Add the tariff's charge to ``model`` (import ``g`` in columns ``0..n-1``, kW).

    ``peak_kw`` bounds any slot's import (the big-M of the step rows). Costs are divided by
    ``scale`` like the rest of the objective.
    """
    lay = layout(tariff, grid)
    group_cols = _value_columns(model, tariff, lay, grid)
    top_value = (peak_kw + tariff.current_window_kwh / tariff.window_h) * max(
        1.0, tariff.night_weight
    ) + max(lay.past.values(), default=0.0)
    for month in lay.months:
        horizon = [col for key, col in group_cols.items() if (key[0], key[1]) == month]
        if not horizon:
            continue
        known = sorted(
            (
                v
                for key, v in lay.past.items()
                if (key[0], key[1]) == month and key not in group_cols
            ),
            reverse=True,
        )[: tariff.top_n]
        cols, vals = _top_sum(model, tariff.top_n, horizon, known)
        if tariff.steps:
            _price_steps(model, tariff, (cols, vals), scale, top_value)
        else:
            b_col = model.add_columns(
                np.array([tariff.price_per_kw / scale]),
                np.array([tariff.minimum_kw]),
                np.array([np.inf]),
            )
            # B - billed >= 0
            model.add_rows(
                1,
                [
                    (np.zeros(cols.shape[0], dtype=np.int64), cols, -vals),
                    (np.zeros(1, dtype=np.int64), b_col, np.ones(1)),
                ],
                np.zeros(1),
                np.array([np.inf]),
            )


def _value_columns(
    model: Model, tariff: CapacityTariff, lay: Layout, grid: SlotGrid
) -> dict[GroupKey, int]:
    """One value column per horizon group with a counted window, above each window's value."""
    h = grid.durations_h
    group_cols: dict[GroupKey, int] = {}
    for k in range(lay.window_weight.shape[0]):
        weight = float(lay.window_weight[k])
        if weight <= 0:
            continue
        key = lay.window_group[k]
        if key not in group_cols:
            lower = np.array([lay.past.get(key, 0.0)])
            group_cols[key] = int(model.add_columns(np.zeros(1), lower, np.array([np.inf]))[0])
        slots = np.flatnonzero(lay.window_of_slot == k).astype(np.int64)
        # D - weight / L * sum h g >= weight / L * energy0
        factor = weight / tariff.window_h
        m = slots.shape[0]
        model.add_rows(
            1,
            [
                (np.zeros(1, dtype=np.int64), np.array([group_cols[key]]), np.ones(1)),
                (np.zeros(m, dtype=np.int64), slots, -factor * h[slots]),
            ],
            np.array([factor * float(lay.window_energy0[k])]),
            np.array([np.inf]),
        )
    return group_cols


def _top_sum(
    model: Model, k_top: int, horizon: list[int], known: list[float]
) -> tuple[np.ndarray, FloatArray]:
    """Columns and coefficients of the mean of the ``k_top`` largest values (when minimised).

    ``k t + sum z`` with ``t >= 0``, ``z >= value - t``, ``z >= 0``, over the horizon's value
    columns and the known constants, divided by ``k``.
    """
    count = len(horizon) + len(known)
    # t >= 0: with fewer values than k the missing ones count as 0 (values are never negative).
    t_col = model.add_columns(np.zeros(1), np.zeros(1), np.array([np.inf]))
    z_cols = model.add_columns(np.zeros(count), np.zeros(count), np.full(count, np.inf))
    r = np.arange(count, dtype=np.int64)
    n_h = len(horizon)
    entries = [
        (r, z_cols, np.ones(count)),
        (r, np.repeat(t_col, count), np.ones(count)),
        (r[:n_h], np.array(horizon, dtype=np.int64), -np.ones(n_h)),
    ]
    rhs = np.concatenate([np.zeros(n_h), np.array(known, dtype=np.float64)])
    model.add_rows(count, entries, rhs, np.full(count, np.inf))
    cols = np.concatenate([t_col, z_cols])
    vals = np.concatenate([np.ones(1), np.full(count, 1.0 / k_top)])
    return cols, vals


def _price_steps(
    model: Model,
    tariff: CapacityTariff,
    billed: tuple[np.ndarray, FloatArray],
    scale: float,
    top_value: float,
) -> None:
    """One binary per step: ``sum y = 1``, ``billed <= sum y upper``, cost ``sum y price``."""
    cols, vals = billed
    s = len(tariff.steps)
    if model.integrality is None:
        model.integrality = np.zeros(model.cost.shape[0], dtype=np.uint8)
    prices = np.array([p for _, p in tariff.steps], dtype=np.float64)
    y = model.add_columns(prices / scale, np.zeros(s), np.ones(s))
    assert model.integrality is not None
    model.integrality[y] = 1
    uppers = np.array([u for u, _ in tariff.steps], dtype=np.float64)
    uppers[-1] = max(uppers[-1], top_value + 1.0)
    one = np.zeros(s, dtype=np.int64)
    model.add_rows(1, [(one, y, np.ones(s))], np.ones(1), np.ones(1))
    model.add_rows(
        1,
        [(np.zeros(cols.shape[0], dtype=np.int64), cols, vals), (one, y, -uppers)],
        np.array([-np.inf]),
        np.zeros(1),
    )
