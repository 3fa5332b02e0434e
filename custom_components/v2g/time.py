"""Time: when each EV leaves (the departure target's deadline)."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import V2GConfigEntry
from .entity import Device, V2GChargerEntity, async_add_charger_entities

PARALLEL_UPDATES = 1

DEPARTURE = TimeEntityDescription(key="departure_time", translation_key="departure_time")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each EV's departure time (now and when a charger is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: [V2GDepartureTime(coordinator, charger, DEPARTURE, Device.EV)],
    )


class V2GDepartureTime(V2GChargerEntity, TimeEntity):
    """The daily departure time, in Home Assistant's time zone."""

    @property
    def available(self) -> bool:
        """Settings stay editable while the charger is offline."""
        return True

    @property
    def native_value(self) -> time:
        """The stored departure time."""
        return self.charger.stored_settings.departure_time

    async def async_set_value(self, value: time) -> None:
        """Store the new departure time and re-plan."""
        await self.coordinator.async_settings_changed(
            self.charger, departure_time=value.replace(microsecond=0)
        )
