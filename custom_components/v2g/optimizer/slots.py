"""DST-safe slot grids and resampling of time series onto them.

A slot grid is a contiguous sequence of time slots ``[start, end)``. Inside the optimizer all
times are UTC: slot starts are held as ``numpy.datetime64[s]`` values (naive, meaning UTC) and
slot lengths as integer seconds, so a grid may mix 15-minute and hourly slots and a local day may
have 23 or 25 hours without any special case.

Public API:

- `SlotGrid`: the grid (``starts``, ``durations_s``, ``ends``, ``len()``, helpers).
- `make_grid`: a regular grid between two instants, starts aligned down to the slot length.
- `make_local_day_grid`: the slots of one local calendar day (23/25 hours on DST days).
- `grid_from_intervals`: a grid from contiguous intervals of arbitrary (mixed) lengths.
- `resample`: time-weighted mean of ``(start, end, value)`` intervals on each slot of a grid,
  with a mask of the slots the intervals cover completely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = [
    "SlotGrid",
    "grid_from_intervals",
    "make_grid",
    "make_local_day_grid",
    "resample",
    "to_datetime64",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime64(moment: datetime) -> np.datetime64:
    """Convert a timezone-aware datetime to a UTC ``numpy.datetime64[s]`` (sub-second dropped).

    Raises:
        ValueError: the datetime is naive (has no timezone).

    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"datetime must be timezone-aware, got naive {moment!r}"
        raise ValueError(msg)
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return np.datetime64(seconds, "s")


def _epoch_s(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"datetime must be timezone-aware, got naive {moment!r}"
        raise ValueError(msg)
    return (moment - _EPOCH) // timedelta(seconds=1)


def _to_datetime(value: np.datetime64) -> datetime:
    return _EPOCH + timedelta(seconds=int(value.astype("datetime64[s]").astype(np.int64)))


@dataclass(frozen=True, eq=False)
class SlotGrid:
    """A contiguous sequence of time slots, UTC.

    Attributes:
        starts: slot start instants, ``numpy.datetime64[s]`` (UTC), strictly increasing.
        durations_s: slot lengths in seconds (int64, all > 0); ``starts[i] + durations_s[i]``
            equals ``starts[i + 1]``.

    """

    starts: npt.NDArray[np.datetime64]
    durations_s: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        """Normalise dtypes and check that the slots are contiguous."""
        starts = np.asarray(self.starts, dtype="datetime64[s]")
        durations = np.asarray(self.durations_s, dtype=np.int64)
        if starts.ndim != 1 or starts.shape != durations.shape:
            msg = "starts and durations_s must be 1-D arrays of the same length"
            raise ValueError(msg)
        if durations.size and int(durations.min()) <= 0:
            msg = "slot durations must be positive"
            raise ValueError(msg)
        if starts.size > 1:
            gaps = starts[1:].astype(np.int64) - (starts[:-1].astype(np.int64) + durations[:-1])
            if np.any(gaps != 0):
                msg = "slots must be contiguous (each slot starts where the previous one ends)"
                raise ValueError(msg)
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "durations_s", durations)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def ends(self) -> npt.NDArray[np.datetime64]:
        """Slot end instants, ``numpy.datetime64[s]`` (UTC)."""
        ends: npt.NDArray[np.datetime64] = self.starts + self.durations_s.astype("timedelta64[s]")
        return ends

    @property
    def start_s(self) -> npt.NDArray[np.int64]:
        """Slot starts as integer seconds since the Unix epoch."""
        return self.starts.astype(np.int64)

    @property
    def end_s(self) -> npt.NDArray[np.int64]:
        """Slot ends as integer seconds since the Unix epoch."""
        return self.start_s + self.durations_s

    @property
    def durations_h(self) -> npt.NDArray[np.float64]:
        """Slot lengths in hours (float), the factor from power in kW to energy in kWh."""
        return self.durations_s.astype(np.float64) / 3600.0

    @property
    def start(self) -> datetime:
        """Start of the first slot (aware, UTC)."""
        if not len(self):
            msg = "empty grid"
            raise ValueError(msg)
        return _to_datetime(self.starts[0])

    @property
    def end(self) -> datetime:
        """End of the last slot (aware, UTC)."""
        if not len(self):
            msg = "empty grid"
            raise ValueError(msg)
        return _to_datetime(self.ends[-1])

    def start_datetimes(self) -> list[datetime]:
        """Slot starts as timezone-aware UTC datetimes."""
        return [_EPOCH + timedelta(seconds=int(s)) for s in self.start_s]

    def index_at(self, moment: datetime) -> int:
        """Index of the slot containing ``moment`` (``-1`` before the grid, ``len`` after it)."""
        t = _epoch_s(moment)
        if not len(self) or t < int(self.start_s[0]):
            return -1
        if t >= int(self.end_s[-1]):
            return len(self)
        return int(np.searchsorted(self.start_s, t, side="right")) - 1

    def slots_ending_by(self, moment: datetime) -> int:
        """Count the leading slots that end at or before ``moment``."""
        return int(np.searchsorted(self.end_s, _epoch_s(moment), side="right"))


