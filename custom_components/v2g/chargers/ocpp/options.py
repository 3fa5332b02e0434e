"""Per-charger settings of the OCPP central system."""

from __future__ import annotations

from dataclasses import dataclass

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
    """The connector (1.6) or EVSE (2.x) this integration steers; other connectors are ignored."""
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
    """How long a setpoint (SetChargingProfile, ClearChargingProfile) waits for its answer."""
    read_timeout_s: float = 5.0
    """How long a configuration read waits for its answer (it gives way to setpoints anyway)."""
    deadband_w: float = 100.0
    clock_skew_margin_s: int = 600
    """How far the charger's clock may be off ours: profiles start this much in the past and
    stay valid this much longer (validTo), so a charger up to 10 minutes behind or ahead of Home
    Assistant follows them. Our refreshes still bound how long a setpoint is followed."""
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
        if self.clock_skew_margin_s < 0:
            raise ValueError("clock_skew_margin_s must not be negative")
