"""The VEN: what it last read from the VTN, what it measured, and the reports it owes.

`Ven.async_poll` reads the programs and events meant for this VEN and keeps them; a poll that
fails (VTN down, refused, garbage) keeps the last good events, which stay in force until their
intervals end, and says why in `error`. `snapshot(now)` gives the plan the signals not yet ended.

Which objects it follows: programs whose `programName` is listed in the configuration (all when
none is listed), and their events; an object whose `targets` name other VENs (`VEN_NAME`) but not
this one is skipped. The VTN is asked twice for each collection: without targets (objects for
every VEN) and with `targetType=VEN_NAME&targetValues=<ven name>` (objects targeted at this one,
which a VTN may only show when asked for); the answers are merged by id.

Reports (User Guide 6.6 "hourly prices and usage", 7.5): after each interval of an event the VEN
acted on, it POSTs a `USAGE` report for that interval: one resource "AGGREGATED_REPORT" (all the
site's EVs), the event's interval id, the net energy the EVs took in it (kWh; negative when they
gave more than they took). Events whose `reportDescriptors` ask for other payload types only are
not reported on; a report-only event asking for `USAGE` is. The energy comes from
`record_usage`, fed on every site update; an interval the VEN only partly measured (it started
before Home Assistant did) is reported with `readingType` "ESTIMATED", else "DIRECT_READ".
A report the VTN refuses is tried again after `REPORT_RETRY`; reports are not kept across
restarts (an interval that ended while Home Assistant was down is not reported).
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from .client import VtnClient, VtnCredentials, VtnError
from .model import (
    TARGET_VEN_NAME,
    Event,
    EventInterval,
    ModelError,
    Program,
    Signal,
    SignalKind,
    is_for_ven,
    parse_event,
    parse_program,
)
from .timing import FOREVER, format_datetime, format_duration

_LOGGER = logging.getLogger(__name__)

REPORT_RETRY = timedelta(minutes=5)
USAGE_HISTORY = timedelta(days=2)
"""Energy readings are kept this long (an interval longer than that is reported as estimated)."""
AGGREGATED_REPORT = "AGGREGATED_REPORT"


@dataclass(frozen=True, slots=True)
class VenConfig:
    """How this VEN reaches its VTN and what it follows."""

    base_url: str
    ven_name: str
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    program_names: tuple[str, ...] = ()
    """Follow only these programs (empty: every program the VTN shows)."""

    @property
    def credentials(self) -> VtnCredentials:
        """What the client needs."""
        return VtnCredentials(self.base_url, self.client_id, self.client_secret, self.token_url)


def _precedence(signal: Signal) -> tuple[int, int]:
    """Sort key: events without a priority first, then from the lowest priority to the highest."""
    return (0, 0) if signal.priority is None else (1, -signal.priority)


@dataclass(frozen=True, slots=True)
class VenSnapshot:
    """What the VEN knows at one moment."""

    signals: tuple[Signal, ...]
    """Signals that have not ended, in the order to apply them (the highest priority last)."""
    error: str | None = None
    """Why the last poll failed (None: it worked, or none ran yet)."""

    def of(self, kind: SignalKind) -> list[Signal]:
        """The signals of one kind, in the order to apply them."""
        return [s for s in self.signals if s.kind is kind]

    def limit_w(self, kind: SignalKind, now: datetime) -> float | None:
        """The lowest limit of this kind in force at `now` (W), None when there is none."""
        active = [s.value for s in self.of(kind) if s.start <= now < s.end]
        return min(active) if active else None


class UsageMeter:
    """The site's EVs' energy over time: a running total of what they took, read back by span."""

    def __init__(self) -> None:
        self._times: list[datetime] = []
        self._totals: list[float] = []

    @property
    def first(self) -> datetime | None:
        """The first reading (None: nothing measured yet)."""
        return self._times[0] if self._times else None

    @property
    def last(self) -> datetime | None:
        """The latest reading."""
        return self._times[-1] if self._times else None

    def add(self, now: datetime, energy_kwh: float) -> None:
        """The EVs took `energy_kwh` since the last reading (the first reading only starts)."""
        if self._times and now <= self._times[-1]:
            return
        total = self._totals[-1] + energy_kwh if self._totals else 0.0
        self._times.append(now)
        self._totals.append(total)
        # Forget old readings, keeping one before the cut for interpolation.
        cut = bisect.bisect_left(self._times, now - USAGE_HISTORY) - 1
        if cut > 0:
            del self._times[:cut]
            del self._totals[:cut]

    def _total_at(self, when: datetime) -> float:
        """The running total at `when`, linear between readings, flat outside them."""
        index = bisect.bisect_right(self._times, when)
        if index == 0:
            return self._totals[0]
        if index == len(self._times):
            return self._totals[-1]
        t0, t1 = self._times[index - 1], self._times[index]
        e0, e1 = self._totals[index - 1], self._totals[index]
        return e0 + (e1 - e0) * (when - t0).total_seconds() / (t1 - t0).total_seconds()

    def energy_kwh(self, start: datetime, end: datetime) -> tuple[float, bool]:
        """The energy taken in [start, end) and whether the readings cover all of it."""
        if not self._times:
            return 0.0, False
        complete = self._times[0] <= start and self._times[-1] >= end
        return self._total_at(end) - self._total_at(start), complete


def usage_report(
    config: VenConfig,
    event: Event,
    interval: EventInterval,
    meter: UsageMeter,
) -> dict[str, Any]:
    """The `report` object for one event interval (OpenADR 3.0.1 `report` schema).

    An interval whose payload held several values (hourly prices packed in one interval) is
    reported per sub-interval, each with the interval's id (User Guide 7.5, sub-intervals).
    """
    spans = sorted({(s.start, s.end) for s in interval.signals}) or [(interval.start, interval.end)]
    if len(spans) == 1:
        spans = [(interval.start, interval.end)]
    complete = True
    intervals = []
    for start, end in spans:
        energy_kwh, covered = meter.energy_kwh(start, end)
        complete = complete and covered
        intervals.append(
            {
                "id": interval.id,
                "intervalPeriod": _period(start, end),
                "payloads": [{"type": "USAGE", "values": [round(energy_kwh, 4)]}],
            }
        )
    return {
        "programID": event.program_id,
        "eventID": event.id,
        "clientName": config.ven_name,
        "reportName": f"{config.ven_name} usage {event.id} {interval.id}",
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": "USAGE",
                "readingType": "DIRECT_READ" if complete else "ESTIMATED",
                "units": "KWH",
            }
        ],
        "resources": [
            {
                "resourceName": AGGREGATED_REPORT,
                "intervalPeriod": _period(interval.start, interval.end),
                "intervals": intervals,
            }
        ],
    }


def _period(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": format_datetime(start), "duration": format_duration(end - start)}


class Ven:
    """One site's VEN: the last good events, the energy measured, the reports sent."""

    def __init__(self, config: VenConfig, client: VtnClient) -> None:
        self.config = config
        self.client = client
        self.events: tuple[Event, ...] = ()
        self.error: str | None = None
        self.last_success: datetime | None = None
        self.meter = UsageMeter()
        self.reports_sent = 0
        self.report_error: str | None = None
        self._reported: dict[tuple[str, int, datetime], datetime] = {}
        self._report_retry_at: datetime | None = None
        self._said: set[str] = set()

    # --- reading the VTN -----------------------------------------------------------------

    async def async_poll(self, now: datetime) -> bool:
        """Read programs and events; True when what the plan sees changed (signals or error)."""
        before = (self.snapshot(now).signals, self.error is None)
        try:
            programs = self._programs(await self._async_both(self.client.async_programs))
            events = self._events(await self._async_both(self.client.async_events), programs)
        except VtnError as err:
            self.error = str(err) or type(err).__name__
        else:
            self._log_changes(events)
            self.events = tuple(events)
            self.error = None
            self.last_success = now
        return (self.snapshot(now).signals, self.error is None) != before

    def _log_changes(self, events: list[Event]) -> None:
        """Each event once when it first arrives, and once when the VTN no longer shows it."""
        known = {event.id for event in self.events}
        for event in events:
            if event.id not in known and event.signals:
                _LOGGER.info(
                    "OpenADR event %s (%s) from %s to %s: %s",
                    event.id,
                    event.name,
                    format_datetime(min(s.start for s in event.signals)),
                    format_datetime(event.end) if event.end != FOREVER else "further notice",
                    ", ".join(sorted({s.kind.value for s in event.signals})),
                )
        for gone in sorted(known - {event.id for event in events}):
            _LOGGER.info("OpenADR event %s ended or was cancelled", gone)

    async def _async_both(
        self, read: Callable[[tuple[str, str] | None], Awaitable[list[Any]]]
    ) -> list[Any]:
        """A collection asked for without targets and for this VEN, merged by id."""
        merged: dict[str, Any] = {}
        for target in (None, (TARGET_VEN_NAME, self.config.ven_name)):
            for item in await read(target):
                key = item.get("id") if isinstance(item, Mapping) else None
                merged[str(key) if key is not None else f"#{len(merged)}"] = item
        return list(merged.values())

    def _programs(self, raw: Iterable[Any]) -> dict[str, Program]:
        """The followed programs by id."""
        names = self.config.program_names
        programs = {}
        for item in raw:
            try:
                program = parse_program(item)
            except ModelError as err:
                self._say_once(f"program {err}", "Skipping a program the VTN sent: %s", err)
                continue
            if is_for_ven(program.targets, self.config.ven_name) and (
                not names or program.name in names
            ):
                programs[program.id] = program
        return programs

    def _events(self, raw: Iterable[Any], programs: Mapping[str, Program]) -> list[Event]:
        """The followed programs' events meant for this VEN (unreadable ones skipped)."""
        events = []
        for item in raw:
            program_id = item.get("programID") if isinstance(item, Mapping) else None
            if self.config.program_names and program_id not in programs:
                continue
            try:
                event = parse_event(item, programs)
            except ModelError as err:
                self._say_once(f"event {err}", "Skipping an event the VTN sent: %s", err)
                continue
            if not is_for_ven(event.targets, self.config.ven_name):
                continue
            for payload_type in sorted(event.ignored_types):
                self._say_once(
                    f"type {payload_type}",
                    "OpenADR payload type %s is not used by V2G Smart Charging (event %s)",
                    payload_type,
                    event.id,
                )
            events.append(event)
        return events

    def _say_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._said:
            self._said.add(key)
            _LOGGER.warning(message, *args)

    def snapshot(self, now: datetime) -> VenSnapshot:
        """The signals not yet ended, in the order to apply them, and the last poll's error."""
        signals = [s for event in self.events for s in event.signals if s.end > now]
        return VenSnapshot(tuple(sorted(signals, key=_precedence)), self.error)

    # --- measuring and reporting ---------------------------------------------------------

    def record_usage(self, now: datetime, energy_kwh: float) -> None:
        """The site's EVs took `energy_kwh` (net, kWh) since the last call."""
        self.meter.add(now, energy_kwh)

    def _wants_usage(self, event: Event) -> bool:
        if event.report_types is None:
            return any(interval.signals for interval in event.intervals)
        return "USAGE" in event.report_types

    def due_reports(self, now: datetime) -> list[tuple[Event, EventInterval]]:
        """Event intervals that are over and measured, not reported yet."""
        first, last = self.meter.first, self.meter.last
        if first is None or last is None:
            return []
        if self._report_retry_at is not None and now < self._report_retry_at:
            return []
        for key in [k for k, end in self._reported.items() if end < now - USAGE_HISTORY]:
            del self._reported[key]
        return [
            (event, interval)
            for event in self.events
            if self._wants_usage(event)
            for interval in event.intervals
            if first < interval.end <= last
            and (event.id, interval.id, interval.start) not in self._reported
        ]

    async def async_send_reports(self, now: datetime) -> int:
        """POST every due report; returns how many the VTN took. Failures retry later."""
        sent = 0
        for event, interval in self.due_reports(now):
            report = usage_report(self.config, event, interval, self.meter)
            try:
                await self.client.async_create_report(report)
            except VtnError as err:
                if self.report_error is None:
                    _LOGGER.warning("The VTN did not take a usage report: %s", err)
                self.report_error = str(err)
                self._report_retry_at = now + REPORT_RETRY
                break
            if self.report_error is not None:
                _LOGGER.info("The VTN takes usage reports again")
            self.report_error = None
            self._report_retry_at = None
            self._reported[(event.id, interval.id, interval.start)] = interval.end
            sent += 1
        self.reports_sent += sent
        return sent

    def diagnostics(self, now: datetime) -> dict[str, Any]:
        """What the VEN knows, for diagnostics (no credentials)."""
        return {
            "ven_name": self.config.ven_name,
            "program_names": list(self.config.program_names),
            "error": self.error,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "events": [
                {
                    "id": event.id,
                    "program_id": event.program_id,
                    "name": event.name,
                    "intervals": len(event.intervals),
                    "end": format_datetime(event.end) if event.end != FOREVER else "never",
                }
                for event in self.events
            ],
            "active_signals": len(self.snapshot(now).signals),
            "reports_sent": self.reports_sent,
            "report_error": self.report_error,
        }
