"""Form building blocks shared by the config, subentry and options flows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import voluptuous as vol

from .const import (
    CONF_CAPACITY_KWH,
    CONF_EV_SOC_ENTITY,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
)

DEFAULT_CAPACITY_KWH = 60.0


def power_selector(maximum: int = 50_000) -> selector.NumberSelector:
    """Watts, in steps of 100, typed into a box."""
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=0,
            max=maximum,
            step=100,
            unit_of_measurement=UnitOfPower.WATT,
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def number_selector(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> selector.NumberSelector:
    """A number typed into a box."""
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def select(options: list[str], key: str, *, multiple: bool = False) -> selector.SelectSelector:
    """A translated choice: a list for a few options, a dropdown for more."""
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options,
            translation_key=key,
            multiple=multiple,
            mode=selector.SelectSelectorMode.DROPDOWN
            if multiple or len(options) > 4
            else selector.SelectSelectorMode.LIST,
        )
    )


def entity(
    domain: list[str], device_class: list[str] | None = None, *, multiple: bool = False
) -> selector.EntitySelector:
    """An entity of these domains (and device classes)."""
    config = selector.EntitySelectorConfig(domain=domain, multiple=multiple)
    if device_class:
        config["device_class"] = device_class
    return selector.EntitySelector(config)


def ev_fields(
    defaults: Mapping[str, Any], *, max_discharge_w: float = 0.0
) -> dict[vol.Marker, Any]:
    """The charger's power limits and the EV's battery, asked for every kind of charger."""
    return {
        vol.Required(
            CONF_MAX_CHARGE_POWER_W, default=defaults.get(CONF_MAX_CHARGE_POWER_W, 11_000)
        ): power_selector(),
        vol.Required(
            CONF_MAX_DISCHARGE_POWER_W,
            default=defaults.get(CONF_MAX_DISCHARGE_POWER_W, max_discharge_w),
        ): power_selector(),
        vol.Required(
            CONF_CAPACITY_KWH, default=defaults.get(CONF_CAPACITY_KWH, DEFAULT_CAPACITY_KWH)
        ): number_selector(5, 250, 0.5, UnitOfEnergy.KILO_WATT_HOUR),
        vol.Optional(
            CONF_EV_SOC_ENTITY, description={"suggested_value": defaults.get(CONF_EV_SOC_ENTITY)}
        ): entity(["sensor"]),
    }


def ev_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The limits and capacity from a form, as floats, and the EV's SoC sensor (or None)."""
    return {
        CONF_MAX_CHARGE_POWER_W: float(user_input[CONF_MAX_CHARGE_POWER_W]),
        CONF_MAX_DISCHARGE_POWER_W: float(user_input[CONF_MAX_DISCHARGE_POWER_W]),
        CONF_CAPACITY_KWH: float(user_input.get(CONF_CAPACITY_KWH, DEFAULT_CAPACITY_KWH)),
        CONF_EV_SOC_ENTITY: user_input.get(CONF_EV_SOC_ENTITY) or None,
    }


def ev_errors(hass: HomeAssistant, user_input: Mapping[str, Any]) -> dict[str, str]:
    """A charger must be able to charge; the EV's SoC sensor, when set, must be in %."""
    errors: dict[str, str] = {}
    if float(user_input[CONF_MAX_CHARGE_POWER_W]) <= 0:
        errors[CONF_MAX_CHARGE_POWER_W] = "charge_power_required"
    if soc_entity := user_input.get(CONF_EV_SOC_ENTITY):
        state = hass.states.get(soc_entity)
        if state is None or state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) != PERCENTAGE:
            errors[CONF_EV_SOC_ENTITY] = "soc_unit"
    return errors
