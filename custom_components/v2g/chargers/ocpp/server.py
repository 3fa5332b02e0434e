"""The OCPP central system: one aiohttp websocket server shared by every charger.

A charger connects to `ws[s]://<host>:<port>/<anything>/<identity>`; the identity is the last path
segment. Before the websocket upgrade the server checks (OCPP security profile 1/2):

1. the identity is registered, else HTTP 404 (and `on_unknown_identity` is called so the
   integration can offer to add the charger; a few identities per window, see
   `UnknownIdentityGate`, so a scanner cannot start thousands of discovery flows);
2. HTTP Basic auth: user name == identity and the station's password, compared in constant
   time, else HTTP 401 with `WWW-Authenticate`.

Then it negotiates the newest subprotocol the charger offers (`ocpp2.1`, `ocpp2.0.1`,
`ocpp1.6`), matched exactly (RFC 6455 subprotocol tokens are case-sensitive: `OCPP1.6` is no
match). When none matches, the handshake completes without a subprotocol and the server closes
with 1002 (OCPP-J); a session only runs when the subprotocol echoed to the charger is the one
chosen. Credentials and headers are never logged.

HTTP edges: a connection must complete its request within `header_timeout_s` (a client that opens
TCP and never finishes its headers is dropped), every answer but the upgrade closes the
connection, and a malformed request (a header over 8,190 bytes, bad syntax) gets aiohttp's 400
with one rate-limited warning line instead of an error with a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
import contextlib
import hmac
import logging
import re
import secrets
import ssl
import string
import time
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from .base import OcppSession, TrafficLogger, WebSocketConnection
from .group import StationGroup
from .limits import Clock, LogLimiter, UnknownIdentityGate, escape
from .options import StationOptions
from .station import OcppStation, new_transaction_ids
from .v16 import Session16
from .v21 import Session21
from .v201 import Session201

_LOGGER = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
"""Supported OCPP-J subprotocols, newest first (the server prefers the newest offered)."""

SESSION_CLASSES: Mapping[str, type[OcppSession]] = MappingProxyType(
    {"ocpp2.1": Session21, "ocpp2.0.1": Session201, "ocpp1.6": Session16}
)
DEFAULT_PORT = 9000
DEFAULT_MAX_MSG_SIZE = 256 * 1024
DEFAULT_HEADER_TIMEOUT_S = 30.0
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_GOING_AWAY = 1001
_WWW_AUTHENTICATE = 'Basic realm="OCPP", charset="UTF-8"'
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9*\-_=+|@.]{1,48}$")
"""A charger identity: OCPP's identifierString characters, 1-48 of them, without ':'.

OCPP allows ':' too, but the identity is the Basic-auth user name, and RFC 7617 splits user and
password at the first ':': a charger whose identity has one could never log in.
"""
_PASSWORD_ALPHABET = string.ascii_letters + string.digits

type UnknownIdentityCallback = Callable[[str, str], None]
"""`callback(identity, remote_address)` for a charger that is not registered."""


def valid_identity(identity: str) -> bool:
    """Whether `identity` can be registered (see IDENTITY_PATTERN)."""
    return IDENTITY_PATTERN.fullmatch(identity) is not None


def generate_password(length: int = 20) -> str:
    """A random Basic-auth password of letters and digits.

    20 characters fit both OCPP 2.x BasicAuthPassword (16-40 characters) and 1.6 AuthorizationKey
    (at most 20 bytes).
    """
    if not 16 <= length <= 40:
        raise ValueError("OCPP passwords have 16 to 40 characters")
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def build_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server TLS context (security profile 2), TLS 1.2 at least.

    Reads files: call it in an executor from the event loop.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


def choose_subprotocol(offered: str | None) -> str | None:
    """The newest supported subprotocol in a Sec-WebSocket-Protocol header, or None.

    Tokens are compared exactly: RFC 6455 subprotocol names are case-sensitive.
    """
    if not offered:
        return None
    names = {part.strip() for part in offered.split(",")}
    return next((protocol for protocol in SUBPROTOCOLS if protocol in names), None)


def identity_from_path(path: str) -> str:
    """The charger identity: the last non-empty path segment (already percent-decoded)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


