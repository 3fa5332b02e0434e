"""One OCPP charger, seen from the central system, as a `ChargerBackend`.

A station outlives its connections: the server attaches a session when the charger connects and
detaches it when the websocket ends; state, listeners and the setpoint survive reconnects. What
the charger reports (status, meter values, transactions, the EV's needs) arrives through the
`SessionSink` methods; setpoints go out through `ProfileControl` (profiles.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
import hmac
import itertools
import logging
import time
from typing import Any

from .. import (
    Capabilities,
    ChangeListener,
    ChargerState,
    ChargerStatus,
    ChargerUnavailableError,
    DeviceDetails,
    flow_status,
)
from .base import TRAFFIC_LOGGER, BootInfo, OcppSession, StationConfig, now_utc
from .limits import Clock, LogLimiter, escape
from .options import RATE_UNITS, StationOptions
from .profiles import CALL_ERRORS, MODE_LIMIT, MODE_SETPOINT, ProfileControl
from .readings import (
    ENERGY_IMPORT,
    EvChargingNeeds,
    MeterReading,
    parse_ev_needs,
    parse_meter_values,
)

__all__ = [
    "MODE_LIMIT",
    "MODE_SETPOINT",
    "RATE_UNITS",
    "OcppStation",
    "StationEvent",
    "StationListener",
    "StationOptions",
]

_LOGGER = logging.getLogger(__name__)

IDLE_THRESHOLD_W = 50.0
"""Below this magnitude no energy counts as flowing (meters show noise)."""
CONFIG_READ_ATTEMPTS = 3
CONFIG_RETRY_S = 60.0
"""An unanswered configuration read is tried again this much later (at most 3 tries)."""

# Connector / EVSE states in which an EV is plugged in (1.6 ChargePointStatus, 2.x ConnectorStatus).
_PLUGGED_STATUSES = frozenset(
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}
)
_PLUGGED_CHARGING_STATES = frozenset({"Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE"})


class StationEvent(StrEnum):
    """Why a station listener is called."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNAVAILABLE = "unavailable"
    """The charger stayed away longer than the grace period."""
    BOOTED = "booted"
    CONFIGURED = "configured"
    STATE = "state"
    """Status, meter values or a transaction changed."""
    EV_NEEDS = "ev_needs"
    PROFILE_REJECTED = "profile_rejected"
    PROFILE_ACCEPTED = "profile_accepted"
    """A profile was accepted after an earlier rejection (a repair issue can be deleted)."""


type StationListener = Callable[["OcppStation", StationEvent], None]


def new_transaction_ids() -> Iterator[int]:
    """OCPP 1.6 transaction ids: integers counting up from the current time (int32-safe).

    Starting from the clock keeps ids increasing across restarts of Home Assistant.
    """
    return itertools.count(int(time.time()) % 1_000_000_000 + 1)


@dataclass(slots=True)
class _Measurements:
    power_w: float = 0.0
    energy_import_kwh: float = 0.0
    energy_export_kwh: float = 0.0
    soc_pct: float | None = None
    current_a: float | None = None
    voltage_v: float | None = None
    reported_setpoint_w: float | None = None
    updated_at: datetime | None = None
    soc_seen: bool = False
    connector_values_seen: bool = False
    extra: dict[str, float] = field(default_factory=dict)


def _rounded(value: float, digits: int) -> float:
    """Rounded, never -0.0 (a charger reporting -0.04 W or a setpoint of -0 shows 0.0)."""
    return round(value, digits) + 0.0


