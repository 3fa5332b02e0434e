"""Slot grids and resampling: DST days, mixed lengths, partial coverage, gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
import math

import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    SlotGrid,
    grid_from_intervals,
    make_grid,
    make_local_day_grid,
    resample,
    to_datetime64,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_make_grid_aligns_down_and_covers_the_end() -> None:
    grid = make_grid(at(7), at(60))
    assert len(grid) == 4
    assert grid.start == T0
    assert grid.end == at(60)
    assert grid.durations_s.tolist() == [900] * 4
    assert grid.start_datetimes()[1] == at(15)
    assert make_grid(at(0), at(48 * 60)).durations_h.sum() == 48
    assert len(make_grid(at(1), at(48 * 60 + 1))) == 193


def test_make_grid_in_a_local_timezone() -> None:
    cet = timezone(timedelta(hours=1))
    start = datetime(2024, 1, 1, 0, 5, tzinfo=cet)
    grid = make_grid(start, start + timedelta(hours=1), 3600)
    assert grid.start == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert len(grid) == 2


def test_make_grid_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="aware"):
        make_grid(datetime(2024, 1, 1), at(60))
    with pytest.raises(ValueError, match="after"):
        make_grid(at(60), at(0))
    with pytest.raises(ValueError, match="positive"):
        make_grid(at(0), at(60), 0)


@pytest.mark.parametrize(
    ("day", "slot_s", "count"),
    [
        (date(2024, 3, 31), 900, 92),
        (date(2024, 10, 27), 900, 100),
        (date(2024, 3, 31), 3600, 23),
        (date(2024, 10, 27), 3600, 25),
        (date(2024, 6, 3), 1800, 48),
    ],
)
def test_local_day_grids_on_dst_days(day: date, slot_s: int, count: int) -> None:
    grid = make_local_day_grid(day, "Europe/Copenhagen", slot_s)
    assert len(grid) == count
    assert int(grid.durations_s.sum()) == count * slot_s


def test_grid_from_mixed_intervals() -> None:
    intervals = [(at(60), at(75)), (at(0), at(60)), (at(75), at(90))]
    grid = grid_from_intervals(intervals)
    assert grid.durations_s.tolist() == [3600, 900, 900]
    assert grid.index_at(at(70)) == 1
    assert grid.index_at(at(-1)) == -1
    assert grid.index_at(at(90)) == 3
    assert grid.slots_ending_by(at(80)) == 2
    with pytest.raises(ValueError, match="contiguous"):
        grid_from_intervals([(at(0), at(60)), (at(75), at(90))])
    with pytest.raises(ValueError, match="no intervals"):
        grid_from_intervals([])
    with pytest.raises(ValueError, match="positive"):
        grid_from_intervals([(at(0), at(0))])


def test_slot_grid_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        SlotGrid(np.array(["2024-01-01"], dtype="datetime64[s]"), np.array([900, 900]))
    empty = SlotGrid(np.array([], dtype="datetime64[s]"), np.array([], dtype=np.int64))
    assert len(empty) == 0
    with pytest.raises(ValueError, match="empty"):
        _ = empty.start
    with pytest.raises(ValueError, match="empty"):
        _ = empty.end


def test_resample_hourly_onto_quarters() -> None:
    hourly = [(at(60 * i), at(60 * (i + 1)), float(i)) for i in range(2)]
    values, covered = resample(hourly, make_grid(at(0), at(180)))
    np.testing.assert_array_equal(values[:8], [0, 0, 0, 0, 1, 1, 1, 1])
    assert np.isnan(values[8:]).all()
    assert covered.tolist() == [True] * 8 + [False] * 4


def test_resample_quarters_onto_hours_with_partial_coverage() -> None:
    quarters = [(at(15 * i), at(15 * (i + 1)), float(i)) for i in range(6)]
    values, covered = resample(quarters, make_grid(at(0), at(180), 3600))
    np.testing.assert_allclose(values[:2], [1.5, 4.5])  # second hour: mean of the covered half
    assert math.isnan(values[2])
    assert covered.tolist() == [True, False, False]


def test_resample_gaps_nan_values_and_overlaps() -> None:
    grid = make_grid(at(0), at(60), 900)
    intervals = [
        (at(0), at(15), 2.0),
        (at(30), at(45), math.nan),  # a NaN value is a gap
        (at(45), at(60), 4.0),
        (at(45), at(60), 6.0),  # duplicate source: averaged
        (at(7.5), at(15), 4.0),  # overlaps half of the first quarter
    ]
    values, covered = resample(intervals, grid)
    np.testing.assert_allclose(values[[0, 3]], [(2.0 * 15 + 4.0 * 7.5) / 22.5, 5.0])
    assert math.isnan(values[1])
    assert math.isnan(values[2])
    assert covered.tolist() == [True, False, False, True]


def test_resample_mixed_lengths_and_dst() -> None:
    """Hourly prices of a 25-hour day onto its 100 quarters."""
    grid = make_local_day_grid(date(2024, 10, 27), "Europe/Copenhagen")
    start = grid.start
    hourly = [(start + timedelta(hours=i), start + timedelta(hours=i + 1), i) for i in range(25)]
    values, covered = resample(hourly, grid)  # type: ignore[arg-type]
    assert covered.all()
    np.testing.assert_array_equal(values, np.repeat(np.arange(25.0), 4))


def test_resample_edge_cases() -> None:
    grid = make_grid(at(0), at(60))
    values, covered = resample([], grid)
    assert np.isnan(values).all()
    assert not covered.any()
    values, covered = resample([(at(0), at(60), math.nan)], grid)
    assert np.isnan(values).all()
    values, _ = resample([(at(-60), at(600), 3.0)], grid)
    np.testing.assert_array_equal(values, [3.0] * 4)


def test_to_datetime64() -> None:
    assert to_datetime64(at(15)) == np.datetime64("2024-01-01T00:15:00")
    with pytest.raises(ValueError, match="aware"):
        to_datetime64(datetime(2024, 1, 1))
