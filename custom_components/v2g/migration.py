"""Upgrades: single-charger entries become sites; several sites become one on request.

A version-1 entry (one charger) becomes a site with that charger as its subentry, and, when the
user asks (a repair), several sites become one.

Nothing is lost: registry entries are moved, not recreated, so entity ids, unique ids, device ids
and statistics stay; the EV's stored settings move with its charger.
"""

from __future__ import annotations

from collections.abc import Sequence
import logging
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.storage import Store

from .const import (
    CONF_MIGRATED,
    CONF_TLS_CERTFILE,
    CONF_TLS_KEYFILE,
    DEFAULT_SITE_NAME,
    DOMAIN,
    OPT_LOAD_EXCLUDE_ENTITY,
    SUBENTRY_CHARGER,
)
from .settings import STORAGE_VERSION, charger_key, storage_key

_LOGGER = logging.getLogger(__name__)

SITE_KEYS = (CONF_HOST, CONF_PORT, CONF_TLS_CERTFILE, CONF_TLS_KEYFILE)
"""Version-1 data that belongs to the site (the OCPP server); the rest is the charger's."""


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Bring an entry to the current version (a newer one than this code knows is refused)."""
    if entry.version > 2:
        return False
    if entry.version == 1:
        await _async_charger_to_site(hass, entry)
    if entry.minor_version < 2:
        _exclude_entities_as_list(hass, entry)
    return True


def _exclude_entities_as_list(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """2.2: the house load subtracts several chargers; the one sensor of 2.1 becomes a list."""
    options = dict(entry.options)
    if isinstance(value := options.get(OPT_LOAD_EXCLUDE_ENTITY), str):
        options[OPT_LOAD_EXCLUDE_ENTITY] = [value] if value else []
    hass.config_entries.async_update_entry(entry, options=options, minor_version=2)


async def _async_charger_to_site(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """One charger entry becomes a site holding that charger."""
    data = dict(entry.data)
    site_data: dict[str, Any] = {key: data.pop(key) for key in SITE_KEYS if key in data}
    site_data[CONF_MIGRATED] = True
    subentry = ConfigSubentry(
        data=MappingProxyType(data),
        subentry_type=SUBENTRY_CHARGER,
        title=entry.title,
        unique_id=entry.unique_id,
    )
    await _async_move_settings(
        hass, entry.entry_id, charger_key(entry.entry_id, subentry.subentry_id)
    )
    hass.config_entries.async_add_subentry(entry, subentry)
    _move_registry_entries(hass, entry, None, entry, subentry)
    others = [e for e in hass.config_entries.async_entries(DOMAIN) if e.entry_id != entry.entry_id]
    title = f"{DEFAULT_SITE_NAME} ({entry.title})" if others else DEFAULT_SITE_NAME
    hass.config_entries.async_update_entry(
        entry, data=site_data, title=title, unique_id=None, version=2, minor_version=1
    )
    _LOGGER.info("%s is now charger %s of site %s", entry.entry_id, entry.title, title)


async def _async_move_settings(hass: HomeAssistant, old_key: str, new_key: str) -> None:
    """Copy a Store to its new key, then remove the old one (never the other way round)."""
    old: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(old_key))
    if (data := await old.async_load()) is None:
        return
    new: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(new_key))
    await new.async_save(data)
    await old.async_remove()


@callback
def _move_registry_entries(
    hass: HomeAssistant,
    source: ConfigEntry,
    source_subentry_id: str | None,
    target: ConfigEntry,
    target_subentry: ConfigSubentry,
) -> None:
    """Hand a charger's entities and devices over to a (new) subentry."""
    entity_registry = er.async_get(hass)
    for registered in er.async_entries_for_config_entry(entity_registry, source.entry_id):
        if registered.config_subentry_id == source_subentry_id:
            entity_registry.async_update_entity(
                registered.entity_id,
                config_entry_id=target.entry_id,
                config_subentry_id=target_subentry.subentry_id,
            )
    device_registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(device_registry, source.entry_id):
        if source_subentry_id not in device.config_entries_subentries.get(source.entry_id, ()):
            continue
        # Add the new owner before removing the old one: a device never has none.
        device_registry.async_update_device(
            device.id,
            add_config_entry_id=target.entry_id,
            add_config_subentry_id=target_subentry.subentry_id,
        )
        device_registry.async_update_device(
            device.id,
            remove_config_entry_id=source.entry_id,
            remove_config_subentry_id=source_subentry_id,
        )


def mergeable_sites(hass: HomeAssistant) -> list[ConfigEntry]:
    """Sites made from single-charger entries: candidates to merge into one."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_MIGRATED) and entry.version == 2
    ]


async def async_merge_sites(
    hass: HomeAssistant, target: ConfigEntry, sources: Sequence[ConfigEntry]
) -> None:
    """Move every charger of `sources` into `target`, then remove the emptied sources.

    Each source is unloaded first (its chargers idle and released), so the target takes them over
    cleanly; the target keeps its own options (prices, grid limits).
    """
    for source in sources:
        if source.entry_id == target.entry_id:
            continue
        await hass.config_entries.async_unload(source.entry_id)
        for old in list(source.subentries.values()):
            if old.subentry_type != SUBENTRY_CHARGER:
                continue
            new = ConfigSubentry(
                data=old.data,
                subentry_type=SUBENTRY_CHARGER,
                title=old.title,
                unique_id=old.unique_id,
            )
            old_key = charger_key(source.entry_id, old.subentry_id)
            new_key = charger_key(target.entry_id, new.subentry_id)
            for suffix in ("", ".ledger", ".simulation"):
                await _async_move_settings(hass, old_key + suffix, new_key + suffix)
            hass.config_entries.async_add_subentry(target, new)
            # Registry entries move now, before the target's update listener (a task) adds the
            # charger and its entities.
            _move_registry_entries(hass, source, old.subentry_id, target, new)
        await hass.config_entries.async_remove(source.entry_id)
        _LOGGER.info("Site %s merged into %s", source.title, target.title)
