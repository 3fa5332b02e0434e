"""One OCPP charger, seen from the central system, as a `ChargerBackend`.

A station outlives its connections: the server attaches a session when the charger connects and
detaches it when the websocket ends; state, listeners and the setpoint survive reconnects.

Control: a signed setpoint becomes one SetChargingProfile with a single period and bounded
validity (`profile_validity_s`). OCPP 1.6 and 2.0.1 are charge only (a limit); OCPP 2.1 sends a
CentralSetpoint (signed) when the station is bidirectional, else a ChargingOnly limit, and always
`maxOfflineDuration` + `invalidAfterOfflineDuration` so a charger that loses Home Assistant drops
the profile and returns to plain charging within minutes. The station itself refreshes the
profile before it expires, for at most `setpoint_hold_s` after the last setpoint it was given:
if the integration stops steering, the charger falls back to its default behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
import hmac
import logging
import math
import time
from typing import Any

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError, ValidationError

from .. import (
    Capabilities,
    ChangeListener,
    ChargerState,
    ChargerStatus,
    ChargerUnavailableError,
    DeviceDetails,
    SetpointRejectedError,
    flow_status,
)
from .base import (
    TX_DEFAULT_PROFILE_ID,
    TX_PROFILE_ID,
    BootInfo,
    OcppSession,
    ProfileRequest,
    StationConfig,
    now_utc,
)
from .readings import (
    ENERGY_IMPORT,
    EvChargingNeeds,
    MeterReading,
    parse_ev_needs,
    parse_meter_values,
)

_LOGGER = logging.getLogger(__name__)

IDLE_THRESHOLD_W = 50.0
"""Below this magnitude no energy counts as flowing (meters show noise)."""

TX_PROFILE = "TxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
MODE_LIMIT = "limit"
MODE_SETPOINT = "setpoint"

# Connector / EVSE states in which an EV is plugged in (1.6 ChargePointStatus, 2.x ConnectorStatus).
_PLUGGED_STATUSES = frozenset(
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"}
)
_PLUGGED_CHARGING_STATES = frozenset({"Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE"})
_CALL_ERRORS = (OCPPError, UnknownCallErrorCodeError, ValidationError)


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

RATE_UNITS = ("auto", "W", "A")


@dataclass(frozen=True, slots=True)
class StationOptions:
    """Per-charger settings; the defaults suit a 3-phase 11 kW AC wallbox."""

    declared_bidirectional: bool = False
    """The user says the charger can discharge (used on OCPP 2.1 connections only)."""
    skip_schema_validation: bool = False
    """For firmware that breaks the OCPP JSON schemas."""
    debug_traffic: bool = False
    """Log every OCPP frame of this charger at INFO."""
    connector_id: int = 1
    """The connector (1.6) or EVSE (2.x) this integration steers."""
    max_charge_power_w: float = 11_000.0
    max_discharge_power_w: float | None = None
    """None: the same as max_charge_power_w (bidirectional stations only)."""
    phases: int = 3
    voltage_v: float = 230.0
    min_current_a: float = 6.0
    rate_unit: str = "auto"
    """'auto' (W when allowed, else A), 'W' or 'A'."""
    stack_level: int | None = None
    """None: the charger's highest stack level (0 when it does not say)."""
    profile_validity_s: int = 300
    setpoint_hold_s: int = 900
    """How long the station keeps refreshing a setpoint without being given a new one."""
    max_offline_duration_s: int = 120
    """2.1: the charger drops our profile after this long without Home Assistant."""
    offline_grace_s: float = 120.0
    """How long a dropped charger still reports its last state before it is unavailable."""
    response_timeout_s: float = 12.0
    deadband_w: float = 100.0
    clock_skew_margin_s: int = 60
    boot_wait_s: float = 5.0
    """After connecting, how long to wait for BootNotification before reading configuration."""
    heartbeat_interval_s: int = 300

    def __post_init__(self) -> None:
        """Reject settings that cannot work."""
        if self.rate_unit not in RATE_UNITS:
            raise ValueError(f"rate_unit must be one of {RATE_UNITS}")
        if self.phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        if self.connector_id < 1:
            raise ValueError("connector_id starts at 1")
        if self.profile_validity_s < 30 or self.setpoint_hold_s < 0:
            raise ValueError("profile_validity_s must be >= 30 s")
        if self.max_charge_power_w <= 0 or self.voltage_v <= 0:
            raise ValueError("max_charge_power_w and voltage_v must be positive")