class _QuietBadRequests(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, minus tracebacks for requests it could not parse.

    A header over 8,190 bytes or a garbled request line is the peer's problem: aiohttp answers
    400 and this logs one rate-limited warning line. Anything else passes through unchanged.
    """

    def __init__(self, limiter: LogLimiter) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._limiter = limiter

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log, except malformed requests (a quiet, rate-limited warning)."""
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self._limiter.log(
                "malformed request",
                logging.WARNING,
                "OCPP server refused a malformed HTTP request from %s: %s",
                escape(args[0] if args else "unknown"),
                escape(str(error), 160),
            )
            return
        super().log(level, msg, *args, **kwargs)


class _HeaderDeadlineSite(web.TCPSite):
    """A TCP site that tells the server about every new connection (to time its request)."""

    __slots__ = ("_handshake_timeout_s", "_on_connection")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        on_connection: Callable[[asyncio.BaseProtocol], None],
        handshake_timeout_s: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._on_connection = on_connection
        self._handshake_timeout_s = handshake_timeout_s

    async def start(self) -> None:
        """Listen, like TCPSite, with the connection hook around aiohttp's protocol factory."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.BaseProtocol:
            handler = server()
            self._on_connection(handler)
            return handler

        self._server = await asyncio.get_running_loop().create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
            # A connection still in its TLS handshake cannot be force-closed: bound it here.
            ssl_handshake_timeout=self._handshake_timeout_s if self._ssl_context else None,
        )


def _basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, separator, password = decoded.partition(b":")
    if not separator:
        return None
    return user, password


class OcppServer:
    """One OCPP websocket server for all registered stations."""

    def __init__(
        self,
        host: str | None = "0.0.0.0",
        port: int = DEFAULT_PORT,
        ssl_context: ssl.SSLContext | None = None,
        *,
        on_unknown_identity: UnknownIdentityCallback | None = None,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        websocket_heartbeat_s: float | None = 60.0,
        header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
        clock: Clock = time.monotonic,
    ) -> None:
        """Configure the server; nothing listens before `start()`.

        `header_timeout_s`: a connection whose HTTP request is not complete by then is dropped.
        `clock` (monotonic seconds) times grace periods and rate limits, here and in stations.
        """
        self.host = host
        self._port = port
        self.ssl_context = ssl_context
        self.on_unknown_identity = on_unknown_identity
        self._max_msg_size = max_msg_size
        self._heartbeat = websocket_heartbeat_s
        self._clock = clock
        self._header_timeout_s = header_timeout_s
        self._deadlines: dict[asyncio.BaseProtocol, asyncio.TimerHandle] = {}
        """Connections (aiohttp protocols) whose request has not reached the handler yet, each
        with its deadline (a closed one stays until its deadline: bounded by the accept rate)."""
        self._http_limiter = LogLimiter(_LOGGER, "OCPP server", clock=clock)
        self._groups: dict[str, StationGroup] = {}
        """The stations of each identity (one per connector), by identity."""
        self._transaction_ids = new_transaction_ids()
        """One counter for every station: 1.6 transaction ids are unique across chargers."""
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._start_lock = asyncio.Lock()
        self._warned: set[tuple[str, str]] = set()
        """(identity, kind) already warned about; registered identities only (bounded)."""
        self.unknown_gate = UnknownIdentityGate(_LOGGER, clock=clock)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server listens."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The port listened on (the bound one when started with port 0)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    return int(address[1])
        return self._port

    async def start(self) -> None:
        """Listen (idempotent); raises OSError when the port is taken."""
        async with self._start_lock:
            if self._runner is not None:
                return
            app = web.Application()
            app.router.add_get("/{path:.*}", self._handle)
            runner = web.AppRunner(
                app,
                access_log=None,
                handle_signals=False,
                shutdown_timeout=2.0,
                logger=_QuietBadRequests(self._http_limiter),
            )
            await runner.setup()
            site = _HeaderDeadlineSite(
                runner,
                self.host,
                self._port,
                ssl_context=self.ssl_context,
                on_connection=self._connection_made,
                handshake_timeout_s=self._header_timeout_s,
            )
            try:
                await site.start()
            except BaseException:
                await runner.cleanup()
                raise
            self._runner = runner
            _LOGGER.info("OCPP server listening on port %s", self.port)

    async def stop(self) -> None:
        """Close every charger connection and stop listening."""
        async with self._start_lock:
            runner, self._runner = self._runner, None
            sockets = list(self._sockets)
            await asyncio.gather(
                *(ws.close(code=CLOSE_GOING_AWAY, message=b"server shutdown") for ws in sockets),
                return_exceptions=True,
            )
            if runner is not None:
                await runner.cleanup()
            self.unknown_gate.close()
            self._http_limiter.close()
            for handle in self._deadlines.values():
                handle.cancel()
            self._deadlines.clear()
            for group in list(self._groups.values()):
                for station in list(group.stations.values()):
                    await station.async_shutdown()

    # --- stations ------------------------------------------------------------------------

    @property
    def stations(self) -> Mapping[str, OcppStation]:
        """Registered stations by identity (read only)."""
        return MappingProxyType({i: g.primary for i, g in self._groups.items()})

    def get_station(self, identity: str, connector_id: int | None = None) -> OcppStation | None:
        """The station registered under `identity` (for one connector: its own)."""
        if (group := self._groups.get(identity)) is None:
            return None
        return group.primary if connector_id is None else group.stations.get(connector_id)

    def register_station(
        self, identity: str, password: str, options: StationOptions | None = None
    ) -> OcppStation:
        """Accept a charger (or another connector of one); it keeps its station across reconnects.

        Raises ValueError for an identity that does not match IDENTITY_PATTERN (for example one
        with ':', which Basic auth cannot carry) and for a connector already registered. Another
        connector of a registered charger shares its connection and so its password: the newest
        password counts for all of them.
        """
        if not valid_identity(identity):
            raise ValueError(
                "identity must be 1-48 characters of A-Z, a-z, 0-9 and *-_=+|@. "
                "(no ':', it separates user name and password in Basic auth)"
            )
        group = self._groups.get(identity)
        if group is not None and not group.primary.verify_password(password.encode()):
            # One connection, one password: the newest registration sets it for every connector.
            for other in group.stations.values():
                other.set_password(password)
        station = OcppStation(
            identity,
            password,
            options,
            ensure_server=self.start,
            clock=self._clock,
            transaction_ids=self._transaction_ids,
        )
        if group is None:
            self._groups[identity] = StationGroup(station)
        else:
            group.add(station)
        return station

    async def unregister_station(self, identity: str, connector_id: int | None = None) -> None:
        """Forget a charger (or one connector of it) and stop its background work.

        The connection is closed when no connector of the charger is left.
        """
        group = self._groups.get(identity)
        if group is None:
            return
        connectors = list(group.stations) if connector_id is None else [connector_id]
        if set(connectors) >= set(group.stations):
            # The charger's last connector: the connection ends (its stations see it end).
            del self._groups[identity]
            self._warned = {key for key in self._warned if key[0] != identity}
            if (session := group.primary.session) is not None:
                await session.connection.close(code=CLOSE_GOING_AWAY, message=b"unregistered")
        stations = [s for c in connectors if (s := group.stations.pop(c, None)) is not None]
        for station in stations:
            await station.async_shutdown()

    def url_for(self, identity: str, host_hint: str) -> str:
        """The URL a charger should be given, e.g. ws://192.168.1.10:9000/my-charger."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{host_hint}]" if ":" in host_hint and not host_hint.startswith("[") else host_hint
        return f"{scheme}://{host}:{self.port}/{quote(identity, safe='')}"

    # --- one connection ------------------------------------------------------------------

    def _warn_once(self, identity: str, kind: str, msg: str, *args: object) -> None:
        """Warn once per registered identity and kind, then log at DEBUG."""
        key = (identity, kind)
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        _LOGGER.log(level, msg, *(escape(arg) for arg in args))

    def _connection_made(self, protocol: asyncio.BaseProtocol) -> None:
        self._deadlines[protocol] = asyncio.get_running_loop().call_later(
            self._header_timeout_s, self._request_deadline, protocol
        )

    def _request_deadline(self, protocol: asyncio.BaseProtocol) -> None:
        """Drop a connection that has not completed its HTTP request in time (slowloris)."""
        self._deadlines.pop(protocol, None)
        force_close = getattr(protocol, "force_close", None)
        if callable(force_close):
            force_close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if (deadline := self._deadlines.pop(request.protocol, None)) is not None:
            deadline.cancel()
        response = await self._answer(request)
        if response.status != 101:
            response.force_close()  # one request per connection: no idle keep-alive
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        identity = identity_from_path(request.match_info.get("path", ""))
        remote = request.remote or "unknown"
        group = self._groups.get(identity)
        if group is None:
            self._unknown(identity, remote, request)
            return web.Response(status=404, text="Unknown charger identity")
        reason = self._auth_failure(request, group.primary)
        if reason is not None:
            self._warn_once(
                identity, "auth", "Charger %s from %s refused: %s", identity, remote, reason
            )
            return web.Response(
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: _WWW_AUTHENTICATE},
                text="Unauthorized",
            )
        protocol = choose_subprotocol(request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL))
        ws = web.WebSocketResponse(
            protocols=(protocol,) if protocol else (),
            heartbeat=self._heartbeat,
            max_msg_size=self._max_msg_size,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="OCPP needs a websocket")
        await ws.prepare(request)
        if protocol is None or ws.ws_protocol != protocol:
            self._warn_once(
                identity,
                "protocol",
                "Charger %s offered no supported OCPP version (%s)",
                identity,
                request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "none")[:80],
            )
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"unsupported subprotocol")
            return ws
        await self._serve(ws, group, protocol, remote)
        return ws

    def _unknown(self, identity: str, remote: str, request: web.Request) -> None:
        upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        if not upgrade or not valid_identity(identity):
            return
        if not self.unknown_gate.admit(identity, remote):
            return  # counted; one summary line per window
        if self.on_unknown_identity is not None:
            try:
                self.on_unknown_identity(identity, remote)
            except Exception:
                _LOGGER.exception("on_unknown_identity failed for %s", identity)

    @staticmethod
    def _auth_failure(request: web.Request, station: OcppStation) -> str | None:
        credentials = _basic_credentials(request.headers.get(hdrs.AUTHORIZATION))
        if credentials is None:
            return "no Basic credentials"
        user, password = credentials
        user_ok = hmac.compare_digest(user, station.identity.encode())
        password_ok = station.verify_password(password)
        if not user_ok:
            return "user name does not match the identity in the URL"
        if not password_ok:
            return "wrong password"
        return None

    async def _serve(
        self, ws: web.WebSocketResponse, group: StationGroup, protocol: str, remote: str
    ) -> None:
        station = group.primary
        options = station.options
        logger = TrafficLogger(
            station.identity, debug_traffic=options.debug_traffic, limiter=station.log_limiter
        )
        session = SESSION_CLASSES[protocol](
            station.identity,
            WebSocketConnection(ws, station.identity, logger),
            group,
            response_timeout_s=options.response_timeout_s,
            skip_schema_validation=options.skip_schema_validation,
            logger=logger,
            heartbeat_interval_s=options.heartbeat_interval_s,
            read_timeout_s=options.read_timeout_s,
        )
        self._sockets.add(ws)
        try:
            previous = group.attach(session, remote)
            if previous is not None:
                await previous.connection.close(message=b"replaced by a new connection")
            with contextlib.suppress(ConnectionError):
                await session.start()
        finally:
            group.detach(session)
            self._sockets.discard(ws)
            await ws.close()
