"""Actions: read the plan, set a one-off departure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, selector
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import DOMAIN
from .coordinator import V2GConfigEntry, V2GCoordinator
from .planner import schedule

ATTR_CONFIG_ENTRY: Final = "config_entry"
ATTR_DEPARTURE: Final = "departure"
ATTR_TARGET_SOC: Final = "target_soc"

SERVICE_GET_PLAN: Final = "get_plan"
SERVICE_SET_DEPARTURE: Final = "set_departure"

_ENTRY = selector.ConfigEntrySelector({"integration": DOMAIN})

GET_PLAN_SCHEMA: Final = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY): _ENTRY})
SET_DEPARTURE_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY): _ENTRY,
        vol.Required(ATTR_DEPARTURE): cv.datetime,
        vol.Optional(ATTR_TARGET_SOC): vol.All(vol.Coerce(float), vol.Range(min=10, max=100)),
    }
)


def _coordinator(call: ServiceCall) -> V2GCoordinator:
    entry_id: str = call.data[ATTR_CONFIG_ENTRY]
    entry: V2GConfigEntry | None = call.hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_config_entry",
            translation_placeholders={"config_entry": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unloaded_config_entry",
            translation_placeholders={"config_entry": entry.title},
        )
    return entry.runtime_data.coordinator


async def _async_get_plan(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call)
    data = coordinator.data
    response: dict[str, Any] = {
        "mode": coordinator.settings.mode.value,
        "reason": data.decision.reason.value,
        "setpoint_w": data.applied_setpoint_w,
        "departure": data.departure.isoformat(),
        "plan": None,
    }
    if (result := data.plan) is not None:
        response["plan"] = result.facts() | {
            "cost": round(result.cost, 4),
            "savings": round(result.savings, 4),
            "currency": coordinator.currency,
            "schedule": schedule(result.plan),
        }
    return response


async def _async_set_departure(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    departure: datetime = call.data[ATTR_DEPARTURE]
    if departure.tzinfo is None:
        departure = departure.replace(tzinfo=dt_util.get_default_time_zone())
    if departure <= dt_util.now():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="departure_in_past",
            translation_placeholders={"departure": departure.isoformat()},
        )
    changes: dict[str, Any] = {"departure_override": departure}
    if (target := call.data.get(ATTR_TARGET_SOC)) is not None:
        if target < coordinator.settings.min_soc_pct:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="min_soc_above_target",
                translation_placeholders={"value": f"{target:g}"},
            )
        changes["target_soc_pct"] = float(target)
    await coordinator.async_settings_changed(**changes)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_PLAN,
        _async_get_plan,
        schema=GET_PLAN_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_SET_DEPARTURE, _async_set_departure, schema=SET_DEPARTURE_SCHEMA
    )
