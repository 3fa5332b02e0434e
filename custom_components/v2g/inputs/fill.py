"""Series onto the optimizer's slot grid, with documented fallbacks for what is missing.

Resampling is `optimizer.slots.resample` (time-weighted mean; hourly onto 15-minute slots repeats,
15-minute onto hourly averages). A slot counts as known only when the source covers it completely;
every other slot gets a fallback and is flagged in the returned `estimated` mask:

prices  1. the same local wall-clock time on the most recent of the previous 7 days that has a
           price (so tomorrow before publication repeats today's shape; DST-aware);
        2. else the time-weighted mean of all known prices;
        3. else the configured fallback price.
solar   inside the forecast's span: 0 W (providers omit night hours); after it (or before it):
        the same wall-clock time of the previous 7 days, else 0 W.
load    the constant load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import numpy as np
import numpy.typing as npt

from ..optimizer.slots import SlotGrid, resample
from .model import Series, same_wall_time_days_before

LOOKBACK_DAYS = 7


@dataclass(frozen=True, slots=True)
class Gridded:
    """Values on the slot grid and which of them are estimated (fallbacks)."""

    values: npt.NDArray[np.float64]
    estimated: npt.NDArray[np.bool_]


def _known(series: Series, grid: SlotGrid) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    values, covered = resample(series.intervals, grid)
    return values, covered & np.isfinite(values)


def _value_days_before(series: Series, start: datetime, local_tz: tzinfo) -> float | None:
    for days in range(1, LOOKBACK_DAYS + 1):
        value = series.value_at(same_wall_time_days_before(start, days, local_tz))
        if value is not None:
            return value
    return None


def grid_prices(series: Series, grid: SlotGrid, local_tz: tzinfo, fallback_price: float) -> Gridded:
    """Prices per slot; unknown slots estimated (see the module docstring)."""
    values, known = _known(series, grid)
    estimated = ~known
    if estimated.any():
        mean = series.mean()
        starts = grid.start_datetimes()
        for index in np.flatnonzero(estimated):
            value = _value_days_before(series, starts[index], local_tz)
            if value is None:
                value = mean if mean is not None else fallback_price
            values[index] = value
    return Gridded(values, estimated)


def grid_solar(series: Series, grid: SlotGrid, local_tz: tzinfo) -> Gridded:
    """Solar power (W) per slot; gaps inside the forecast are night (0 W)."""
    values, known = _known(series, grid)
    if not series.intervals:
        return Gridded(np.zeros(len(grid)), np.zeros(len(grid), dtype=bool))
    first = min(iv.start for iv in series.intervals)
    last = max(iv.end for iv in series.intervals)
    estimated = np.zeros(len(grid), dtype=bool)
    starts = grid.start_datetimes()
    for index in np.flatnonzero(~known):
        start = starts[index]
        if first <= start < last:
            # A night gap or a partly covered slot: the covered part's mean, else nothing.
            values[index] = 0.0 if not np.isfinite(values[index]) else values[index]
            continue
        value = _value_days_before(series, start, local_tz)
        values[index] = value if value is not None else 0.0
        estimated[index] = True
    return Gridded(values, estimated)


def grid_load(series: Series, grid: SlotGrid, constant_w: float) -> Gridded:
    """Load power (W) per slot; unknown slots get the constant load."""
    values, known = _known(series, grid)
    estimated = ~known
    values[estimated] = constant_w
    return Gridded(values, estimated)


def constant(grid: SlotGrid, value: float, *, estimated: bool = False) -> Gridded:
    """Put the same value on every slot."""
    return Gridded(np.full(len(grid), float(value)), np.full(len(grid), estimated, dtype=bool))
