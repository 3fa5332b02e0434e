"""The site's dispatch events: a dispatch started, ended (with the energy delivered), cancelled."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SiteCoordinator, V2GConfigEntry
from .dispatch import DispatchEvent
from .entity import V2GSiteEntity

PARALLEL_UPDATES = 0

DISPATCH_EVENTS = EventEntityDescription(
    key="dispatch",
    translation_key="dispatch",
    event_types=[kind.value for kind in DispatchEvent],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's dispatch event entity."""
    async_add_entities([V2GDispatchEvent(entry.runtime_data.coordinator, DISPATCH_EVENTS)])


class V2GDispatchEvent(V2GSiteEntity, EventEntity):
    """Fires when a dispatch starts, ends or is cancelled (attributes: id, power, energy)."""

    def __init__(self, coordinator: SiteCoordinator, description: EventEntityDescription) -> None:
        super().__init__(coordinator, description)

    async def async_added_to_hass(self) -> None:
        """Listen to the coordinator's dispatch events."""
        await super().async_added_to_hass()
        listeners = self.coordinator.dispatch_listeners
        listeners.append(self._fired)
        self.async_on_remove(lambda: listeners.remove(self._fired))

    @callback
    def _fired(self, kind: DispatchEvent, attributes: dict[str, Any]) -> None:
        self._trigger_event(kind.value, attributes)
        self.async_write_ha_state()
