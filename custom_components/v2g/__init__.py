"""V2G Smart Charging: smart charging and vehicle-to-grid for the EV chargers of a site.

A site (one grid connection) is a config entry; each charger with its EV is a config subentry of
it. Chargers are added, reconfigured and removed while the site runs: the others keep going.
"""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .card import async_register_card
from .charger import Charger
from .chargers import ChargerUnavailableError
from .const import (
    CONF_CAPACITY_KWH,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from .coordinator import SiteCoordinator, V2GConfigEntry, V2GRuntimeData
from .entity import Device, charger_device_info, site_device_info
from .inputs import InvalidInputsConfigError, clear_repair_issues
from .kinds import kind_of
from .ledger import LedgerStore
from .migration import async_migrate_entry
from .repairs import async_offer_merge
from .services import async_setup_services
from .settings import Settings, SettingsStore, charger_key

_LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]

__all__ = ["PLATFORMS", "async_migrate_entry"]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which work across sites, and the plan card."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


def default_settings(subentry: ConfigSubentry) -> Settings:
    """Settings a new charger's EV starts with, sized to the charger."""
    data = subentry.data
    return Settings(
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        capacity_kwh=float(data.get(CONF_CAPACITY_KWH, Settings().capacity_kwh)),
    )


def charger_subentries(entry: ConfigEntry) -> dict[str, ConfigSubentry]:
    """The site's chargers by subentry id."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_CHARGER
    }


async def async_setup_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> bool:
    """Set up the site and its chargers, run the first update, set up the platforms."""
    try:
        coordinator = SiteCoordinator(hass, entry)
    except InvalidInputsConfigError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_options",
            translation_placeholders={"detail": str(err)},
        ) from err
    runtime = entry.runtime_data = V2GRuntimeData(coordinator=coordinator)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **site_device_info(entry)
    )

    async def _async_release_all() -> None:
        """On unload: every charger idle for good first, then let go of them."""
        await coordinator.async_shutdown_chargers()
        for charger in list(runtime.chargers.values()):
            await _async_release(hass, entry, charger)

    entry.async_on_unload(_async_release_all)
    for subentry in charger_subentries(entry).values():
        await _async_add_charger(hass, entry, subentry)

    async def _async_stop_chargers(_: Event) -> None:
        await coordinator.async_shutdown_chargers()

    # Home Assistant does not unload entries when it stops: make the chargers safe then too.
    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_chargers)
    )
    await coordinator.async_config_entry_first_refresh()
    coordinator.async_watch_frequency()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    runtime.loaded_data = dict(entry.data)
    runtime.loaded_options = dict(entry.options)
    async_offer_merge(hass)
    return True


async def _async_add_charger(
    hass: HomeAssistant, entry: V2GConfigEntry, subentry: ConfigSubentry
) -> Charger:
    """Build a charger's backend, load its EV's settings, register its devices."""
    runtime = entry.runtime_data
    backend = await kind_of(subentry.data).async_create(hass, entry, subentry)
    store = SettingsStore(
        hass, charger_key(entry.entry_id, subentry.subentry_id), default_settings(subentry)
    )
    await store.async_load()
    ledger = LedgerStore(
        hass, charger_key(entry.entry_id, subentry.subentry_id), store.settings.capacity_kwh
    )
    await ledger.async_load()
    charger = Charger(hass, subentry, backend, store, ledger)
    try:
        await charger.async_start()
    except (ChargerUnavailableError, TimeoutError) as err:
        _LOGGER.warning("%s is not reachable yet: %s", charger.title, err)
    device_registry = dr.async_get(hass)
    # The charger first: the EV's device points at it with via_device.
    for device in (Device.CHARGER, Device.EV):
        device_registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            config_subentry_id=subentry.subentry_id,
            **charger_device_info(entry, charger, device),
        )
    _watch(hass, entry, charger)
    runtime.chargers[subentry.subentry_id] = charger
    runtime.coordinator.chargers[subentry.subentry_id] = charger
    return charger


def _watch(hass: HomeAssistant, entry: V2GConfigEntry, charger: Charger) -> None:
    """Refresh when a pushing charger has news; name its device after what it says it is."""
    coordinator = entry.runtime_data.coordinator

    @callback
    def _pushed() -> None:
        _update_device(hass, entry, charger)
        # local_push: meter values and status changes refresh the entities (debounced).
        entry.async_create_task(hass, coordinator.async_request_refresh())

    charger.unwatch = charger.backend.add_listener(_pushed)
    _update_device(hass, entry, charger)


@callback
def _update_device(hass: HomeAssistant, entry: V2GConfigEntry, charger: Charger) -> None:
    """The charger's vendor, model, firmware and serial, once it reported them."""
    if (details := charger.backend.device_details()) is None:
        return
    device_registry = dr.async_get(hass)
    info = charger_device_info(entry, charger, Device.CHARGER)
    device = device_registry.async_get_device(identifiers=info["identifiers"])
    if device is None:
        return
    reported = (
        (device.manufacturer, details.manufacturer),
        (device.model, details.model),
        (device.sw_version, details.sw_version),
        (device.serial_number, details.serial_number),
    )
    if any(new and new != old for old, new in reported):
        device_registry.async_update_device(
            device.id,
            manufacturer=details.manufacturer or device.manufacturer,
            model=details.model or device.model,
            sw_version=details.sw_version or device.sw_version,
            serial_number=details.serial_number or device.serial_number,
        )


