"""Time: when the EV leaves (the departure target's deadline)."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import V2GConfigEntry
from .entity import Device, V2GEntity

PARALLEL_UPDATES = 1

DEPARTURE = TimeEntityDescription(key="departure_time", translation_key="departure_time")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the departure time of one entry."""
    async_add_entities([V2GDepartureTime(entry.runtime_data.coordinator, DEPARTURE, Device.EV)])


class V2GDepartureTime(V2GEntity, TimeEntity):
    """The daily departure time, in Home Assistant's time zone."""

    @property
    def available(self) -> bool:
        """Settings stay editable while the charger is offline."""
        return True

    @property
    def native_value(self) -> time:
        """The stored departure time."""
        return self.coordinator.settings.departure_time

    async def async_set_value(self, value: time) -> None:
        """Store the new departure time and re-plan."""
        await self.coordinator.async_settings_changed(departure_time=value.replace(microsecond=0))
