"""Sensors: each charger's power and energy, its EV's state of charge and plan, and the site's."""

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
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .charger import Charger, DepartureSource
from .chargers import ChargerStatus
from .coordinator import SiteCoordinator, SiteData, V2GConfigEntry
from .decision import Reason, energy_needed_kwh
from .entity import ChargerView, Device, V2GChargerEntity, V2GSiteEntity, async_add_charger_entities
from .explain import explain
from .inputs import Inputs
from .ledger import Ledger
from .optimizer.model import FloatArray
from .planner import price_schedule, schedule, site_schedule

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class V2GSensorDescription(SensorEntityDescription):
    """A charger's (or its EV's) sensor and how to read its value."""

    device: Device
    value_fn: Callable[[ChargerView], StateType | datetime]
    attrs_fn: Callable[[ChargerView], dict[str, Any]] | None = None
    monetary: bool = False
    """The unit is the price source's currency (or Home Assistant's)."""


@dataclass(frozen=True, kw_only=True)
class V2GSiteSensorDescription(SensorEntityDescription):
    """A site sensor and how to read its value."""

    value_fn: Callable[[SiteData], StateType]
    attrs_fn: Callable[[SiteData], dict[str, Any]] | None = None
    monetary: bool = False
    per_kwh: bool = False
    """The unit is the currency per kWh (a price)."""
    available_fn: Callable[[SiteData], bool] | None = None
    """When the sensor means something (None: always); unavailable otherwise."""


def _has_capacity_tariff(data: SiteData) -> bool:
    return data.capacity is not None


def _minutes_to_departure(view: ChargerView) -> float:
    # In UTC: local datetimes sharing a zone subtract as wall clocks, wrong across DST.
    remaining = dt_util.as_utc(view.data.departure.at) - dt_util.utcnow()
    return round(remaining.total_seconds() / 60.0)


def _plan_attributes(view: ChargerView) -> dict[str, Any]:
    data = view.data
    attributes: dict[str, Any] = {
        "reason": explain(
            decision=data.decision,
            state=view.state,
            settings=view.settings,
            plan=view.vehicle_plan,
            inputs=view.site.inputs,
            departure=data.departure.at,
            currency=view.currency,
            tz=dt_util.get_default_time_zone(),
        ),
        "setpoint_w": data.applied_setpoint_w,
        "limited_by_grid": data.decision.limited_by_grid,
        "limited_by_operator": data.decision.limited_by_operator,
        "frequency_response_w": round(data.decision.frequency_response_w),
        "frequency_response": data.decision.frequency_mode,
        "departure": data.departure.at.isoformat(),
    }
    site = view.site
    if (limit := site.operator_limit) is not None:
        # Only while one is in force (a §14a signal, an OpenADR capacity event).
        attributes["operator_limit"] = limit.attributes()
    if site.inputs is not None:
        attributes["estimated_price_slots"] = int(site.inputs.price_estimated.sum())
    dispatch_id = data.decision.dispatch_id
    attributes["dispatch"] = None if dispatch_id is None else _dispatch_attribute(site, dispatch_id)
    index = site.vehicle_index(view.charger.subentry_id)
    if site.plan is None or index is None:
        return attributes | {"schedule": []}
    return (
        attributes
        | site.plan.facts(index)
        | {
            "schedule": schedule(
                site.plan.plan, index, site.inputs, dt_util.get_default_time_zone()
            )
        }
    )


def _rounded(fn: Callable[[ChargerView], float | None]) -> Callable[[ChargerView], StateType]:
    def value(view: ChargerView) -> StateType:
        number = fn(view)
        return None if number is None else round(number, 2)

    return value


def _realized(fn: Callable[[Ledger], float], digits: int = 2) -> Callable[[ChargerView], float]:
    return lambda view: round(fn(view.charger.ledger), digits)