class OcppStation:
    """One charger: what it reported, and the setpoint it follows. Implements ChargerBackend."""

    def __init__(
        self,
        identity: str,
        password: str,
        options: StationOptions | None = None,
        *,
        ensure_server: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = time.monotonic,
        transaction_ids: Iterator[int] | None = None,
    ) -> None:
        """Create a station; the server attaches sessions to it.

        `clock` (monotonic seconds) times the offline grace period and profile refreshes.
        `transaction_ids` gives the ids of OCPP 1.6 transactions (the central system assigns
        them); the server shares one among its stations so no two transactions get the same id.
        """
        self.identity = identity
        self._password = password.encode()
        self.options = options or StationOptions()
        self._ensure_server = ensure_server
        self._clock = clock
        self._listeners: list[StationListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: OcppSession | None = None
        self.remote: str | None = None
        self.ocpp_version: str | None = None
        self.boot_info: BootInfo | None = None
        self.config = StationConfig()
        self.ev_needs: EvChargingNeeds | None = None
        self.connector_status: str | None = None
        self.error_code: str | None = None
        self.transaction_id: str | None = None
        self.profiles = ProfileControl(self, clock)
        self.log_limiter = LogLimiter(TRAFFIC_LOGGER, f"Charger {identity}", clock=clock)
        """Rate limit of warnings about this charger's frames (outlives its connections)."""
        self._lifecycle_log = LogLimiter(
            _LOGGER,
            f"Charger {identity}",
            burst=10,
            clock=clock,
            noun="connection messages",
            summary_level=logging.INFO,
        )
        """A charger in a reconnect loop writes a few lines per window, then a summary."""
        self._ever_connected = False
        self._offline_since = clock()
        self._unavailable_handle: asyncio.TimerHandle | None = None
        self._boot_event = asyncio.Event()
        self._plugged_in = False
        self._station_faulted = False
        self._connector_faulted = False
        self._transaction_ids = transaction_ids or new_transaction_ids()
        self._meter = _Measurements()
        self._resend_after_reply = False
        self._shut_down = False
        self._implausible_warned = False
        self._foreign_transactions: deque[str] = deque(maxlen=16)
        """Transactions seen on other connectors / EVSEs (their later messages are ignored)."""
        self._other_connectors_seen = False

    def __repr__(self) -> str:
        return (
            f"<OcppStation {self.identity} {self.ocpp_version or '-'} connected={self.connected}>"
        )

    # --- credentials ---------------------------------------------------------------------

    def set_password(self, password: str) -> None:
        """A new Basic-auth password (for the next connection)."""
        self._password = password.encode()

    def verify_password(self, candidate: bytes) -> bool:
        """Constant-time check of a Basic-auth password.

        The 1.6 security whitepaper stores AuthorizationKey as hex; firmware that sends the
        decoded bytes is accepted too when the configured password is a hex string.
        """
        ok = hmac.compare_digest(candidate, self._password)
        try:
            decoded = bytes.fromhex(self._password.decode())
        except ValueError:
            decoded = b""
        if decoded:
            ok = hmac.compare_digest(candidate, decoded) or ok
        return ok

    def set_debug_traffic(self, enabled: bool) -> None:
        """Log this charger's OCPP frames at INFO (True) or DEBUG (False), from now on."""
        self.options = replace(self.options, debug_traffic=enabled)
        if self._session is not None:
            self._session.logger.debug_traffic = enabled

    def diagnostics(self) -> dict[str, Any]:
        """Everything useful for a diagnostics download; never the password."""
        return {
            "identity": self.identity,
            "remote": self.remote,
            "connected": self.connected,
            "ocpp_version": self.ocpp_version,
            "boot_info": asdict(self.boot_info) if self.boot_info else None,
            "options": asdict(self.options),
            "configuration": dict(self.config.raw),
            "rate_units": sorted(self.config.rate_units or ()),
            "max_stack_level": self.config.max_stack_level,
            "v2x_supported": self.config.v2x_supported,
            "capabilities": asdict(self.capabilities),
            "ev_needs": asdict(self.ev_needs) if self.ev_needs else None,
            "target_w": self.profiles.target_w,
            "profile_rejected": self.profiles.rejected,
            "last_rejection": self.last_rejection,
            "state": asdict(self.state()),
            "frames_received": session.frames_received if (session := self._session) else None,
            "warnings_left_out": self.log_limiter.total_suppressed,
        }

    # --- listeners -----------------------------------------------------------------------

    def add_event_listener(self, listener: StationListener) -> Callable[[], None]:
        """Call `listener(station, event)` on every change; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """ChargerBackend: call `listener()` on every change the charger pushes."""
        return self.add_event_listener(lambda _station, _event: listener())

    def device_details(self) -> DeviceDetails | None:
        """Vendor, model, firmware and serial number from the BootNotification."""
        if (boot := self.boot_info) is None:
            return None
        return DeviceDetails(
            manufacturer=boot.vendor or None,
            model=boot.model or None,
            sw_version=boot.firmware_version,
            serial_number=boot.serial_number,
        )

    async def async_release(self) -> None:
        """Nothing to do here: the server forgets the station when it is unregistered."""

    def _fire(self, event: StationEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(self, event)
            except Exception:
                _LOGGER.exception("Listener of %s failed on %s", self.identity, event)

    # --- connection lifecycle (called by the server) -------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a websocket session is attached and open."""
        return self._session is not None and not self._session.closed

    @property
    def session(self) -> OcppSession | None:
        """The live session, if any."""
        return self._session

    def attach(self, session: OcppSession, remote: str) -> OcppSession | None:
        """A charger connected; return the previous session (the caller closes it)."""
        previous = self._session
        if previous is not None:
            previous.mark_closed()
        self._cancel_tasks()
        self._cancel_timers()
        self._shut_down = False
        self._session = session
        self.remote = remote
        self.ocpp_version = session.ocpp_version
        self._ever_connected = True
        self.config = StationConfig()
        self.profiles.connection_changed()
        self._boot_event = asyncio.Event()
        self._lifecycle_log.log(
            "connected",
            logging.INFO,
            "Charger %s connected from %s (OCPP %s)",
            self.identity,
            escape(remote),
            self.ocpp_version,
        )
        self.spawn(self._post_connect(session))
        self._fire(StationEvent.CONNECTED)
        return previous

    def detach(self, session: OcppSession) -> None:
        """A charger's websocket ended."""
        session.mark_closed()
        if session is not self._session:
            return
        self._session = None
        self.profiles.connection_changed()
        self._offline_since = self._clock()
        self._cancel_tasks()
        self._cancel_timers()
        if not self._shut_down:
            self._unavailable_handle = asyncio.get_running_loop().call_later(
                self.options.offline_grace_s, self._fire, StationEvent.UNAVAILABLE
            )
        self._lifecycle_log.log(
            "disconnected", logging.INFO, "Charger %s disconnected", self.identity
        )
        self._fire(StationEvent.DISCONNECTED)

    async def async_shutdown(self) -> None:
        """Stop background work (the server is stopping or forgetting this station)."""
        self._shut_down = True
        self._cancel_timers()
        self.log_limiter.close()
        self._lifecycle_log.close()
        tasks = list(self._tasks)
        self._cancel_tasks()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work for this connection (cancelled when it ends)."""
        task = asyncio.get_running_loop().create_task(coro, name=f"v2g-ocpp-{self.identity}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _cancel_timers(self) -> None:
        if self._unavailable_handle is not None:
            self._unavailable_handle.cancel()
            self._unavailable_handle = None
        self.profiles.cancel_refresh()

    async def _post_connect(self, session: OcppSession) -> None:
        try:
            async with asyncio.timeout(self.options.boot_wait_s):
                await self._boot_event.wait()
        except TimeoutError:
            pass
        await self._configure(session)
        await self.profiles.resend("connect")

    async def _configure(self, session: OcppSession, attempt: int = 1) -> None:
        """Read the charger's configuration; unanswered reads are tried again a few times."""
        try:
            self.config = await session.read_configuration(self.options.connector_id)
        except TimeoutError as err:  # no answer, or it gave way to a setpoint
            if attempt < CONFIG_READ_ATTEMPTS:
                self.spawn(self._configure_later(session, attempt + 1))
            _LOGGER.debug("No configuration from %s (attempt %d): %s", self.identity, attempt, err)
            return
        except (ConnectionError, *CALL_ERRORS) as err:
            _LOGGER.debug(
                "Could not read the configuration of %s: %s", self.identity, escape(repr(err))
            )
            return
        _LOGGER.debug("Configuration of %s: %s", self.identity, escape(self.config))
        self._fire(StationEvent.CONFIGURED)

    async def _configure_later(self, session: OcppSession, attempt: int) -> None:
        await asyncio.sleep(CONFIG_RETRY_S)
        if session is self._session and not session.closed:
            await self._configure(session, attempt)
            await self.profiles.resend("configured")

    async def _after_boot(self, session: OcppSession) -> None:
        await self._configure(session)
        await self.profiles.resend("boot")

    # --- what the charger reports (SessionSink) ------------------------------------------

    def on_boot(self, info: BootInfo) -> None:
        """BootNotification."""
        self.boot_info = info
        self._touch()
        self._fire(StationEvent.BOOTED)

    def on_heartbeat(self) -> None:
        """Heartbeat."""
        self._touch()

    def on_message_handled(self, action: str) -> None:
        """The reply went out: follow-up requests may be sent now."""
        session = self._session
        if session is None:
            return
        if action == "BootNotification":
            if self._boot_event.is_set():
                self.spawn(self._after_boot(session))
            else:
                self._boot_event.set()
        if self._resend_after_reply:
            self._resend_after_reply = False
            self.spawn(self.profiles.resend("transaction"))

    # Which messages are about our connector: `options.connector_id` (1.6 connectorId, 2.x
    # evseId). A message that names no connector (1.6 StopTransaction, 2.x TransactionEvent
    # after the first) is ours when its transaction is ours. An unknown transaction is adopted
    # (Home Assistant restarted during it) unless the station has shown other connectors: then
    # it may be theirs, and it is ours only once a message names our connector.

    def _other_connector(self, connector_id: int, transaction_id: str | None = None) -> None:
        self._other_connectors_seen = True
        if transaction_id is not None and transaction_id not in self._foreign_transactions:
            self._foreign_transactions.append(transaction_id)

    def _ours(self, connector_id: int | None, transaction_id: str | None) -> bool:
        """Whether a message (or its meter values) belongs to the connector we steer.

        Notes other connectors and their transactions on the way.
        """
        if connector_id is not None:
            if connector_id == self.options.connector_id:
                return True
            if connector_id != 0:
                self._other_connector(connector_id, transaction_id)
            return False
        if transaction_id is None or transaction_id == self.transaction_id:
            return True
        if transaction_id in self._foreign_transactions:
            return False
        return self.transaction_id is None and not self._other_connectors_seen

    def _adopt(self, transaction_id: str | None) -> None:
        """Follow a running transaction we did not see start (Home Assistant restarted)."""
        if transaction_id is None or transaction_id == self.transaction_id:
            return
        if self.transaction_id is not None:
            return  # ours runs; a message with another id is stale
        _LOGGER.info(
            "Charger %s: taking over running transaction %s", self.identity, escape(transaction_id)
        )
        self.transaction_id = transaction_id
        self._plugged_in = True
        self._resend_after_reply = True  # our profile again, as TxProfile of this transaction

    def on_status(self, connector_id: int, status: str, error_code: str | None) -> None:
        """StatusNotification."""
        self._touch()
        if connector_id == 0:
            self._station_faulted = status == "Faulted"
        elif connector_id == self.options.connector_id:
            self.connector_status = status
            self.error_code = error_code if error_code not in (None, "NoError") else None
            self._connector_faulted = status == "Faulted"
            self._plugged_in = status in _PLUGGED_STATUSES
            if not self._plugged_in:
                self._meter.power_w = 0.0
                self.ev_needs = None  # the next EV brings its own
        else:
            self._other_connector(connector_id)
            return
        self._fire(StationEvent.STATE)

    def on_meter_values(
        self,
        connector_id: int | None,
        meter_values: list[Any],
        transaction_id: str | None = None,
    ) -> None:
        """MeterValues (and meter values inside transaction messages)."""
        self._touch()
        if connector_id == 0:
            if self._meter.connector_values_seen:
                return  # a station-wide meter is the best we have until the connector reports
        elif not self._ours(connector_id, transaction_id):
            return
        elif connector_id is not None:
            self._meter.connector_values_seen = True
            self._adopt(transaction_id)  # 1.6 MeterValues carry the transaction id
        reading = parse_meter_values(meter_values)
        self._apply_reading(reading)
        self._fire(StationEvent.STATE)

    def _apply_reading(self, reading: MeterReading) -> None:
        if reading.rejected and not self._implausible_warned:
            self._implausible_warned = True
            _LOGGER.warning(
                "Charger %s sent implausible meter values (%s); such values are ignored and "
                "the last good reading is kept",
                self.identity,
                escape("; ".join(reading.rejected)),
            )
        meter = self._meter
        if (power := reading.power_w) is not None:
            meter.power_w = power
        if reading.energy_import_kwh is not None:
            meter.energy_import_kwh = reading.energy_import_kwh
        if reading.energy_export_kwh is not None:
            meter.energy_export_kwh = reading.energy_export_kwh
        if reading.soc_pct is not None:
            meter.soc_pct = reading.soc_pct
            meter.soc_seen = True
        if reading.current_a is not None:
            meter.current_a = reading.current_a
        if reading.voltage_v is not None:
            meter.voltage_v = reading.voltage_v
        if reading.setpoint_w is not None:
            meter.reported_setpoint_w = reading.setpoint_w

    def on_transaction_started(self, connector_id: int | None, transaction_id: str | None) -> str:
        """StartTransaction (1.6, we assign the id) or TransactionEvent Started (2.x)."""
        self._touch()
        if transaction_id is None:
            transaction_id = str(next(self._transaction_ids))
        if connector_id is not None and connector_id != self.options.connector_id:
            self._other_connector(connector_id, transaction_id)
            return transaction_id
        self.transaction_id = transaction_id
        self._plugged_in = True
        self._resend_after_reply = True
        self._fire(StationEvent.STATE)
        return transaction_id

    def on_transaction_updated(
        self, connector_id: int | None, transaction_id: str, charging_state: str | None
    ) -> None:
        """TransactionEvent Updated (2.x); adopts a running transaction we did not see start."""
        self._touch()
        if not self._ours(connector_id, transaction_id):
            return
        self._adopt(transaction_id)
        if transaction_id != self.transaction_id:
            return
        if charging_state in _PLUGGED_CHARGING_STATES:
            self._plugged_in = True
        self._fire(StationEvent.STATE)

    def on_transaction_ended(self, transaction_id: str | None) -> None:
        """StopTransaction (1.6) or TransactionEvent Ended (2.x)."""
        self._touch()
        if self.transaction_id is None or transaction_id not in (None, self.transaction_id):
            return
        self.transaction_id = None
        if self.profiles.transaction_ended():
            # The charger dropped the TxProfile with the transaction: fall back to TxDefault.
            self._resend_after_reply = True
        self._fire(StationEvent.STATE)

    def on_ev_charging_needs(self, connector_id: int, charging_needs: dict[str, Any]) -> None:
        """NotifyEVChargingNeeds (2.x)."""
        self._touch()
        if connector_id != self.options.connector_id:
            return
        self.ev_needs = parse_ev_needs(connector_id, charging_needs, now_utc())
        self.profiles.ev_changed()
        self._plugged_in = True
        self._fire(StationEvent.EV_NEEDS)
        self._fire(StationEvent.STATE)

    def on_transaction_meter_start(
        self, connector_id: int | None, meter_wh: float, transaction_id: str | None = None
    ) -> None:
        """1.6 StartTransaction / StopTransaction meter register (Wh)."""
        sample = {"value": str(meter_wh), "measurand": ENERGY_IMPORT, "unit": "Wh"}
        self.on_meter_values(connector_id, [{"sampled_value": [sample]}], transaction_id)

    def _touch(self) -> None:
        self._meter.updated_at = now_utc()

    # --- capabilities and state ----------------------------------------------------------

    @property
    def v2x_supported(self) -> bool:
        """OCPP 2.1 and the station or the EV reported bidirectional support."""
        if self.config.v2x_supported:
            return True
        return self.ev_needs is not None and self.ev_needs.supports_v2x

    @property
    def capabilities(self) -> Capabilities:
        """What this charger can do now (changes with configuration read and EV needs)."""
        return Capabilities(
            bidirectional=self.bidirectional,
            reports_soc=self._meter.soc_seen,
            min_charge_power_w=self.min_charge_power_w,
        )

    @property
    def bidirectional(self) -> bool:
        """Whether setpoints may be negative: OCPP 2.1, declared or reported, not refused."""
        if self.ocpp_version != "2.1" or self.profiles.v2x_rejected:
            return False
        return self.options.declared_bidirectional or self.v2x_supported

    @property
    def phases(self) -> int:
        """The phases energy flows on: the charger's wiring (or the entry), narrowed by the EV.

        A three-phase charger charging a single-phase EV delivers on one phase, and a single-phase
        EV announces it (requestedEnergyTransfer AC_single_phase); limits in A are per phase.
        """
        phases = self.config.supply_phases or self.options.phases
        needs = self.ev_needs
        if needs is not None and needs.phases is not None:
            phases = min(phases, needs.phases)
        return phases

    @property
    def min_charge_power_w(self) -> float:
        """The lowest non-zero power: the minimum current (the EV's, if higher) on every phase."""
        current = self.options.min_current_a
        needs = self.ev_needs
        if needs is not None and needs.ac_min_current_a is not None:
            current = max(current, needs.ac_min_current_a)
        return current * self.options.voltage_v * self.phases

    @property
    def max_charge_power_w(self) -> float:
        """The most this station will be asked to deliver: the entry's limit, narrowed by the EV."""
        limit = self.options.max_charge_power_w
        needs = self.ev_needs
        if needs is not None:
            if needs.max_charge_power_w:
                limit = min(limit, needs.max_charge_power_w)
            if needs.ac_max_current_a is not None:
                # evMaxCurrent is per phase: the EV takes it on every phase it charges on.
                limit = min(limit, needs.ac_max_current_a * self.options.voltage_v * self.phases)
        return limit

    @property
    def can_charge(self) -> bool:
        """False when the EV's limit is below the lowest power the charger can deliver."""
        return self.max_charge_power_w >= self.min_charge_power_w

    @property
    def max_discharge_power_w(self) -> float:
        """The most this station will be asked to take out of the EV (0: charge only)."""
        if not self.bidirectional:
            return 0.0
        limit = self.options.max_discharge_power_w
        if limit is None:
            limit = self.options.max_charge_power_w
        if self.ev_needs is not None and self.ev_needs.max_discharge_power_w is not None:
            limit = min(limit, self.ev_needs.max_discharge_power_w)
        return max(0.0, limit)

    @property
    def plugged_in(self) -> bool:
        """Whether an EV is plugged in, as far as the charger said."""
        return (
            self._plugged_in
            or self.transaction_id is not None
            or abs(self._meter.power_w) > IDLE_THRESHOLD_W
        )

    @property
    def profile_rejected(self) -> bool:
        """Whether the last setpoint could not be applied as asked."""
        return self.profiles.rejected

    @property
    def last_rejection(self) -> str | None:
        """Why the charger refused the last profile (None: never refused)."""
        return self.profiles.last_rejection

    @last_rejection.setter
    def last_rejection(self, reason: str | None) -> None:
        self.profiles.last_rejection = reason

    def state(self) -> ChargerState:
        """The last known state, without the availability check."""
        meter = self._meter
        plugged = self.plugged_in
        power = meter.power_w if plugged else 0.0
        if not self.connected and not self._ever_connected:
            status = ChargerStatus.OFFLINE
        elif self._station_faulted or self._connector_faulted:
            status = ChargerStatus.FAULT
        else:
            status = flow_status(plugged, power, IDLE_THRESHOLD_W)
        applied = self.profiles.applied
        return ChargerState(
            plugged_in=plugged,
            status=status,
            power_w=_rounded(power, 1),
            energy_charged_kwh=_rounded(meter.energy_import_kwh, 4),
            energy_discharged_kwh=_rounded(meter.energy_export_kwh, 4),
            max_charge_power_w=self.max_charge_power_w,
            max_discharge_power_w=self.max_discharge_power_w,
            soc_pct=meter.soc_pct if plugged else None,
            setpoint_w=(
                _rounded(meter.reported_setpoint_w, 1)
                if meter.reported_setpoint_w is not None
                else (applied.target_w if applied is not None else None)
            ),
            updated_at=meter.updated_at,
            ev_departure=needs.departure_time if (needs := self.ev_needs) and plugged else None,
            extra=self._extra(),
        )

    def _extra(self) -> dict[str, str | float | int | bool | None]:
        boot = self.boot_info
        needs = self.ev_needs
        applied = self.profiles.applied
        return {
            "ocpp_version": self.ocpp_version,
            "connected": self.connected,
            "vendor": boot.vendor if boot else None,
            "model": boot.model if boot else None,
            "firmware_version": boot.firmware_version if boot else None,
            "serial_number": boot.serial_number if boot else None,
            "connector_status": self.connector_status,
            "error_code": self.error_code,
            "transaction_id": self.transaction_id,
            "phases": self.phases,
            "current_a": self._meter.current_a,
            "voltage_v": self._meter.voltage_v,
            "v2x_supported": self.v2x_supported,
            "profile_purpose": applied.purpose if applied else None,
            "profile_unit": applied.unit if applied else None,
            "profile_mode": applied.mode if applied else None,
            "profile_valid_to": applied.valid_to.isoformat() if applied else None,
            "last_rejection": self.last_rejection,
            "ev_departure_time": (
                needs.departure_time.isoformat() if needs and needs.departure_time else None
            ),
            "ev_requested_energy_kwh": needs.requested_energy_kwh if needs else None,
        }

    # --- ChargerBackend ------------------------------------------------------------------

    async def async_start(self) -> None:
        """Make sure the shared server listens (the charger connects on its own)."""
        if self._ensure_server is None:
            return
        try:
            await self._ensure_server()
        except OSError as err:
            raise ChargerUnavailableError(f"OCPP server cannot listen: {err}") from err

    async def async_stop(self) -> None:
        """Clear our charging profiles (no discharging) and stop refreshing them."""
        self.profiles.stop()
        await self.async_clear_profiles()

    async def async_clear_profiles(self) -> None:
        """Remove the profiles this integration set; errors are logged, not raised."""
        await self.profiles.clear()

    async def async_read_state(self) -> ChargerState:
        """The current state; unavailable once the charger has been away past the grace period.

        A charger that never connected is not unavailable but waiting to be pointed at us: its
        state says `offline` (a new charger's first minutes, not a failure).
        """
        if not self.connected and self._ever_connected:
            away_s = self._clock() - self._offline_since
            if away_s > self.options.offline_grace_s:
                raise ChargerUnavailableError(
                    f"charger {self.identity} has not been connected for {away_s:.0f} s"
                )
        return self.state()

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Follow a signed power (W); sent only when it changes meaningfully or needs refresh."""
        if not self.connected:
            raise ChargerUnavailableError(f"charger {self.identity} is not connected")
        await self.profiles.apply(power_w)

    # --- for the profile logic (ProfileHost) ---------------------------------------------

    def profile_status(self, accepted: bool) -> None:
        """Tell listeners that a profile was rejected, or accepted again."""
        self._fire(StationEvent.PROFILE_ACCEPTED if accepted else StationEvent.PROFILE_REJECTED)
