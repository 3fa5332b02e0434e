"""Switches: whether an EV may be discharged (V2G / V2H), and whether the site may export."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DEFAULT_OPTIONS, OPT_EXPORT_ALLOWED
from .coordinator import V2GConfigEntry
from .entity import Device, V2GChargerEntity, V2GSiteEntity, async_add_charger_entities

PARALLEL_UPDATES = 1

ALLOW_V2G = SwitchEntityDescription(key="allow_v2g", translation_key="allow_v2g")
EXPORT_ALLOWED = SwitchEntityDescription(
    key=OPT_EXPORT_ALLOWED, translation_key="export_allowed", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's export switch and each charger's V2G switch."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities([V2GExportSwitch(coordinator, EXPORT_ALLOWED)])
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: [V2GAllowSwitch(coordinator, charger, ALLOW_V2G, Device.CHARGER)],
    )


class V2GAllowSwitch(V2GChargerEntity, SwitchEntity):
    """Allows the optimizer to discharge the EV when that pays (never below the reserve)."""

    @property
    def available(self) -> bool:
        """Only a charger that can discharge offers it (it can be set while it is offline)."""
        return self.charger.backend.capabilities.bidirectional

    @property
    def is_on(self) -> bool:
        """Whether discharging is allowed."""
        return self.charger.stored_settings.allow_v2g

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Allow discharging."""
        await self.coordinator.async_settings_changed(self.charger, allow_v2g=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Forbid discharging."""
        await self.coordinator.async_settings_changed(self.charger, allow_v2g=False)


class V2GExportSwitch(V2GSiteEntity, SwitchEntity):
    """Whether the site may feed energy into the grid (off: discharging serves the house only)."""

    @property
    def is_on(self) -> bool:
        """Whether export is allowed."""
        options = self.coordinator.config_entry.options
        return bool(options.get(OPT_EXPORT_ALLOWED, DEFAULT_OPTIONS[OPT_EXPORT_ALLOWED]))

    async def _async_set(self, allowed: bool) -> None:
        entry = self.coordinator.config_entry
        # The site's update listener applies it and re-plans.
        self.hass.config_entries.async_update_entry(
            entry, options={**entry.options, OPT_EXPORT_ALLOWED: allowed}
        )

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Allow export."""
        await self._async_set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Forbid export."""
        await self._async_set(False)
