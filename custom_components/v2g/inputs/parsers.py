"""Pure parsers: raw payloads of price and solar integrations -> intervals (aware UTC).

No Home Assistant imports: every function takes the attribute values or action responses exactly
as the integration produces them (datetimes inside Home Assistant, ISO strings over the API) and
the zone naive times are written in. Values are returned in the source's own unit; converting to
a price per kWh happens in `prices.py` with `model.parse_price_unit`.

Entries without a readable time or a finite value are skipped and counted; the caller reports
`price_values_invalid` when any were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
import itertools
import re
from typing import Any

from .model import (
    Interval,
    clean_intervals,
    intervals_from_starts,
    is_naive_time,
    parse_time,
    to_float,
)

START_KEYS = (
    "start",
    "start_time",
    "startsAt",
    "starts_at",
    "time",
    "hour",
    "from",
    "datetime",
    "period_start",
    "valid_from",
)
END_KEYS = ("end", "end_time", "endsAt", "ends_at", "till", "to", "period_end", "valid_to")
VALUE_KEYS = (
    "price",
    "value",
    "total",
    "price_per_kwh",
    "value_inc_vat",
    "price_ct_per_kwh",
    "electricity_price",
    "marketprice",
    "energy",
)
LIST_ATTRIBUTE_PAIRS = (
    ("raw_today", "raw_tomorrow"),
    ("prices_today", "prices_tomorrow"),
    ("today_interval_prices", "tomorrow_interval_prices"),
)
LIST_ATTRIBUTES = ("prices", "rates", "data", "forecast", "price_list", "electricity_prices")


@dataclass(slots=True)
class Parsed:
    """Intervals read from one payload plus the number of entries that could not be read."""

    intervals: list[Interval] = field(default_factory=list)
    skipped: int = 0

    def extend(self, other: Parsed) -> None:
        """Append another payload's result (earlier entries win on overlap when cleaned)."""
        self.intervals.extend(other.intervals)
        self.skipped += other.skipped

    def cleaned(self) -> Parsed:
        """Sorted and overlap-free."""
        return Parsed(clean_intervals(self.intervals), self.skipped)


