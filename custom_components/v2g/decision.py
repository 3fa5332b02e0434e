"""What power to ask of each charger right now, and why.

`decide` is the rule for the modes without a plan ("Charge now", "Off", and the EV away);
`decide_from_plan` reads the optimizer's plan in the Smart modes; `limit_site_to_grid` is the
live correction from the grid meter, once for the whole site.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    WAITING_FOR_CHARGER = "waiting_for_charger"
    """The charger has not connected yet (a new OCPP charger not yet pointed at us)."""
    CANNOT_CHARGE = "cannot_charge"
    """The EV takes less than the lowest power the charger can deliver (a repair issue says so)."""
    PAUSED_BY_CHARGER = "paused_by_charger"
    """Someone switched the charger off or changed its current by hand: it is left alone."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A signed setpoint in W (positive charges the EV) and why."""

    setpoint_w: float
    reason: Reason
    limited_by_grid: bool = False
    """The live grid meter cut the setpoint (main fuse or export limit)."""
    limited_by_operator: bool = False
    """The grid operator's limit (§14a) cut the setpoint."""
    frequency_response_w: float = 0.0
    """The part of the setpoint that answers the grid frequency (included in `setpoint_w`)."""


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


@dataclass(frozen=True, slots=True)
class GridShare:
    """One charger's part in the site's live grid correction."""

    setpoint_w: float
    """What the plan (or rule) asks of it now, signed."""
    power_w: float
    """What it draws now, signed (the meter sees this)."""
    priority: float = 1.0
    """Higher keeps its power longer when the site must cut."""
    min_charge_power_w: float = 0.0
    """Cut below this, a charging setpoint becomes 0 (the charger cannot deliver less)."""
    min_discharge_power_w: float = 0.0


def limit_site_to_grid(
    shares: Sequence[GridShare],
    *,
    grid_power_w: float,
    import_limit_w: float,
    export_limit_w: float,
    export_allowed: bool,
) -> list[float]:
    """Keep the site within its grid connection, from the live meter (import positive).

    The meter sees the house and every EV; the house alone is the meter minus the EVs' power now,
    which makes the correction steady: it does not chase its own effect. When the setpoints
    together would import above the limit, charging is cut by the excess; when they would export
    more than allowed (nothing at all without export: V2H only), discharging is cut. Cuts fall on
    the lowest priority first and, within one priority, in proportion to the setpoints. Forecasts
    are never exact: this is the real-time correction, for the whole site at once.
    """
    house_w = grid_power_w - sum(share.power_w for share in shares)
    setpoints = [share.setpoint_w for share in shares]
    weights = [share.priority for share in shares]
    charging = [max(0.0, value) for value in setpoints]
    discharging = [max(0.0, -value) for value in setpoints]
    excess_w = house_w + sum(charging) - sum(discharging) - import_limit_w
    if excess_w > 0:
        minimums = [share.min_charge_power_w for share in shares]
        charging = _cut(charging, minimums, weights, excess_w)
    may_export_w = export_limit_w if export_allowed else 0.0
    over_export_w = -(house_w + sum(charging) - sum(discharging)) - may_export_w
    if over_export_w > 0:
        minimums = [share.min_discharge_power_w for share in shares]
        discharging = _cut(discharging, minimums, weights, over_export_w)
    return [c - d for c, d in zip(charging, discharging, strict=True)]


def _cut(
    values: list[float], minimums: list[float], weights: list[float], excess: float
) -> list[float]:
    """Take `excess` off the positive `values`.

    Lowest weight first, in proportion within a weight. When that would leave someone below
    their minimum, the smallest one pauses instead (0) and the rest share again: the headroom
    goes to fewer chargers rather than to none.
    """
    result = list(values)
    for weight in sorted(set(weights)):
        group = [i for i, w in enumerate(weights) if w == weight and result[i] > 0]
        while excess > 1e-6 and group:
            total = sum(result[i] for i in group)
            if total <= excess:
                for i in group:
                    result[i] = 0.0
                excess -= total
                break
            keep = 1.0 - excess / total
            if all(result[i] * keep >= minimums[i] for i in group):
                for i in group:
                    result[i] *= keep
                excess = 0.0
                break
            smallest = min(group, key=lambda i: (result[i], -i))
            excess -= result[smallest]
            result[smallest] = 0.0
            group.remove(smallest)
        if excess <= 1e-6:
            break
    return result
