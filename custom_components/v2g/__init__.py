"""V2G Smart Charging: smart charging and vehicle-to-grid for bidirectional EV chargers."""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from . import ocpp_hub
from .chargers import ChargerBackend, ChargerUnavailableError
from .chargers.ocpp import BootInfo, OcppStation, StationEvent
from .chargers.simulated import SimulatedCharger, SimulatedChargerConfig
from .const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DOMAIN,
    ChargerKind,
)
from .coordinator import V2GConfigEntry, V2GCoordinator, V2GRuntimeData
from .entity import Device, device_info
from .inputs import InvalidInputsConfigError, clear_repair_issues
from .services import async_setup_services
from .settings import Settings, SettingsStore

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which work across entries."""
    async_setup_services(hass)
    return True


async def async_create_backend(hass: HomeAssistant, entry: V2GConfigEntry) -> ChargerBackend:
    """Build the charger backend the entry was configured with."""
    data = entry.data
    if ChargerKind(data[CONF_CHARGER_KIND]) is ChargerKind.OCPP:
        try:
            return await ocpp_hub.async_register(hass, entry.entry_id, data)
        except (ocpp_hub.OcppServerMismatchError, ValueError) as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="ocpp_server_mismatch",
                translation_placeholders={"error": str(err)},
            ) from err
        except OSError as err:  # the TLS certificate or key cannot be read
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="ocpp_tls",
                translation_placeholders={"error": str(err)},
            ) from err
    config = SimulatedChargerConfig(
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        capacity_kwh=float(data[CONF_CAPACITY_KWH]),
    )
    return SimulatedCharger(config, dt_util.utcnow, dt_util.get_default_time_zone())


def default_settings(entry: V2GConfigEntry) -> Settings:
    """Settings a new entry starts with, sized to its charger."""
    data = entry.data
    return Settings(
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        capacity_kwh=float(data.get(CONF_CAPACITY_KWH, Settings().capacity_kwh)),
    )


async def async_setup_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> bool:
    """Connect to the charger, load settings, run the first update, set up the platforms."""
    backend = await async_create_backend(hass, entry)
    store = SettingsStore(hass, entry.entry_id, default_settings(entry))
    await store.async_load()
    try:
        coordinator = V2GCoordinator(hass, entry, backend, store)
    except InvalidInputsConfigError as err:
        await _async_release_backend(hass, entry, backend)
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_options",
            translation_placeholders={"detail": str(err)},
        ) from err

    async def _async_release() -> None:
        """On unload (and failed setup): charger idle for good first, then let go of it."""
        await coordinator.async_shutdown_charger()
        await _async_release_backend(hass, entry, backend)

    entry.async_on_unload(_async_release)
    entry.async_on_unload(store.async_flush)
    try:
        await backend.async_start()
    except ChargerUnavailableError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="charger_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = V2GRuntimeData(backend=backend, settings=store, coordinator=coordinator)

    async def _async_stop_charger(_: Event) -> None:
        await coordinator.async_shutdown_charger()

    # Home Assistant does not unload entries when it stops: make the charger safe then too.
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_charger))

    if isinstance(backend, OcppStation):

        @callback
        def _pushed(station: OcppStation, event: StationEvent) -> None:
            if event is StationEvent.BOOTED and station.boot_info is not None:
                _update_charger_device(hass, entry, station.boot_info)
            # local_push: meter values and status changes refresh the entities (debounced).
            entry.async_create_task(hass, coordinator.async_request_refresh())

        entry.async_on_unload(backend.add_event_listener(_pushed))
    await coordinator.async_config_entry_first_refresh()
    # The charger first: the EV's device points at it with via_device.
    device_registry = dr.async_get(hass)
    for device in (Device.CHARGER, Device.EV):
        device_registry.async_get_or_create(
            config_entry_id=entry.entry_id, **device_info(entry, device)
        )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_release_backend(
    hass: HomeAssistant, entry: V2GConfigEntry, backend: ChargerBackend
) -> None:
    """Give an OCPP charger's identity back to the shared server."""
    if isinstance(backend, OcppStation):
        await ocpp_hub.async_unregister(hass, entry.entry_id, backend.identity)


@callback
def _update_charger_device(hass: HomeAssistant, entry: V2GConfigEntry, boot: BootInfo) -> None:
    """Name the charger device after what the charger says it is (BootNotification)."""
    device_registry = dr.async_get(hass)
    info = device_info(entry, Device.CHARGER)
    if device := device_registry.async_get_device(identifiers=info["identifiers"]):
        device_registry.async_update_device(
            device.id,
            manufacturer=boot.vendor,
            model=boot.model,
            sw_version=boot.firmware_version,
            serial_number=boot.serial_number,
        )


async def async_unload_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> bool:
    """Unload the platforms; the charger is made safe by the callbacks registered at setup."""
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        clear_repair_issues(hass, DOMAIN, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: V2GConfigEntry) -> None:
    """Forget the entry's stored settings."""
    await SettingsStore(hass, entry.entry_id, Settings()).async_remove()
