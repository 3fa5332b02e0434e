"""Why the charger does what it does, in one sentence with the numbers (the plan's `reason`).

Plain text in English: attribute values are not translated by Home Assistant; the plan sensor's
state (translated) says what, this says why.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np

from .chargers import ChargerState
from .decision import IDLE_W, Decision, Reason
from .inputs import Inputs
from .optimizer import SlotGrid, VehiclePlan
from .settings import Settings

EN_DASH = "\u2013"


def _clock(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%H:%M")


def _slot_time(grid: SlotGrid, index: int, tz: tzinfo, *, end: bool = False) -> datetime:
    seconds = int(grid.starts[index].astype("datetime64[s]").astype(np.int64))
    if end:
        seconds += int(grid.durations_s[index])
    return datetime.fromtimestamp(seconds, tz)


def _kw(power_w: float) -> str:
    return f"{abs(power_w) / 1000.0:.1f} kW"


def _next_window(power_w: np.ndarray, start: int, charging: bool) -> tuple[int, int] | None:
    """The next run of slots from `start` on that charge (or discharge): [first, last]."""
    wanted = power_w > IDLE_W if charging else power_w < -IDLE_W
    ahead = np.flatnonzero(wanted[start:])
    if ahead.size == 0:
        return None
    first = start + int(ahead[0])
    last = first
    while last + 1 < len(power_w) and wanted[last + 1]:
        last += 1
    return first, last


def explain(
    *,
    decision: Decision,
    state: ChargerState,
    settings: Settings,
    plan: VehiclePlan | None,
    inputs: Inputs | None,
    departure: datetime,
    currency: str,
    tz: tzinfo,
) -> str:
    """One sentence: what the charger does, why, and what the plan promises."""
    text = _why(
        decision=decision,
        state=state,
        settings=settings,
        plan=plan,
        inputs=inputs,
        departure=departure,
        currency=currency,
        tz=tz,
    )
    if plan is not None and not plan.target_reachable and plan.departure_soc_pct is not None:
        best = plan.best_reachable_soc_pct or plan.departure_soc_pct
        text = (
            f"Target {settings.target_soc_pct:.0f} % at risk: at most {best:.0f} % by "
            f"{_clock(departure, tz)}. {text}"
        )
    if decision.limited_by_operator:
        text += " Limited by the grid operator."
    if decision.limited_by_grid:
        text += " Limited by the grid connection."
    response_kw = round(decision.frequency_response_w / 1000.0, 1)
    if response_kw > 0:
        text += f" Frequency response: charging {response_kw:.1f} kW more (high grid frequency)."
    elif response_kw < 0:
        text += (
            f" Frequency response: {-response_kw:.1f} kW less from the grid (low grid frequency)."
        )
    return text


def _rule_text(decision: Decision, state: ChargerState, target: str) -> str | None:
    """The sentence for the decisions no plan is involved in."""
    texts = {
        Reason.OFF: "Off: the charger is left idle.",
        Reason.NOT_PLUGGED_IN: "No EV plugged in.",
        Reason.WAITING_FOR_CHARGER: "Waiting for the charger to connect to Home Assistant.",
        Reason.PAUSED_BY_CHARGER: (
            "Paused at the charger (switched off or changed by hand): left alone until it is "
            "switched on again or a mode is chosen."
        ),
        Reason.TARGET_REACHED: f"Target {target} reached.",
        Reason.CHARGING_NOW: f"Charging now at {_kw(decision.setpoint_w)} until {target}.",
        Reason.MISSED_DEPARTURE: (
            f"Still here after the departure time below {target}: charging at "
            f"{_kw(decision.setpoint_w)}."
        ),
        Reason.CANNOT_CHARGE: (
            f"The EV takes at most {_kw(state.max_charge_power_w)}, less than the charger's "
            "lowest power: it cannot be charged."
        ),
    }
    if decision.reason is Reason.DISPATCHED:
        power_w = decision.setpoint_w
        doing = "charging" if power_w > IDLE_W else "discharging" if power_w < -IDLE_W else "idle"
        at = f" at {_kw(power_w)}" if abs(power_w) > IDLE_W else ""
        return f"Dispatched ({decision.dispatch_id}): {doing}{at}; the plan keeps {target} too."
    return texts.get(decision.reason)


def _why(
    *,
    decision: Decision,
    state: ChargerState,
    settings: Settings,
    plan: VehiclePlan | None,
    inputs: Inputs | None,
    departure: datetime,
    currency: str,
    tz: tzinfo,
) -> str:
    target = f"{settings.target_soc_pct:.0f} %"
    if (text := _rule_text(decision, state, target)) is not None:
        return text
    if plan is None or inputs is None or len(inputs.grid) != len(plan.power_w):
        return f"Planned: {target} by {_clock(departure, tz)}."
    prices = inputs.import_price_per_kwh
    grid = inputs.grid
    now_price = float(prices[0])
    if decision.reason is Reason.CHARGING:
        return (
            f"Charging at {_kw(decision.setpoint_w)} at {now_price:.2f} {currency}/kWh; "
            f"{target} by {_clock(departure, tz)}."
        )
    if decision.reason is Reason.DISCHARGING:
        window = _next_window(plan.power_w, 1, charging=True)
        later = (
            f", charging again at {float(prices[window[0] : window[1] + 1].mean()):.2f} from "
            f"{_clock(_slot_time(grid, window[0], tz), tz)}"
            if window
            else ""
        )
        export = float(inputs.export_price_per_kwh[0])
        return (
            f"Discharging at {_kw(decision.setpoint_w)}: energy is worth {now_price:.2f} "
            f"{currency}/kWh now ({export:.2f} exported){later}."
        )
    return _waiting_text(plan, inputs, departure, currency, tz)


def _waiting_text(
    plan: VehiclePlan, inputs: Inputs, departure: datetime, currency: str, tz: tzinfo
) -> str:
    """Until when it waits, and what the hours it waits for cost against now."""
    prices = inputs.import_price_per_kwh
    grid = inputs.grid
    window = _next_window(plan.power_w, 0, charging=True)
    if window is None:
        return f"Waiting: no charging needed before {_clock(departure, tz)}."
    first, last = window
    cheap = float(prices[first : last + 1].mean())
    span = (
        f"{_clock(_slot_time(grid, first, tz), tz)}{EN_DASH}"
        f"{_clock(_slot_time(grid, last, tz, end=True), tz)}"
    )
    saving = float(prices[0]) - cheap
    if saving > 0.005:
        return f"Waiting: {span} costs {cheap:.2f} {currency}/kWh, {saving:.2f} less than now."
    return f"Waiting: charging {span} at {cheap:.2f} {currency}/kWh (solar or cheaper hours)."
