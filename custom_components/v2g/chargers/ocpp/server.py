"""The OCPP central system: one aiohttp websocket server shared by every charger.

A charger connects to `ws[s]://<host>:<port>/<anything>/<identity>`; the identity is the last path
segment. Before the websocket upgrade the server checks (OCPP security profile 1/2):

1. the identity is registered, else HTTP 404 (and `on_unknown_identity` is called so the
   integration can offer to add the charger; a few identities per window, see
   `UnknownIdentityGate`, so a scanner cannot start thousands of discovery flows);
2. HTTP Basic auth: user name == identity and the station's password, compared in constant
   time, else HTTP 401 with `WWW-Authenticate`.

Then it negotiates the newest subprotocol the charger offers (`ocpp2.1`, `ocpp2.0.1`,
`ocpp1.6`). When none matches, the handshake completes without a subprotocol and the server
closes with 1002 (OCPP-J). Credentials and headers are never logged.
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
from urllib.parse import quote

from aiohttp import hdrs, web

from .base import OcppSession, TrafficLogger, WebSocketConnection
from .limits import Clock, UnknownIdentityGate, escape
from .options import StationOptions
from .station import OcppStation
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
    """The newest supported subprotocol in a Sec-WebSocket-Protocol header, or None."""
    if not offered:
        return None
    names = {part.strip().lower() for part in offered.split(",")}
    return next((protocol for protocol in SUBPROTOCOLS if protocol in names), None)


def identity_from_path(path: str) -> str:
    """The charger identity: the last non-empty path segment (already percent-decoded)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


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
        clock: Clock = time.monotonic,
    ) -> None:
        """Configure the server; nothing listens before `start()`.

        `clock` (monotonic seconds) times grace periods and rate limits, here and in stations.
        """
        self.host = host
        self._port = port
        self.ssl_context = ssl_context
        self.on_unknown_identity = on_unknown_identity
        self._max_msg_size = max_msg_size
        self._heartbeat = websocket_heartbeat_s
        self._clock = clock
        self._stations: dict[str, OcppStation] = {}
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
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._port, ssl_context=self.ssl_context)
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
            for station in list(self._stations.values()):
                await station.async_shutdown()

    # --- stations ------------------------------------------------------------------------

    @property
    def stations(self) -> Mapping[str, OcppStation]:
        """Registered stations by identity (read only)."""
        return MappingProxyType(self._stations)

    def get_station(self, identity: str) -> OcppStation | None:
        """The station registered under `identity`."""
        return self._stations.get(identity)

    def register_station(
        self, identity: str, password: str, options: StationOptions | None = None
    ) -> OcppStation:
        """Accept a charger; it keeps its station object across reconnects.

        Raises ValueError for an identity that does not match IDENTITY_PATTERN (for example one
        with ':', which Basic auth cannot carry) or one already registered.
        """
        if not valid_identity(identity):
            raise ValueError(
                "identity must be 1-48 characters of A-Z, a-z, 0-9 and *-_=+|@. "
                "(no ':', it separates user name and password in Basic auth)"
            )
        if identity in self._stations:
            raise ValueError(f"station {identity} is already registered")
        station = OcppStation(
            identity, password, options, ensure_server=self.start, clock=self._clock
        )
        self._stations[identity] = station
        return station

    async def unregister_station(self, identity: str) -> None:
        """Forget a charger: close its connection and stop its background work."""
        station = self._stations.pop(identity, None)
        self._warned = {key for key in self._warned if key[0] != identity}
        if station is None:
            return
        session = station.session
        if session is not None:
            await session.connection.close(code=CLOSE_GOING_AWAY, message=b"unregistered")
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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        identity = identity_from_path(request.match_info.get("path", ""))
        remote = request.remote or "unknown"
        station = self._stations.get(identity)
        if station is None:
            self._unknown(identity, remote, request)
            return web.Response(status=404, text="Unknown charger identity")
        reason = self._auth_failure(request, station)
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
        if protocol is None:
            self._warn_once(
                identity,
                "protocol",
                "Charger %s offered no supported OCPP version (%s)",
                identity,
                request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "none")[:80],
            )
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"unsupported subprotocol")
            return ws
        await self._serve(ws, station, protocol, remote)
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
        self, ws: web.WebSocketResponse, station: OcppStation, protocol: str, remote: str
    ) -> None:
        options = station.options
        logger = TrafficLogger(
            station.identity, debug_traffic=options.debug_traffic, limiter=station.log_limiter
        )
        session = SESSION_CLASSES[protocol](
            station.identity,
            WebSocketConnection(ws, station.identity, logger),
            station,
            response_timeout_s=options.response_timeout_s,
            skip_schema_validation=options.skip_schema_validation,
            logger=logger,
            heartbeat_interval_s=options.heartbeat_interval_s,
        )
        self._sockets.add(ws)
        try:
            previous = station.attach(session, remote)
            if previous is not None:
                await previous.connection.close(message=b"replaced by a new connection")
            with contextlib.suppress(ConnectionError):
                await session.start()
        finally:
            station.detach(session)
            self._sockets.discard(ws)
            await ws.close()
