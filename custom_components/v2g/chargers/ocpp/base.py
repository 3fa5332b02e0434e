"""What the OCPP 1.6, 2.0.1 and 2.1 sessions share: transport, framing, logging, requests.

The `ocpp` package brings message classes, schema validation and handler routing but no
transport. This module adapts an aiohttp websocket to it and does the OCPP-J framing itself,
because the 2.1.0 release gets it wrong for a central system:

- every frame is checked here: one that is not a JSON array gets a CallError RpcFrameworkError
  with message id "-1" (2.x; 1.6 has no such error and the frame is dropped); a CALL without a
  readable message id or with the wrong number of elements gets RpcFrameworkError (2.x) or
  ProtocolError (1.6); an unknown message type gets MessageTypeNotSupported (2.x);
- an OCPP 2.1 action without a handler gets no reply at all in the library: every unhandled
  action here gets a CallError NotImplemented;
- a response (CALLRESULT / CALLERROR) that answers no pending request is dropped at once (the
  library queues it until the next request, so a charger could fill the memory);
- 2.1 SEND frames (message type 6, e.g. NotifyPeriodicEventStream) are parsed and dropped,
  never answered; CALLRESULTERROR (type 5) is logged;
- a request whose connection closes fails at once instead of after the full response timeout;
- one request at a time (OCPP-J), but not first come first served: setpoints (`Priority.CONTROL`)
  go before configuration reads (`Priority.READ`), and a read that is still unanswered when a
  setpoint waits gives way after `READ_YIELD_S` (`CallAbandonedError`; it is tried again later),
  so a charger that ignores GetVariables does not hold up SetChargingProfile;
- the library logs every frame at INFO on the `ocpp` logger: frames go to our own traffic logger
  at DEBUG (INFO when a station asks for traffic logging), escaped, never with HTTP headers;
  problems with a charger's frames are warnings, rate limited per station.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from enum import IntEnum
import heapq
import itertools
import json
import logging
from typing import Any, Protocol
import uuid

from aiohttp import ClientWebSocketResponse, WebSocketError, WSCloseCode, WSMsgType, web
from ocpp.charge_point import (
    ChargePoint as LibraryChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
    OCPPError,
    ValidationError,
)
from ocpp.messages import Call, CallError, CallResult, get_validator, validate_payload
from ocpp.routing import on

from .limits import LogLimiter, escape

_LOGGER = logging.getLogger(__name__)
TRAFFIC_LOGGER = logging.getLogger(f"{__package__}.traffic")

# Profiles this integration owns on every charger; only these are ever cleared.
TX_PROFILE_ID = 924_001
TX_DEFAULT_PROFILE_ID = 924_002

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6
"""OCPP-J message type numbers (5 and 6 are OCPP 2.1 only)."""
READ_YIELD_S = 1.0
"""How long an unanswered read may still hold the line once a setpoint waits behind it."""
SEND_ACTIONS = frozenset({"NotifyPeriodicEventStream"})
"""OCPP 2.1 messages sent as SEND (type 6), never answered."""
MAX_MESSAGE_ID_CHARS = 255
"""OCPP-J message ids have at most 36 characters; firmware that exceeds it a little still works."""


class ConnectionClosedError(ConnectionError):
    """The websocket to the charger is closed."""


class CallAbandonedError(TimeoutError):
    """A read gave way to a setpoint before its answer came (try it again later)."""


class Priority(IntEnum):
    """Who gets the next turn to send a request (lower goes first)."""

    CONTROL = 0
    """Setpoints and clearing profiles."""
    NORMAL = 1
    READ = 2
    """Configuration reads: last in line; they give way to a waiting CONTROL request."""


class CallGate:
    """One outstanding request per connection (OCPP-J); the next turn goes to the most urgent.

    Waiting callers are served by priority, then in arrival order. `urgent` is set while a
    caller more urgent than the current holder waits, so a holder that may give way (a read)
    can do so.
    """

    def __init__(self) -> None:
        self._holder: Priority | None = None
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.urgent = asyncio.Event()

    @contextlib.asynccontextmanager
    async def turn(self, priority: Priority) -> AsyncIterator[None]:
        """Hold the line for one request."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._holder is None:
            self._holder = priority
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        if priority < self._holder:
            self.urgent.set()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the turn had been handed to us: pass it on
            else:
                future.cancel()  # skipped when its turn comes
            raise

    def _release(self) -> None:
        self._holder = None
        self.urgent.clear()
        while self._waiting:
            priority, _, future = heapq.heappop(self._waiting)
            if not future.done():
                self._holder = Priority(priority)
                future.set_result(None)
                break
        holder = self._holder
        if holder is not None and any(
            waiting < holder for waiting, _, future in self._waiting if not future.done()
        ):
            self.urgent.set()


