"""Base entities: the site device, and each charger's charger and EV devices.

Charger and EV entities keep the unique ids and device identifiers they had when an entry was one
charger: `<charger unique id>_<key>`, where the charger subentry's unique id is what the entry's
was (`ocpp_<identity>`, `simulated_<name>`). Site entities use the site entry's id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .charger import Charger
from .chargers import ChargerState
from .const import DOMAIN
from .coordinator import ChargerData, SiteCoordinator, SiteData, V2GConfigEntry
from .optimizer import VehiclePlan
from .planner import VehicleMoney
from .settings import Settings

MANUFACTURER = "V2G Smart Charging"


class Device(StrEnum):
    """Which device an entity belongs to."""

    SITE = "site"
    CHARGER = "charger"
    EV = "ev"


def site_identifier(entry: V2GConfigEntry) -> tuple[str, str]:
    """The site device's identifier."""
    return (DOMAIN, f"{entry.entry_id}_site")


def site_device_info(entry: V2GConfigEntry) -> DeviceInfo:
    """The site: the grid connection its chargers share."""
    return DeviceInfo(
        identifiers={site_identifier(entry)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model="Site (grid connection)",
    )


def charger_device_info(entry: V2GConfigEntry, charger: Charger, device: Device) -> DeviceInfo:
    """The charger (under the site), or the EV connected through it."""
    charger_id = (DOMAIN, f"{charger.unique_id}_{Device.CHARGER}")
    if device is Device.CHARGER:
        # What the charger reported about itself, else ours: an entity added later must not
        # overwrite what the backend knew from the start (a charger another integration owns).
        details = charger.backend.device_details()
        info = DeviceInfo(
            identifiers={charger_id},
            name=charger.title,
            manufacturer=(details and details.manufacturer) or MANUFACTURER,
            model=(details and details.model) or charger.kind.model,
            via_device=site_identifier(entry),
        )
        if details is not None and details.sw_version:
            info["sw_version"] = details.sw_version
        if details is not None and details.serial_number:
            info["serial_number"] = details.serial_number
        return info
    return DeviceInfo(
        identifiers={(DOMAIN, f"{charger.unique_id}_{Device.EV}")},
        name=f"{charger.title} EV",
        manufacturer=MANUFACTURER,
        model="Electric vehicle",
        via_device=charger_id,
    )


class V2GSiteEntity(CoordinatorEntity[SiteCoordinator]):
    """An entity of the site device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SiteCoordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_site_{description.key}"
        self._attr_device_info = site_device_info(entry)


@dataclass(frozen=True, slots=True)
class ChargerView:
    """What a charger's entities read: its part of the last update, and the site's."""

    charger: Charger
    data: ChargerData
    site: SiteData
    currency: str

    @property
    def state(self) -> ChargerState:
        """The charger's state (entities are unavailable while it is None)."""
        assert self.data.state is not None
        return self.data.state

    @property
    def settings(self) -> Settings:
        """The EV's settings."""
        return self.charger.settings

    @property
    def vehicle_plan(self) -> VehiclePlan | None:
        """The EV's part of the joint plan, while it is planned."""
        index = self.site.vehicle_index(self.charger.subentry_id)
        return (
            None if index is None or self.site.plan is None else self.site.plan.plan.vehicles[index]
        )

    @property
    def money(self) -> VehicleMoney | None:
        """The EV's share of the plan's money."""
        return self.site.money(self.charger.subentry_id)


class V2GChargerEntity(CoordinatorEntity[SiteCoordinator]):
    """An entity of a charger's device or of its EV's."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: SiteCoordinator,
        charger: Charger,
        description: EntityDescription,
        device: Device,
    ) -> None:
        super().__init__(coordinator)
        self.charger = charger
        self.entity_description = description
        self._attr_unique_id = f"{charger.unique_id}_{description.key}"
        self._attr_device_info = charger_device_info(coordinator.config_entry, charger, device)

    @property
    def charger_data(self) -> ChargerData | None:
        """The charger's part of the last update (None before its first)."""
        return self.coordinator.data.chargers.get(self.charger.subentry_id)

    @property
    def view(self) -> ChargerView:
        """What the description's functions read."""
        data = self.charger_data
        assert data is not None
        return ChargerView(self.charger, data, self.coordinator.data, self.coordinator.currency)

    @property
    def available(self) -> bool:
        """Unavailable while the charger does not answer."""
        data = self.charger_data
        return super().available and data is not None and data.state is not None


def async_add_charger_entities(
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[Charger], Iterable[Entity]],
) -> None:
    """Add a platform's entities for every charger of the site, now and when one is added."""
    runtime = entry.runtime_data

    def add(charger: Charger) -> None:
        async_add_entities(build(charger), config_subentry_id=charger.subentry_id)

    runtime.charger_added.append(add)
    for charger in runtime.chargers.values():
        add(charger)
