"""Sensors: the charger's power and energy, the EV's state of charge, and what is left to do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .chargers import ChargerStatus
from .coordinator import V2GConfigEntry, V2GCoordinator
from .decision import energy_needed_kwh, next_departure
from .entity import Device, V2GEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class V2GSensorDescription(SensorEntityDescription):
    """A sensor and how to read its value from the coordinator."""

    device: Device
    value_fn: Callable[[V2GCoordinator], StateType]


def _minutes_to_departure(coordinator: V2GCoordinator) -> float:
    now = dt_util.now()
    departure = next_departure(coordinator.settings.departure_time, now)
    return round((departure - now).total_seconds() / 60.0)


SENSORS: tuple[V2GSensorDescription, ...] = (
    V2GSensorDescription(
        key="power",
        translation_key="power",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=lambda c: c.data.state.power_w,
    ),
    V2GSensorDescription(
        key="energy_charged",
        translation_key="energy_charged",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda c: c.data.state.energy_charged_kwh,
    ),
    V2GSensorDescription(
        key="energy_discharged",
        translation_key="energy_discharged",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda c: c.data.state.energy_discharged_kwh,
    ),
    V2GSensorDescription(
        key="status",
        translation_key="status",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ChargerStatus],
        value_fn=lambda c: c.data.state.status.value,
    ),
    V2GSensorDescription(
        key="soc",
        translation_key="soc",
        device=Device.EV,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda c: c.data.state.soc_pct,
    ),
    V2GSensorDescription(
        key="energy_needed",
        translation_key="energy_needed",
        device=Device.EV,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=1,
        value_fn=lambda c: energy_needed_kwh(c.data.state, c.settings),
    ),
    V2GSensorDescription(
        key="time_to_departure",
        translation_key="time_to_departure",
        device=Device.EV,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=1,
        value_fn=_minutes_to_departure,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one entry."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(V2GSensor(coordinator, desc, desc.device) for desc in SENSORS)


class V2GSensor(V2GEntity, SensorEntity):
    """A sensor backed by the coordinator's data."""

    entity_description: V2GSensorDescription

    @property
    def native_value(self) -> StateType:
        """The sensor's value."""
        return self.entity_description.value_fn(self.coordinator)