def make_grid(start: datetime, end: datetime, slot_s: int = 900) -> SlotGrid:
    """Regular grid of ``slot_s``-second slots covering ``[start, end)``, UTC.

    The first slot starts at ``start`` aligned down to a multiple of ``slot_s`` since the Unix
    epoch (for 15-, 30- and 60-minute slots that is the quarter, half or full hour, in UTC and in
    every whole-hour or half-hour local timezone). The last slot is the one containing the instant
    just before ``end``; so ``make_grid(now, now + 48 h)`` has 192 or 193 fifteen-minute slots
    depending on whether ``now`` is aligned.

    Args:
        start: aware datetime (any timezone).
        end: aware datetime, after ``start``.
        slot_s: slot length in seconds, positive.

    Raises:
        ValueError: naive datetimes, ``end <= start`` or ``slot_s <= 0``.

    """
    if slot_s <= 0:
        msg = "slot_s must be positive"
        raise ValueError(msg)
    t0 = _epoch_s(start)
    t1 = _epoch_s(end)
    if t1 <= t0:
        msg = "end must be after start"
        raise ValueError(msg)
    first = t0 - t0 % slot_s
    count = -(-(t1 - first) // slot_s)
    starts = (first + slot_s * np.arange(count, dtype=np.int64)).astype("datetime64[s]")
    return SlotGrid(starts, np.full(count, slot_s, dtype=np.int64))


def make_local_day_grid(day: date, timezone: str, slot_s: int = 900) -> SlotGrid:
    """Build the grid of one local calendar day, e.g. 92/96/100 quarters on DST days.

    ``slot_s`` must divide 3600 so the slots align to local hours in whole-hour zones.

    Args:
        day: the local calendar date.
        timezone: IANA timezone name, e.g. ``"Europe/Copenhagen"``.
        slot_s: slot length in seconds.

    """
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return make_grid(start, end, slot_s)


def grid_from_intervals(intervals: Sequence[tuple[datetime, datetime]]) -> SlotGrid:
    """Grid from contiguous ``(start, end)`` intervals of any lengths (e.g. hourly then 15 min).

    Intervals are sorted by start; each must start where the previous one ends.

    Raises:
        ValueError: empty input, naive datetimes, gaps, overlaps or non-positive lengths.

    """
    if not intervals:
        msg = "no intervals"
        raise ValueError(msg)
    pairs = sorted((_epoch_s(a), _epoch_s(b)) for a, b in intervals)
    bounds = np.asarray(pairs, dtype=np.int64)
    return SlotGrid(bounds[:, 0].astype("datetime64[s]"), bounds[:, 1] - bounds[:, 0])


def resample(
    intervals: Sequence[tuple[datetime, datetime, float]],
    grid: SlotGrid,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Time-weighted mean of interval values on every slot of ``grid``.

    Works in both directions (hourly onto 15-minute slots repeats the value; 15-minute onto hourly
    averages four values) and with any mix of lengths. A slot partly covered gets the mean over
    its covered part; a slot not covered at all gets NaN. Where input intervals overlap, each
    contributes in proportion to its overlap (so duplicates average). Intervals with a NaN value
    are ignored (they count as a gap).

    Args:
        intervals: ``(start, end, value)`` with aware datetimes; any order.
        grid: target slot grid.

    Returns:
        ``(values, covered)``: float array of per-slot means (NaN where nothing overlaps) and a
        bool array, True where the union of the input intervals covers the whole slot.

    """
    n = len(grid)
    values = np.full(n, np.nan)
    covered = np.zeros(n, dtype=bool)
    if not intervals or n == 0:
        return values, covered
    origin = int(grid.start_s[0])
    raw = np.array(
        [(_epoch_s(a) - origin, _epoch_s(b) - origin, float(v)) for a, b, v in intervals],
        dtype=np.float64,
    ).reshape(-1, 3)
    keep = np.isfinite(raw[:, 2]) & (raw[:, 1] > raw[:, 0])
    raw = raw[keep]
    if raw.shape[0] == 0:
        return values, covered
    starts, ends, vals = raw[:, 0], raw[:, 1], raw[:, 2]
    # Piecewise-linear cumulative integrals over time: of the value, of the interval count
    # (overlap weight) and of the union indicator. Breakpoints are interval starts and ends.
    points = np.concatenate([starts, ends])
    d_value = np.concatenate([vals, -vals])
    d_count = np.concatenate([np.ones_like(starts), -np.ones_like(ends)])
    order = np.argsort(points, kind="stable")
    points, d_value, d_count = points[order], d_value[order], d_count[order]
    rate_value = np.cumsum(d_value)[:-1]
    rate_count = np.cumsum(d_count)[:-1]
    widths = np.diff(points)
    cum_value = np.concatenate([[0.0], np.cumsum(rate_value * widths)])
    cum_count = np.concatenate([[0.0], np.cumsum(rate_count * widths)])
    cum_union = np.concatenate([[0.0], np.cumsum((rate_count > 0.5) * widths)])
    edges = np.concatenate([[0.0], (grid.end_s - origin).astype(np.float64)])
    at_value = np.interp(edges, points, cum_value)
    at_count = np.interp(edges, points, cum_count)
    at_union = np.interp(edges, points, cum_union)
    weight = np.diff(at_count)
    union = np.diff(at_union)
    has = weight > 1e-9
    values[has] = np.diff(at_value)[has] / weight[has]
    covered = union >= grid.durations_s.astype(np.float64) - 1e-6
    return values, covered
