"""Sensors: the charger's power and energy, the EV's state of charge, and what is left to do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from .decision import Reason, energy_needed_kwh
from .entity import Device, V2GEntity
from .planner import schedule

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class V2GSensorDescription(SensorEntityDescription):
    """A sensor and how to read its value from the coordinator."""

    device: Device
    value_fn: Callable[[V2GCoordinator], StateType | datetime]
    attrs_fn: Callable[[V2GCoordinator], dict[str, Any]] | None = None
    monetary: bool = False
    """The unit is the price source's currency (or Home Assistant's)."""


def _minutes_to_departure(coordinator: V2GCoordinator) -> float:
    # In UTC: local datetimes sharing a zone subtract as wall clocks, wrong across DST.
    remaining = dt_util.as_utc(coordinator.data.departure) - dt_util.utcnow()
    return round(remaining.total_seconds() / 60.0)


def _plan_attributes(coordinator: V2GCoordinator) -> dict[str, Any]:
    data = coordinator.data
    attributes: dict[str, Any] = {
        "setpoint_w": data.applied_setpoint_w,
        "limited_by_grid": data.decision.limited_by_grid,
        "departure": data.departure.isoformat(),
    }
    if data.inputs is not None:
        attributes["estimated_price_slots"] = int(data.inputs.price_estimated.sum())
    if (result := data.plan) is None:
        return attributes | {"schedule": []}
    return attributes | result.facts() | {"schedule": schedule(result.plan)}


def _cost_attributes(coordinator: V2GCoordinator) -> dict[str, Any]:
    if (result := coordinator.data.plan) is None:
        return {}
    cost = result.plan.cost
    return {
        "import_cost": round(cost.import_cost, 2),
        "export_revenue": round(cost.export_revenue, 2),
        "peak_cost": round(cost.peak_cost, 2),
        "site_cost_without_ev": round(result.site_cost_without_ev, 2),
        "wear_cost": round(cost.wear_cost, 2),
    }


def _plan_value(
    fn: Callable[[Any], float | None],
) -> Callable[[V2GCoordinator], StateType]:
    def value(coordinator: V2GCoordinator) -> StateType:
        result = coordinator.data.plan
        if result is None:
            return None
        number = fn(result)
        return None if number is None else round(number, 2)

    return value


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
        key="departure",
        translation_key="departure",
        device=Device.EV,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda c: c.data.departure,
        attrs_fn=lambda c: {"source": c.data.departure_source.value},
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
    V2GSensorDescription(
        key="plan",
        translation_key="plan",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENUM,
        options=[reason.value for reason in Reason],
        value_fn=lambda c: c.data.decision.reason.value,
        attrs_fn=_plan_attributes,
    ),
    V2GSensorDescription(
        key="projected_cost",
        translation_key="projected_cost",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_plan_value(lambda r: r.cost),
        attrs_fn=_cost_attributes,
    ),
    V2GSensorDescription(
        key="projected_savings",
        translation_key="projected_savings",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_plan_value(lambda r: r.savings),
    ),
    V2GSensorDescription(
        key="planned_departure_soc",
        translation_key="planned_departure_soc",
        device=Device.EV,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=_plan_value(lambda r: r.plan.departure_soc_pct),
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
    # The per-slot schedule is for cards and automations, not for the database.
    _unrecorded_attributes = frozenset({"schedule"})

    @property
    def native_value(self) -> StateType | datetime:
        """The sensor's value."""
        return self.entity_description.value_fn(self.coordinator)

    @property
    def native_unit_of_measurement(self) -> str | None:
        """The description's unit; for money, the price source's currency."""
        if self.entity_description.monetary:
            return self.coordinator.currency
        return super().native_unit_of_measurement

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The plan's details, for the plan sensor."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.coordinator)
