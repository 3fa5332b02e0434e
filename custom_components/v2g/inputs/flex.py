"""Flexibility events: the utility pays for less import in some hours, or gives energy away.

Octopus Energy's Home Assistant integration exposes them as event entities whose attributes hold
the sessions: power-down (saving) sessions, `joined_events` with `octopoints_per_kwh`, pay for
every kWh the household imports less than its baseline; power-up (free electricity) sessions
make energy free. They enter the plan through its prices, so the plan decides whether pausing,
discharging or charging pays:

- power-down: each kWh not imported (or exported) in the window is worth the reward more, so
  the import and export prices both rise by it;
- power-up: the import price in the window is 0.

The event entity's attributes are the Octopus integration's (start and end as local ISO times,
rewards in Octopoints; `points_per_currency` Octopoints make one unit of the price currency).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from ..optimizer.slots import SlotGrid
from .model import to_float

DEFAULT_POINTS_PER_CURRENCY = 800.0
"""Octopoints per pound (8 points are worth a penny)."""


class FlexKind(StrEnum):
    """What an event asks of the household."""

    POWER_DOWN = "power_down"
    POWER_UP = "power_up"


@dataclass(frozen=True, slots=True)
class FlexWindow:
    """One session."""

    kind: FlexKind
    start: datetime
    end: datetime
    reward_per_kwh: float = 0.0
    """Power-down: what each kWh less import earns (price currency)."""
    source: str = ""


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _kind(entity_id: str, attributes: Mapping[str, Any]) -> FlexKind:
    text = f"{entity_id} {attributes.get('event_type', '')}".lower()
    if "power_up" in text or "free_electricity" in text:
        return FlexKind.POWER_UP
    return FlexKind.POWER_DOWN


def parse_flex_events(
    entity_id: str, attributes: Mapping[str, Any], points_per_currency: float
) -> list[FlexWindow]:
    """The sessions an Octopus event entity lists (power-down: the joined ones only)."""
    kind = _kind(entity_id, attributes)
    lists: Iterable[Any] = (
        [attributes.get("joined_events")]
        if kind is FlexKind.POWER_DOWN
        else [attributes.get("joined_events"), attributes.get("available_events")]
    )
    windows: dict[tuple[datetime, datetime], FlexWindow] = {}
    for events in lists:
        for event in events if isinstance(events, list) else ():
            if not isinstance(event, Mapping):
                continue
            start, end = _when(event.get("start")), _when(event.get("end"))
            if start is None or end is None or end <= start:
                continue
            points = to_float(event.get("octopoints_per_kwh")) or 0.0
            reward = points / points_per_currency if points_per_currency > 0 else 0.0
            windows[(start, end)] = FlexWindow(kind, start, end, max(0.0, reward), entity_id)
    return sorted(windows.values(), key=lambda w: w.start)


def overlap_fraction(grid: SlotGrid, window: FlexWindow) -> npt.NDArray[np.float64]:
    """The share of each slot the window covers (0 to 1)."""
    starts = grid.starts.astype("datetime64[s]").astype(np.int64)
    ends = starts + grid.durations_s
    lo = int(window.start.timestamp())
    hi = int(window.end.timestamp())
    covered = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None)
    share: npt.NDArray[np.float64] = covered / grid.durations_s
    return share


def apply_flex(
    grid: SlotGrid,
    windows: Iterable[FlexWindow],
    import_price: npt.NDArray[np.float64],
    export_price: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Adjust the prices in place for every window; returns the slots any window touches."""
    touched = np.zeros(len(grid), dtype=bool)
    for window in windows:
        share = overlap_fraction(grid, window)
        touched |= share > 0
        if window.kind is FlexKind.POWER_DOWN:
            import_price += share * window.reward_per_kwh
            export_price += share * window.reward_per_kwh
        else:
            import_price *= 1.0 - share
    return touched
