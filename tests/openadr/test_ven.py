"""The VEN against a real VTN on 127.0.0.1: what it follows, what it keeps, what it reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any

import aiohttp
import pytest

from custom_components.v2g.openadr import SignalKind, Ven, VenConfig, VtnClient
from custom_components.v2g.openadr.model import parse_program
from custom_components.v2g.openadr.ven import REPORT_RETRY, USAGE_HISTORY, UsageMeter
from simulator.openadr_vtn import OpenAdrVtn

from .conftest import CLIENT_ID, CLIENT_SECRET

T0 = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _ven(session: aiohttp.ClientSession, vtn: OpenAdrVtn, *programs: str) -> Ven:
    config = VenConfig(vtn.url, "garage", CLIENT_ID, CLIENT_SECRET, None, programs)
    return Ven(config, VtnClient(session, config.credentials))


def _prices(vtn: OpenAdrVtn, program: dict[str, Any], values: list[float], **fields: Any) -> Any:
    return vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "PRICE", "values": values}]}],
        intervalPeriod={"start": _z(T0), "duration": f"PT{len(values)}H"},
        **fields,
    )


async def test_follows_its_programs_and_events(
    vtn: OpenAdrVtn, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    prices = vtn.add_program("prices")
    other = vtn.add_program("someone else's")
    _prices(vtn, prices, [0.20, 0.45], priority=2)
    _prices(vtn, other, [9.0])
    # An event meant for this VEN only (the VTN shows it when asked for "garage")...
    vtn.add_event(
        prices,
        [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [6]}]}],
        intervalPeriod={"start": _z(T0 + HOUR), "duration": "PT1H"},
        targets=[{"type": "VEN_NAME", "values": ["garage"]}],
        priority=1,
    )
    # ...a stricter one for the barn next door, and bad data.
    vtn.add_event(
        prices,
        [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1]}]}],
        intervalPeriod={"start": _z(T0), "duration": "PT2H"},
        targets=[{"type": "VEN_NAME", "values": ["barn"]}, {"type": "GROUP", "values": ["x"]}],
    )
    vtn.add_event(prices, [{"id": 0, "payloads": [{"type": "PRICE", "values": ["cheap"]}]}])
    vtn.add_event(
        prices,
        [{"id": 0, "payloads": [{"type": "GHG", "values": [250]}]}],
        intervalPeriod={"start": _z(T0), "duration": "PT1H"},
    )
    vtn.programs.append({"id": "p-bad"})  # no programName

    ven = _ven(session, vtn, "prices")
    caplog.set_level(logging.WARNING)
    assert await ven.async_poll(T0) is True
    assert ven.error is None
    assert ven.last_success == T0
    snapshot = ven.snapshot(T0)
    assert [(s.kind, s.value) for s in snapshot.signals] == [
        (SignalKind.IMPORT_PRICE, 0.20),
        (SignalKind.IMPORT_PRICE, 0.45),
        (SignalKind.IMPORT_LIMIT, 6000.0),
    ]
    assert snapshot.limit_w(SignalKind.IMPORT_LIMIT, T0) is None
    assert snapshot.limit_w(SignalKind.IMPORT_LIMIT, T0 + HOUR) == 6000.0
    # A VTN that showed the barn's event to everyone: the VEN still leaves it alone.
    assert ven._events([vtn.events[3]], {prices["id"]: parse_program(prices)}) == []
    assert vtn.events[3]["targets"][0]["values"] == ["barn"]
    # The same answer again changes nothing; each oddity was logged once.
    assert await ven.async_poll(T0) is False
    assert caplog.text.count("Skipping an event") == 1
    assert caplog.text.count("Skipping a program") == 1
    assert caplog.text.count("GHG is not used") == 1
    # Ended signals drop out; a program list that is empty follows everything.
    assert len(ven.snapshot(T0 + HOUR).signals) == 2
    every = _ven(session, vtn)
    await every.async_poll(T0)
    assert 9.0 in [s.value for s in every.snapshot(T0).signals]


async def test_priorities(vtn: OpenAdrVtn, session: aiohttp.ClientSession) -> None:
    """Signals come in the order to apply them: no priority first, priority 0 (highest) last."""
    program = vtn.add_program("prices")
    _prices(vtn, program, [0.3], priority=0)
    _prices(vtn, program, [0.2])
    _prices(vtn, program, [0.1], priority=5)
    ven = _ven(session, vtn)
    await ven.async_poll(T0)
    assert [s.value for s in ven.snapshot(T0).signals] == [0.2, 0.1, 0.3]


async def test_keeps_the_last_good_events_while_the_vtn_fails(
    vtn: OpenAdrVtn, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    program = vtn.add_program("prices")
    event = _prices(vtn, program, [0.2, 0.45, 0.3])
    ven = _ven(session, vtn)
    await ven.async_poll(T0)
    for failure in ("down", "garbage"):
        vtn.failure = failure
        assert await ven.async_poll(T0 + HOUR) is True  # the error is news
        assert ven.error is not None
        assert [s.value for s in ven.snapshot(T0 + HOUR).signals] == [0.45, 0.3]
        vtn.failure = None
        assert await ven.async_poll(T0 + HOUR) is True
        assert ven.error is None
    await vtn.stop()
    await ven.async_poll(T0 + HOUR)
    assert "ClientConnectorError" in (ven.error or "")
    assert len(ven.snapshot(T0 + HOUR).signals) == 2
    # Back up, with the event cancelled: its prices are gone.
    await vtn.start()
    vtn.remove_event(event)
    assert await ven.async_poll(T0 + HOUR) is True
    assert ven.snapshot(T0 + HOUR).signals == ()
    # Logged once when it came, once when it went.
    assert (
        caplog.text.count(
            f"OpenADR event {event['id']} ({event['id']}) from 2026-01-15T17:00:00Z to "
            "2026-01-15T20:00:00Z: PRICE"
        )
        == 1
    )
    assert caplog.text.count(f"OpenADR event {event['id']} ended or was cancelled") == 1


def test_usage_meter() -> None:
    meter = UsageMeter()
    assert meter.first is None
    assert meter.energy_kwh(T0, T0 + HOUR) == (0.0, False)
    meter.add(T0, 5.0)  # the first reading only starts the count
    meter.add(T0 + HOUR, 7.0)
    meter.add(T0 + HOUR, 100.0)  # not later: ignored
    meter.add(T0 + 2 * HOUR, -3.0)  # the EVs gave 3 kWh back
    assert meter.energy_kwh(T0, T0 + 2 * HOUR) == (4.0, True)
    assert meter.energy_kwh(T0 + timedelta(minutes=30), T0 + HOUR) == (3.5, True)
    # Outside the readings: flat, and said to be incomplete.
    assert meter.energy_kwh(T0 - HOUR, T0 + 3 * HOUR) == (4.0, False)
    # Old readings are forgotten, one kept before the cut.
    meter.add(T0 + USAGE_HISTORY + 3 * HOUR, 1.0)
    assert meter.first == T0 + 2 * HOUR
    assert meter.last == T0 + USAGE_HISTORY + 3 * HOUR


async def test_reports_usage_after_each_interval(
    vtn: OpenAdrVtn, session: aiohttp.ClientSession
) -> None:
    program = vtn.add_program("prices")
    event = vtn.add_event(
        program,
        [
            {"id": 0, "payloads": [{"type": "PRICE", "values": [0.2, 0.45]}]},
            {"id": 1, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [4]}]},
        ],
        intervalPeriod={"start": _z(T0), "duration": "PT2H"},
    )
    # Not reported: an event whose descriptors ask for something else, one this VEN ignores.
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}],
        intervalPeriod={"start": _z(T0), "duration": "PT1H"},
        reportDescriptors=[{"payloadType": "STORAGE_CHARGE_LEVEL"}],
    )
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "GHG", "values": [250]}]}],
        intervalPeriod={"start": _z(T0), "duration": "PT1H"},
    )
    ven = _ven(session, vtn)
    await ven.async_poll(T0)
    assert ven.due_reports(T0) == []  # nothing measured yet
    # Home Assistant started 30 min into the event: 7 kW for 90 min, then 2 kW.
    ven.record_usage(T0 + timedelta(minutes=30), 0.0)
    ven.record_usage(T0 + 2 * HOUR, 10.5)
    ven.record_usage(T0 + 3 * HOUR, 2.0)
    assert await ven.async_send_reports(T0 + 3 * HOUR) == 1  # interval 0 of the first event
    ven.record_usage(T0 + 4 * HOUR, 2.0)
    assert await ven.async_send_reports(T0 + 4 * HOUR) == 1  # its interval 1
    assert await ven.async_send_reports(T0 + 4 * HOUR) == 0  # never twice
    first, second = vtn.reports
    assert first["eventID"] == event["id"]
    assert first["clientName"] == "garage"
    descriptor = first["payloadDescriptors"][0]
    assert (descriptor["payloadType"], descriptor["units"]) == ("USAGE", "KWH")
    # The first hour was measured only from 17:30: estimated.
    assert descriptor["readingType"] == "ESTIMATED"
    [resource] = first["resources"]
    assert resource["resourceName"] == "AGGREGATED_REPORT"
    assert resource["intervalPeriod"] == {"start": "2026-01-15T17:00:00Z", "duration": "PT7200S"}
    # Two packed hourly prices: one reading per hour, both with the interval's id.
    assert [(i["id"], i["payloads"][0]["values"]) for i in resource["intervals"]] == [
        (0, [3.5]),
        (0, [7.0]),
    ]
    assert second["payloadDescriptors"][0]["readingType"] == "DIRECT_READ"
    # Interval 1 (19:00-21:00, the event's default 2 h) took 2 kWh in each hour.
    assert [i["payloads"][0]["values"] for i in second["resources"][0]["intervals"]] == [[4.0]]
    diagnostics = ven.diagnostics(T0 + 4 * HOUR)
    assert diagnostics["reports_sent"] == 2
    assert diagnostics["events"][0]["end"] == "2026-01-15T21:00:00Z"


async def test_a_refused_report_is_sent_later(
    vtn: OpenAdrVtn, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    program = vtn.add_program("prices", targets=None)
    _prices(vtn, program, [0.2])
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.1]}]}],
        intervalPeriod={"start": _z(T0)},
    )  # until further notice: never reported
    ven = _ven(session, vtn)
    await ven.async_poll(T0)
    ven.record_usage(T0, 0.0)
    ven.record_usage(T0 + HOUR, 3.0)
    vtn.failure = "down"
    now = T0 + HOUR
    assert await ven.async_send_reports(now) == 0
    assert await ven.async_send_reports(now) == 0
    assert caplog.text.count("did not take a usage report") == 1
    assert ven.diagnostics(now)["report_error"] == "POST /reports: HTTP 503"
    vtn.failure = None
    # Not before the retry time, then sent once.
    assert ven.due_reports(now + REPORT_RETRY / 2) == []
    assert await ven.async_send_reports(now + REPORT_RETRY) == 1
    assert "takes usage reports again" in caplog.text
    assert len(vtn.reports) == 1
    assert ven.diagnostics(now + REPORT_RETRY)["events"][1]["end"] == "never"
    # Long after, what was reported is forgotten, and the event too old to be due again.
    ven.record_usage(now + USAGE_HISTORY * 2, 0.0)
    assert ven.due_reports(now + USAGE_HISTORY * 2) == []
