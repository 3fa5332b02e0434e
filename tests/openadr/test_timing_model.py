"""OpenADR 3 times and events read as the specification writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.v2g.openadr.model import (
    ModelError,
    SignalKind,
    Target,
    is_for_ven,
    parse_event,
    parse_program,
    parse_targets,
)
from custom_components.v2g.openadr.timing import (
    BEGINNING,
    FOREVER,
    IsoDuration,
    Period,
    TimingError,
    format_datetime,
    format_duration,
    interval_spans,
    parse_datetime,
    parse_duration,
)

T0 = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


def test_durations() -> None:
    assert parse_duration("PT1H").fixed == timedelta(hours=1)
    assert parse_duration("P1W").fixed == timedelta(days=7)
    assert parse_duration("P1DT2H30M0.5S").fixed == timedelta(
        days=1, hours=2, minutes=30, seconds=0.5
    )
    assert parse_duration("PT0S").is_zero
    assert parse_duration("-PT5M").negative
    # Calendar months: 31 January plus a month is the end of February.
    assert parse_duration("P1M").after(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert parse_duration("P1Y").after(T0) == T0.replace(year=2027)
    # "P9999Y" is the specification's infinity.
    assert parse_duration("P9999Y").after(T0) == FOREVER
    assert IsoDuration(fixed=timedelta(days=1)).after(FOREVER) == FOREVER
    assert IsoDuration(fixed=timedelta(days=3)).after(datetime(9999, 12, 30, tzinfo=UTC)) == (
        FOREVER
    )
    for bad in ("1H", "P", "PT", "PXH", 3600, None):
        with pytest.raises(TimingError):
            parse_duration(bad)
    with pytest.raises(TimingError, match="too long"):
        parse_duration("P9999999999D")
    with pytest.raises(TimingError, match="negative"):
        parse_duration("-PT1H").after(T0)


def test_datetimes() -> None:
    assert parse_datetime("2026-01-15T17:00:00Z") == T0
    assert parse_datetime("2026-01-15T18:00:00+01:00") == T0
    assert parse_datetime("2026-01-15T17:00:00") == T0  # no offset: UTC
    assert parse_datetime("0001-01-01T00:00:00Z") == BEGINNING
    for bad in ("tomorrow", 17, None):
        with pytest.raises(TimingError):
            parse_datetime(bad)
    assert format_datetime(T0) == "2026-01-15T17:00:00Z"
    assert format_duration(timedelta(minutes=15)) == "PT900S"


def test_interval_spans() -> None:
    hour = parse_duration("PT1H")
    # Intervals without their own start follow each other from the event's start.
    assert interval_spans(Period(T0, hour), [Period(), Period(), Period()]) == [
        (T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(3)
    ]
    # An interval's own period overrides the event's; "0001-01-01" continues the chain.
    spans = interval_spans(
        Period(T0, hour),
        [
            Period(duration=parse_duration("PT30M")),
            Period(start=BEGINNING),
            Period(start=T0 + timedelta(hours=5)),
        ],
    )
    assert spans == [
        (T0, T0 + timedelta(minutes=30)),
        (T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)),
        (T0 + timedelta(hours=5), T0 + timedelta(hours=6)),
    ]
    # PT0S (the default duration) means until further notice for prices and limits.
    assert interval_spans(Period(T0), [Period()]) == [(T0, FOREVER)]
    # A "do it now" interval without an event period starts at the beginning of time.
    assert interval_spans(Period(), [Period(start=BEGINNING, duration=hour)]) == [
        (BEGINNING, BEGINNING + timedelta(hours=1))
    ]
    with pytest.raises(TimingError, match="no start"):
        interval_spans(Period(), [Period(duration=hour)])
    assert Period.parse(None) == Period()
    with pytest.raises(TimingError, match="not an object"):
        Period.parse("PT1H")


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "id": "ev-1",
        "programID": "prog-1",
        "intervalPeriod": {"start": "2026-01-15T17:00:00Z", "duration": "PT3H"},
        **fields,
    }


def test_events_become_signals() -> None:
    program = parse_program(
        {
            "id": "prog-1",
            "programName": "dynamic prices",
            "payloadDescriptors": [
                {"payloadType": "PRICE", "units": "MWH", "currency": "eur"},
                {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "kW"},
                "garbage",
            ],
            "targets": [{"type": "VEN_NAME", "values": ["garage"]}, {"values": ["no type"]}],
        }
    )
    assert program.targets == (Target("VEN_NAME", ("garage",)),)
    event = parse_event(
        _event(
            priority=2,
            eventName="peak",
            intervals=[
                # Three hourly prices packed in one 3 h interval, in EUR per MWh (the program's).
                {"id": 0, "payloads": [{"type": "PRICE", "values": [100, 450, 120]}]},
                {
                    "id": 1,
                    "intervalPeriod": {"start": "2026-01-15T20:00:00Z", "duration": "PT1H"},
                    "payloads": [
                        {"type": "IMPORT_CAPACITY_LIMIT", "values": [6.5]},
                        {"type": "EXPORT_CAPACITY_LIMIT", "values": [3000]},
                        {"type": "GHG", "values": [300]},
                        {"values": [1]},
                    ],
                },
            ],
            payloadDescriptors=[{"payloadType": "EXPORT_CAPACITY_LIMIT", "units": "W"}],
            reportDescriptors=[{"payloadType": "USAGE"}],
        ),
        {program.id: program},
    )
    assert event.name == "peak"
    assert event.priority == 2
    assert event.report_types == ("USAGE",)
    assert event.ignored_types == {"GHG"}
    assert event.end == T0 + timedelta(hours=4)
    prices = [s for s in event.signals if s.kind is SignalKind.IMPORT_PRICE]
    assert [(s.start, s.end) for s in prices] == [
        (T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(3)
    ]
    assert [s.value for s in prices] == pytest.approx([0.1, 0.45, 0.12])
    assert {s.currency for s in prices} == {"EUR"}
    limits = {s.kind: s.value for s in event.intervals[1].signals}
    assert limits == {SignalKind.IMPORT_LIMIT: 6500.0, SignalKind.EXPORT_LIMIT: 3000.0}
    assert SignalKind.IMPORT_LIMIT.is_price is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("an event", "not an object"),
        ({"id": "ev-1"}, "without id or programID"),
        (_event(intervals=[{"payloads": []}]), "integer id"),
        (_event(intervals=[{"id": True, "payloads": []}]), "integer id"),
        (_event(intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": 3}]}]), "list"),
        (_event(intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": []}]}]), "numbers"),
        (
            _event(intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": ["x", 1]}]}]),
            "numbers",
        ),
        (
            _event(
                intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}],
                payloadDescriptors=[{"payloadType": "PRICE", "units": "THERM"}],
            ),
            "units",
        ),
        (
            _event(
                intervalPeriod={"start": "2026-01-15T17:00:00Z"},
                intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2, 0.3]}]}],
            ),
            "endless",
        ),
        (_event(intervalPeriod={"start": "soon"}, intervals=[{"id": 0}]), "date-time"),
        (_event(intervals={"id": 0}), "not a list"),
    ],
)
def test_unreadable_events(raw: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_event(raw, {})


def test_programs_and_targets() -> None:
    with pytest.raises(ModelError):
        parse_program(["a program"])
    with pytest.raises(ModelError):
        parse_program({"id": "p"})
    with pytest.raises(ModelError):
        parse_targets({"type": "VEN_NAME"})
    assert parse_targets(None) == ()
    garage = parse_targets([{"type": "VEN_NAME", "values": ["garage", "barn"]}])
    assert is_for_ven(garage, "garage")
    assert not is_for_ven(garage, "shed")
    # Other target types are the VTN's to match.
    assert is_for_ven(parse_targets([{"type": "GROUP", "values": ["north"]}]), "shed")
    assert is_for_ven((), "shed")
