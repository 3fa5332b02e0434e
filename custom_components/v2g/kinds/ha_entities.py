"""A charger Home Assistant already controls: its entities, picked in a form (`ha_entities.py`).

The form checks each entity when it is chosen: its domain, its unit (A or W for the control, W or
kW for power, Wh or kWh for energy, % for the EV's state of charge) and the control's range (it
must reach the lowest charging current; a control that cannot go to 0 needs an enable switch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfElectricPotential
from homeassistant.core import HomeAssistant, State, async_get_hass_or_none
from homeassistant.helpers import device_registry as dr, entity_registry as er, selector
from homeassistant.util import slugify
import voluptuous as vol

from ..chargers import ChargerBackend
from ..const import CONF_CHARGER_KIND, CONF_EV_SOC_ENTITY, CONF_PHASES
from ..form import entity, ev_data, ev_errors, ev_fields, number_selector, select
from ..ha_entities import (
    CONTROL_DOMAINS,
    DEFAULT_CHARGING_STATES,
    DEFAULT_DISCHARGING_STATES,
    DEFAULT_PLUGGED_STATES,
    ENABLE_DOMAINS,
    MIN_CHARGE_CURRENT_A,
    NOMINAL_VOLTAGE_V,
    STATUS_DOMAINS,
    HaEntitiesCharger,
    HaEntitiesConfig,
    domain_of,
    normalise_states,
    read_control,
)
from ..inputs.load import ENERGY_UNITS, POWER_FACTORS_W
from .spec import ChargerKindSpec, Errors, Fields

KIND = "ha_entities"
CONF_CONTROL_ENTITY = "control_entity"
CONF_CONTROL_UNIT = "control_unit"
CONF_VOLTAGE_V = "voltage_v"
CONF_ENABLE_ENTITY = "enable_entity"
CONF_STATUS_ENTITY = "status_entity"
CONF_PLUGGED_STATES = "plugged_states"
CONF_CHARGING_STATES = "charging_states"
CONF_DISCHARGING_STATES = "discharging_states"
CONF_POWER_ENTITY = "power_entity"
CONF_ENERGY_CHARGED_ENTITY = "energy_charged_entity"
CONF_ENERGY_DISCHARGED_ENTITY = "energy_discharged_entity"

STATE_LISTS: Mapping[str, tuple[str, ...]] = {
    CONF_PLUGGED_STATES: DEFAULT_PLUGGED_STATES,
    CONF_CHARGING_STATES: DEFAULT_CHARGING_STATES,
    CONF_DISCHARGING_STATES: DEFAULT_DISCHARGING_STATES,
}
OPTIONAL_ENTITIES = (
    CONF_ENABLE_ENTITY,
    CONF_POWER_ENTITY,
    CONF_ENERGY_CHARGED_ENTITY,
    CONF_ENERGY_DISCHARGED_ENTITY,
)


def _optional(key: str, defaults: Mapping[str, Any]) -> vol.Optional:
    return vol.Optional(key, description={"suggested_value": defaults.get(key)})


def _states(key: str, defaults: Mapping[str, Any]) -> Fields:
    """Which status states mean this: the defaults offered, more can be typed."""
    offered = STATE_LISTS[key]
    chosen = list(defaults.get(key, offered))
    return {
        vol.Required(key, default=chosen): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=list(dict.fromkeys([*offered, *chosen])),
                multiple=True,
                custom_value=True,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        )
    }


def _fields(hass: HomeAssistant, defaults: Mapping[str, Any], reconfigure: bool) -> Fields:
    fields: Fields = {
        vol.Required(
            CONF_CONTROL_ENTITY, default=defaults.get(CONF_CONTROL_ENTITY, vol.UNDEFINED)
        ): entity(list(CONTROL_DOMAINS)),
        _optional(CONF_CONTROL_UNIT, defaults): select(["A", "W"], CONF_CONTROL_UNIT),
        vol.Required(CONF_PHASES, default=str(defaults.get(CONF_PHASES, "3"))): select(
            ["1", "3"], CONF_PHASES
        ),
        vol.Required(
            CONF_VOLTAGE_V, default=defaults.get(CONF_VOLTAGE_V, NOMINAL_VOLTAGE_V)
        ): number_selector(100, 400, 1, UnitOfElectricPotential.VOLT),
        _optional(CONF_ENABLE_ENTITY, defaults): entity(list(ENABLE_DOMAINS)),
        vol.Required(
            CONF_STATUS_ENTITY, default=defaults.get(CONF_STATUS_ENTITY, vol.UNDEFINED)
        ): entity(list(STATUS_DOMAINS)),
    }
    for key in STATE_LISTS:
        fields |= _states(key, defaults)
    fields |= {
        _optional(CONF_POWER_ENTITY, defaults): entity(["sensor"], ["power"]),
        _optional(CONF_ENERGY_CHARGED_ENTITY, defaults): entity(["sensor"], ["energy"]),
        _optional(CONF_ENERGY_DISCHARGED_ENTITY, defaults): entity(["sensor"], ["energy"]),
    }
    return fields | ev_fields(defaults, max_discharge_w=7_400)


def _entity(hass: HomeAssistant, entity_id: Any, domains: Sequence[str]) -> State | str:
    """The entity's state, or why it cannot be used (an error key)."""
    if domain_of(str(entity_id)) not in domains:
        return "entity_domain"
    state = hass.states.get(str(entity_id))
    return "entity_not_found" if state is None else state


def _unit(state: State) -> Any:
    return state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)


