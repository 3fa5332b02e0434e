"""Selects: each EV's charging mode and its priority on the site."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import Mode, Priority
from .coordinator import V2GConfigEntry
from .entity import Device, V2GChargerEntity, async_add_charger_entities

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class V2GSelectDescription(SelectEntityDescription):
    """A setting with a fixed set of choices, and the enum it is stored as."""

    device: Device
    setting: str
    kind: Callable[[str], StrEnum]


SELECTS: tuple[V2GSelectDescription, ...] = (
    V2GSelectDescription(
        key="mode",
        translation_key="mode",
        options=[mode.value for mode in Mode],
        device=Device.CHARGER,
        setting="mode",
        kind=Mode,
    ),
    V2GSelectDescription(
        key="priority",
        translation_key="priority",
        options=[priority.value for priority in Priority],
        entity_category=EntityCategory.CONFIG,
        device=Device.EV,
        setting="priority",
        kind=Priority,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each charger's selects (now and when a charger is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: (V2GSelect(coordinator, charger, desc, desc.device) for desc in SELECTS),
    )


class V2GSelect(V2GChargerEntity, SelectEntity):
    """A choice stored in the EV's settings; the charger follows it at once."""

    entity_description: V2GSelectDescription

    @property
    def available(self) -> bool:
        """The choice can be made while the charger is offline."""
        return True

    @property
    def current_option(self) -> str:
        """The active choice."""
        return str(getattr(self.charger.stored_settings, self.entity_description.setting))

    async def async_select_option(self, option: str) -> None:
        """Store the choice and act on it at once."""
        desc = self.entity_description
        changes: dict[str, Any] = {desc.setting: desc.kind(option)}
        await self.coordinator.async_settings_changed(self.charger, **changes)
