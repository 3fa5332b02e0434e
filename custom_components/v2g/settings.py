"""User settings made through the number, time, select and switch entities.

They live in one Home Assistant Store per charger (subentry), loaded before the first update so
the coordinator never acts on defaults after a restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN, Mode, Priority

STORAGE_VERSION = 1
SAVE_DELAY_S = 1.0


@dataclass(frozen=True, slots=True)
class Settings:
    """What the user asked for."""

    mode: Mode = Mode.SMART
    target_soc_pct: float = 80.0
    min_soc_pct: float = 20.0
    max_charge_power_w: float = 11_000.0
    max_discharge_power_w: float = 11_000.0
    capacity_kwh: float = 60.0
    departure_time: time = time(7, 30)
    allow_v2g: bool = False
    departure_override: datetime | None = None
    """A one-off departure (the `set_departure` action); used while it lies in the future."""
    priority: Priority = Priority.NORMAL
    """Who gets scarce power first when the site's EVs compete for it."""
    target_override: float | None = None
    """The one-off departure's own target (`set_departure`), for that trip only."""

    def one_off_active(self, now: datetime) -> bool:
        """Whether a one-off departure from the action lies ahead."""
        return self.departure_override is not None and self.departure_override > now

    def in_force(self, now: datetime) -> Settings:
        """The settings the plan uses now: a one-off trip's target while that trip lies ahead."""
        if self.target_override is not None and self.one_off_active(now):
            return replace(self, target_soc_pct=self.target_override)
        return self

    def to_json(self) -> dict[str, Any]:
        """Serialise for the store."""
        data = asdict(self)
        data["mode"] = str(self.mode)
        data["priority"] = str(self.priority)
        data["departure_time"] = self.departure_time.isoformat()
        data["departure_override"] = (
            self.departure_override.isoformat() if self.departure_override else None
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], defaults: Settings) -> Settings:
        """Read what the store holds; unknown or invalid values fall back to `defaults`."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in data:
                continue
            raw = data[item.name]
            try:
                if item.name == "mode":
                    values[item.name] = Mode(raw)
                elif item.name == "priority":
                    values[item.name] = Priority(raw)
                elif item.name == "departure_time":
                    values[item.name] = time.fromisoformat(raw)
                elif item.name == "departure_override":
                    values[item.name] = datetime.fromisoformat(raw) if raw else None
                elif item.name == "allow_v2g":
                    values[item.name] = bool(raw)
                elif item.name == "target_override":
                    values[item.name] = None if raw is None else float(raw)
                else:
                    values[item.name] = float(raw)
            except (TypeError, ValueError):
                continue
        return replace(defaults, **values)


def storage_key(key: str) -> str:
    """The Store's key.

    `v2g.<site entry id>.<charger subentry id>`; `v2g.<entry id>` before version 2, when an
    entry was one charger.
    """
    return f"{DOMAIN}.{key}"


def charger_key(entry_id: str, subentry_id: str) -> str:
    """Which settings a charger of a site has."""
    return f"{entry_id}.{subentry_id}"


class SettingsStore:
    """Loads and saves one entry's settings."""

    def __init__(self, hass: HomeAssistant, key: str, defaults: Settings) -> None:
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(key))
        self.settings = defaults
        self._defaults = defaults

    async def async_load(self) -> Settings:
        """Load the saved settings, keeping defaults for anything missing."""
        if (data := await self._store.async_load()) is not None:
            self.settings = Settings.from_json(data, self._defaults)
        return self.settings

    def update(self, **changes: Any) -> Settings:
        """Change settings and schedule a save."""
        self.settings = replace(self.settings, **changes)
        self._store.async_delay_save(self.settings.to_json, SAVE_DELAY_S)
        return self.settings

    async def async_flush(self) -> None:
        """Write pending changes now (before an unload, so a reload reads them)."""
        await self._store.async_save(self.settings.to_json())

    async def async_remove(self) -> None:
        """Delete the stored settings (the entry is being removed)."""
        await self._store.async_remove()
