"""Charging profiles: how a signed setpoint reaches a charger, and stays there.

A setpoint becomes one SetChargingProfile with a single period and bounded validity
(`profile_validity_s`). OCPP 1.6 and 2.0.1 are charge only (a limit); OCPP 2.1 sends a
CentralSetpoint (signed) when the station is bidirectional, else a ChargingOnly limit, and always
`maxOfflineDuration` + `invalidAfterOfflineDuration` so a charger that loses Home Assistant drops
the profile and returns to plain charging within minutes. The profile is refreshed before it
expires, for at most `setpoint_hold_s` after the last setpoint: if the integration stops
steering, the charger falls back to its default behaviour.

Chargers' clocks drift: the schedule starts `clock_skew_margin_s` (10 min) before our time and
stays valid that much longer, so a charger whose clock is up to 10 minutes behind or ahead of
Home Assistant's follows the profile at once and until the next refresh.

A TxProfile is used during a transaction (TxDefaultProfile when the charger refuses it or no
transaction runs); W or A as the charger allows; the V2X setpoint falls back to charging only
when the charger refuses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
import math
from typing import Any, Protocol

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError, ValidationError

from .. import ChargerUnavailableError, SetpointRejectedError
from .base import (
    TX_DEFAULT_PROFILE_ID,
    TX_PROFILE_ID,
    OcppSession,
    ProfileRequest,
    StationConfig,
    now_utc,
)
from .limits import Clock, escape
from .options import StationOptions

_LOGGER = logging.getLogger(__name__)

TX_PROFILE = "TxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
MODE_LIMIT = "limit"
MODE_SETPOINT = "setpoint"
CALL_ERRORS = (OCPPError, UnknownCallErrorCodeError, ValidationError)
"""What a request to a charger raises when the charger answers with an error."""


class ProfileHost(Protocol):
    """What the profile logic reads from the station it steers."""

    identity: str
    options: StationOptions
    config: StationConfig
    transaction_id: str | None

    @property
    def session(self) -> OcppSession | None:
        """The live session, if any."""

    @property
    def bidirectional(self) -> bool:
        """Whether setpoints may be negative (2.1 CentralSetpoint)."""

    @property
    def phases(self) -> int:
        """The phases energy flows on."""

    @property
    def min_charge_power_w(self) -> float:
        """The lowest non-zero charging power."""

    @property
    def max_charge_power_w(self) -> float:
        """The most the station will be asked to deliver."""

    @property
    def max_discharge_power_w(self) -> float:
        """The most the station will be asked to take out of the EV."""

    @property
    def can_charge(self) -> bool:
        """False when the EV cannot take the minimum power."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work that ends with the connection."""

    def profile_status(self, accepted: bool) -> None:
        """A profile was rejected (False), or accepted after a rejection (True)."""


@dataclass(frozen=True, slots=True)
class AppliedProfile:
    """The profile the charger accepted last."""

    target_w: float
    purpose: str
    unit: str
    mode: str
    transaction_id: str | None
    sent_at: float
    valid_to: datetime


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