SENSORS: tuple[V2GSensorDescription, ...] = (
    V2GSensorDescription(
        key="power",
        translation_key="power",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=lambda v: v.state.power_w,
    ),
    V2GSensorDescription(
        # The Energy dashboard's battery convention: positive while the EV gives energy back.
        key="battery_power",
        translation_key="battery_power",
        device=Device.EV,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda v: -v.state.power_w + 0.0,
    ),
    V2GSensorDescription(
        key="energy_charged",
        translation_key="energy_charged",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda v: v.state.energy_charged_kwh,
    ),
    V2GSensorDescription(
        key="energy_discharged",
        translation_key="energy_discharged",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda v: v.state.energy_discharged_kwh,
    ),
    V2GSensorDescription(
        key="status",
        translation_key="status",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ChargerStatus],
        value_fn=lambda v: v.state.status.value,
    ),
    V2GSensorDescription(
        key="soc",
        translation_key="soc",
        device=Device.EV,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda v: v.state.soc_pct,
    ),
    V2GSensorDescription(
        key="energy_needed",
        translation_key="energy_needed",
        device=Device.EV,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=1,
        value_fn=lambda v: energy_needed_kwh(v.state, v.settings),
    ),
    V2GSensorDescription(
        key="departure",
        translation_key="departure",
        device=Device.EV,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda v: v.data.departure.at,
        attrs_fn=lambda v: {"source": v.data.departure.source.value},
    ),
    V2GSensorDescription(
        key="departure_source",
        translation_key="departure_source",
        device=Device.EV,
        device_class=SensorDeviceClass.ENUM,
        options=[source.value for source in DepartureSource],
        value_fn=lambda v: v.data.departure.source.value,
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
        value_fn=lambda v: v.data.decision.reason.value,
        attrs_fn=_plan_attributes,
    ),
    V2GSensorDescription(
        key="projected_cost",
        translation_key="projected_cost",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_rounded(lambda v: None if v.money is None else v.money.cost),
    ),
    V2GSensorDescription(
        key="projected_savings",
        translation_key="projected_savings",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_rounded(lambda v: None if v.money is None else v.money.savings),
    ),
    V2GSensorDescription(
        key="planned_departure_soc",
        translation_key="planned_departure_soc",
        device=Device.EV,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=_rounded(
            lambda v: None if v.vehicle_plan is None else v.vehicle_plan.departure_soc_pct
        ),
    ),
    V2GSensorDescription(
        key="charging_cost",
        translation_key="charging_cost",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_realized(lambda ledger: ledger.charging_cost),
    ),
    V2GSensorDescription(
        key="discharging_earnings",
        translation_key="discharging_earnings",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_realized(lambda ledger: ledger.discharging_earnings),
    ),
    V2GSensorDescription(
        key="realized_savings",
        translation_key="realized_savings",
        device=Device.CHARGER,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_realized(lambda ledger: ledger.savings),
    ),
    V2GSensorDescription(
        key="wear_cost",
        translation_key="wear_cost",
        device=Device.EV,
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_realized(lambda ledger: ledger.wear_cost),
    ),
    V2GSensorDescription(
        key="battery_cycles",
        translation_key="battery_cycles",
        device=Device.EV,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_realized(lambda ledger: ledger.cycles, 4),
    ),
)


def _site_power_w(site: SiteData) -> float:
    return round(float(sum(c.state.power_w for c in site.chargers.values() if c.state)), 1)


def _site_activity(site: SiteData) -> str:
    """What the site's EVs are doing together."""
    setpoints = [c.applied_setpoint_w for c in site.chargers.values() if c.state is not None]
    charging = any(s > 1.0 for s in setpoints)
    discharging = any(s < -1.0 for s in setpoints)
    if charging and discharging:
        return "charging_and_discharging"
    return "charging" if charging else "discharging" if discharging else "idle"


def _dispatch_attribute(site: SiteData, dispatch_id: str | None) -> dict[str, Any] | None:
    """The dispatch running now (one of them for the site), and what the plan misses of it."""
    running = [d for d in site.dispatches if dispatch_id is None or d["id"] == dispatch_id]
    if not running:
        return None
    unmet = None if site.plan is None else round(site.plan.plan.dispatch_unmet_kwh, 3)
    return running[-1] | {"unmet_kwh": unmet}


def _site_plan_attributes(site: SiteData) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "grid_power_w": site.grid_power_w,
        "dispatch": _dispatch_attribute(site, None),
    }
    if site.plan is None:
        return attributes | {"schedule": []}
    return (
        attributes
        | site.plan.facts()
        | {"schedule": site_schedule(site.plan.plan, dt_util.get_default_time_zone())}
    )


def _cost_attributes(site: SiteData) -> dict[str, Any]:
    if (result := site.plan) is None:
        return {}
    cost = result.plan.cost
    return {
        "import_cost": round(cost.import_cost, 2),
        "export_revenue": round(cost.export_revenue, 2),
        "peak_cost": round(cost.peak_cost, 2),
        "site_cost_without_ev": round(result.site_cost_without_ev, 2),
        "wear_cost": round(cost.wear_cost, 2),
    }


def _site_total(fn: Callable[[Ledger], float]) -> Callable[[SiteData], float]:
    """A realized total over every charger of the site."""

    def value(site: SiteData) -> float:
        return round(sum(fn(ledger) for ledger in site.ledgers), 2)

    return value


def _price_now(prices: Callable[[Inputs], FloatArray]) -> Callable[[SiteData], StateType]:
    """The price of the slot under way."""

    def value(site: SiteData) -> StateType:
        return None if site.inputs is None else round(float(prices(site.inputs)[0]), 4)

    return value


def _price_attributes(site: SiteData) -> dict[str, Any]:
    if site.inputs is None:
        return {}
    return {"prices": price_schedule(site.inputs, dt_util.get_default_time_zone())}


