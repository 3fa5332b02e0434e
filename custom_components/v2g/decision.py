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
import math

import numpy as np

from .chargers import ChargerState
from .const import Mode
from .optimizer import Vehicle, VehiclePlan
from .optimizer.model import FloatArray
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
    DISPATCHED = "dispatched"
    """Smart: a dispatch (`v2g.dispatch`) is running: the plan follows it."""


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
    dispatch_id: str | None = None
    """The dispatch the plan follows now (reason `dispatched`)."""
    frequency_mode: str = "off"
    """How the EV answers grid frequency: 'local' (the charger follows a frequency-watt curve
    itself, OCPP 2.1 LocalFrequency), 'software' (the integration's droop loop) or 'off'."""


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


UNPLANNED_EXPORT_W = 0.0
"""How much more than planned discharging may export before the meter correction cuts it.

0: any margin is sold at the feed-in price all the time the EV covers the house (100 W cost more
than V2H alone over a year in `benchmarks/household.py`); the correction does not chase its own
effect, so it needs none to be steady."""
NO_IMPORT_W = 50.0
"""A planned import below this counts as none (the plan sits at the meter's zero)."""


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
    max_charge_power_w: float | None = None
    """The most it may charge when following the meter (None: its setpoint)."""
    max_discharge_power_w: float | None = None
    """The most it may discharge when following the meter (None: its setpoint)."""
    max_cut_w: float = 0.0
    """How much of its charging may be cut when following the meter (`makeup_w`)."""


def limit_site_to_grid(
    shares: Sequence[GridShare],
    *,
    grid_power_w: float,
    import_limit_w: float,
    export_limit_w: float,
    export_allowed: bool,
    planned_export_w: float | None = None,
    planned_import_w: float | None = None,
) -> list[float]:
    """Keep the site within its grid connection, from the live meter (import positive).

    The meter sees the house and every EV; the house alone is the meter minus the EVs' power now,
    which makes the correction steady: it does not chase its own effect. When the setpoints
    together would import above the limit, charging is cut by the excess; when they would export
    more than allowed (nothing at all without export: V2H only), discharging is cut. Cuts fall on
    the lowest priority first and, within one priority, in proportion to the setpoints. Forecasts
    are never exact: this is the real-time correction, for the whole site at once.

    With `planned_export_w` (what the plan meant the site to export now), discharging never
    exports more than that (plus `UNPLANNED_EXPORT_W`): energy planned for a house load that
    turns out smaller stays in the battery instead of being sold at the feed-in price by accident.

    With `planned_import_w` too, where the plan meant the site to import nothing now (it charges
    from the solar surplus only, or discharges for the house only), the EVs take the forecast's
    error (`follow_meter`).
    """
    house_w = grid_power_w - sum(share.power_w for share in shares)
    setpoints = [share.setpoint_w for share in shares]
    if planned_import_w is not None and planned_export_w is not None:
        setpoints = follow_meter(shares, house_w, planned_import_w, planned_export_w)
    weights = [share.priority for share in shares]
    charging = [max(0.0, value) for value in setpoints]
    discharging = [max(0.0, -value) for value in setpoints]
    excess_w = house_w + sum(charging) - sum(discharging) - import_limit_w
    if excess_w > 0:
        minimums = [share.min_charge_power_w for share in shares]
        charging = _cut(charging, minimums, weights, excess_w)
    may_export_w = export_limit_w if export_allowed else 0.0
    if planned_export_w is not None:
        may_export_w = min(may_export_w, max(0.0, planned_export_w) + UNPLANNED_EXPORT_W)
    over_export_w = -(house_w + sum(charging) - sum(discharging)) - may_export_w
    if over_export_w > 0:
        minimums = [share.min_discharge_power_w for share in shares]
        discharging = _cut(discharging, minimums, weights, over_export_w)
    return [c - d for c, d in zip(charging, discharging, strict=True)]


