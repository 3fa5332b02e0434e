"""Dispatch by aggregators and automations: windows of import or export power, `must` or `prefer`.

A `Dispatch` targets the site (its net grid power) or one charger (its EV's signed power) over a
window. The coordinator puts the active ones into the joint `Problem` (`with_dispatches`):

- a charger `must`: the EV's power is held at exactly that power in the window's slots;
- a site `must`: the site's net grid power is at least the import asked (import) or at most
  minus the export asked (export): the EVs do at least that much, the house counts;
- `prefer`: the same powers as a soft target (a penalty per kWh of deviation that beats
  arbitrage and yields to targets and the reserve).

The optimizer keeps the driver's reserve and the fuse before any dispatch. Dispatches are stored
(`DispatchStore`), so a restart inside a window keeps it and one after it drops it; their
delivered energy is counted per update from what the chargers report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
import numpy as np

from .const import DOMAIN
from .optimizer import Problem, SlotGrid, Vehicle

STORAGE_VERSION = 1
SAVE_DELAY_S = 60


class DispatchMode(StrEnum):
    """How binding a dispatch is."""

    MUST = "must"
    PREFER = "prefer"


class DispatchEvent(StrEnum):
    """The site's dispatch event entity's event types."""

    STARTED = "dispatch_started"
    ENDED = "dispatch_ended"
    CANCELLED = "dispatch_cancelled"


@dataclass(slots=True)
class Dispatch:
    """One dispatch window. ``power_w`` is signed: + import (charge), - export (discharge)."""

    id: str
    start: datetime
    end: datetime
    power_w: float
    mode: DispatchMode
    charger_id: str | None = None
    """The charger's subentry id; None: the whole site."""
    started: bool = False
    """The start event has been sent."""
    delivered_kwh: float = 0.0
    """Energy delivered so far in the dispatch's direction (import for +, export for -)."""

    def active(self, now: datetime) -> bool:
        """The window covers ``now``."""
        return self.start <= now < self.end

    def to_json(self) -> dict[str, Any]:
        """For the store and diagnostics."""
        return {
            "id": self.id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "power_w": self.power_w,
            "mode": self.mode.value,
            "charger_id": self.charger_id,
            "started": self.started,
            "delivered_kwh": round(self.delivered_kwh, 4),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dispatch | None:
        """A stored dispatch; None if it cannot be read."""
        start = dt_util.parse_datetime(str(data.get("start")))
        end = dt_util.parse_datetime(str(data.get("end")))
        try:
            mode = DispatchMode(str(data.get("mode")))
            power_w = float(data["power_w"])
        except (KeyError, TypeError, ValueError):
            return None
        if start is None or end is None:
            return None
        return cls(
            id=str(data.get("id")),
            start=start,
            end=end,
            power_w=power_w,
            mode=mode,
            charger_id=data.get("charger_id"),
            started=bool(data.get("started", False)),
            delivered_kwh=float(data.get("delivered_kwh", 0.0)),
        )


@dataclass(slots=True)
class Dispatches:
    """A site's dispatches, in the order they were given (a later one wins where they overlap)."""

    items: list[Dispatch] = field(default_factory=list)

    def get(self, dispatch_id: str) -> Dispatch | None:
        """The dispatch with this id."""
        return next((d for d in self.items if d.id == dispatch_id), None)

    def active(self, now: datetime) -> list[Dispatch]:
        """Those whose window covers ``now``."""
        return [d for d in self.items if d.active(now)]

    def for_charger(self, charger_id: str, now: datetime) -> Dispatch | None:
        """The dispatch acting on a charger now: its own, else the site's (latest first)."""
        active = self.active(now)
        own = [d for d in active if d.charger_id == charger_id]
        site = [d for d in active if d.charger_id is None]
        chosen = own or site
        return chosen[-1] if chosen else None


class DispatchStore:
    """Keeps a site's dispatches across restarts (ended ones are dropped when loaded)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.dispatch.{entry_id}"
        )

    async def async_load(self, now: datetime) -> Dispatches:
        """The dispatches still running or to come."""
        data = await self._store.async_load() or {}
        items = [Dispatch.from_json(item) for item in data.get("dispatches", [])]
        return Dispatches([d for d in items if d is not None and d.end > now])

    async def async_save(self, dispatches: Dispatches) -> None:
        """Write them all."""
        await self._store.async_save({"dispatches": [d.to_json() for d in dispatches.items]})

    def schedule_save(self, dispatches: Dispatches) -> None:
        """Write them within a minute (the delivered energy, counted every update)."""
        self._store.async_delay_save(
            lambda: {"dispatches": [d.to_json() for d in dispatches.items]}, SAVE_DELAY_S
        )

    async def async_remove(self) -> None:
        """Forget the site's dispatches (the site is removed)."""
        await self._store.async_remove()


def _covered(grid: SlotGrid, dispatch: Dispatch) -> np.ndarray:
    """Per slot: the dispatch window covers at least half of it."""
    start = grid.start_s.astype(np.float64)
    end = grid.end_s.astype(np.float64)
    overlap = np.clip(
        np.minimum(end, dispatch.end.timestamp()) - np.maximum(start, dispatch.start.timestamp()),
        0.0,
        None,
    )
    covered: np.ndarray = overlap >= 0.5 * (end - start)
    return covered


def with_dispatches(
    problem: Problem, dispatches: list[Dispatch], vehicle_ids: list[str] | tuple[str, ...]
) -> Problem:
    """``problem`` with the dispatches' bounds and preferences (see the module docstring).

    A charger's dispatch whose EV is not in the plan is left out (nothing to steer).
    """
    if not dispatches:
        return problem
    n = len(problem.grid)
    site_floor = np.full(n, -np.inf)
    site_ceiling = np.full(n, np.inf)
    site_pref = np.full(n, np.nan)
    floors = [np.full(n, -np.inf) for _ in vehicle_ids]
    ceilings = [np.full(n, np.inf) for _ in vehicle_ids]
    prefs = [np.full(n, np.nan) for _ in vehicle_ids]
    touched = [False for _ in vehicle_ids]
    for dispatch in dispatches:
        slots = _covered(problem.grid, dispatch)
        if dispatch.charger_id is None:
            if dispatch.mode is DispatchMode.PREFER:
                site_pref[slots] = dispatch.power_w
            elif dispatch.power_w >= 0:
                site_floor[slots] = dispatch.power_w
                site_ceiling[slots] = np.inf  # a later dispatch replaces an earlier one
            else:
                site_ceiling[slots] = dispatch.power_w
                site_floor[slots] = -np.inf
            continue
        if dispatch.charger_id not in vehicle_ids:
            continue
        i = list(vehicle_ids).index(dispatch.charger_id)
        touched[i] = True
        if dispatch.mode is DispatchMode.PREFER:
            prefs[i][slots] = dispatch.power_w
        else:
            floors[i][slots] = dispatch.power_w
            ceilings[i][slots] = dispatch.power_w
            prefs[i][slots] = np.nan
    vehicles = tuple(
        _with_vehicle_dispatch(vehicle, floors[i], ceilings[i], prefs[i]) if touched[i] else vehicle
        for i, vehicle in enumerate(problem.vehicles)
    )
    # The problem's own site bounds (announced capacity limits) stay; a dispatch cannot ask for
    # more than they allow (its floor is clipped to their ceiling and the other way round).
    base_floor, base_ceiling = problem.grid_floor, problem.grid_ceiling
    return replace(
        problem,
        vehicles=vehicles,
        grid_floor_w=np.maximum(base_floor, np.minimum(site_floor, base_ceiling)),
        grid_ceiling_w=np.minimum(base_ceiling, np.maximum(site_ceiling, base_floor)),
        grid_preferred_w=np.where(np.isnan(site_pref), problem.grid_preferred, site_pref),
    )


def _with_vehicle_dispatch(
    vehicle: Vehicle, floor_w: np.ndarray, ceiling_w: np.ndarray, preferred_w: np.ndarray
) -> Vehicle:
    """The EV with its dispatch's bounds where the dispatch covers a slot, its own elsewhere."""
    n = floor_w.shape[0]
    own_floor = np.full(n, -np.inf) if vehicle.power_floor_w is None else vehicle.power_floor_w
    own_ceiling = np.full(n, np.inf) if vehicle.power_ceiling_w is None else vehicle.power_ceiling_w
    own_pref = (
        np.full(n, np.nan) if vehicle.preferred_power_w is None else vehicle.preferred_power_w
    )
    covered = np.isfinite(floor_w)
    floor = np.where(covered, floor_w, own_floor)
    ceiling = np.where(covered, ceiling_w, own_ceiling)
    preferred = np.where(np.isnan(preferred_w), own_pref, preferred_w)
    return replace(
        vehicle,
        power_floor_w=floor if np.isfinite(floor).any() else None,
        power_ceiling_w=ceiling if np.isfinite(ceiling).any() else None,
        preferred_power_w=preferred if not np.isnan(preferred).all() else None,
    )


def beyond_site_bounds_kwh(problem: Problem, dispatch: Dispatch) -> float:
    """The energy of a site `must` dispatch that the problem's own site bounds leave out.

    `with_dispatches` clips a site dispatch to an announced capacity limit (the plan cannot
    break it); this is what the clip removes, which the dispatch check counts as unmet.
    """
    if dispatch.charger_id is not None or dispatch.mode is DispatchMode.PREFER:
        return 0.0
    slots = _covered(problem.grid, dispatch)
    if dispatch.power_w >= 0:
        excess_w = np.clip(dispatch.power_w - problem.grid_ceiling, 0.0, None)
    else:
        excess_w = np.clip(problem.grid_floor - dispatch.power_w, 0.0, None)
    return float(np.sum(np.where(slots, excess_w * problem.grid.durations_h, 0.0))) / 1000.0


def dispatch_energy_kwh(dispatch: Dispatch) -> float:
    """The energy the dispatch asks for over its whole window (kWh, unsigned)."""
    hours = (dispatch.end - dispatch.start).total_seconds() / 3600.0
    return abs(dispatch.power_w) * hours / 1000.0
