"""What power to ask of the charger right now, and why.

`decide` is the rule for the modes without a plan ("Charge now", "Off", and the EV away);
`decide_from_plan` reads the optimizer's plan in the Smart modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from .chargers import ChargerState
from .const import Mode
from .settings import Settings

# Below this magnitude a planned power counts as "no energy flowing".
IDLE_W = 1.0


class Reason(StrEnum):
    """Why the setpoint is what it is (the plan sensor's state)."""

    OFF = "off"
    NOT_PLUGGED_IN = "not_plugged_in"
    TARGET_REACHED = "target_reached"
    CHARGING_NOW = "charging_now"
    CHARGING = "charging"
    """Smart: this is one of the cheapest or sunniest slots before departure."""
    DISCHARGING = "discharging"
    """Smart: selling or using stored energy while it pays."""
    WAITING = "waiting"
    """Smart: cheaper slots come before departure."""
    MISSED_DEPARTURE = "missed_departure"
    """Smart: the departure time passed with the EV below its target: charging at full power."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A signed setpoint in W (positive charges the EV) and why."""

    setpoint_w: float
    reason: Reason
    limited_by_grid: bool = False
    """The live grid meter cut the setpoint (main fuse or export limit)."""


def decide(state: ChargerState, settings: Settings, now: datetime) -> Decision:
    """Decide the setpoint without a plan: "Charge now" and "Off"."""
    del now  # the "Charge now" rule does not look at the clock
    if settings.mode is Mode.OFF:
        return Decision(0.0, Reason.OFF)
    if not state.plugged_in:
        return Decision(0.0, Reason.NOT_PLUGGED_IN)
    if state.soc_pct is not None and state.soc_pct >= settings.target_soc_pct:
        return Decision(0.0, Reason.TARGET_REACHED)
    power_w = min(settings.max_charge_power_w, state.max_charge_power_w)
    return Decision(power_w, Reason.CHARGING_NOW)


def decide_from_plan(setpoint_w: float, state: ChargerState, settings: Settings) -> Decision:
    """Name what the plan's first slot does."""
    if setpoint_w > IDLE_W:
        return Decision(setpoint_w, Reason.CHARGING)
    if setpoint_w < -IDLE_W:
        return Decision(setpoint_w, Reason.DISCHARGING)
    if state.soc_pct is not None and state.soc_pct >= settings.target_soc_pct:
        return Decision(0.0, Reason.TARGET_REACHED)
    return Decision(0.0, Reason.WAITING)


def next_departure(departure: time, now: datetime) -> datetime:
    """The next time the clock shows `departure` in `now`'s time zone, strictly after `now`."""
    candidate = datetime.combine(now.date(), departure, tzinfo=now.tzinfo)
    if candidate <= now:
        candidate = datetime.combine(now.date() + timedelta(days=1), departure, tzinfo=now.tzinfo)
    return candidate


def energy_needed_kwh(state: ChargerState, settings: Settings) -> float | None:
    """Battery energy still missing to reach the target SoC (None when the SoC is unknown)."""
    if state.soc_pct is None:
        return None
    missing_pct = max(0.0, settings.target_soc_pct - state.soc_pct)
    return round(missing_pct / 100.0 * settings.capacity_kwh, 3)


def limit_to_grid(
    setpoint_w: float,
    *,
    grid_power_w: float,
    ev_power_w: float,
    import_limit_w: float,
    export_limit_w: float,
    export_allowed: bool,
) -> float:
    """Keep the site within its grid connection, from the live meter (import positive).

    The meter sees the house and the EV; the house alone is the meter minus the EV's power now.
    Charging is cut to the import headroom (the main fuse); discharging to what the house uses
    plus what may be exported. Forecasts are never exact: this is the real-time correction.
    """
    house_w = grid_power_w - ev_power_w
    if setpoint_w > 0:
        return max(0.0, min(setpoint_w, import_limit_w - house_w))
    if setpoint_w < 0:
        may_export_w = export_limit_w if export_allowed else 0.0
        return min(0.0, max(setpoint_w, -(max(0.0, house_w) + may_export_w)))
    return setpoint_w
