"""Select: the charging mode."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import Mode
from .coordinator import V2GConfigEntry
from .entity import Device, V2GEntity

PARALLEL_UPDATES = 1

MODE = SelectEntityDescription(
    key="mode", translation_key="mode", options=[mode.value for mode in Mode]
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mode select of one entry."""
    async_add_entities([V2GModeSelect(entry.runtime_data.coordinator, MODE, Device.CHARGER)])


class V2GModeSelect(V2GEntity, SelectEntity):
    """What the integration does with the charger."""

    @property
    def available(self) -> bool:
        """The mode can be chosen while the charger is offline."""
        return True

    @property
    def current_option(self) -> str:
        """The active mode."""
        return self.coordinator.settings.mode.value

    async def async_select_option(self, option: str) -> None:
        """Switch mode and act on it at once."""
        await self.coordinator.async_settings_changed(mode=Mode(option))
