"""Switch: whether the EV may be discharged (vehicle-to-grid / vehicle-to-home)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import V2GConfigEntry
from .entity import Device, V2GEntity

PARALLEL_UPDATES = 1

ALLOW_V2G = SwitchEntityDescription(key="allow_v2g", translation_key="allow_v2g")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the V2G switch of one entry."""
    async_add_entities([V2GAllowSwitch(entry.runtime_data.coordinator, ALLOW_V2G, Device.CHARGER)])


class V2GAllowSwitch(V2GEntity, SwitchEntity):
    """Allows the optimizer to discharge the EV when that pays (never below the reserve)."""

    @property
    def available(self) -> bool:
        """The permission can be changed while the charger is offline."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether discharging is allowed."""
        return self.coordinator.settings.allow_v2g

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Allow discharging."""
        await self.coordinator.async_settings_changed(allow_v2g=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Forbid discharging."""
        await self.coordinator.async_settings_changed(allow_v2g=False)
