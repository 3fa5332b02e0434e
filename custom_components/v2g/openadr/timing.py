"""OpenADR 3 time: ISO 8601 date-times and durations, and the `intervalPeriod` rules.

The rules (OpenADR 3.0.1 specification, `intervalPeriod`; User Guide 7.3 and 7.4):

- `event.intervalPeriod` gives the default start and duration of the event's intervals; an
  interval's own `intervalPeriod` overrides either;
- an interval without its own start (or with the start "0001-01-01", "the beginning of time")
  starts where the previous interval ended, the first one at the event's start;
- a start of "0001-01-01" at the event level is a "do it now" event: taken literally, its intervals
  are active when their duration reaches into the present (for example "P9999Y", infinity);
- a duration of "PT0S" (the default) means instantaneous or infinity depending on the payload; for
  the prices and limits this VEN follows it means "until further notice" (infinity);
- `randomizeStart` is not applied (the site plans on the announced times).

Durations use the specification's pattern (`PnYnMnDTnHnMnS`, `PnW`, a leading "-"). Years and
months are calendar steps from the start (the day is clamped to the month's end); days, weeks,
hours, minutes and seconds are fixed lengths. Ends past year 9999 are `FOREVER`.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import re
from typing import Any

FOREVER = datetime.max.replace(tzinfo=UTC)
"""The end of an interval that never ends (a "P9999Y" duration, "PT0S" for a price)."""
BEGINNING = datetime.min.replace(tzinfo=UTC)
"""OpenADR's "0001-01-01": the beginning of time."""

# The specification's `duration` pattern, with a week designator allowed alone ("P1W").
_DURATION = re.compile(
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


class TimingError(ValueError):
    """A date-time, duration or interval period that cannot be read."""


@dataclass(frozen=True, slots=True)
class IsoDuration:
    """An ISO 8601 duration: calendar years and months, and a fixed length."""

    years: int = 0
    months: int = 0
    fixed: timedelta = timedelta(0)
    negative: bool = False

    @property
    def is_zero(self) -> bool:
        """PT0S: instantaneous, or infinity depending on the payload type."""
        return self.years == 0 and self.months == 0 and self.fixed == timedelta(0)

    def after(self, start: datetime) -> datetime:
        """The time this duration after `start` (`FOREVER` beyond year 9999)."""
        if self.negative:
            raise TimingError("a negative duration cannot end an interval")
        if start == FOREVER:
            return FOREVER
        total_months = start.month - 1 + self.months + 12 * self.years
        year = start.year + total_months // 12
        month = total_months % 12 + 1
        if year > datetime.max.year:
            return FOREVER
        day = min(start.day, calendar.monthrange(year, month)[1])
        try:
            return start.replace(year=year, month=month, day=day) + self.fixed
        except OverflowError:
            return FOREVER


ZERO = IsoDuration()


def parse_duration(text: Any) -> IsoDuration:
    """Read an ISO 8601 duration such as "PT1H", "P1D", "P9999Y" or "PT0.5S"."""
    if not isinstance(text, str) or (match := _DURATION.match(text.strip())) is None:
        raise TimingError(f"not an ISO 8601 duration: {text!r}")
    sign, years, months, count, designator, hours, minutes, seconds = match.groups()
    days = int(count or 0) * (7 if designator == "W" else 1)
    try:
        fixed = timedelta(
            days=days,
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError as err:
        raise TimingError(f"duration too long: {text!r}") from err
    return IsoDuration(int(years or 0), int(months or 0), fixed, negative=sign == "-")


def parse_datetime(text: Any) -> datetime:
    """Read an ISO 8601 date-time as aware UTC (no offset: UTC; "0001-01-01": `BEGINNING`)."""
    if not isinstance(text, str):
        raise TimingError(f"not a date-time: {text!r}")
    value = text.strip()
    if value.startswith("0001-01-01"):
        return BEGINNING
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as err:
        raise TimingError(f"not an ISO 8601 date-time: {text!r}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(when: datetime) -> str:
    """ISO 8601 in UTC with a "Z", as the specification's examples write it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_duration(length: timedelta) -> str:
    """An ISO 8601 duration of whole seconds, "PT900S" style (always valid for the pattern)."""
    return f"PT{max(0, round(length.total_seconds()))}S"


@dataclass(frozen=True, slots=True)
class Period:
    """The start and duration an `intervalPeriod` sets (None: not set there)."""

    start: datetime | None = None
    duration: IsoDuration | None = None

    @classmethod
    def parse(cls, raw: Any) -> Period:
        """Read an `intervalPeriod` object; None or a missing object sets nothing."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise TimingError(f"intervalPeriod is not an object: {raw!r}")
        start = raw.get("start")
        duration = raw.get("duration")
        return cls(
            start=None if start is None else parse_datetime(start),
            duration=None if duration is None else parse_duration(duration),
        )


def interval_spans(
    event_period: Period, interval_periods: Sequence[Period]
) -> list[tuple[datetime, datetime]]:
    """Each interval's (start, end), following the specification's rules (module docstring)."""
    spans: list[tuple[datetime, datetime]] = []
    previous_end: datetime | None = None
    for own in interval_periods:
        if own.start is not None and own.start != BEGINNING:
            start = own.start
        elif previous_end is not None:
            start = previous_end
        elif event_period.start is not None:
            start = event_period.start
        elif own.start == BEGINNING:
            start = BEGINNING  # "do it now" without an event period
        else:
            raise TimingError("an interval has no start and the event sets none")
        duration = own.duration or event_period.duration or ZERO
        end = FOREVER if duration.is_zero else duration.after(start)
        spans.append((start, end))
        previous_end = end
    return spans
