"""What the OCPP 1.6, 2.0.1 and 2.1 sessions share: transport, logging, routing fixes, requests.

The `ocpp` package brings message classes, schema validation and routing but no transport. This
module adapts an aiohttp websocket to it and works around what its 2.1.0 release gets wrong for a
central system:

- an OCPP 2.1 action without a handler gets no reply at all: every unhandled action here gets a
  CallError NotImplemented;
- a frame it cannot route (for example an action that is not a string) ends its receive loop: the
  loop here survives bad frames;
- a request whose connection closes waits for the full response timeout: here it fails at once;
- it logs every frame at INFO on the `ocpp` logger: frames go to our own traffic logger at DEBUG
  (INFO when a station asks for traffic logging), never with HTTP headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
import logging
from typing import Any, Protocol

from aiohttp import ClientWebSocketResponse, WSMsgType, web
from ocpp.charge_point import ChargePoint as LibraryChargePoint
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import on

_LOGGER = logging.getLogger(__name__)
TRAFFIC_LOGGER = logging.getLogger(f"{__package__}.traffic")

# Profiles this integration owns on every charger; only these are ever cleared.
TX_PROFILE_ID = 924_001
TX_DEFAULT_PROFILE_ID = 924_002


class ConnectionClosedError(ConnectionError):
    """The websocket to the charger is closed."""


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


_MAX_LOGGED_CHARS = 300


def _shorten(arg: Any) -> Any:
    text = arg if isinstance(arg, str) else repr(arg)
    if len(text) <= _MAX_LOGGED_CHARS:
        return arg
    return f"{text[:_MAX_LOGGED_CHARS]}... ({len(text)} characters)"


class TrafficLogger:
    """The logger handed to the `ocpp` library: frames at DEBUG, or INFO when asked for.

    Problems (bad frames, CallErrors) are logged as warnings without a traceback unless DEBUG is on
    for the traffic logger.
    """

    def __init__(self, identity: str, *, debug_traffic: bool = False) -> None:
        self._identity = identity
        self.debug_traffic = debug_traffic

    def _log(self, level: int, msg: str, args: tuple[Any, ...], exc_info: bool) -> None:
        if not TRAFFIC_LOGGER.isEnabledFor(level):
            return
        verbose = self.debug_traffic or TRAFFIC_LOGGER.isEnabledFor(logging.DEBUG)
        if not verbose:
            # Problems are logged without the (possibly huge) frame content.
            args = tuple(_shorten(arg) for arg in args)
        TRAFFIC_LOGGER.log(level, msg, *args, exc_info=exc_info and verbose)

    def debug(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Library debug output."""
        self._log(logging.DEBUG, msg, args, False)

    def info(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Every frame sent and received."""
        self._log(logging.INFO if self.debug_traffic else logging.DEBUG, msg, args, False)

    def warning(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """Something odd but harmless (a CallError answer, a stray response)."""
        self._log(logging.WARNING, msg, args, False)

    def error(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """The library's errors are the charger's problems: a warning is enough."""
        self._log(logging.WARNING, msg, args, False)

    def exception(self, msg: str, *args: Any, **_kwargs: Any) -> None:
        """A frame that could not be handled."""
        self._log(logging.WARNING, msg, args, True)


class WebSocketConnection:
    """The `connection` the `ocpp` library wants, on top of an aiohttp websocket (either side)."""

    def __init__(self, ws: web.WebSocketResponse | ClientWebSocketResponse, name: str) -> None:
        self._ws = ws
        self._name = name

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
                _LOGGER.warning("%s sent a binary frame; OCPP-J allows text only", self._name)
                continue
            if msg.type is WSMsgType.ERROR:
                raise ConnectionClosedError(f"websocket error: {self._ws.exception()!r}")
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

    def on_meter_values(self, connector_id: int | None, meter_values: list[Any]) -> None:
        """MeterValue objects (snake_case dicts) for a connector / EVSE."""

    def on_transaction_started(self, connector_id: int | None, transaction_id: str | None) -> str:
        """A transaction began; returns the transaction id (1.6: the one we assign)."""

    def on_transaction_updated(
        self, connector_id: int | None, transaction_id: str, charging_state: str | None
    ) -> None:
        """2.x TransactionEvent Updated."""

    def on_transaction_ended(self, transaction_id: str | None) -> None:
        """A transaction ended."""

    def on_transaction_meter_start(self, connector_id: int | None, meter_wh: float) -> None:
        """1.6 meterStart / meterStop register value (Wh)."""

    def on_ev_charging_needs(self, connector_id: int, charging_needs: dict[str, Any]) -> None:
        """2.x NotifyEVChargingNeeds (snake_case dict)."""

    def on_message_handled(self, action: str) -> None:
        """A request from the charger was answered (follow-up requests may go out now)."""


def handles[F: Callable[..., Any]](action: str) -> Callable[[F], F]:
    """Typed wrapper of the library's `@on` decorator."""
    decorator: Callable[[F], F] = on(action)
    return decorator


class _Closed:
    """Sentinel put on the response queue when the connection ends."""

    unique_id = None


_CLOSED = _Closed()


class OcppSession(LibraryChargePoint):  # type: ignore[misc]
    """Central-system side of one charger connection; subclasses add a protocol version."""

    ocpp_version: str = ""
    _ocpp_version: str = ""

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
    ) -> None:
        super().__init__(identity, connection, response_timeout=response_timeout_s, logger=logger)
        self.connection = connection
        self._sink = sink
        self._skip_validation = skip_schema_validation
        self._closed = False
        self.heartbeat_interval_s = heartbeat_interval_s
        if skip_schema_validation:
            for route in self.route_map.values():
                route["_skip_schema_validation"] = True

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed or self.connection.closed

    async def start(self) -> None:
        """Receive and answer frames until the connection closes (bad frames are survived)."""
        try:
            while True:
                message = await self._connection.recv()
                self.logger.info("%s: receive message %s", self.id, message)
                try:
                    await self.route_message(message)
                except ConnectionError:
                    raise
                except Exception:
                    self.logger.exception("%s: could not handle a frame", self.id)
        finally:
            self.mark_closed()

    def mark_closed(self) -> None:
        """Fail pending and future requests at once."""
        if not self._closed:
            self._closed = True
            self._response_queue.put_nowait(_CLOSED)

    async def _handle_call(self, msg: Any) -> Any:
        action = msg.action
        routes = self.route_map.get(action) if isinstance(action, str) else None
        if not routes or "_on_action" not in routes:
            raise OcppNotImplementedError(details={"cause": f"No handler for {action!s:.60}"})
        result = await super()._handle_call(msg)
        self._sink.on_message_handled(action)
        return result

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: Any = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """Send a request and wait for its response (CallErrors raise unless suppressed)."""
        if self.closed:
            raise ConnectionClosedError("charger not connected")
        return await super().call(
            payload,
            suppress=suppress,
            unique_id=unique_id,
            skip_schema_validation=skip_schema_validation or self._skip_validation,
        )

    async def _get_specific_response(self, unique_id: Any, timeout: float) -> Any:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                response = await self._response_queue.get()
            if response is _CLOSED:
                self._response_queue.put_nowait(_CLOSED)
                raise ConnectionClosedError("connection closed while waiting for a response")
            if response.unique_id == unique_id:
                return response
            self.logger.warning("%s: ignoring a response to an unknown request", self.id)

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
