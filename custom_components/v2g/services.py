"""Actions: read a site's plan, set or cancel an EV's one-off departure, dispatch.

All take the site (`config_entry`); `device_id` (a charger's or its EV's device) picks one
charger, and may be left out when the site has only one. `dispatch` acts on the whole site
unless a `device_id` is given.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any, Final
import uuid

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
from .dispatch import Dispatch, DispatchMode
from .entity import Device
from .planner import schedule, site_schedule

ATTR_CONFIG_ENTRY: Final = "config_entry"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_DEPARTURE: Final = "departure"
ATTR_TARGET_SOC: Final = "target_soc"

SERVICE_GET_PLAN: Final = "get_plan"
SERVICE_SET_DEPARTURE: Final = "set_departure"
SERVICE_CANCEL_DEPARTURE: Final = "cancel_departure"
SERVICE_DISPATCH: Final = "dispatch"
SERVICE_CANCEL_DISPATCH: Final = "cancel_dispatch"

ATTR_POWER_W: Final = "power_w"
ATTR_DIRECTION: Final = "direction"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
ATTR_DURATION: Final = "duration"
ATTR_MODE: Final = "mode"
ATTR_ID: Final = "id"

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


DISPATCH_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY): _ENTRY,
        vol.Optional(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_POWER_W): vol.All(vol.Coerce(float), vol.Range(min=-1e6, max=1e6)),
        vol.Optional(ATTR_DIRECTION): vol.In(["import", "export"]),
        vol.Optional(ATTR_START): cv.datetime,
        vol.Exclusive(ATTR_END, "until"): cv.datetime,
        vol.Exclusive(ATTR_DURATION, "until"): cv.positive_time_period,
        vol.Optional(ATTR_MODE, default=DispatchMode.MUST.value): vol.In(
            [mode.value for mode in DispatchMode]
        ),
        vol.Optional(ATTR_ID): vol.All(cv.string, vol.Length(min=1, max=64)),
    }
)
CANCEL_DISPATCH_SCHEMA: Final = vol.Schema(
    {vol.Required(ATTR_CONFIG_ENTRY): _ENTRY, vol.Required(ATTR_ID): cv.string}
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


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=_tz())


async def _async_dispatch(call: ServiceCall) -> ServiceResponse:
    """Hold the site's net grid power, or one EV's power, over a window (must or prefer)."""
    entry = _site(call)
    charger = None
    if call.data.get(ATTR_DEVICE_ID) is not None:
        charger = _charger(call, entry, required=True)
    power_w: float = call.data[ATTR_POWER_W]
    if (direction := call.data.get(ATTR_DIRECTION)) is not None:
        power_w = abs(power_w) if direction == "import" else -abs(power_w)
    now = dt_util.now()
    start = _aware(call.data[ATTR_START]) if ATTR_START in call.data else now
    if ATTR_END in call.data:
        end = _aware(call.data[ATTR_END])
    elif ATTR_DURATION in call.data:
        end = start + call.data[ATTR_DURATION]
    else:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="dispatch_until")
    if end <= max(start, now) or end - start > timedelta(days=2):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="dispatch_window",
            translation_placeholders={"start": start.isoformat(), "end": end.isoformat()},
        )
    dispatch = Dispatch(
        id=call.data.get(ATTR_ID) or uuid.uuid4().hex[:8],
        start=start,
        end=end,
        power_w=power_w,
        mode=DispatchMode(call.data[ATTR_MODE]),
        charger_id=None if charger is None else charger.subentry_id,
    )
    await entry.runtime_data.coordinator.async_add_dispatch(dispatch)
    return {"id": dispatch.id} if call.return_response else None


async def _async_cancel_dispatch(call: ServiceCall) -> None:
    entry = _site(call)
    coordinator = entry.runtime_data.coordinator
    dispatch = coordinator.dispatches.get(call.data[ATTR_ID])
    if dispatch is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="dispatch_unknown",
            translation_placeholders={"id": call.data[ATTR_ID], "site": entry.title},
        )
    await coordinator.async_cancel_dispatch(dispatch)


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
    hass.services.async_register(
        DOMAIN,
        SERVICE_DISPATCH,
        _async_dispatch,
        schema=DISPATCH_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_CANCEL_DISPATCH, _async_cancel_dispatch, schema=CANCEL_DISPATCH_SCHEMA
    )