@dataclass(frozen=True, slots=True)
class _Applied:
    target_w: float
    purpose: str
    unit: str
    mode: str
    transaction_id: str | None
    sent_at: float
    valid_to: datetime


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


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


class OcppStation:
    """One charger: what it reported, and the setpoint it follows. Implements ChargerBackend."""

    def __init__(
        self,
        identity: str,
        password: str,
        options: StationOptions | None = None,
        *,
        ensure_server: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Create a station; the server attaches sessions to it."""
        self.identity = identity
        self._password = password.encode()
        self.options = options or StationOptions()
        self._ensure_server = ensure_server
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
        self.last_rejection: str | None = None
        self._ever_connected = False
        self._offline_since = time.monotonic()
        self._unavailable_handle: asyncio.TimerHandle | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._boot_event = asyncio.Event()
        self._plugged_in = False
        self._station_faulted = False
        self._connector_faulted = False
        self._tx_counter = int(time.time()) % 1_000_000_000
        self._meter = _Measurements()
        self._target_w: float | None = None
        self._target_set_at = 0.0
        self._applied: _Applied | None = None
        self._send_lock = asyncio.Lock()
        self._unit_ok: str | None = None
        self._tx_profile_refused = False
        self._v2x_rejected = False
        self._rejected = False
        self._resend_after_reply = False
        self._shut_down = False
        self._cannot_charge_warned = False

    def __repr__(self) -> str:
        return (
            f"<OcppStation {self.identity} {self.ocpp_version or '-'} connected={self.connected}>"
        )

    # --- credentials ---------------------------------------------------------------------

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
            "target_w": self._target_w,
            "profile_rejected": self._rejected,
            "last_rejection": self.last_rejection,
            "state": asdict(self.state()),
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
        self._applied = None
        self._unit_ok = None
        self._tx_profile_refused = False
        self._v2x_rejected = False
        self._boot_event = asyncio.Event()
        _LOGGER.info(
            "Charger %s connected from %s (OCPP %s)", self.identity, remote, self.ocpp_version
        )
        self._spawn(self._post_connect(session))
        self._fire(StationEvent.CONNECTED)
        return previous

    def detach(self, session: OcppSession) -> None:
        """A charger's websocket ended."""
        session.mark_closed()
        if session is not self._session:
            return
        self._session = None
        self._applied = None
        self._offline_since = time.monotonic()
        self._cancel_tasks()
        self._cancel_timers()
        if not self._shut_down:
            self._unavailable_handle = asyncio.get_running_loop().call_later(
                self.options.offline_grace_s, self._fire, StationEvent.UNAVAILABLE
            )
        _LOGGER.info("Charger %s disconnected", self.identity)
        self._fire(StationEvent.DISCONNECTED)

    async def async_shutdown(self) -> None:
        """Stop background work (the server is stopping or forgetting this station)."""
        self._shut_down = True
        self._cancel_timers()
        tasks = list(self._tasks)
        self._cancel_tasks()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"v2g-ocpp-{self.identity}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _cancel_timers(self) -> None:
        for handle in (self._unavailable_handle, self._refresh_handle):
            if handle is not None:
                handle.cancel()
        self._unavailable_handle = None
        self._refresh_handle = None

    async def _post_connect(self, session: OcppSession) -> None:
        try:
            async with asyncio.timeout(self.options.boot_wait_s):
                await self._boot_event.wait()
        except TimeoutError:
            pass
        await self._configure(session)
        await self._resend("connect")

    async def _configure(self, session: OcppSession) -> None:
        try:
            self.config = await session.read_configuration(self.options.connector_id)
        except (TimeoutError, ConnectionError, *_CALL_ERRORS) as err:
            _LOGGER.debug("Could not read the configuration of %s: %r", self.identity, err)
            return
        _LOGGER.debug("Configuration of %s: %s", self.identity, self.config)
        self._fire(StationEvent.CONFIGURED)

    async def _after_boot(self, session: OcppSession) -> None:
        await self._configure(session)
        await self._resend("boot")

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
                self._spawn(self._after_boot(session))
            else:
                self._boot_event.set()
        if self._resend_after_reply:
            self._resend_after_reply = False
            self._spawn(self._resend("transaction"))

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
            return
        self._fire(StationEvent.STATE)

    def on_meter_values(self, connector_id: int | None, meter_values: list[Any]) -> None:
        """MeterValues (and meter values inside transaction messages)."""
        self._touch()
        own = self.options.connector_id
        if connector_id == own:
            self._meter.connector_values_seen = True
        elif connector_id == 0 and not self._meter.connector_values_seen:
            pass  # a station-wide meter is the best we have until the connector reports
        elif connector_id is not None:
            return
        reading = parse_meter_values(meter_values)
        self._apply_reading(reading)
        self._fire(StationEvent.STATE)

    def _apply_reading(self, reading: MeterReading) -> None:
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
            self._tx_counter += 1
            transaction_id = str(self._tx_counter)
        if connector_id not in (None, self.options.connector_id):
            return transaction_id
        self.transaction_id = transaction_id
        self._plugged_in = True
        self._resend_after_reply = True
        self._fire(StationEvent.STATE)
        return transaction_id

    def on_transaction_updated(
        self, connector_id: int | None, transaction_id: str, charging_state: str | None
    ) -> None:
        """TransactionEvent Updated (2.x)."""
        self._touch()
        if connector_id not in (None, self.options.connector_id):
            return
        if self.transaction_id is None and connector_id is not None:
            # A transaction we did not see start (Home Assistant restarted): adopt it.
            self.transaction_id = transaction_id
            self._resend_after_reply = True
        elif transaction_id != self.transaction_id:
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
        if self._applied is not None and self._applied.purpose == TX_PROFILE:
            # The charger dropped the TxProfile with the transaction: fall back to TxDefault.
            self._applied = None
            self._resend_after_reply = True
        self._fire(StationEvent.STATE)

    def on_ev_charging_needs(self, connector_id: int, charging_needs: dict[str, Any]) -> None:
        """NotifyEVChargingNeeds (2.x)."""
        self._touch()
        if connector_id != self.options.connector_id:
            return
        self.ev_needs = parse_ev_needs(connector_id, charging_needs, now_utc())
        self._cannot_charge_warned = False
        self._plugged_in = True
        self._fire(StationEvent.EV_NEEDS)
        self._fire(StationEvent.STATE)

    def on_transaction_meter_start(self, connector_id: int | None, meter_wh: float) -> None:
        """1.6 StartTransaction / StopTransaction meter register (Wh)."""
        sample = {"value": str(meter_wh), "measurand": ENERGY_IMPORT, "unit": "Wh"}
        self.on_meter_values(connector_id, [{"sampled_value": [sample]}])

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
            bidirectional=self._bidirectional(),
            reports_soc=self._meter.soc_seen,
            min_charge_power_w=self.min_charge_power_w,
        )

    def _bidirectional(self) -> bool:
        if self.ocpp_version != "2.1" or self._v2x_rejected:
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
        if not self._bidirectional():
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
        return self._rejected

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
        applied = self._applied
        return ChargerState(
            plugged_in=plugged,
            status=status,
            power_w=round(power, 1),
            energy_charged_kwh=round(meter.energy_import_kwh, 4),
            energy_discharged_kwh=round(meter.energy_export_kwh, 4),
            max_charge_power_w=self.max_charge_power_w,
            max_discharge_power_w=self.max_discharge_power_w,
            soc_pct=meter.soc_pct if plugged else None,
            setpoint_w=(
                meter.reported_setpoint_w
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
        applied = self._applied
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
        self._target_w = None
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
        await self.async_clear_profiles()

    async def async_clear_profiles(self) -> None:
        """Remove the profiles this integration set; errors are logged, not raised."""
        session = self._session
        self._applied = None
        if session is None or session.closed:
            return
        async with self._send_lock:
            try:
                await session.clear_profiles(
                    (TX_PROFILE_ID, TX_DEFAULT_PROFILE_ID), self.options.connector_id
                )
            except (TimeoutError, ConnectionError, *_CALL_ERRORS) as err:
                _LOGGER.warning("Could not clear charging profiles on %s: %r", self.identity, err)

    async def async_read_state(self) -> ChargerState:
        """The current state; unavailable once the charger has been away past the grace period."""
        if not self.connected:
            away_s = time.monotonic() - self._offline_since
            if away_s > self.options.offline_grace_s:
                raise ChargerUnavailableError(
                    f"charger {self.identity} has not been connected for {away_s:.0f} s"
                )
        return self.state()

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Follow a signed power (W); sent only when it changes meaningfully or needs refresh."""
        if not self.connected:
            raise ChargerUnavailableError(f"charger {self.identity} is not connected")
        target = self._clamp(power_w)
        self._target_w = target
        self._target_set_at = time.monotonic()
        async with self._send_lock:
            session = self._session
            if session is None or session.closed:
                raise ChargerUnavailableError(f"charger {self.identity} is not connected")
            if self._needs_send(target):
                await self._send_target(session, target)

    # --- setpoint logic ------------------------------------------------------------------

    def _clamp(self, power_w: float) -> float:
        """The power the charger is asked for: within its limits, never below its minimum.

        A positive setpoint below the minimum charging power is raised to the minimum (the plan
        knows the minimum and asks for 0 or more; "Charge now" may ask for less when the user's
        limit is low). Only when the EV cannot take even the minimum is charging impossible: the
        setpoint is 0 and `can_charge` says why.
        """
        if not math.isfinite(power_w):
            power_w = 0.0
        lower = -self.max_discharge_power_w
        power_w = min(self.max_charge_power_w, max(lower, power_w))
        if 0.0 < power_w < self.min_charge_power_w:
            if not self.can_charge:
                self._warn_cannot_charge()
                return 0.0
            power_w = self.min_charge_power_w
        return power_w + 0.0  # no negative zero

    def _warn_cannot_charge(self) -> None:
        if self._cannot_charge_warned:
            return
        self._cannot_charge_warned = True
        _LOGGER.warning(
            "Charger %s cannot charge the EV: it takes at most %.0f W, less than the minimum "
            "of %.0f W (%.0f A on %d phase(s))",
            self.identity,
            self.max_charge_power_w,
            self.min_charge_power_w,
            self.options.min_current_a,
            self.phases,
        )

    def _purpose(self) -> str:
        if self.transaction_id is not None and not self._tx_profile_refused:
            return TX_PROFILE
        return TX_DEFAULT_PROFILE

    def _needs_send(self, target: float) -> bool:
        applied = self._applied
        if applied is None:
            return True
        if applied.purpose != self._purpose():
            return True
        if applied.purpose == TX_PROFILE and applied.transaction_id != self.transaction_id:
            return True
        if _sign(target) != _sign(applied.target_w):
            return True
        if abs(target - applied.target_w) > self.options.deadband_w:
            return True
        return time.monotonic() - applied.sent_at >= self.options.profile_validity_s / 2

    def _units(self) -> list[str]:
        if self.options.rate_unit != "auto":
            return [self.options.rate_unit]
        order = ["W", "A"]
        if self._unit_ok in order:
            order.remove(self._unit_ok)
            order.insert(0, self._unit_ok)
        allowed = self.config.rate_units
        if allowed:
            order = [unit for unit in order if unit in allowed] or order
        return order

    def _stack_level(self) -> int:
        if self.options.stack_level is not None:
            return self.options.stack_level
        return max(0, self.config.max_stack_level or 0)

    def _request(self, purpose: str, unit: str, mode: str, target_w: float) -> ProfileRequest:
        opts = self.options
        phases = self.phases
        value = target_w if mode == MODE_SETPOINT else max(0.0, target_w)
        if unit == "A":
            amps = abs(value) / (opts.voltage_v * phases)
            value = math.copysign(math.floor(amps * 10.0 + 1e-6) / 10.0, value)
        else:
            value = float(round(value))
        value = value + 0.0  # no negative zero on the wire
        now = now_utc()
        return ProfileRequest(
            profile_id=TX_PROFILE_ID if purpose == TX_PROFILE else TX_DEFAULT_PROFILE_ID,
            purpose=purpose,
            connector_id=opts.connector_id,
            transaction_id=self.transaction_id if purpose == TX_PROFILE else None,
            stack_level=self._stack_level(),
            unit=unit,
            mode=mode,
            value=value,
            number_phases=phases if unit == "A" else None,
            start=now - timedelta(seconds=opts.clock_skew_margin_s),
            duration_s=opts.clock_skew_margin_s + opts.profile_validity_s,
            valid_to=now + timedelta(seconds=opts.profile_validity_s),
            max_offline_duration_s=opts.max_offline_duration_s,
        )

    async def _try(self, session: OcppSession, request: ProfileRequest) -> str:
        try:
            return await session.set_profile(request)
        except TimeoutError as err:
            raise ChargerUnavailableError(
                f"charger {self.identity} did not answer SetChargingProfile"
            ) from err
        except ConnectionError as err:
            raise ChargerUnavailableError(f"charger {self.identity} disconnected") from err
        except OCPPError as err:
            return f"CallError {err.code}"
        except (UnknownCallErrorCodeError, ValidationError) as err:
            return f"error {err}"

    async def _send_in_mode(
        self, session: OcppSession, target: float, mode: str, reasons: list[str]
    ) -> bool:
        purposes = [self._purpose()]
        if purposes[0] == TX_PROFILE:
            purposes.append(TX_DEFAULT_PROFILE)
        for unit in self._units():
            for purpose in purposes:
                request = self._request(purpose, unit, mode, target)
                status = await self._try(session, request)
                if status == "Accepted":
                    self._accepted(request, target)
                    return True
                reasons.append(f"{purpose} in {unit}: {status}")
        return False

    async def _send_target(self, session: OcppSession, target: float) -> None:
        reasons: list[str] = []
        if self._bidirectional():
            if await self._send_in_mode(session, target, MODE_SETPOINT, reasons):
                return
            # The charger refuses V2X control: charge only from now on (never leave it
            # discharging), then tell the integration.
            self._v2x_rejected = True
            fallback = max(0.0, target)
            if await self._send_in_mode(session, fallback, MODE_LIMIT, reasons):
                self._rejection(
                    "charger refused the discharge setpoint (CentralSetpoint); charging only: "
                    + "; ".join(reasons)
                )
            else:
                self._applied = None
                self._rejection("; ".join(reasons))
            raise SetpointRejectedError(self.last_rejection)
        if await self._send_in_mode(session, target, MODE_LIMIT, reasons):
            return
        self._applied = None
        self._rejection("; ".join(reasons))
        raise SetpointRejectedError(self.last_rejection)

    def _accepted(self, request: ProfileRequest, target: float) -> None:
        self._applied = _Applied(
            target_w=target,
            purpose=request.purpose,
            unit=request.unit,
            mode=request.mode,
            transaction_id=request.transaction_id,
            sent_at=time.monotonic(),
            valid_to=request.valid_to,
        )
        self._unit_ok = request.unit
        if self.transaction_id is not None and request.purpose == TX_DEFAULT_PROFILE:
            self._tx_profile_refused = True
        self._schedule_refresh()
        _LOGGER.debug(
            "%s follows %s %s %.1f %s until %s",
            self.identity,
            request.purpose,
            request.mode,
            request.value,
            request.unit,
            request.valid_to,
        )
        if self._rejected and not self._v2x_rejected:
            self._rejected = False
            self._fire(StationEvent.PROFILE_ACCEPTED)

    def _rejection(self, reason: str) -> None:
        first = not self._rejected
        self._rejected = True
        self.last_rejection = reason
        if first:
            _LOGGER.warning("Charger %s rejected a charging profile: %s", self.identity, reason)
        self._fire(StationEvent.PROFILE_REJECTED)

    def _target_active(self) -> bool:
        return (
            self._target_w is not None
            and time.monotonic() - self._target_set_at < self.options.setpoint_hold_s
        )

    def _schedule_refresh(self, delay_s: float | None = None) -> None:
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
        if delay_s is None:
            delay_s = self.options.profile_validity_s / 2
        self._refresh_handle = asyncio.get_running_loop().call_later(delay_s, self._refresh_due)

    def _refresh_due(self) -> None:
        self._refresh_handle = None
        self._spawn(self._resend("refresh"))

    async def _resend(self, reason: str) -> None:
        """Send the current target again (background: errors are logged)."""
        if not self._target_active() or self._target_w is None:
            return
        async with self._send_lock:
            session = self._session
            target = self._target_w
            if session is None or session.closed or not self._target_active():
                return
            if reason == "refresh" or self._needs_send(target):
                try:
                    await self._send_target(session, self._clamp(target))
                except (ChargerUnavailableError, SetpointRejectedError) as err:
                    _LOGGER.debug("%s: %s resend failed: %s", self.identity, reason, err)