def _first_key(entry: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in entry:
            return entry[key]
    return None


def parse_entries(
    entries: Any,
    local_tz: tzinfo,
    *,
    start_keys: Sequence[str] = START_KEYS,
    end_keys: Sequence[str] = END_KEYS,
    value_keys: Sequence[str] = VALUE_KEYS,
    default_step: timedelta | None = None,
) -> Parsed:
    """Read a list of mappings with a start, an optional end and a value (the generic reader).

    Entries without an end last until the next entry starts (the last one: the usual spacing, or
    `default_step`). Naive times are wall-clock times in `local_tz`; when a naive time repeats on
    the night clocks go back, the second occurrence is read as the second (fold=1) hour.
    """
    result = Parsed()
    if not isinstance(entries, list | tuple):
        return result
    with_end: list[Interval] = []
    without_end: list[tuple[datetime, float]] = []
    previous: datetime | None = None
    for entry in entries:
        if not isinstance(entry, Mapping):
            result.skipped += 1
            continue
        raw_start = _first_key(entry, start_keys)
        start = parse_time(raw_start, local_tz)
        if (
            start is not None
            and previous is not None
            and start <= previous
            and is_naive_time(raw_start)
        ):
            # A repeated local time on a 25-hour day: the later occurrence is the second hour.
            start = parse_time(raw_start, local_tz, fold=1)
        value = to_float(_first_key(entry, value_keys))
        if start is None or value is None:
            result.skipped += 1
            continue
        previous = start
        end = parse_time(_first_key(entry, end_keys), local_tz)
        if end is not None and end > start:
            with_end.append(Interval(start, end, value))
        else:
            without_end.append((start, value))
    result.intervals = with_end + intervals_from_starts(without_end, default_step)
    return result.cleaned()


# --- one parser per integration ------------------------------------------------------------


def parse_nordpool_core_response(response: Mapping[str, Any], area: str | None = None) -> Parsed:
    """Home Assistant core `nordpool.get_prices_for_date` response: {AREA: [{start, end, price}]}.

    Times are ISO strings in UTC, prices are currency per MWh. With `area` None the only area (or
    the first) is used.
    """
    if not isinstance(response, Mapping) or not response:
        return Parsed()
    key = area.upper() if area else next(iter(response))
    return parse_entries(response.get(key), UTC, value_keys=("price",))


def parse_nordpool_api(payload: Mapping[str, Any], area: str) -> Parsed:
    """Nord Pool data portal answer (what pynordpool receives): `multiAreaEntries`, per MWh, UTC."""
    entries = [
        {
            "start": item.get("deliveryStart"),
            "end": item.get("deliveryEnd"),
            "price": (item.get("entryPerArea") or {}).get(area),
        }
        for item in payload.get("multiAreaEntries") or []
        if isinstance(item, Mapping)
    ]
    return parse_entries(entries, UTC, value_keys=("price",))


def parse_nordpool_custom(attributes: Mapping[str, Any], local_tz: tzinfo) -> Parsed:
    """Nord Pool custom integration: `raw_today` + `raw_tomorrow`, lists of {start, end, value}."""
    result = Parsed()
    for name in ("raw_today", "raw_tomorrow"):
        result.extend(parse_entries(attributes.get(name) or [], local_tz, value_keys=("value",)))
    return result.cleaned()


def parse_entsoe(attributes: Mapping[str, Any], local_tz: tzinfo) -> Parsed:
    """ENTSO-e custom integration: `prices_today`/`prices_tomorrow`/`prices`: [{time, price}].

    `time` is "YYYY-MM-DD HH:MM:SS+HH:MM" (host's zone, with offset). The three lists overlap;
    all are read and de-duplicated, so whichever the integration filled is used.
    """
    result = Parsed()
    for name in ("prices_today", "prices_tomorrow", "prices"):
        result.extend(
            parse_entries(
                attributes.get(name) or [], local_tz, start_keys=("time",), value_keys=("price",)
            )
        )
    return result.cleaned()


def parse_energidataservice(
    attributes: Mapping[str, Any], local_tz: tzinfo, *, include_forecast: bool = True
) -> Parsed:
    """Energi Data Service: `raw_today`/`raw_tomorrow` lists of {hour, price} (15- or 60-minute).

    With `include_forecast` the optional `forecast` list (Carnot) extends beyond tomorrow; actual
    prices win where both exist.
    """
    result = Parsed()
    names = ["raw_today", "raw_tomorrow"] + (["forecast"] if include_forecast else [])
    for name in names:
        result.extend(
            parse_entries(
                attributes.get(name) or [], local_tz, start_keys=("hour",), value_keys=("price",)
            )
        )
    return result.cleaned()


def parse_octopus_rates(rates: Any, local_tz: tzinfo) -> Parsed:
    """Octopus Energy event entity `rates`: {start, end, value_inc_vat (GBP/kWh), ...}."""
    return parse_entries(rates or [], local_tz, value_keys=("value_inc_vat",))


def parse_tibber_response(response: Mapping[str, Any], home: str | None = None) -> Parsed:
    """Tibber `tibber.get_prices` response: {"prices": {home: [{start_time, price}]}}, per kWh.

    With `home` None (or unknown) the first home is used.
    """
    homes = response.get("prices") if isinstance(response, Mapping) else None
    if not isinstance(homes, Mapping) or not homes:
        return Parsed()
    key = home if home in homes else next(iter(homes))
    return parse_entries(homes[key], UTC, start_keys=("start_time",), value_keys=("price",))


def find_list_attribute(attributes: Mapping[str, Any]) -> list[str]:
    """Names of the attributes that hold a price list, in the order they should be read."""
    for today, tomorrow in LIST_ATTRIBUTE_PAIRS:
        if isinstance(attributes.get(today), list):
            return [today, tomorrow]
    for name in LIST_ATTRIBUTES:
        if isinstance(attributes.get(name), list) and attributes[name]:
            return [name]
    for name, value in attributes.items():
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], Mapping)
            and _first_key(value[0], START_KEYS) is not None
            and _first_key(value[0], VALUE_KEYS) is not None
        ):
            return [name]
    return []


def parse_generic(attributes: Mapping[str, Any], local_tz: tzinfo) -> Parsed:
    """Any entity with a list attribute of {start, end?, price/value/...} in common spellings."""
    result = Parsed()
    for name in find_list_attribute(attributes):
        result.extend(parse_entries(attributes.get(name) or [], local_tz))
    return result.cleaned()


# --- time-of-use schedule and flat price ---------------------------------------------------

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class TouWindow:
    """A daily local-time window [start, end) with its price; end <= start crosses midnight."""

    start: time
    end: time
    price: float


