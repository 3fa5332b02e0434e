"""Frequency response: chargers answer grid-frequency deviations with proportional power (droop).

Off by default, per site. Outside the deadband (±20 mHz by default) the site's EVs change their
power in proportion to the deviation, fully at the droop's end (±200 mHz by default), up to the
offered maximum in each direction:

- under-frequency (the grid lacks power): less charging, or discharging (negative response);
- over-frequency (too much power): more charging (positive response).

The response is added to each EV's planned setpoint, shared by the headroom each has in the
needed direction, within its limits and its reserve (the site's fuse is kept by the grid meter's
correction as always). A software loop on the frequency sensor's state changes applies it, not
the 30 s update: see `FrequencyResponder` in the coordinator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
import math

NOMINAL_HZ = 50.0
RESERVE_MARGIN_PCT = 1.0
"""No discharging for frequency within this much of the reserve (the SoC read may be 30 s old)."""


@dataclass(frozen=True, slots=True)
class Droop:
    """The offered response: deadband, droop and maximum power per direction."""

    deadband_hz: float = 0.020
    full_hz: float = 0.200
    """Deviation at which the full response is given."""
    max_up_w: float = 0.0
    """Most power the site gives to the grid on under-frequency (less charging or discharging)."""
    max_down_w: float = 0.0
    """Most power the site takes from the grid on over-frequency (more charging)."""
    nominal_hz: float = NOMINAL_HZ
    start: time = time(0, 0)
    end: time = time(0, 0)
    """The daily hours it is offered in (equal: all day)."""

    def offered_at(self, local: datetime) -> bool:
        """Whether the response is offered at this local time."""
        if self.start == self.end:
            return True
        now = local.time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def response_w(self, frequency_hz: float) -> float:
        """The site's response: + more charging (over-frequency), - less (under-frequency)."""
        if not math.isfinite(frequency_hz):
            return 0.0
        deviation = frequency_hz - self.nominal_hz
        excess = abs(deviation) - self.deadband_hz
        if excess <= 1e-9:  # inside the deadband (its edge included, whatever the rounding)
            return 0.0
        span = max(self.full_hz - self.deadband_hz, 1e-9)
        share = min(1.0, excess / span)
        return share * self.max_down_w if deviation > 0 else -share * self.max_up_w


@dataclass(frozen=True, slots=True)
class Room:
    """How far one EV's power may move from its planned setpoint, each way (W, >= 0)."""

    up_w: float
    """More charging (or less discharging) possible."""
    down_w: float
    """Less charging (or more discharging) possible."""


def room(
    *,
    setpoint_w: float,
    max_charge_w: float,
    max_discharge_w: float,
    soc_pct: float | None,
    min_soc_pct: float,
    max_soc_pct: float,
) -> Room:
    """An EV's headroom around its setpoint.

    Its power limits; no discharging at or below its reserve, no extra charging at or above its
    cycling cap.
    """
    top = max_charge_w if soc_pct is None or soc_pct < max_soc_pct else max(0.0, setpoint_w)
    # The state of charge may be up to one update old: keep a margin above the reserve.
    above_reserve = soc_pct is not None and soc_pct > min_soc_pct + RESERVE_MARGIN_PCT
    bottom = -max_discharge_w if above_reserve else 0.0
    bottom = min(bottom, setpoint_w)  # never asked to go back up to its floor
    return Room(up_w=max(0.0, top - setpoint_w), down_w=max(0.0, setpoint_w - bottom))


def share_response(response_w: float, rooms: Sequence[Room]) -> list[float]:
    """Each EV's part of the site's response, in proportion to its room in that direction."""
    if response_w == 0 or not rooms:
        return [0.0] * len(rooms)
    available = [r.up_w if response_w > 0 else r.down_w for r in rooms]
    total = sum(available)
    if total <= 0:
        return [0.0] * len(rooms)
    fraction = min(1.0, abs(response_w) / total)
    sign = 1.0 if response_w > 0 else -1.0
    return [sign * a * fraction for a in available]
