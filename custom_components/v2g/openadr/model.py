"""OpenADR 3 programs and events as the VEN reads them, and the signals they carry for a site.

A `Signal` is one value over one span of time: an import or export price per kWh (in the
payload descriptor's currency) or an import or export limit in W. The JSON shapes are the
OpenADR 3.0.1 specification's (`program`, `event`, `interval`, `valuesMap`,
`eventPayloadDescriptor`); reading is forgiving about what the VEN does not use and strict about
what it does: an event whose intervals or values cannot be read raises `ModelError` and is
skipped by the caller, never guessed at.

Units and currency (from the `eventPayloadDescriptor` of the event, else of its program):

- `PRICE` / `EXPORT_PRICE`: `units` is the energy the price is per: "KWH" (also assumed when
  absent), "MWH" or "WH". `currency` is an ISO 4217 code; absent means the site's own currency.
  The caller ignores prices in another currency (there is no exchange rate to apply).
- `IMPORT_CAPACITY_LIMIT` / `EXPORT_CAPACITY_LIMIT`: "KW" (also assumed when absent), "W", "MW",
  or "KVA" (taken as kW: a charger's power factor is close to 1, and real power never exceeds
  apparent power, so the site stays within the limit).

A payload with several values divides its interval into that many equal sub-intervals (User
Guide 7.3, multi-valued payloads). Payload types other than these four are collected in
`Event.ignored_types` for the caller to log once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import math
from typing import Any

from .timing import FOREVER, Period, TimingError, interval_spans

TARGET_VEN_NAME = "VEN_NAME"
"""The target type naming a VEN (OpenADR 3.0.1 target enumerations)."""


class SignalKind(StrEnum):
    """The event payload types this VEN acts on (OpenADR 3 event payload enumerations)."""

    IMPORT_PRICE = "PRICE"
    EXPORT_PRICE = "EXPORT_PRICE"
    IMPORT_LIMIT = "IMPORT_CAPACITY_LIMIT"
    EXPORT_LIMIT = "EXPORT_CAPACITY_LIMIT"

    @property
    def is_price(self) -> bool:
        """A price per kWh (else a power limit in W)."""
        return self in (SignalKind.IMPORT_PRICE, SignalKind.EXPORT_PRICE)


_PRICE_PER = {"KWH": 1.0, "MWH": 0.001, "WH": 1000.0}
"""Multiply a price per this unit by the factor to get a price per kWh."""
_POWER_W = {"KW": 1000.0, "W": 1.0, "MW": 1_000_000.0, "KVA": 1000.0}
"""Multiply a power in this unit by the factor to get W."""


class ModelError(ValueError):
    """A program or event that cannot be read."""


@dataclass(frozen=True, slots=True)
class PayloadDescriptor:
    """The context of a payload type's values: units and currency."""

    payload_type: str
    units: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One `valuesMap` of `targets`: a type and the values it names."""

    type: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Program:
    """A program the VEN may follow."""

    id: str
    name: str
    descriptors: Mapping[str, PayloadDescriptor] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True, slots=True)
class Signal:
    """One value over one span: a price per kWh, or a limit in W."""

    kind: SignalKind
    start: datetime
    end: datetime
    value: float
    """Price per kWh in `currency`, or power in W."""
    currency: str | None = None
    event_id: str = ""
    priority: int | None = None
    """The event's priority: a lower number wins (None: lowest)."""


@dataclass(frozen=True, slots=True)
class EventInterval:
    """One interval of an event: its id (reports refer to it), span and signals."""

    id: int
    start: datetime
    end: datetime
    signals: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """An event of a followed program, read into signals."""

    id: str
    program_id: str
    name: str
    priority: int | None
    targets: tuple[Target, ...]
    intervals: tuple[EventInterval, ...]
    report_types: tuple[str, ...] | None
    """The payload types its `reportDescriptors` ask for; None when it asks for none."""
    ignored_types: frozenset[str] = frozenset()
    """Payload types this VEN does not act on."""

    @property
    def end(self) -> datetime:
        """When its last interval ends."""
        return max((interval.end for interval in self.intervals), default=FOREVER)

    @property
    def signals(self) -> list[Signal]:
        """Every signal of every interval."""
        return [signal for interval in self.intervals for signal in interval.signals]


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelError(f"{key} is not a list")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_targets(raw: Any) -> tuple[Target, ...]:
    """Read `targets` (a list of `valuesMap`); entries without a type are skipped."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ModelError("targets is not a list")
    targets = []
    for item in raw:
        if isinstance(item, Mapping) and (kind := _text(item.get("type"))):
            values = item.get("values")
            names = values if isinstance(values, list) else []
            targets.append(Target(kind, tuple(str(v) for v in names)))
    return tuple(targets)


def is_for_ven(targets: Iterable[Target], ven_name: str) -> bool:
    """Whether an object with these targets is meant for the VEN called `ven_name`.

    The VTN filters by the VEN's credentials and the target query; this only refuses objects that
    name other VENs (a `VEN_NAME` target without this one). Other target types (groups, resource
    names, locations) are the VTN's to match.
    """
    named = [t for t in targets if t.type == TARGET_VEN_NAME]
    return not named or any(ven_name in t.values for t in named)


def parse_descriptors(raw: Mapping[str, Any]) -> dict[str, PayloadDescriptor]:
    """The `payloadDescriptors` of a program or event, by payload type."""
    descriptors: dict[str, PayloadDescriptor] = {}
    for item in _list(raw, "payloadDescriptors"):
        if isinstance(item, Mapping) and (payload_type := _text(item.get("payloadType"))):
            units = _text(item.get("units"))
            currency = _text(item.get("currency"))
            descriptors[payload_type] = PayloadDescriptor(
                payload_type,
                units=units.upper() if units else None,
                currency=currency.upper() if currency else None,
            )
    return descriptors


def parse_program(raw: Any) -> Program:
    """Read a `program` object."""
    if not isinstance(raw, Mapping):
        raise ModelError("a program is not an object")
    program_id, name = _text(raw.get("id")), _text(raw.get("programName"))
    if program_id is None or name is None:
        raise ModelError("a program without id or programName")
    return Program(program_id, name, parse_descriptors(raw), parse_targets(raw.get("targets")))


def _scale(kind: SignalKind, descriptor: PayloadDescriptor | None) -> float | None:
    """The factor from the payload's unit to per kWh or W; None for a unit not understood."""
    units = descriptor.units if descriptor else None
    table = _PRICE_PER if kind.is_price else _POWER_W
    return table.get(units or ("KWH" if kind.is_price else "KW"))


