"""How V2G Smart Charging talks to hardware: one protocol, one module per charger kind.

Nothing in this package imports Home Assistant except `create_backend`'s callers; a backend is
given what it needs (settings, a clock) by the integration.

Sign convention everywhere: positive power flows into the EV (charging), negative out of it
(discharging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class ChargerStatus(StrEnum):
    """What the charger is doing, as the status sensor shows it."""

    DISCONNECTED = "disconnected"  # no EV plugged in
    IDLE = "idle"  # EV plugged in, no energy flowing
    CHARGING = "charging"
    DISCHARGING = "discharging"
    FAULT = "fault"
    OFFLINE = "offline"  # the charger is not reachable


def flow_status(plugged_in: bool, power_w: float, idle_below_w: float) -> ChargerStatus:
    """Disconnected, idle, charging or discharging, from the plug and the signed power."""
    if not plugged_in:
        return ChargerStatus.DISCONNECTED
    if power_w > idle_below_w:
        return ChargerStatus.CHARGING
    if power_w < -idle_below_w:
        return ChargerStatus.DISCHARGING
    return ChargerStatus.IDLE


class ChargerUnavailableError(Exception):
    """The charger cannot be reached or did not answer; its entities become unavailable."""


class SetpointRejectedError(Exception):
    """The charger refused a setpoint (for example a charging profile it does not support)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do, declared once per connection."""

    bidirectional: bool
    """The charger (and protocol) can discharge the EV on command."""
    reports_soc: bool
    """The EV's state of charge is known through the charger."""
    min_charge_power_w: float = 0.0
    """The lowest non-zero charging power the charger delivers (AC: 6 A on one phase)."""
    min_discharge_power_w: float = 0.0
    """The lowest non-zero discharging power (0: any power)."""


@dataclass(frozen=True, slots=True)
class DeviceDetails:
    """What a charger says about itself (shown on its device page); None: not reported."""

    manufacturer: str | None = None
    model: str | None = None
    sw_version: str | None = None
    serial_number: str | None = None


type ChangeListener = Callable[[], None]
"""Called (on the event loop) when a pushing backend has news: state, identity, needs."""


@dataclass(frozen=True, slots=True)
class ChargerState:
    """One reading of the charger and the EV behind it."""

    plugged_in: bool
    status: ChargerStatus
    power_w: float
    """Signed: positive into the EV, negative out of it."""
    energy_charged_kwh: float
    """Cumulative energy delivered into the EV (monotonic over the charger's life)."""
    energy_discharged_kwh: float
    """Cumulative energy taken out of the EV (monotonic)."""
    max_charge_power_w: float
    max_discharge_power_w: float
    """0 when the charger or the EV cannot discharge."""
    soc_pct: float | None = None
    """None when the charger does not know the EV's state of charge."""
    setpoint_w: float | None = None
    """The setpoint the charger is following, when it reports one."""
    updated_at: datetime | None = None
    ev_departure: datetime | None = None
    """When the EV says it leaves (ISO 15118 via OCPP 2.x); overrides the daily departure time."""
    paused_by_charger: bool = False
    """Someone else switched the charger off or took over its control: it is sent nothing until
    they give it back or the user chooses a V2G mode (`charger.py`)."""
    extra: dict[str, str | float | int | bool | None] = field(default_factory=dict)
    """Backend-specific facts for diagnostics (firmware, protocol version)."""


@runtime_checkable
class ChargerBackend(Protocol):
    """What every charger kind implements."""

    @property
    def capabilities(self) -> Capabilities:
        """What this charger can do."""

    async def async_start(self) -> None:
        """Connect or start serving; raise ChargerUnavailableError when that is impossible now."""

    async def async_stop(self) -> None:
        """Leave the charger in a safe state (no discharging) and release resources."""

    async def async_read_state(self) -> ChargerState:
        """Return the current state; raise ChargerUnavailableError when it is unreachable."""

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Ask for a signed power; the backend clamps it to what the hardware allows."""

    async def async_release(self) -> None:
        """Let go after `async_stop` (unload): close connections, give control back."""

    def device_details(self) -> DeviceDetails | None:
        """What the charger reports about itself, once it has (None before that)."""

    def diagnostics(self) -> dict[str, Any]:
        """Backend-specific facts for a diagnostics download, without secrets."""

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener` when the charger pushes news; returns a function that removes it.

        Polled backends never call it (their state is read on every update).
        """