def utc_iso(when: datetime) -> str:
    """An OCPP timestamp: UTC, whole seconds, 'Z' suffix (what picky firmware accepts)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: object) -> datetime | None:
    """A timestamp from a charger as an aware UTC datetime, or None when it is unusable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class TrafficLogger:
    """The logger handed to the `ocpp` library, and the station's voice about its frames.

    Frames are logged at DEBUG, or INFO when the station asks for traffic logging, escaped (a
    charger cannot forge log lines) and cut short unless traffic logging is on. Problems (bad
    frames, stray responses, CallErrors) are warnings without a traceback, at most a few per
    station and window (`LogLimiter`), followed by a summary of what was left out.
    """

    def __init__(
        self, identity: str, *, debug_traffic: bool = False, limiter: LogLimiter | None = None
    ) -> None:
        self._identity = identity
        self.debug_traffic = debug_traffic
        self.limiter = limiter or LogLimiter(TRAFFIC_LOGGER, f"Charger {identity}")

    def _verbose(self) -> bool:
        return self.debug_traffic or TRAFFIC_LOGGER.isEnabledFor(logging.DEBUG)

    def _args(self, args: tuple[Any, ...]) -> tuple[str, ...]:
        max_chars = None if self._verbose() else 300
        return tuple(escape(arg, max_chars) for arg in args)

    def _frame(self, level: int, msg: str, args: tuple[Any, ...]) -> None:
        if TRAFFIC_LOGGER.isEnabledFor(level):
            TRAFFIC_LOGGER.log(level, msg, *self._args(args))

    def problem(self, kind: str, msg: str, *args: Any, level: int = logging.WARNING) -> None:
        """A rate-limited warning about something the charger sent (`kind` for the summary)."""
        if TRAFFIC_LOGGER.isEnabledFor(level):
            self.limiter.log(kind, level, msg, *self._args(args))

    def debug(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Library debug output."""
        self._frame(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Every frame sent and received."""
        self._frame(logging.INFO if self.debug_traffic else logging.DEBUG, msg, args)

    def warning(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Something odd but harmless."""
        self.problem(msg[:40], msg, *args)

    def error(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """The library's errors are the charger's problems: a warning is enough."""
        self.problem(msg[:40], msg, *args)

    def exception(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """A frame that could not be handled (no traceback: the frame is the problem)."""
        self.problem(msg[:40], msg, *args)


class WebSocketConnection:
    """The `connection` the `ocpp` library wants, on top of an aiohttp websocket (either side)."""

    def __init__(
        self,
        ws: web.WebSocketResponse | ClientWebSocketResponse,
        name: str,
        logger: TrafficLogger | None = None,
    ) -> None:
        self._ws = ws
        self._name = name
        self._logger = logger or TrafficLogger(name)

    @property
    def closed(self) -> bool:
        """Whether the websocket is closed or closing."""
        return self._ws.closed

    async def recv(self) -> str:
        """The next text frame; raise ConnectionClosedError when the connection ends."""
        while True:
            msg = await self._ws.receive()
            if msg.type is WSMsgType.TEXT:
                return str(msg.data)
            if msg.type is WSMsgType.BINARY:
                # OCPP-J uses text frames only; ignore the frame, keep the connection.
                self._logger.problem(
                    "binary frame", "%s sent a binary frame; OCPP-J allows text only", self._name
                )
                continue
            if msg.type is WSMsgType.ERROR:
                error = self._ws.exception()
                if isinstance(error, WebSocketError) and error.code == WSCloseCode.MESSAGE_TOO_BIG:
                    self._logger.problem(
                        "frame too big",
                        "%s sent a frame over the size limit; connection closed (1009): %s",
                        self._name,
                        error,
                    )
                raise ConnectionClosedError(f"websocket error: {error!r}")
            raise ConnectionClosedError(f"websocket closed ({msg.type.name})")

    async def send(self, data: str) -> None:
        """Send one text frame."""
        if self._ws.closed:
            raise ConnectionClosedError("websocket closed")
        await self._ws.send_str(data)

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        """Close the websocket (idempotent)."""
        await self._ws.close(code=code, message=message)


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself in BootNotification."""

    vendor: str
    model: str
    firmware_version: str | None = None
    serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class StationConfig:
    """What the charger's configuration says about smart charging (None: not reported)."""

    rate_units: frozenset[str] | None = None
    """Units its charging schedules accept: 'W', 'A'."""
    max_stack_level: int | None = None
    v2x_supported: bool | None = None
    """2.1 only: V2XChargingCtrlr reports bidirectional operation (CentralSetpoint / *_BPT)."""
    supply_phases: int | None = None
    """2.x EVSE.SupplyPhases: the phases the EVSE is wired to (1-3)."""
    raw: tuple[tuple[str, str], ...] = ()
    """The values read, for diagnostics."""


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """A version-neutral charging profile: one period, bounded validity."""

    profile_id: int
    purpose: str
    """'TxProfile' or 'TxDefaultProfile'."""
    connector_id: int
    """1.6 connectorId, 2.x evseId."""
    transaction_id: str | None
    stack_level: int
    unit: str
    """'W' or 'A'."""
    mode: str
    """'limit' (charge only, value >= 0) or 'setpoint' (2.1 CentralSetpoint, signed)."""
    value: float
    number_phases: int | None
    start: datetime
    duration_s: int
    valid_to: datetime
    max_offline_duration_s: int


class SessionSink(Protocol):
    """Where a session delivers what the charger reports (the station)."""

    def on_boot(self, info: BootInfo) -> None:
        """BootNotification."""

    def on_heartbeat(self) -> None:
        """Heartbeat (or any sign of life)."""

    def on_status(self, connector_id: int, status: str, error_code: str | None) -> None:
        """StatusNotification for one connector (1.6) or EVSE (2.x); 0 is the whole charger."""

    def on_meter_values(
        self,
        connector_id: int | None,
        meter_values: list[Any],
        transaction_id: str | None = None,
    ) -> None:
        """MeterValue objects (snake_case dicts) for a connector / EVSE and/or a transaction."""

    def on_transaction_started(self, connector_id: int | None, transaction_id: str | None) -> str:
        """A transaction began; returns the transaction id (1.6: the one we assign)."""

    def on_transaction_updated(
        self, connector_id: int | None, transaction_id: str, charging_state: str | None
    ) -> None:
        """2.x TransactionEvent Updated."""

    def on_transaction_ended(self, transaction_id: str | None) -> None:
        """A transaction ended."""

    def on_transaction_meter_start(
        self, connector_id: int | None, meter_wh: float, transaction_id: str | None = None
    ) -> None:
        """1.6 meterStart / meterStop register value (Wh)."""

    def on_ev_charging_needs(self, connector_id: int, charging_needs: dict[str, Any]) -> None:
        """2.x NotifyEVChargingNeeds (snake_case dict)."""

    def on_message_handled(self, action: str) -> None:
        """A request from the charger was answered (follow-up requests may go out now)."""


def _result(cls: Any, payload: dict[str, Any]) -> Any:
    """The library's response dataclass; keys it does not know are dropped (lax firmware)."""
    if is_dataclass(cls):
        known = {item.name for item in fields(cls)}
        payload = {key: value for key, value in payload.items() if key in known}
    try:
        return cls(**payload)
    except TypeError as err:
        raise ValidationError(f"{cls.__name__}: {err}") from err


def handles[F: Callable[..., Any]](action: str) -> Callable[[F], F]:
    """Typed wrapper of the library's `@on` decorator."""
    decorator: Callable[[F], F] = on(action)
    return decorator


@dataclass(slots=True)
class _Pending:
    """The one request waiting for its response."""

    unique_id: str
    future: asyncio.Future[CallResult | CallError | None]
    """None: the connection closed."""


def _readable_id(frame: list[Any]) -> str | None:
    if len(frame) < 2:
        return None
    message_id = frame[1]
    if isinstance(message_id, str) and 0 < len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return message_id
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class OcppSession(LibraryChargePoint):  # type: ignore[misc]
    """Central-system side of one charger connection; subclasses add a protocol version."""

    ocpp_version: str = ""
    _ocpp_version: str = ""
    _call_result: Any

    def __init__(
        self,
        identity: str,
        connection: WebSocketConnection,
        sink: SessionSink,
        *,
        response_timeout_s: float,
        skip_schema_validation: bool,
        logger: TrafficLogger,
        heartbeat_interval_s: int = 300,
        read_timeout_s: float | None = None,
    ) -> None:
        super().__init__(identity, connection, response_timeout=response_timeout_s, logger=logger)
        self.read_timeout_s = response_timeout_s if read_timeout_s is None else read_timeout_s
        self._gate = CallGate()
        self.connection = connection
        self.logger: TrafficLogger = logger
        self._sink = sink
        self._skip_validation = skip_schema_validation
        self._closed = False
        self._pending: _Pending | None = None
        self.heartbeat_interval_s = heartbeat_interval_s
        self.frames_received = 0
        self.send_frames_received = 0
        """2.1 SEND frames (unconfirmed messages such as NotifyPeriodicEventStream)."""
        if skip_schema_validation:
            for route in self.route_map.values():
                route["_skip_schema_validation"] = True

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed or self.connection.closed

    @property
    def is_2x(self) -> bool:
        """OCPP 2.0.1 or 2.1 (their OCPP-J has RpcFrameworkError and MessageTypeNotSupported)."""
        return self.ocpp_version != "1.6"

    async def start(self) -> None:
        """Receive and answer frames until the connection closes (bad frames are survived)."""
        try:
            while True:
                message = await self._connection.recv()
                self.frames_received += 1
                self.logger.info("%s: receive message %s", self.id, message)
                try:
                    await self.route_message(message)
                except ConnectionError:
                    raise
                except Exception as err:
                    self.logger.problem(
                        "unhandled frame", "%s: could not handle a frame: %r", self.id, err
                    )
        finally:
            self.mark_closed()

    def mark_closed(self) -> None:
        """Fail the pending request (and future ones) at once."""
        if not self._closed:
            self._closed = True
            pending, self._pending = self._pending, None
            if pending is not None and not pending.future.done():
                pending.future.set_result(None)

    # --- incoming frames -----------------------------------------------------------------

    async def route_message(self, raw_msg: str) -> None:
        """Check one frame's OCPP-J structure and route it (replaces the library's routing)."""
        try:
            frame = json.loads(raw_msg, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            await self._frame_error(None, "RpcFrameworkError", "not valid JSON", raw_msg)
            return
        if not isinstance(frame, list) or not frame:
            await self._frame_error(None, "RpcFrameworkError", "not a JSON array", raw_msg)
            return
        kind = frame[0]
        message_id = _readable_id(frame)
        if type(kind) is not int:
            await self._frame_error(
                message_id, "RpcFrameworkError", "no message type number", raw_msg
            )
        elif kind == CALL:
            await self._route_call(frame, message_id, raw_msg)
        elif kind in (CALLRESULT, CALLERROR):
            self._route_response(frame, message_id, raw_msg)
        elif kind == SEND and self.ocpp_version == "2.1":
            self._route_send(frame, message_id, raw_msg)
        elif kind == CALLRESULTERROR and self.ocpp_version == "2.1":
            self.logger.problem(
                "CALLRESULTERROR",
                "%s could not process our response to %s: %s",
                self.id,
                message_id,
                frame[2:4],
            )
        else:
            await self._frame_error(
                message_id, "MessageTypeNotSupported", f"message type {kind}", raw_msg
            )

    async def _frame_error(
        self, message_id: str | None, code: str, cause: str, raw_msg: str
    ) -> None:
        """Answer a frame that breaks OCPP-J (2.x), or drop it (1.6 has no such errors)."""
        self.logger.problem("bad frame", "%s sent a bad frame (%s): %s", self.id, cause, raw_msg)
        if not self.is_2x:
            if message_id is not None and code == "RpcFrameworkError":
                await self._send_error(message_id, "ProtocolError", cause)
            return
        await self._send_error(message_id or "-1", code, cause)

    async def _send_error(self, message_id: str, code: str, description: str) -> None:
        await self._send(CallError(message_id, code, description, {}).to_json())

    async def _route_call(self, frame: list[Any], message_id: str | None, raw_msg: str) -> None:
        if message_id is None or len(frame) != 4:
            await self._frame_error(message_id, "RpcFrameworkError", "malformed CALL", raw_msg)
            return
        action, payload = frame[2], frame[3]
        if not isinstance(payload, dict):
            code = "FormatViolation" if self.is_2x else "FormationViolation"
            self.logger.problem(code, "%s sent a CALL whose payload is no object", self.id)
            await self._send_error(message_id, code, "payload must be a JSON object")
            return
        msg = Call(message_id, action, payload)
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            details = error.details if isinstance(error.details, dict) else {}
            cause = str(details.get("cause", ""))
            self.logger.problem(
                error.code, "%s: %s refused (%s): %s", self.id, action, error.code, cause
            )
            # The library puts the whole offending frame into the details: answer with the
            # cause only, so a 250 kB frame does not come back as a 250 kB error.
            await self._send(
                CallError(
                    message_id, error.code, error.description, {"cause": cause[:300]}
                ).to_json()
            )

    def _route_response(self, frame: list[Any], message_id: str | None, raw_msg: str) -> None:
        pending = self._pending
        if pending is None or message_id != pending.unique_id or pending.future.done():
            # Answers no request of ours (late, duplicated or made up): dropped at once.
            self.logger.problem(
                "stray response",
                "%s: dropped a response to no pending request: %s",
                self.id,
                raw_msg,
            )
            return
        if frame[0] == CALLRESULT and len(frame) == 3:
            pending.future.set_result(CallResult(message_id, frame[2]))
        elif frame[0] == CALLERROR and len(frame) in (4, 5):
            details = frame[4] if len(frame) == 5 else {}
            pending.future.set_result(CallError(message_id, frame[2], frame[3], details))
        else:
            pending.future.set_result(CallError(message_id, "ProtocolError", "malformed", {}))

    def _route_send(self, frame: list[Any], message_id: str | None, raw_msg: str) -> None:
        """2.1 SEND: an unconfirmed message; parsed and checked, never answered."""
        self.send_frames_received += 1
        if message_id is None or len(frame) != 4 or not isinstance(frame[2], str):
            self.logger.problem("malformed SEND", "%s sent a malformed SEND: %s", self.id, raw_msg)
            return
        action, payload = frame[2], frame[3]
        if not isinstance(payload, dict):
            self.logger.problem(
                "malformed SEND", "%s sent a SEND %s without object", self.id, action
            )
            return
        if action not in SEND_ACTIONS:
            self.logger.problem("unknown SEND", "%s sent SEND %s, unknown", self.id, action)
            return
        if not self._skip_validation:
            # The action names a schema file: only known names ever reach the lookup.
            validator = get_validator(SEND, action, self.ocpp_version)
            if not validator.is_valid(payload):
                self.logger.problem("invalid SEND", "%s sent an invalid SEND %s", self.id, action)
                return
        self.logger.problem(
            "SEND", "%s sent %s (SEND, not answered)", self.id, action, level=logging.DEBUG
        )

    async def _handle_call(self, msg: Any) -> Any:
        action = msg.action
        routes = self.route_map.get(action) if isinstance(action, str) else None
        if not routes or "_on_action" not in routes:
            raise OcppNotImplementedError(details={"cause": f"No handler for {escape(action, 60)}"})
        result = await super()._handle_call(msg)
        self._sink.on_message_handled(action)
        return result

    # --- requests to the charger ---------------------------------------------------------

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: Any = None,
        skip_schema_validation: bool = False,
        *,
        priority: Priority = Priority.NORMAL,
        timeout_s: float | None = None,
    ) -> Any:
        """Send a request and wait for its response (CallErrors raise unless suppressed).

        One request at a time (OCPP-J), the most urgent `priority` first; a response is matched
        by its message id. A READ may raise CallAbandonedError (it gave way to a setpoint).
        """
        if self.closed:
            raise ConnectionClosedError("charger not connected")
        skip = skip_schema_validation or self._skip_validation
        action = type(payload).__name__
        request = Call(
            unique_id=str(unique_id) if unique_id is not None else str(uuid.uuid4()),
            action=action,
            payload=remove_nones(snake_to_camel_case(serialize_as_dict(payload))),
        )
        if not skip:
            await validate_payload(request, self._ocpp_version)
        timeout = self._response_timeout if timeout_s is None else timeout_s
        async with self._gate.turn(priority):
            response = await self._exchange(request, priority, timeout)
        if isinstance(response, CallError):
            self.logger.debug("%s: %s answered with %s", self.id, action, response)
            if suppress:
                return None
            raise response.to_exception()
        if not isinstance(response.payload, dict):
            raise ValidationError(f"{action} response is not a JSON object")
        if not skip:
            response.action = action
            await validate_payload(response, self._ocpp_version)
        return _result(getattr(self._call_result, action), camel_to_snake_case(response.payload))

    async def _exchange(
        self, request: Call, priority: Priority, timeout_s: float
    ) -> CallResult | CallError:
        if self.closed:
            raise ConnectionClosedError("charger not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CallResult | CallError | None] = loop.create_future()
        self._pending = _Pending(request.unique_id, future)
        try:
            await self._send(request.to_json())
            sent_at = loop.time()
            deadline = sent_at + timeout_s
            gives_way = False
            if priority is Priority.READ:
                await self._answer_or_urgent(future, deadline)
                if not future.done() and self._gate.urgent.is_set():
                    gives_way = True  # a setpoint waits: a moment more, then give way
                    deadline = min(deadline, sent_at + READ_YIELD_S)
            await asyncio.wait((future,), timeout=max(0.0, deadline - loop.time()))
            if not future.done():
                if gives_way:
                    raise CallAbandonedError(f"{request.action} gave way to a setpoint")
                raise TimeoutError(f"no answer to {request.action} within {timeout_s:.0f} s")
            response = future.result()
        finally:
            if self._pending is not None and self._pending.future is future:
                self._pending = None
        if response is None:
            raise ConnectionClosedError("connection closed while waiting for a response")
        return response

    async def _answer_or_urgent(self, future: asyncio.Future[Any], deadline: float) -> None:
        """Wait for the answer, until the deadline or until a more urgent request waits."""
        loop = asyncio.get_running_loop()
        urgent = loop.create_task(self._gate.urgent.wait())
        try:
            await asyncio.wait(
                (future, urgent),
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            urgent.cancel()

    # What a version implements for the station.

    async def read_configuration(self, connector_id: int) -> StationConfig:
        """Read what the charger allows for charging profiles."""
        raise NotImplementedError

    async def set_profile(self, request: ProfileRequest) -> str:
        """Send SetChargingProfile; return the status ('Accepted', 'Rejected', ...)."""
        raise NotImplementedError

    async def clear_profiles(self, profile_ids: Sequence[int], connector_id: int) -> None:
        """Send ClearChargingProfile for each of our profile ids."""
        raise NotImplementedError


def now_utc() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)
