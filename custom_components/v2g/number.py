"""Numbers: each EV's charging settings, and the site's grid limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charger import Charger
from .const import (
    DEFAULT_OPTIONS,
    DOMAIN,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
)
from .coordinator import SiteCoordinator, V2GConfigEntry
from .entity import Device, V2GChargerEntity, V2GSiteEntity, async_add_charger_entities
from .settings import Settings

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class V2GNumberDescription(NumberEntityDescription):
    """An EV's setting, where it lives in `Settings`, and its bounds."""

    device: Device
    setting: str
    max_fn: Callable[[Charger, SiteCoordinator], float | None] | None = None
    """A maximum that depends on the hardware (charger power limits)."""
    validate_fn: Callable[[Settings, float], str | None] | None = None
    """Returns a translation key when the value contradicts another setting."""
    needs_discharge: bool = False
    """Only for chargers that can discharge (unavailable on charge-only ones)."""


def _min_below_target(settings: Settings, value: float) -> str | None:
    return "min_soc_above_target" if value > settings.target_soc_pct else None


def _target_above_min(settings: Settings, value: float) -> str | None:
    return "min_soc_above_target" if value < settings.min_soc_pct else None


def _state_limit(attribute: str) -> Callable[[Charger, SiteCoordinator], float | None]:
    def limit(charger: Charger, coordinator: SiteCoordinator) -> float | None:
        data = coordinator.data.chargers.get(charger.subentry_id) if coordinator.data else None
        if data is None or data.state is None:
            return None
        value: float = getattr(data.state, attribute)
        return value

    return limit


NUMBERS: tuple[V2GNumberDescription, ...] = (
    V2GNumberDescription(
        key="target_soc",
        translation_key="target_soc",
        device=Device.EV,
        setting="target_soc_pct",
        native_min_value=10,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.BOX,
        native_unit_of_measurement=PERCENTAGE,
        device_class=NumberDeviceClass.BATTERY,
        validate_fn=_target_above_min,
    ),
    V2GNumberDescription(
        key="min_soc",
        translation_key="min_soc",
        device=Device.EV,
        setting="min_soc_pct",
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.BOX,
        native_unit_of_measurement=PERCENTAGE,
        device_class=NumberDeviceClass.BATTERY,
        validate_fn=_min_below_target,
    ),
    V2GNumberDescription(
        key="capacity",
        translation_key="capacity",
        device=Device.EV,
        setting="capacity_kwh",
        entity_category=EntityCategory.CONFIG,
        native_min_value=5,
        native_max_value=250,
        native_step=0.5,
        mode=NumberMode.BOX,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        device_class=NumberDeviceClass.ENERGY_STORAGE,
    ),
    V2GNumberDescription(
        key="max_charge_power",
        translation_key="max_charge_power",
        device=Device.CHARGER,
        setting="max_charge_power_w",
        entity_category=EntityCategory.CONFIG,
        native_min_value=0,
        native_max_value=22_000,
        native_step=100,
        mode=NumberMode.BOX,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=NumberDeviceClass.POWER,
        max_fn=_state_limit("max_charge_power_w"),
    ),
    V2GNumberDescription(
        key="max_discharge_power",
        translation_key="max_discharge_power",
        device=Device.CHARGER,
        setting="max_discharge_power_w",
        entity_category=EntityCategory.CONFIG,
        native_min_value=0,
        native_max_value=22_000,
        native_step=100,
        mode=NumberMode.BOX,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=NumberDeviceClass.POWER,
        max_fn=_state_limit("max_discharge_power_w"),
        needs_discharge=True,
    ),
)

SITE_NUMBERS: tuple[NumberEntityDescription, ...] = (
    NumberEntityDescription(
        key=OPT_GRID_IMPORT_LIMIT_W,
        translation_key="grid_import_limit",
        entity_category=EntityCategory.CONFIG,
        native_min_value=0,
        native_max_value=200_000,
        native_step=100,
        mode=NumberMode.BOX,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=NumberDeviceClass.POWER,
    ),
    NumberEntityDescription(
        key=OPT_GRID_EXPORT_LIMIT_W,
        translation_key="grid_export_limit",
        entity_category=EntityCategory.CONFIG,
        native_min_value=0,
        native_max_value=200_000,
        native_step=100,
        mode=NumberMode.BOX,
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=NumberDeviceClass.POWER,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's limits and each EV's settings (now and when a charger is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(V2GSiteOptionNumber(coordinator, desc) for desc in SITE_NUMBERS)
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: (V2GNumber(coordinator, charger, desc, desc.device) for desc in NUMBERS),
    )


class V2GNumber(V2GChargerEntity, NumberEntity):
    """An EV's setting stored by the integration and used by the next decision."""

    entity_description: V2GNumberDescription

    @property
    def native_value(self) -> float:
        """The stored setting (whole numbers without a needless ".0")."""
        value: float = getattr(self.charger.stored_settings, self.entity_description.setting)
        step = self.entity_description.native_step or 1.0
        return int(value) if float(step).is_integer() and float(value).is_integer() else value

    @property
    def available(self) -> bool:
        """Editable while the charger is offline; discharge limits only where it can discharge."""
        if self.entity_description.needs_discharge:
            return self.charger.backend.capabilities.bidirectional
        return True

    @property
    def native_max_value(self) -> float:
        """The description's maximum, or the charger's own limit where it is lower."""
        desc = self.entity_description
        maximum = float(desc.native_max_value or 0.0)
        if desc.max_fn is None or (limit := desc.max_fn(self.charger, self.coordinator)) is None:
            return maximum
        return min(limit, maximum)

    async def async_set_native_value(self, value: float) -> None:
        """Store the new value and re-plan."""
        desc = self.entity_description
        if desc.validate_fn and (error := desc.validate_fn(self.charger.stored_settings, value)):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=error,
                translation_placeholders={"value": f"{value:g}"},
            )
        changes: dict[str, Any] = {desc.setting: value}
        await self.coordinator.async_settings_changed(self.charger, **changes)


class V2GSiteOptionNumber(V2GSiteEntity, NumberEntity):
    """A site option users change often (the grid limits), kept in the site's options."""

    @property
    def native_value(self) -> float:
        """The option in force (0 for the import limit: no limit)."""
        key = self.entity_description.key
        value = float(self.coordinator.config_entry.options.get(key, DEFAULT_OPTIONS[key]))
        return value if math.isfinite(value) else 0.0

    async def async_set_native_value(self, value: float) -> None:
        """Store the option; the site re-plans with it at once."""
        entry = self.coordinator.config_entry
        options = {**entry.options, self.entity_description.key: float(value)}
        # The site's update listener applies it and re-plans.
        self.hass.config_entries.async_update_entry(entry, options=options)