class TouScheduleError(ValueError):
    """A time-of-use schedule that cannot be read; `part` is the piece as the user wrote it."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


def parse_tou_schedule(schedule: Any) -> list[TouWindow]:
    """Windows from the option value; raises ValueError naming the bad part.

    Accepted shapes: a mapping {"00:30-04:30": 0.12, ...}; a list of {"start": "00:30",
    "end": "04:30", "price": 0.12}; or text "00:30-04:30=0.12; 17:00-20:00=0.45" (";" or new
    lines between windows). "24:00" means midnight at the end of the day.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(schedule, Mapping):
        pairs = [(str(k), v) for k, v in schedule.items()]
    elif isinstance(schedule, list):
        for item in schedule:
            if not isinstance(item, Mapping):
                raise TouScheduleError(f"not a window: {item!r}", str(item))
            pairs.append((f"{item.get('start')}-{item.get('end')}", item.get("price")))
    elif isinstance(schedule, str):
        for part in re.split(r"[;\n]", schedule):
            if not part.strip():
                continue
            window, sep, price = part.partition("=")
            if not sep:
                raise TouScheduleError(f"missing '=price' in {part.strip()!r}", part.strip())
            pairs.append((window, price))
    elif schedule is not None:
        raise TouScheduleError(f"not a schedule: {schedule!r}", str(schedule))
    windows: list[TouWindow] = []
    for window, raw_price in pairs:
        match = _WINDOW.match(window)
        price = to_float(raw_price)
        if match is None or price is None:
            raise TouScheduleError(
                f"bad window {window.strip()!r}={raw_price!r}", f"{window.strip()}={raw_price}"
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise TouScheduleError(f"bad time in {window.strip()!r}", window.strip())
        windows.append(TouWindow(time(h1, m1), time(0 if h2 == 24 else h2, m2), price))
    return windows


def tou_intervals(
    windows: Sequence[TouWindow],
    default_price: float,
    start: datetime,
    end: datetime,
    local_tz: tzinfo,
) -> list[Interval]:
    """Lay the schedule out on real days from `start` to `end` (UTC), DST-aware.

    Each local day is cut at the window edges (wall-clock times; on a 23-hour day a window edge
    inside the skipped hour lands on the first valid instant). Later windows win on overlap; time
    outside every window has `default_price`.
    """
    result: list[Interval] = []
    day = start.astimezone(local_tz).date() - timedelta(days=1)
    last_day = end.astimezone(local_tz).date()
    while day <= last_day:
        result.extend(_tou_day(windows, default_price, day, local_tz))
        day += timedelta(days=1)
    clipped = [
        Interval(max(iv.start, start), min(iv.end, end), iv.value)
        for iv in result
        if iv.end > start and iv.start < end
    ]
    return clean_intervals(clipped)


def _at(day: date, moment: time, local_tz: tzinfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=local_tz).astimezone(UTC)


def _tou_day(
    windows: Sequence[TouWindow], default_price: float, day: date, local_tz: tzinfo
) -> list[Interval]:
    next_day = day + timedelta(days=1)
    day_start = _at(day, time(0), local_tz)
    day_end = _at(next_day, time(0), local_tz)
    pieces: list[Interval] = []
    for window in windows:
        begin = _at(day, window.start, local_tz)
        if window.end <= window.start:  # crosses midnight: [start, 24:00) + [00:00, end) next day
            pieces.append(Interval(begin, day_end, window.price))
            if window.end != time(0):
                pieces.append(Interval(day_end, _at(next_day, window.end, local_tz), window.price))
        else:
            pieces.append(Interval(begin, _at(day, window.end, local_tz), window.price))
    # Later windows win: clean_intervals keeps the earlier-listed, so list them in reverse.
    layered = [*reversed(pieces), Interval(day_start, day_end, default_price)]
    return clean_intervals(layered)


def flat_intervals(price: float, start: datetime, end: datetime) -> list[Interval]:
    """One interval with a constant price."""
    return [Interval(start, end, price)] if end > start else []


# --- solar ---------------------------------------------------------------------------------


def parse_wh_hours(forecast: Mapping[str, Any] | None) -> Parsed:
    """Energy platform solar forecast {"wh_hours": {iso_start: Wh}} -> mean power W per period.

    Keys are period starts (as the Energy dashboard reads them); the period is the usual spacing
    of the keys (an hour for Forecast.Solar, 30 minutes for some Solcast versions). Providers leave
    out night hours, so a key followed by a longer gap still lasts one period.
    """
    if not isinstance(forecast, Mapping):
        return Parsed()
    wh_hours = forecast.get("wh_hours")
    if not isinstance(wh_hours, Mapping):
        return Parsed()
    points: list[tuple[datetime, float]] = []
    skipped = 0
    for key, raw in wh_hours.items():
        start = parse_time(key, UTC)
        energy_wh = to_float(raw)
        if start is None or energy_wh is None:
            skipped += 1
            continue
        points.append((start, energy_wh))
    energy = intervals_from_starts(points)
    power = [
        Interval(iv.start, iv.end, iv.value * 3600.0 / (iv.end - iv.start).total_seconds())
        for iv in energy
    ]
    return Parsed(clean_intervals(power), skipped)


SOLAR_LIST_ATTRIBUTES = ("detailedForecast", "detailedHourly", "forecast", "forecasts", "data")


def parse_solar_attribute(
    attributes: Mapping[str, Any], local_tz: tzinfo, unit: str | None
) -> Parsed:
    """Read a sensor's forecast list attribute as mean power W.

    Solcast (`detailedForecast`: {period_start, pv_estimate kW}, 30 minutes; `detailedHourly`)
    and generic lists ({start/period_start/time, end?, pv_estimate | power_kw (kW) | power_w |
    watts (W) | value | power}). The unit of
    a generic `value` is the entity's unit (W or kW; default W). Sensors of the Open-Meteo Solar
    Forecast integration carry mappings instead: `wh_period` {iso start: Wh} or `watts`
    {iso time: W}.
    """
    for name in SOLAR_LIST_ATTRIBUTES:
        entries = attributes.get(name)
        if isinstance(entries, list) and entries:
            return _parse_power_entries(entries, local_tz, unit)
    if isinstance(attributes.get("wh_period"), Mapping):
        return parse_wh_hours({"wh_hours": attributes["wh_period"]})
    watts = attributes.get("watts")
    if isinstance(watts, Mapping):
        points = [{"start": key, "value": value} for key, value in watts.items()]
        return parse_entries(points, local_tz, value_keys=("value",))
    return Parsed()


def _parse_power_entries(entries: list[Any], local_tz: tzinfo, unit: str | None) -> Parsed:
    generic_factor = 1000.0 if (unit or "").strip().lower() == "kw" else 1.0
    result = Parsed()
    for key, factor in (
        ("pv_estimate", 1000.0),
        ("power_kw", 1000.0),
        ("power_w", 1.0),
        ("watts", 1.0),
        ("value", generic_factor),
        ("power", generic_factor),
    ):
        if any(isinstance(e, Mapping) and key in e for e in entries):
            parsed = parse_entries(entries, local_tz, value_keys=(key,))
            return Parsed(
                [iv._replace(value=iv.value * factor) for iv in parsed.intervals], parsed.skipped
            )
    result.skipped = len(entries)
    return result


def parse_solcast_api(payload: Mapping[str, Any]) -> Parsed:
    """Solcast API answer {"forecasts": [{period_end, period: "PT30M", pv_estimate kW}]} -> W."""
    entries = payload.get("forecasts") if isinstance(payload, Mapping) else None
    result = Parsed()
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            result.skipped += 1
            continue
        end = parse_time(entry.get("period_end"), UTC)
        minutes = _iso_minutes(entry.get("period"))
        kw = to_float(entry.get("pv_estimate"))
        if end is None or minutes is None or kw is None:
            result.skipped += 1
            continue
        result.intervals.append(Interval(end - timedelta(minutes=minutes), end, kw * 1000.0))
    return result.cleaned()


def _iso_minutes(period: Any) -> int | None:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", str(period or ""))
    if match is None or not any(match.groups()):
        return None
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def merge(parts: Iterable[Parsed]) -> Parsed:
    """Several payloads as one (earlier parts win on overlap)."""
    result = Parsed()
    for part in parts:
        result.extend(part)
    return result.cleaned()


def sum_power(parts: Sequence[Parsed]) -> Parsed:
    """Add several power series (several PV arrays); a moment counts where any part has data."""
    if len(parts) == 1:
        return parts[0]
    edges = sorted({t for part in parts for iv in part.intervals for t in (iv.start, iv.end)})
    result = Parsed(skipped=sum(part.skipped for part in parts))
    for a, b in itertools.pairwise(edges):
        values = [
            iv.value for part in parts for iv in part.intervals if iv.start <= a and b <= iv.end
        ]
        if values:
            result.intervals.append(Interval(a, b, sum(values)))
    return result
