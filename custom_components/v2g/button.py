"""Button: cancel an EV's one-off departure."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import V2GConfigEntry
from .entity import Device, V2GChargerEntity, async_add_charger_entities
from .services import async_cancel_departure

PARALLEL_UPDATES = 1

CANCEL_DEPARTURE = ButtonEntityDescription(
    key="cancel_departure", translation_key="cancel_departure"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each EV's cancel button (now and when a charger is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: [
            V2GCancelDepartureButton(coordinator, charger, CANCEL_DEPARTURE, Device.EV)
        ],
    )


class V2GCancelDepartureButton(V2GChargerEntity, ButtonEntity):
    """Forgets the one-off departure; available only while one lies ahead."""

    @property
    def available(self) -> bool:
        """Only a one-off departure can be cancelled."""
        return self.charger.stored_settings.one_off_active(dt_util.now())

    async def async_press(self) -> None:
        """The daily (or the EV's) departure counts again."""
        await async_cancel_departure(self.coordinator.config_entry, self.charger)