SITE_SENSORS: tuple[V2GSiteSensorDescription, ...] = (
    V2GSiteSensorDescription(
        key="ev_power",
        translation_key="ev_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=_site_power_w,
    ),
    V2GSiteSensorDescription(
        key="plan",
        translation_key="site_plan",
        device_class=SensorDeviceClass.ENUM,
        options=["idle", "charging", "discharging", "charging_and_discharging"],
        value_fn=_site_activity,
        attrs_fn=_site_plan_attributes,
    ),
    V2GSiteSensorDescription(
        key="projected_cost",
        translation_key="projected_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda s: None if s.plan is None else round(s.plan.cost, 2),
        attrs_fn=_cost_attributes,
    ),
    V2GSiteSensorDescription(
        key="projected_savings",
        translation_key="projected_savings",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda s: None if s.plan is None else round(s.plan.savings, 2),
    ),
    V2GSiteSensorDescription(
        key="import_price",
        translation_key="import_price",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=3,
        monetary=True,
        per_kwh=True,
        value_fn=_price_now(lambda inputs: inputs.import_price_per_kwh),
        attrs_fn=_price_attributes,
    ),
    V2GSiteSensorDescription(
        key="export_price",
        translation_key="export_price",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=3,
        monetary=True,
        per_kwh=True,
        value_fn=_price_now(lambda inputs: inputs.export_price_per_kwh),
    ),
    V2GSiteSensorDescription(
        key="charging_cost",
        translation_key="charging_cost",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_site_total(lambda ledger: ledger.charging_cost),
    ),
    V2GSiteSensorDescription(
        key="discharging_earnings",
        translation_key="discharging_earnings",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_site_total(lambda ledger: ledger.discharging_earnings),
    ),
    V2GSiteSensorDescription(
        key="realized_savings",
        translation_key="realized_savings",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        value_fn=_site_total(lambda ledger: ledger.savings),
    ),
    V2GSiteSensorDescription(
        key="wear_cost",
        translation_key="wear_cost",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_site_total(lambda ledger: ledger.wear_cost),
    ),
    V2GSiteSensorDescription(
        key="planned_peak_import",
        translation_key="planned_peak_import",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=lambda s: None if s.plan is None else round(s.plan.plan.peak_import_w),
    ),
    V2GSiteSensorDescription(
        key="capacity_billed_peak",
        translation_key="capacity_billed_peak",
        available_fn=_has_capacity_tariff,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=lambda s: None if s.capacity is None else round(s.capacity.billed_peak_kw, 3),
    ),
    V2GSiteSensorDescription(
        key="capacity_projected_peak",
        translation_key="capacity_projected_peak",
        available_fn=_has_capacity_tariff,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=lambda s: None if s.capacity is None else round(s.capacity.projected_peak_kw, 3),
    ),
    V2GSiteSensorDescription(
        key="capacity_cost_avoided",
        translation_key="capacity_cost_avoided",
        available_fn=_has_capacity_tariff,
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda s: (
            None
            if s.capacity is None or s.capacity.cost_avoided is None
            else round(s.capacity.cost_avoided, 2)
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: V2GConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's sensors, and each charger's (now and when one is added)."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(V2GSiteSensor(coordinator, desc) for desc in SITE_SENSORS)
    async_add_charger_entities(
        entry,
        async_add_entities,
        lambda charger: (V2GSensor(coordinator, charger, desc, desc.device) for desc in SENSORS),
    )


class _Money(SensorEntity):
    """A sensor whose unit may be the price source's currency (or that per kWh)."""

    coordinator: SiteCoordinator
    _monetary = False
    _per_kwh = False

    @property
    def native_unit_of_measurement(self) -> str | None:
        """The description's unit; for money, the price source's currency."""
        if self._per_kwh:
            return f"{self.coordinator.currency}/{UnitOfEnergy.KILO_WATT_HOUR}"
        if self._monetary:
            return self.coordinator.currency
        return super().native_unit_of_measurement


class V2GSensor(V2GChargerEntity, _Money):
    """A charger's or its EV's sensor."""

    entity_description: V2GSensorDescription
    # The per-slot schedule is for cards and automations, not for the database.
    _unrecorded_attributes = frozenset({"schedule"})

    def __init__(
        self,
        coordinator: SiteCoordinator,
        charger: Charger,
        description: V2GSensorDescription,
        device: Device,
    ) -> None:
        super().__init__(coordinator, charger, description, device)
        self._monetary = description.monetary

    @property
    def native_value(self) -> StateType | datetime:
        """The sensor's value."""
        return self.entity_description.value_fn(self.view)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The plan's details, for the plan sensor."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.view)


class V2GSiteSensor(V2GSiteEntity, _Money):
    """A sensor of the site."""

    entity_description: V2GSiteSensorDescription
    _unrecorded_attributes = frozenset({"schedule", "prices"})

    def __init__(self, coordinator: SiteCoordinator, description: V2GSiteSensorDescription) -> None:
        super().__init__(coordinator, description)
        self._monetary = description.monetary
        self._per_kwh = description.per_kwh

    @property
    def available(self) -> bool:
        """Unavailable where it means nothing (the capacity sensors without a tariff)."""
        available_fn = self.entity_description.available_fn
        return super().available and (available_fn is None or available_fn(self.coordinator.data))

    @property
    def native_value(self) -> StateType:
        """The sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The site plan's details."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.coordinator.data)