async def _async_release(hass: HomeAssistant, entry: V2GConfigEntry, charger: Charger) -> None:
    """Let go of a stopped charger and flush its settings."""
    charger.unwatch()
    await charger.settings_store.async_flush()
    await charger.ledger_store.async_flush()
    await charger.kind.async_release(hass, entry, charger.subentry, charger.backend)


async def _async_remove_charger(
    hass: HomeAssistant, entry: V2GConfigEntry, charger: Charger
) -> None:
    """A charger was removed from the site: idle, released, its settings forgotten.

    Home Assistant removes its devices and entities with the subentry.
    """
    runtime = entry.runtime_data
    await runtime.coordinator.async_stop_charger(charger)
    runtime.coordinator.chargers.pop(charger.subentry_id, None)
    runtime.chargers.pop(charger.subentry_id, None)
    await _async_release(hass, entry, charger)
    await charger.settings_store.async_remove()
    await charger.ledger_store.async_remove()
    await charger.kind.async_remove(hass, entry, charger.subentry)
    _LOGGER.info("%s removed from %s", charger.title, entry.title)


async def _async_rebuild_charger(
    hass: HomeAssistant, entry: V2GConfigEntry, charger: Charger, subentry: ConfigSubentry
) -> None:
    """A charger was reconfigured: idle, released, and connected again with its new data.

    Its entities and the EV's settings stay; the next update plans with the new backend.
    """
    coordinator = entry.runtime_data.coordinator
    await coordinator.async_stop_charger(charger)
    await _async_release(hass, entry, charger)
    charger.subentry = subentry
    charger.loaded_data = dict(subentry.data)
    charger.backend = await kind_of(subentry.data).async_create(hass, entry, subentry)
    charger.started = False
    _watch(hass, entry, charger)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=subentry.subentry_id,
        **charger_device_info(entry, charger, Device.CHARGER),
    )


async def _async_entry_updated(hass: HomeAssistant, entry: V2GConfigEntry) -> None:
    """Follow changes while the site runs: chargers added, reconfigured or removed; options."""
    runtime = entry.runtime_data
    if dict(entry.data) != runtime.loaded_data:
        # The OCPP server's settings changed: every charger reconnects.
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    current = charger_subentries(entry)
    for subentry_id, charger in list(runtime.chargers.items()):
        if subentry_id not in current:
            await _async_remove_charger(hass, entry, charger)
        elif dict(current[subentry_id].data) != charger.loaded_data:
            await _async_rebuild_charger(hass, entry, charger, current[subentry_id])
        else:
            charger.subentry = current[subentry_id]
    for subentry_id, subentry in current.items():
        if subentry_id not in runtime.chargers:
            charger = await _async_add_charger(hass, entry, subentry)
            for add_entities in runtime.charger_added:
                add_entities(charger)
    if dict(entry.options) != runtime.loaded_options:
        try:
            runtime.coordinator.options_changed()
        except InvalidInputsConfigError as err:
            _LOGGER.error("The site's new options cannot be used, keeping the old ones: %s", err)
        runtime.loaded_options = dict(entry.options)
    # Not debounced: the user just changed something and expects the site to follow.
    await runtime.coordinator.async_refresh()
    async_offer_merge(hass)


async def async_unload_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> bool:
    """Unload the platforms; the chargers are made safe by the callbacks registered at setup."""
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        clear_repair_issues(hass, DOMAIN, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> None:
    """Forget every charger's stored settings and totals."""
    for subentry_id, subentry in charger_subentries(entry).items():
        key = charger_key(entry.entry_id, subentry_id)
        await SettingsStore(hass, key, Settings()).async_remove()
        await LedgerStore(hass, key, Settings().capacity_kwh).async_remove()
        await kind_of(subentry.data).async_remove(hass, entry, subentry)
    async_offer_merge(hass)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: V2GConfigEntry, device: dr.DeviceEntry
) -> bool:
    """A device may be deleted by hand only when no charger of the site owns it any more."""
    owned = set(entry.runtime_data.chargers) if hasattr(entry, "runtime_data") else set()
    subentries = device.config_entries_subentries.get(entry.entry_id, set())
    return None not in subentries and not (subentries & owned)
