"""Base entity: device info and unique ids for the charger and the EV behind it."""

from __future__ import annotations

from enum import StrEnum

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_CHARGER_KIND, DOMAIN, ChargerKind
from .coordinator import V2GConfigEntry, V2GCoordinator

# Until an OCPP charger reports its vendor and model (BootNotification).
CHARGER_MODELS = {
    ChargerKind.OCPP: "OCPP charger",
    ChargerKind.SIMULATED: "Simulated bidirectional charger",
}


class Device(StrEnum):
    """Which device an entity belongs to."""

    CHARGER = "charger"
    EV = "ev"


def device_info(entry: V2GConfigEntry, device: Device) -> DeviceInfo:
    """Device registry entry for the charger, or for the EV connected through it."""
    charger_id = (DOMAIN, f"{entry.unique_id}_{Device.CHARGER}")
    if device is Device.CHARGER:
        return DeviceInfo(
            identifiers={charger_id},
            name=entry.title,
            manufacturer="V2G Smart Charging",
            model=CHARGER_MODELS[ChargerKind(entry.data[CONF_CHARGER_KIND])],
        )
    return DeviceInfo(
        identifiers={(DOMAIN, f"{entry.unique_id}_{Device.EV}")},
        name=f"{entry.title} EV",
        manufacturer="V2G Smart Charging",
        model="Electric vehicle",
        via_device=charger_id,
    )


class V2GEntity(CoordinatorEntity[V2GCoordinator]):
    """An entity of one V2G config entry."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: V2GCoordinator, description: EntityDescription, device: Device
    ) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = device_info(entry, device)
