"""Actions: read a site's plan, set or cancel an EV's one-off departure.

Both take the site (`config_entry`); `device_id` (a charger's or its EV's device) picks one
charger, and may be left out when the site has only one.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
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
from homeassistant.helpers import config_validation as cv, device_registry as dr, selector
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .charger import Charger
from .const import DOMAIN
from .coordinator import SiteCoordinator, SiteData, V2GConfigEntry
from .entity import Device
from .planner import schedule, site_schedule

ATTR_CONFIG_ENTRY: Final = "config_entry"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_DEPARTURE: Final = "departure"
ATTR_TARGET_SOC: Final = "target_soc"

SERVICE_GET_PLAN: Final = "get_plan"
SERVICE_SET_DEPARTURE: Final = "set_departure"
SERVICE_CANCEL_DEPARTURE: Final = "cancel_departure"

_ENTRY = selector.ConfigEntrySelector({"integration": DOMAIN})

CHARGER_SCHEMA: Final = vol.Schema(
    {vol.Required(ATTR_CONFIG_ENTRY): _ENTRY, vol.Optional(ATTR_DEVICE_ID): cv.string}
)
SET_DEPARTURE_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY): _ENTRY,
        vol.Optional(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_DEPARTURE): cv.datetime,
        vol.Optional(ATTR_TARGET_SOC): vol.All(vol.Coerce(float), vol.Range(min=10, max=100)),
    }
)


def _site(call: ServiceCall) -> V2GConfigEntry:
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
    return entry


def _charger(call: ServiceCall, entry: V2GConfigEntry, *, required: bool) -> Charger | None:
    """The charger a `device_id` names; the only one when there is one and none was named."""
    chargers = entry.runtime_data.chargers
    device_id = call.data.get(ATTR_DEVICE_ID)
    if device_id is None:
        if len(chargers) == 1:
            return next(iter(chargers.values()))
        if not required:
            return None
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="charger_required",
            translation_placeholders={"site": entry.title},
        )
    device = dr.async_get(call.hass).async_get(device_id)
    identifiers = device.identifiers if device else set()
    for charger in chargers.values():
        own = {(DOMAIN, f"{charger.unique_id}_{kind}") for kind in (Device.CHARGER, Device.EV)}
        if identifiers & own:
            return charger
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_charger",
        translation_placeholders={"device_id": str(device_id), "site": entry.title},
    )


def _tz() -> tzinfo:
    return dt_util.get_default_time_zone()


def _charger_response(coordinator: SiteCoordinator, charger: Charger) -> dict[str, Any]:
    data: SiteData = coordinator.data
    part = data.chargers[charger.subentry_id]
    response: dict[str, Any] = {
        "charger": charger.title,
        "mode": charger.settings.mode.value,
        "reason": part.decision.reason.value,
        "setpoint_w": part.applied_setpoint_w,
        "departure": part.departure.at.isoformat(),
        "plan": None,
    }
    index = data.vehicle_index(charger.subentry_id)
    if data.plan is not None and index is not None:
        money = data.plan.money[index]
        response["plan"] = data.plan.facts(index) | {
            "cost": round(money.cost, 4),
            "savings": round(money.savings, 4),
            "currency": coordinator.currency,
            "schedule": schedule(data.plan.plan, index, data.inputs, _tz()),
        }
    return response


async def _async_get_plan(call: ServiceCall) -> ServiceResponse:
    """The site's plan and every charger's; one charger's fields on top when one is meant."""
    entry = _site(call)
    coordinator = entry.runtime_data.coordinator
    data = coordinator.data
    site: dict[str, Any] = {"site": entry.title, "plan": None}
    if data.plan is not None:
        site["plan"] = data.plan.facts() | {
            "cost": round(data.plan.cost, 4),
            "savings": round(data.plan.savings, 4),
            "currency": coordinator.currency,
            "schedule": site_schedule(data.plan.plan, _tz()),
        }
    chargers = [_charger_response(coordinator, c) for c in entry.runtime_data.chargers.values()]
    response: dict[str, Any] = {"site": site, "chargers": chargers}
    if (charger := _charger(call, entry, required=False)) is not None:
        response |= _charger_response(coordinator, charger)
    return response


async def _async_set_departure(call: ServiceCall) -> None:
    entry = _site(call)
    charger = _charger(call, entry, required=True)
    assert charger is not None
    departure: datetime = call.data[ATTR_DEPARTURE]
    if departure.tzinfo is None:
        departure = departure.replace(tzinfo=dt_util.get_default_time_zone())
    if departure <= dt_util.now():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="departure_in_past",
            translation_placeholders={"departure": departure.isoformat()},
        )
    # The target given here is this trip's; the daily target stays as it is.
    changes: dict[str, Any] = {"departure_override": departure, "target_override": None}
    if (target := call.data.get(ATTR_TARGET_SOC)) is not None:
        if target < charger.stored_settings.min_soc_pct:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="min_soc_above_target",
                translation_placeholders={"value": f"{target:g}"},
            )
        changes["target_override"] = float(target)
    await entry.runtime_data.coordinator.async_settings_changed(charger, **changes)


async def _async_cancel_departure(call: ServiceCall) -> None:
    entry = _site(call)
    charger = _charger(call, entry, required=True)
    assert charger is not None
    await async_cancel_departure(entry, charger)


async def async_cancel_departure(entry: V2GConfigEntry, charger: Charger) -> None:
    """Forget a one-off departure (and its target): the daily departure counts again."""
    await entry.runtime_data.coordinator.async_settings_changed(
        charger, departure_override=None, target_override=None
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_PLAN,
        _async_get_plan,
        schema=CHARGER_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_SET_DEPARTURE, _async_set_departure, schema=SET_DEPARTURE_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_CANCEL_DEPARTURE, _async_cancel_departure, schema=CHARGER_SCHEMA
    )
