"""Binary sensors: plugged in, charging, discharging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .chargers import ChargerStatus
from .coordinator import V2GConfigEntry
from .decision import Reason
from .entity import ChargerView, Device, V2GChargerEntity, async_add_charger_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class V2GBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor and how to read it."""

    device: Device
    is_on_fn: Callable[[ChargerView], bool]


def target_at_risk(view: ChargerView) -> bool:
    """The EV will not reach its target by departure (for "notify me" automations)."""
    if view.data.decision.reason in (Reason.CANNOT_CHARGE, Reason.MISSED_DEPARTURE):
        return True
    plan = view.vehicle_plan
    return plan is not None and not plan.target_reachable


BINARY_SENSORS: tuple[V2GBinarySensorDescription, ...] = (
    V2GBinarySensorDescription(
        key="plugged_in",
        translation_key="plugged_in",
        device=Device.EV,
        device_class=BinarySensorDeviceClass.PLUG,
        is_on_fn=lambda v: v.state.plugged_in,
    ),
    V2GBinarySensorDescription(
        key="charging",
        translation_key="charging",
        device=Device.EV,
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        is_on_fn=lambda v: v.state.status is ChargerStatus.CHARGING,
    ),
    V2GBinarySensorDescription(
        key="target_at_risk",
        translation_key="target_at_risk",
        device=Device.EV,
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=target_at_risk,
    ),
    V2GBinarySensorDescription(
        key="discharging",
        translation_key="discharging",
        device=Device.EV,
        is_on_fn=lambda v: v.state.status is ChargerStatus.DISCHARGING,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each charger's binary sensors (now and when one is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: (
            V2GBinarySensor(coordinator, charger, desc, desc.device) for desc in BINARY_SENSORS
        ),
    )


class V2GBinarySensor(V2GChargerEntity, BinarySensorEntity):
    """A binary sensor backed by the coordinator's data."""

    entity_description: V2GBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """Whether the condition holds."""
        return self.entity_description.is_on_fn(self.view)
