"""Types and helpers shared by the input adapters; nothing here imports Home Assistant.

Everything inside is timezone-aware UTC. Local time exists only while parsing a payload (naive
strings are read in the zone the source writes them in) and when a fallback repeats "the same
wall-clock time of an earlier day".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
import itertools
import math
import re
from typing import Any, NamedTuple

HOUR = timedelta(hours=1)


class Interval(NamedTuple):
    """One value that holds from `start` (inclusive) to `end` (exclusive), both aware UTC.

    A NamedTuple, so it unpacks as the `(start, end, value)` triple the slot resampler takes.
    """

    start: datetime
    end: datetime
    value: float


class ProblemKey(StrEnum):
    """Why an input is not what it should be; the lead raises one repair issue per key and entity.

    The English texts are in `PROBLEM_TEXTS`; `{entity_id}` is the placeholder.
    """

    PRICE_SOURCE_UNAVAILABLE = "price_source_unavailable"
    PRICE_FORMAT_UNKNOWN = "price_format_unknown"
    PRICE_UNIT_UNKNOWN = "price_unit_unknown"
    PRICE_DATA_STALE = "price_data_stale"
    PRICE_VALUES_INVALID = "price_values_invalid"
    SOLAR_SOURCE_UNAVAILABLE = "solar_source_unavailable"
    SOLAR_DATA_STALE = "solar_data_stale"
    LOAD_HISTORY_MISSING = "load_history_missing"
    LOAD_UNIT_UNKNOWN = "load_unit_unknown"
    GRID_POWER_UNAVAILABLE = "grid_power_unavailable"


PROBLEM_TEXTS: Mapping[ProblemKey, str] = {
    ProblemKey.PRICE_SOURCE_UNAVAILABLE: (
        "The price source {entity_id} is unavailable or holds no prices. V2G Smart Charging plans "
        "with estimated prices (the same time of the last known day, else the average of known "
        "prices, else the fallback price) until it recovers."
    ),
    ProblemKey.PRICE_FORMAT_UNKNOWN: (
        "{entity_id} has no price list V2G Smart Charging recognises, so only its current state is "
        "used as a flat price. Pick the entity of a supported price integration (see the "
        "documentation) or a sensor with a list attribute of start times and prices."
    ),
    ProblemKey.PRICE_UNIT_UNKNOWN: (
        "The unit of {entity_id} could not be read as a price per kWh or MWh, so its values are "
        "taken as a price per kWh. Set the price unit in the options if that is wrong."
    ),
    ProblemKey.PRICE_DATA_STALE: (
        "The prices of {entity_id} end before the current time. The plan uses estimated prices "
        "until the source publishes new ones."
    ),
    ProblemKey.PRICE_VALUES_INVALID: (
        "Some entries of {entity_id} have no valid time or price and were ignored; the gaps are "
        "filled with estimated prices."
    ),
    ProblemKey.SOLAR_SOURCE_UNAVAILABLE: (
        "The solar forecast {entity_id} is unavailable or empty. The plan assumes no solar "
        "production until it recovers."
    ),
    ProblemKey.SOLAR_DATA_STALE: (
        "The solar forecast {entity_id} ends before the current time; the plan repeats the last "
        "forecast day or assumes no solar production."
    ),
    ProblemKey.LOAD_HISTORY_MISSING: (
        "There is not enough long-term statistics history for {entity_id} to forecast the house "
        "load, so the constant load from the options is used. This resolves itself after a few "
        "days of recorded history."
    ),
    ProblemKey.LOAD_UNIT_UNKNOWN: (
        "{entity_id} is neither a power sensor (W, kW) nor an energy sensor (Wh, kWh), so it "
        "cannot forecast the house load; the constant load from the options is used."
    ),
    ProblemKey.GRID_POWER_UNAVAILABLE: (
        "The grid power sensor {entity_id} is unavailable or not in W or kW; real-time "
        "corrections are paused until it recovers."
    ),
}


@dataclass(frozen=True, slots=True)
class InputProblem:
    """One thing wrong with one input, with a short detail for the log and diagnostics."""

    key: ProblemKey
    entity_id: str
    """Entity id, or config entry id for an Energy solar forecast."""
    detail: str = ""
    label: str = ""
    """What to call the source in texts (a config entry's title); defaults to `entity_id`."""

    @property
    def issue_id(self) -> str:
        """Repair issue id: stable for the key and entity, so recovery can delete it."""
        return f"{self.key}.{self.entity_id}"

    @property
    def placeholders(self) -> dict[str, str]:
        """Translation placeholders of the repair issue (`{entity_id}` in the texts)."""
        return {"entity_id": self.label or self.entity_id}

    @property
    def text(self) -> str:
        """The English text, placeholders filled in."""
        return PROBLEM_TEXTS[self.key].format(**self.placeholders)


@dataclass(slots=True)
class Series:
    """Time series as read from a source, before it is put on the slot grid.

    Prices are in `currency` per kWh (major unit: EUR, SEK, GBP...), powers in W; the values are
    interval means.
    """

    source: str
    """Entity id, config entry id or a fixed label like "schedule"."""
    unit: str
    """"EUR/kWh", "W"...: what `value` of each interval is in."""
    intervals: list[Interval] = field(default_factory=list)
    currency: str | None = None
    fetched_at: datetime | None = None
    problems: list[InputProblem] = field(default_factory=list)

    @property
    def end(self) -> datetime | None:
        """End of the last interval, None when empty."""
        return max((iv.end for iv in self.intervals), default=None)

    def value_at(self, when: datetime) -> float | None:
        """Return the value of the interval containing `when`, None when no interval does.

        The intervals must be sorted and non-overlapping (as every reader returns them).
        """
        index = bisect.bisect_right(self.intervals, when, key=lambda iv: iv.start) - 1
        if index >= 0 and when < self.intervals[index].end:
            return self.intervals[index].value
        return None

    def mean(self) -> float | None:
        """Time-weighted mean of all intervals, None when empty."""
        total_s = sum((iv.end - iv.start).total_seconds() for iv in self.intervals)
        if total_s <= 0:
            return None
        weighted = sum(iv.value * (iv.end - iv.start).total_seconds() for iv in self.intervals)
        return weighted / total_s


# --- numbers -------------------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """Return a finite float from a number or numeric string; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


# --- time ----------------------------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any, local_tz: tzinfo, *, fold: int = 0) -> datetime | None:
    """Return an aware UTC datetime from what integrations put in attributes and responses.

    Accepts `datetime` objects (what attributes hold inside Home Assistant) and ISO-8601 strings
    with `T` or space separator, `Z` or an offset, and any number of fractional digits (Solcast
    writes seven). A naive value is wall-clock time in `local_tz`; `fold=1` picks the second of
    the two 02:00-03:00 hours on the night clocks go back. Returns None for anything else.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip())
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_tz, fold=fold)
    return parsed.astimezone(UTC)


def is_naive_time(value: Any) -> bool:
    """Whether a datetime or ISO string carries no offset (a local wall-clock time)."""
    if isinstance(value, datetime):
        return value.tzinfo is None
    if isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip())
        if text.endswith(("Z", "z")):
            return False
        try:
            return datetime.fromisoformat(text).tzinfo is None
        except ValueError:
            return False
    return False


def local_midnight(day: date, local_tz: tzinfo) -> datetime:
    """Start of a local calendar day, in UTC (23-, 24- or 25-hour days all work)."""
    return datetime.combine(day, time(0), tzinfo=local_tz).astimezone(UTC)


def same_wall_time_days_before(when: datetime, days: int, local_tz: tzinfo) -> datetime:
    """`when` moved back by whole local days, keeping the wall-clock time (DST-aware), in UTC."""
    local = when.astimezone(local_tz)
    earlier = datetime.combine(
        local.date() - timedelta(days=days), local.timetz().replace(tzinfo=None)
    )
    return earlier.replace(tzinfo=local_tz, fold=local.fold).astimezone(UTC)


def intervals_from_starts(
    points: Sequence[tuple[datetime, float]], default_step: timedelta | None = None
) -> list[Interval]:
    """Intervals from (start, value) points: each ends where the next starts.

    The usual step is `default_step`, else the most common spacing of the points, else one hour.
    A point lasts until the next one when that is at most `max(usual step, 1 h)` away (so lists
    that switch from 15-minute to hourly entries work); before a longer gap (night hours left
    out of a solar forecast) and at the end of the list it lasts as long as the spacing to its
    predecessor (when that is not a gap either), else the usual step. Duplicate starts keep the
    first value. Points need not be sorted.
    """
    unique: dict[datetime, float] = {}
    for start, value in sorted(points, key=lambda p: p[0]):
        unique.setdefault(start, value)
    starts = list(unique)
    step = default_step or _usual_step(starts)
    longest = max(step, HOUR)
    result: list[Interval] = []
    for index, start in enumerate(starts):
        if index + 1 < len(starts) and starts[index + 1] - start <= longest:
            end = starts[index + 1]
        elif index > 0 and start - starts[index - 1] <= longest:
            end = start + (start - starts[index - 1])
        else:
            end = start + step
        result.append(Interval(start, end, unique[start]))
    return result


def _usual_step(starts: Sequence[datetime]) -> timedelta:
    gaps: dict[timedelta, int] = {}
    for a, b in itertools.pairwise(starts):
        gap = b - a
        if timedelta(0) < gap <= timedelta(days=1):
            gaps[gap] = gaps.get(gap, 0) + 1
    if not gaps:
        return HOUR
    # The most common spacing; ties go to the shorter one.
    return max(gaps, key=lambda gap: (gaps[gap], -gap.total_seconds()))


def clean_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-empty, non-overlapping intervals; where two overlap the earlier-listed wins.

    Sources that mix resolutions (an hourly and a 15-minute series of the same day) or repeat a
    day keep the first reading of each moment. Exact repeats (ENTSO-e lists today's prices in
    two attributes) are dropped first, so the common case needs no overlap search.
    """
    unique: dict[tuple[datetime, datetime], Interval] = {}
    for iv in intervals:
        if iv.end > iv.start:
            unique.setdefault((iv.start, iv.end), iv)
    ordered = sorted(unique.values(), key=lambda iv: iv.start)
    if all(a.end <= b.start for a, b in itertools.pairwise(ordered)):
        return ordered
    return _first_wins(unique.values())


def _first_wins(intervals: Iterable[Interval]) -> list[Interval]:
    taken: list[Interval] = []
    for iv in intervals:
        if iv.end <= iv.start:
            continue
        pieces = [iv]
        for kept in taken:
            next_pieces: list[Interval] = []
            for piece in pieces:
                if piece.end <= kept.start or piece.start >= kept.end:
                    next_pieces.append(piece)
                    continue
                if piece.start < kept.start:
                    next_pieces.append(Interval(piece.start, kept.start, piece.value))
                if piece.end > kept.end:
                    next_pieces.append(Interval(kept.end, piece.end, piece.value))
            pieces = next_pieces
        taken.extend(pieces)
    return sorted(taken)


def map_values(intervals: Iterable[Interval], factor: float, offset: float = 0.0) -> list[Interval]:
    """Each value replaced by `value * factor + offset`."""
    return [Interval(iv.start, iv.end, iv.value * factor + offset) for iv in intervals]


# --- price units ---------------------------------------------------------------------------


class PriceUnit(NamedTuple):
    """How to turn a source's number into a price per kWh in a major currency unit."""

    currency: str | None
    """ISO code when known ("EUR"); None for ambiguous units such as "kr" or "øre"."""
    per_kwh_factor: float
    """Multiply a source value by this to get currency per kWh."""


_CURRENCY_SYMBOLS: Mapping[str, tuple[str | None, float]] = {
    "€": ("EUR", 1.0),
    "eur": ("EUR", 1.0),
    "euro": ("EUR", 1.0),
    "£": ("GBP", 1.0),
    "gbp": ("GBP", 1.0),
    "$": ("USD", 1.0),
    "usd": ("USD", 1.0),
    "sek": ("SEK", 1.0),
    "nok": ("NOK", 1.0),
    "dkk": ("DKK", 1.0),
    "chf": ("CHF", 1.0),
    "pln": ("PLN", 1.0),
    "zł": ("PLN", 1.0),
    "czk": ("CZK", 1.0),
    "huf": ("HUF", 1.0),
    "ron": ("RON", 1.0),
    "bgn": ("BGN", 1.0),
    "aud": ("AUD", 1.0),
    "nzd": ("NZD", 1.0),
    "kr": (None, 1.0),
    # Sub-units: a hundredth of the currency.
    "c": ("EUR", 0.01),
    "ct": ("EUR", 0.01),
    "cent": ("EUR", 0.01),
    "cents": ("EUR", 0.01),
    "eurocent": ("EUR", 0.01),
    "c€": ("EUR", 0.01),
    "€c": ("EUR", 0.01),
    "p": ("GBP", 0.01),
    "pence": ("GBP", 0.01),
    "gbp pence": ("GBP", 0.01),
    "öre": ("SEK", 0.01),
    "ore": (None, 0.01),
    "øre": (None, 0.01),
    "gr": ("PLN", 0.01),
    "rp": ("CHF", 0.01),
}

_ENERGY_UNITS: Mapping[str, float] = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001, "gwh": 0.000001}


def parse_price_unit(unit: str | None) -> PriceUnit | None:
    """Read units such as "EUR/kWh", "öre/kWh", "c/kWh", "DKK/MWh", "€/kWh", "GBP/kWh".

    Returns None when the text is not "<currency or sub-unit>/<energy unit>"; a bare currency
    ("SEK") is taken as per kWh.
    """
    if not unit:
        return None
    text = unit.strip().lower()
    if "/" in text:
        money, _, energy = text.partition("/")
    else:
        money, energy = text, "kwh"
    money = money.strip()
    energy = energy.strip()
    if energy not in _ENERGY_UNITS or money not in _CURRENCY_SYMBOLS:
        return None
    currency, subunit = _CURRENCY_SYMBOLS[money]
    return PriceUnit(currency, subunit * _ENERGY_UNITS[energy])