class ProfileControl:
    """The setpoint of one station and the charging profiles that carry it."""

    def __init__(self, host: ProfileHost, clock: Clock) -> None:
        self._host = host
        self._clock = clock
        self.target_w: float | None = None
        self._target_set_at = 0.0
        self.applied: AppliedProfile | None = None
        self.send_lock = asyncio.Lock()
        self._unit_ok: str | None = None
        self._tx_profile_refused = False
        self.v2x_rejected = False
        """The charger refused CentralSetpoint on this connection: charging only."""
        self.rejected = False
        self.last_rejection: str | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._cannot_charge_warned = False

    # --- connection and transaction events ------------------------------------------------

    def connection_changed(self) -> None:
        """A new connection (or none): what the charger accepted before is unknown now."""
        self.applied = None
        self._unit_ok = None
        self._tx_profile_refused = False
        self.v2x_rejected = False
        self.cancel_refresh()

    def transaction_ended(self) -> bool:
        """The transaction ended; True when our TxProfile went with it (send TxDefault)."""
        if self.applied is not None and self.applied.purpose == TX_PROFILE:
            self.applied = None
            return True
        return False

    def ev_changed(self) -> None:
        """A new EV: say again when it cannot take the minimum power."""
        self._cannot_charge_warned = False

    def cancel_refresh(self) -> None:
        """Stop the refresh timer."""
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None

    # --- what the station is asked -------------------------------------------------------

    async def apply(self, power_w: float) -> None:
        """Follow a signed power (W); sent only when it changes meaningfully or needs refresh."""
        host = self._host
        target = self.clamp(power_w)
        self.target_w = target
        self._target_set_at = self._clock()
        async with self.send_lock:
            session = host.session
            if session is None or session.closed:
                raise ChargerUnavailableError(f"charger {host.identity} is not connected")
            if self.needs_send(target):
                await self._send_target(session, target)

    def stop(self) -> None:
        """Stop steering: no target, no refresh."""
        self.target_w = None
        self.cancel_refresh()

    async def clear(self) -> None:
        """Remove the profiles this integration set; errors are logged, not raised."""
        host = self._host
        session = host.session
        self.applied = None
        if session is None or session.closed:
            return
        async with self.send_lock:
            try:
                await session.clear_profiles(
                    (TX_PROFILE_ID, TX_DEFAULT_PROFILE_ID), host.options.connector_id
                )
            except (TimeoutError, ConnectionError, *CALL_ERRORS) as err:
                _LOGGER.warning(
                    "Could not clear charging profiles on %s: %s", host.identity, escape(repr(err))
                )

    def target_active(self) -> bool:
        """Whether a setpoint was given recently enough to keep it applied."""
        return (
            self.target_w is not None
            and self._clock() - self._target_set_at < self._host.options.setpoint_hold_s
        )

    async def resend(self, reason: str) -> None:
        """Send the current target again (background: errors are logged)."""
        if not self.target_active() or self.target_w is None:
            return
        async with self.send_lock:
            session = self._host.session
            target = self.target_w
            if session is None or session.closed or not self.target_active():
                return
            if reason == "refresh" or self.needs_send(target):
                try:
                    await self._send_target(session, self.clamp(target))
                except (ChargerUnavailableError, SetpointRejectedError) as err:
                    _LOGGER.debug("%s: %s resend failed: %s", self._host.identity, reason, err)

    def schedule_refresh(self, delay_s: float | None = None) -> None:
        """Send the profile again after `delay_s` (default: half its validity)."""
        self.cancel_refresh()
        if delay_s is None:
            delay_s = self._host.options.profile_validity_s / 2
        self._refresh_handle = asyncio.get_running_loop().call_later(delay_s, self._refresh_due)

    def _refresh_due(self) -> None:
        self._refresh_handle = None
        self._host.spawn(self.resend("refresh"))

    # --- setpoint logic ------------------------------------------------------------------

    def clamp(self, power_w: float) -> float:
        """The power the charger is asked for: within its limits, never below its minimum.

        A positive setpoint below the minimum charging power is raised to the minimum (the plan
        knows the minimum and asks for 0 or more; "Charge now" may ask for less when the user's
        limit is low). Only when the EV cannot take even the minimum is charging impossible: the
        setpoint is 0 and `can_charge` says why.
        """
        host = self._host
        if not math.isfinite(power_w):
            power_w = 0.0
        lower = -host.max_discharge_power_w
        power_w = min(host.max_charge_power_w, max(lower, power_w))
        if 0.0 < power_w < host.min_charge_power_w:
            if not host.can_charge:
                self._warn_cannot_charge()
                return 0.0
            power_w = host.min_charge_power_w
        return power_w + 0.0  # no negative zero

    def _warn_cannot_charge(self) -> None:
        if self._cannot_charge_warned:
            return
        self._cannot_charge_warned = True
        host = self._host
        _LOGGER.warning(
            "Charger %s cannot charge the EV: it takes at most %.0f W, less than the minimum "
            "of %.0f W (%.0f A on %d phase(s))",
            host.identity,
            host.max_charge_power_w,
            host.min_charge_power_w,
            host.options.min_current_a,
            host.phases,
        )

    def purpose(self) -> str:
        """TxProfile during a transaction (unless refused), else TxDefaultProfile."""
        if self._host.transaction_id is not None and not self._tx_profile_refused:
            return TX_PROFILE
        return TX_DEFAULT_PROFILE

    def needs_send(self, target: float) -> bool:
        """Whether `target` differs enough from what the charger follows (or is due)."""
        applied = self.applied
        if applied is None:
            return True
        if applied.purpose != self.purpose():
            return True
        if applied.purpose == TX_PROFILE and applied.transaction_id != self._host.transaction_id:
            return True
        if _sign(target) != _sign(applied.target_w):
            return True
        if abs(target - applied.target_w) > self._host.options.deadband_w:
            return True
        return self._clock() - applied.sent_at >= self._host.options.profile_validity_s / 2

    def _units(self) -> list[str]:
        options = self._host.options
        if options.rate_unit != "auto":
            return [options.rate_unit]
        order = ["W", "A"]
        if self._unit_ok in order:
            order.remove(self._unit_ok)
            order.insert(0, self._unit_ok)
        allowed = self._host.config.rate_units
        if allowed:
            order = [unit for unit in order if unit in allowed] or order
        return order

    def _stack_level(self) -> int:
        if self._host.options.stack_level is not None:
            return self._host.options.stack_level
        return max(0, self._host.config.max_stack_level or 0)

    def request(self, purpose: str, unit: str, mode: str, target_w: float) -> ProfileRequest:
        """The version-neutral profile for `target_w` (limits in A are per phase, rounded down)."""
        host = self._host
        opts = host.options
        phases = host.phases
        value = target_w if mode == MODE_SETPOINT else max(0.0, target_w)
        if unit == "A":
            amps = abs(value) / (opts.voltage_v * phases)
            value = math.copysign(math.floor(amps * 10.0 + 1e-6) / 10.0, value)
        else:
            value = float(round(value))
        value = value + 0.0  # no negative zero on the wire
        now = now_utc()
        margin = opts.clock_skew_margin_s
        return ProfileRequest(
            profile_id=TX_PROFILE_ID if purpose == TX_PROFILE else TX_DEFAULT_PROFILE_ID,
            purpose=purpose,
            connector_id=opts.connector_id,
            transaction_id=host.transaction_id if purpose == TX_PROFILE else None,
            stack_level=self._stack_level(),
            unit=unit,
            mode=mode,
            value=value,
            number_phases=phases if unit == "A" else None,
            # A charger whose clock is up to the margin behind ours has started the schedule
            # already; one that is up to the margin ahead has not seen it expire yet.
            start=now - timedelta(seconds=margin),
            duration_s=2 * margin + opts.profile_validity_s,
            valid_to=now + timedelta(seconds=margin + opts.profile_validity_s),
            max_offline_duration_s=opts.max_offline_duration_s,
        )

    async def _try(self, session: OcppSession, request: ProfileRequest) -> str:
        identity = self._host.identity
        try:
            return await session.set_profile(request)
        except TimeoutError as err:
            raise ChargerUnavailableError(
                f"charger {identity} did not answer SetChargingProfile"
            ) from err
        except ConnectionError as err:
            raise ChargerUnavailableError(f"charger {identity} disconnected") from err
        except OCPPError as err:
            return f"CallError {escape(err.code, 60)}"
        except (UnknownCallErrorCodeError, ValidationError) as err:
            return f"error {escape(str(err), 120)}"

    async def _send_in_mode(
        self, session: OcppSession, target: float, mode: str, reasons: list[str]
    ) -> bool:
        purposes = [self.purpose()]
        if purposes[0] == TX_PROFILE:
            purposes.append(TX_DEFAULT_PROFILE)
        for unit in self._units():
            for purpose in purposes:
                request = self.request(purpose, unit, mode, target)
                status = await self._try(session, request)
                if status == "Accepted":
                    self._accepted(request, target)
                    return True
                reasons.append(f"{purpose} in {unit}: {escape(status, 60)}")
        return False

    async def _send_target(self, session: OcppSession, target: float) -> None:
        reasons: list[str] = []
        if self._host.bidirectional:
            if await self._send_in_mode(session, target, MODE_SETPOINT, reasons):
                return
            # The charger refuses V2X control: charge only from now on (never leave it
            # discharging), then tell the integration.
            self.v2x_rejected = True
            fallback = max(0.0, target)
            if await self._send_in_mode(session, fallback, MODE_LIMIT, reasons):
                self._rejection(
                    "charger refused the discharge setpoint (CentralSetpoint); charging only: "
                    + "; ".join(reasons)
                )
            else:
                self.applied = None
                self._rejection("; ".join(reasons))
            raise SetpointRejectedError(self.last_rejection)
        if await self._send_in_mode(session, target, MODE_LIMIT, reasons):
            return
        self.applied = None
        self._rejection("; ".join(reasons))
        raise SetpointRejectedError(self.last_rejection)

    def _accepted(self, request: ProfileRequest, target: float) -> None:
        self.applied = AppliedProfile(
            target_w=target,
            purpose=request.purpose,
            unit=request.unit,
            mode=request.mode,
            transaction_id=request.transaction_id,
            sent_at=self._clock(),
            valid_to=request.valid_to,
        )
        self._unit_ok = request.unit
        if self._host.transaction_id is not None and request.purpose == TX_DEFAULT_PROFILE:
            self._tx_profile_refused = True
        self.schedule_refresh()
        _LOGGER.debug(
            "%s follows %s %s %.1f %s until %s",
            self._host.identity,
            request.purpose,
            request.mode,
            request.value,
            request.unit,
            request.valid_to,
        )
        if self.rejected and not self.v2x_rejected:
            self.rejected = False
            self._host.profile_status(True)

    def _rejection(self, reason: str) -> None:
        first = not self.rejected
        self.rejected = True
        self.last_rejection = reason
        if first:
            _LOGGER.warning(
                "Charger %s rejected a charging profile: %s", self._host.identity, reason
            )
        self._host.profile_status(False)