def _control_errors(hass: HomeAssistant, user_input: Mapping[str, Any]) -> Errors:
    """The control: a number in A or W that reaches the lowest charging current."""
    state = _entity(hass, user_input.get(CONF_CONTROL_ENTITY), CONTROL_DOMAINS)
    if isinstance(state, str):
        return {CONF_CONTROL_ENTITY: state}
    phases = int(user_input.get(CONF_PHASES, 3))
    voltage_v = float(user_input.get(CONF_VOLTAGE_V, NOMINAL_VOLTAGE_V))
    control = read_control(state, user_input.get(CONF_CONTROL_UNIT) or None, phases, voltage_v)
    if control is None:
        return {CONF_CONTROL_ENTITY: "control_unit"}
    if control.to_w(control.maximum) < MIN_CHARGE_CURRENT_A * phases * voltage_v - 1e-6:
        return {CONF_CONTROL_ENTITY: "control_range"}
    if control.minimum > 0 and not user_input.get(CONF_ENABLE_ENTITY):
        return {CONF_ENABLE_ENTITY: "enable_required"}
    return {}


async def _async_validate(
    hass: HomeAssistant,
    site: ConfigEntry | None,
    user_input: Mapping[str, Any],
    subentry: ConfigSubentry | None,
) -> Errors:
    """Each chosen entity exists, is of the right domain and in the right unit."""
    errors = ev_errors(hass, user_input) | _control_errors(hass, user_input)
    status = _entity(hass, user_input.get(CONF_STATUS_ENTITY), STATUS_DOMAINS)
    if isinstance(status, str):
        errors[CONF_STATUS_ENTITY] = status
    checks: tuple[tuple[str, Sequence[str], Any, str], ...] = (
        (CONF_ENABLE_ENTITY, ENABLE_DOMAINS, None, ""),
        (CONF_POWER_ENTITY, ("sensor",), POWER_FACTORS_W, "power_unit"),
        (CONF_ENERGY_CHARGED_ENTITY, ("sensor",), ENERGY_UNITS, "energy_unit"),
        (CONF_ENERGY_DISCHARGED_ENTITY, ("sensor",), ENERGY_UNITS, "energy_unit"),
    )
    for key, domains, units, unit_error in checks:
        if not (entity_id := user_input.get(key)) or key in errors:
            continue
        state = _entity(hass, entity_id, domains)
        if isinstance(state, str):
            errors[key] = state
        elif units is not None and _unit(state) not in units:
            errors[key] = unit_error
    return errors


def _to_data(
    hass: HomeAssistant, user_input: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        CONF_CHARGER_KIND: KIND,
        CONF_CONTROL_ENTITY: str(user_input[CONF_CONTROL_ENTITY]),
        CONF_CONTROL_UNIT: user_input.get(CONF_CONTROL_UNIT) or None,
        CONF_PHASES: str(user_input.get(CONF_PHASES, "3")),
        CONF_VOLTAGE_V: float(user_input.get(CONF_VOLTAGE_V, NOMINAL_VOLTAGE_V)),
        CONF_STATUS_ENTITY: str(user_input[CONF_STATUS_ENTITY]),
    }
    for key, default in STATE_LISTS.items():
        data[key] = list(normalise_states(user_input.get(key, default)))
    for key in OPTIONAL_ENTITIES:
        data[key] = user_input.get(key) or None
    return data | ev_data(user_input)


def _unique_id(data: Mapping[str, Any]) -> str:
    return f"{KIND}_{slugify(str(data[CONF_CONTROL_ENTITY]))}"


def _title(data: Mapping[str, Any]) -> str:
    """The control entity's device name, else its friendly name, else its entity id."""
    entity_id = str(data[CONF_CONTROL_ENTITY])
    # The spec's title has no hass argument; flows run on the event loop, where this works.
    if (hass := async_get_hass_or_none()) is None:
        return entity_id
    entry = er.async_get(hass).async_get(entity_id)
    device = dr.async_get(hass).async_get(entry.device_id) if entry and entry.device_id else None
    if device is not None and (name := device.name_by_user or device.name):
        return name
    state = hass.states.get(entity_id)
    return state.name if state is not None else entity_id


async def _async_create(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry
) -> ChargerBackend:
    data = subentry.data

    def optional(key: str) -> str | None:
        return str(data[key]) if data.get(key) else None

    config = HaEntitiesConfig(
        control_entity=str(data[CONF_CONTROL_ENTITY]),
        status_entity=str(data[CONF_STATUS_ENTITY]),
        enable_entity=optional(CONF_ENABLE_ENTITY),
        power_entity=optional(CONF_POWER_ENTITY),
        energy_charged_entity=optional(CONF_ENERGY_CHARGED_ENTITY),
        energy_discharged_entity=optional(CONF_ENERGY_DISCHARGED_ENTITY),
        control_unit=optional(CONF_CONTROL_UNIT),
        phases=int(data.get(CONF_PHASES, 3)),
        voltage_v=float(data.get(CONF_VOLTAGE_V, NOMINAL_VOLTAGE_V)),
        plugged_states=normalise_states(data.get(CONF_PLUGGED_STATES, DEFAULT_PLUGGED_STATES)),
        charging_states=normalise_states(data.get(CONF_CHARGING_STATES, DEFAULT_CHARGING_STATES)),
        discharging_states=normalise_states(
            data.get(CONF_DISCHARGING_STATES, DEFAULT_DISCHARGING_STATES)
        ),
        reports_soc=bool(data.get(CONF_EV_SOC_ENTITY)),
        name=subentry.title,
        issue_id=f"charger_entity_unavailable.{subentry.subentry_id}",
    )
    return HaEntitiesCharger(hass, config)


SPEC = ChargerKindSpec(
    kind=KIND,
    model="Charger controlled through Home Assistant",
    fields=_fields,
    async_validate=_async_validate,
    to_data=_to_data,
    unique_id=_unique_id,
    title=_title,
    async_create=_async_create,
)
