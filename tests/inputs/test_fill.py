"""Series onto the slot grid: resampling both ways, partial horizons, fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.v2g.inputs import fill
from custom_components.v2g.inputs.model import Interval, Series
from custom_components.v2g.optimizer.slots import make_grid

STOCKHOLM = ZoneInfo("Europe/Stockholm")
HOUR = timedelta(hours=1)


def hourly(start: datetime, values: list[float]) -> Series:
    return Series(
        "sensor.price",
        "EUR/kWh",
        [Interval(start + i * HOUR, start + (i + 1) * HOUR, v) for i, v in enumerate(values)],
    )


def test_hourly_prices_onto_quarters() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    series = hourly(t0, [1.0, 2.0])
    grid = make_grid(t0, t0 + 2 * HOUR, 900)
    gridded = fill.grid_prices(series, grid, UTC, 9.0)
    assert gridded.values.tolist() == [1.0] * 4 + [2.0] * 4
    assert not gridded.estimated.any()


def test_quarters_onto_hours_average() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    series = Series(
        "x", "EUR/kWh", [Interval(t0 + i * quarter, t0 + (i + 1) * quarter, i) for i in range(8)]
    )
    gridded = fill.grid_prices(series, make_grid(t0, t0 + 2 * HOUR, 3600), UTC, 9.0)
    assert gridded.values.tolist() == [1.5, 5.5]


def test_missing_tomorrow_repeats_the_same_local_time_of_today() -> None:
    """Prices known for one local day; the next day is estimated from the same wall-clock time."""
    day = datetime(2024, 3, 30, tzinfo=STOCKHOLM).astimezone(UTC)  # the next day has 23 hours
    series = hourly(day, [float(h) for h in range(24)])
    grid = make_grid(day, day + timedelta(hours=24 + 23), 3600)
    gridded = fill.grid_prices(series, grid, STOCKHOLM, 99.0)
    assert not gridded.estimated[:24].any()
    assert gridded.estimated[24:].all()
    starts = grid.start_datetimes()
    for index in range(24, len(grid)):
        local_hour = starts[index].astimezone(STOCKHOLM).hour
        assert gridded.values[index] == float(local_hour)


def test_fallback_to_mean_then_fixed() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    series = hourly(t0 + 10 * 24 * HOUR, [1.0, 3.0])  # far from the grid: no earlier day
    grid = make_grid(t0, t0 + 2 * HOUR, 3600)
    assert fill.grid_prices(series, grid, UTC, 9.0).values.tolist() == [2.0, 2.0]
    empty = Series("x", "EUR/kWh")
    gridded = fill.grid_prices(empty, grid, UTC, 9.0)
    assert gridded.values.tolist() == [9.0, 9.0]
    assert gridded.estimated.all()


def test_partial_slot_counts_as_estimated() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    series = Series("x", "EUR/kWh", [Interval(t0, t0 + timedelta(minutes=30), 1.0)])
    gridded = fill.grid_prices(series, make_grid(t0, t0 + HOUR, 3600), UTC, 9.0)
    assert gridded.estimated.tolist() == [True]
    assert gridded.values.tolist() == [1.0]  # the mean of known prices


def test_solar_night_gaps_are_zero_and_beyond_repeats_yesterday() -> None:
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    series = Series(
        "x",
        "W",
        [
            Interval(t0 + 4 * HOUR, t0 + 5 * HOUR, 100.0),
            Interval(t0 + 12 * HOUR, t0 + 13 * HOUR, 3000.0),
        ],
    )
    grid = make_grid(t0, t0 + 48 * HOUR, 3600)
    gridded = fill.grid_solar(series, grid, UTC)
    assert gridded.values[4] == 100.0
    assert gridded.values[12] == 3000.0
    assert gridded.values[6] == 0.0
    assert not gridded.estimated[6]
    assert gridded.values[24 + 12] == 3000.0
    assert gridded.estimated[24 + 12]
    assert gridded.values[24 + 20] == 0.0
    assert gridded.values[0] == 0.0  # before the span, no earlier day
    none = fill.grid_solar(Series("none", "W"), grid, UTC)
    assert not none.values.any()
    assert not none.estimated.any()


def test_load_fills_constant() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    series = Series("x", "W", [Interval(t0, t0 + HOUR, 800.0)])
    gridded = fill.grid_load(series, make_grid(t0, t0 + 2 * HOUR, 3600), 400.0)
    assert gridded.values.tolist() == [800.0, 400.0]
    assert gridded.estimated.tolist() == [False, True]
    const = fill.constant(make_grid(t0, t0 + HOUR, 900), 5.0, estimated=True)
    assert np.all(const.values == 5.0)
    assert const.estimated.all()


@pytest.mark.parametrize("slot_s", [900, 1800, 3600])
def test_dst_25_hour_day_grid(slot_s: int) -> None:
    day = datetime(2024, 10, 27, tzinfo=STOCKHOLM).astimezone(UTC)
    series = hourly(day, [1.0] * 25)
    grid = make_grid(day, day + 25 * HOUR, slot_s)
    gridded = fill.grid_prices(series, grid, STOCKHOLM, 9.0)
    assert len(grid) == 25 * 3600 // slot_s
    assert not gridded.estimated.any()