def follow_meter(
    shares: Sequence[GridShare], house_w: float, planned_import_w: float, planned_export_w: float
) -> list[float]:
    """Setpoints that take the forecast's error where the plan meant to import nothing now.

    A house-load forecast is a mean: the real load swings around it, so a plan that charges
    from the solar surplus would import whenever the house draws more than forecast and export
    (at the feed-in price) whenever it draws less, and a plan that covers the house from the EV
    (V2H) would import the difference. Instead, charging rises with a surplus the forecast
    missed and gives way before importing (no more than `GridShare.max_cut_w`: what later
    slots can make up before the departure); V2H discharging rises when the site would import
    (the cap on unplanned export cuts it when the house draws less). Nothing goes beyond a
    share's `max_charge_power_w` / `max_discharge_power_w` (None: its setpoint). Shares pointing
    both ways, or a plan that imports now (grid energy is what it chose), are left as they are;
    the next plan corrects the energy.
    """
    setpoints = [share.setpoint_w for share in shares]
    charging = any(value > IDLE_W for value in setpoints)
    discharging = any(value < -IDLE_W for value in setpoints)
    if planned_import_w > NO_IMPORT_W or charging == discharging:
        return setpoints
    error_w = house_w + sum(setpoints) - (planned_import_w - planned_export_w)
    if charging and error_w > 0:  # the house draws more than forecast: charge less
        rooms = [
            min(max(0.0, share.setpoint_w - share.min_charge_power_w), share.max_cut_w)
            if share.setpoint_w > IDLE_W
            else 0.0
            for share in shares
        ]
        return [v - a for v, a in zip(setpoints, _spread(rooms, error_w), strict=True)]
    if charging:  # the sun gives more than forecast (or the house draws less): charge more
        rooms = [
            max(0.0, (share.max_charge_power_w or 0.0) - share.setpoint_w)
            if share.setpoint_w > IDLE_W
            else 0.0
            for share in shares
        ]
        return [v + a for v, a in zip(setpoints, _spread(rooms, -error_w), strict=True)]
    if planned_export_w > NO_IMPORT_W or error_w <= 0:
        return setpoints  # V2G selling now, or the house draws no more than forecast
    rooms = [
        max(0.0, (share.max_discharge_power_w or 0.0) + share.setpoint_w)
        if share.setpoint_w < -IDLE_W
        else 0.0
        for share in shares
    ]
    return [v - a for v, a in zip(setpoints, _spread(rooms, error_w), strict=True)]


def follow_limits_w(vehicle: Vehicle) -> tuple[float, float]:
    """The most a planned EV may charge and discharge now when following the meter.

    The plan's own limits in its first slot: the EV's powers, within any ceiling or floor on
    its signed power (a dispatch, the operator's cap).
    """
    charge_w = vehicle.max_charge_power_w
    discharge_w = vehicle.max_discharge_power_w
    if vehicle.power_ceiling_w is not None:
        charge_w = min(charge_w, max(0.0, float(vehicle.power_ceiling_w[0])))
    if vehicle.power_floor_w is not None:
        discharge_w = min(discharge_w, max(0.0, -float(vehicle.power_floor_w[0])))
    return charge_w, discharge_w


def makeup_w(plan: VehiclePlan, max_charge_w: float, durations_h: FloatArray) -> float:
    """How much of the first slot's charging later slots can make up before the departure.

    The spare charging power of the plan's later slots before its departure, as energy spread
    over the first slot: cutting this much now cannot cost the target (the next plan charges
    it later). Unbounded without a departure target; 0 when the target is out of reach.
    """
    if plan.departure_index is None:
        return math.inf
    if not plan.target_reachable:
        return 0.0
    end = plan.departure_index
    spare_w = np.clip(max_charge_w - plan.charge_power_w[1:end], 0.0, None)
    spare_wh = float(np.sum(spare_w * durations_h[1:end]))
    return spare_wh / float(durations_h[0]) if durations_h.size else 0.0


def _spread(rooms: list[float], amount: float) -> list[float]:
    """Up to `amount` in all, shared in proportion to `rooms` (never more than a room)."""
    total = sum(rooms)
    if amount <= 0 or total <= 0:
        return [0.0 for _ in rooms]
    share = min(1.0, amount / total)
    return [room * share for room in rooms]


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