def _interval_signals(
    kind: SignalKind,
    values: Sequence[Any],
    span: tuple[datetime, datetime],
    descriptor: PayloadDescriptor | None,
    *,
    event_id: str,
    priority: int | None,
) -> list[Signal]:
    """One signal per value: several values divide the interval equally."""
    scale = _scale(kind, descriptor)
    if scale is None:
        raise ModelError(f"{kind} in units {descriptor.units if descriptor else None}")
    numbers = [_number(v) for v in values]
    if not numbers or any(n is None for n in numbers):
        raise ModelError(f"{kind} values are not all numbers: {list(values)!r}")
    start, end = span
    if end == FOREVER:
        if len(numbers) > 1:
            raise ModelError(f"{kind}: several values over an endless interval")
        edges = [start, end]
    else:
        step = (end - start) / len(numbers)
        edges = [start + step * i for i in range(len(numbers))] + [end]
    currency = descriptor.currency if descriptor and kind.is_price else None
    return [
        Signal(kind, edges[i], edges[i + 1], float(n) * scale, currency, event_id, priority)
        for i, n in enumerate(numbers)
        if n is not None
    ]


def parse_event(raw: Any, programs: Mapping[str, Program]) -> Event:
    """Read an `event` object; `programs` (by id) give descriptors the event leaves out."""
    if not isinstance(raw, Mapping):
        raise ModelError("an event is not an object")
    event_id, program_id = _text(raw.get("id")), _text(raw.get("programID"))
    if event_id is None or program_id is None:
        raise ModelError("an event without id or programID")
    program = programs.get(program_id)
    descriptors = {**(program.descriptors if program else {}), **parse_descriptors(raw)}
    priority = raw.get("priority")
    priority = priority if isinstance(priority, int) and not isinstance(priority, bool) else None
    raw_intervals = [i for i in _list(raw, "intervals") if isinstance(i, Mapping)]
    try:
        spans = interval_spans(
            Period.parse(raw.get("intervalPeriod")),
            [Period.parse(i.get("intervalPeriod")) for i in raw_intervals],
        )
    except TimingError as err:
        raise ModelError(f"event {event_id}: {err}") from err
    ignored: set[str] = set()
    intervals = []
    for raw_interval, span in zip(raw_intervals, spans, strict=True):
        interval_id = raw_interval.get("id")
        if not isinstance(interval_id, int) or isinstance(interval_id, bool):
            raise ModelError(f"event {event_id}: an interval without an integer id")
        signals: list[Signal] = []
        for payload in raw_interval.get("payloads") or []:
            if not isinstance(payload, Mapping) or not (kind_text := _text(payload.get("type"))):
                continue
            try:
                kind = SignalKind(kind_text)
            except ValueError:
                ignored.add(kind_text)
                continue
            values = payload.get("values")
            if not isinstance(values, list):
                raise ModelError(f"event {event_id}: {kind} values are not a list")
            signals += _interval_signals(
                kind, values, span, descriptors.get(kind), event_id=event_id, priority=priority
            )
        intervals.append(EventInterval(interval_id, span[0], span[1], tuple(signals)))
    report_types: tuple[str, ...] | None = None
    if descriptors_raw := [d for d in _list(raw, "reportDescriptors") if isinstance(d, Mapping)]:
        report_types = tuple(str(d.get("payloadType", "")) for d in descriptors_raw)
    return Event(
        id=event_id,
        program_id=program_id,
        name=_text(raw.get("eventName")) or event_id,
        priority=priority,
        targets=parse_targets(raw.get("targets")),
        intervals=tuple(intervals),
        report_types=report_types,
        ignored_types=frozenset(ignored),
    )
