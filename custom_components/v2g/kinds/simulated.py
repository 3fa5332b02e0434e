"""The simulated bidirectional charger, to try the integration without hardware.

Its EV comes home and leaves at the times of the form every day (local time) and uses the trip's
energy while away; chargers made before these fields existed keep 18:00, 07:30 and 8 kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util, slugify
import voluptuous as vol

from ..chargers import ChargerBackend, ChargerState
from ..chargers.simulated import PlugSchedule, SimulatedCharger, SimulatedChargerConfig
from ..const import (
    CONF_ARRIVAL,
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_DEPARTURE,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    CONF_TRIP_ENERGY_KWH,
    DOMAIN,
)
from ..form import ev_data, ev_errors, ev_fields, number_selector
from .spec import ChargerKindSpec, Errors, Fields

KIND = "simulated"
DEFAULT_NAME = "Simulated charger"


def _fields(hass: HomeAssistant, defaults: Mapping[str, Any], reconfigure: bool) -> Fields:
    fields: Fields = {}
    if not reconfigure:
        fields[vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, DEFAULT_NAME))] = (
            selector.TextSelector()
        )
    usual = PlugSchedule()
    return (
        fields
        | ev_fields(defaults, max_discharge_w=11_000)
        | {
            vol.Required(
                CONF_ARRIVAL, default=defaults.get(CONF_ARRIVAL, usual.arrival.isoformat())
            ): selector.TimeSelector(),
            vol.Required(
                CONF_DEPARTURE, default=defaults.get(CONF_DEPARTURE, usual.departure.isoformat())
            ): selector.TimeSelector(),
            vol.Required(
                CONF_TRIP_ENERGY_KWH,
                default=defaults.get(CONF_TRIP_ENERGY_KWH, usual.trip_energy_kwh),
            ): number_selector(0, 250, 0.1, UnitOfEnergy.KILO_WATT_HOUR),
        }
    )


async def _validate(
    hass: HomeAssistant,
    site: ConfigEntry | None,
    user_input: Mapping[str, Any],
    subentry: ConfigSubentry | None,
) -> Errors:
    return ev_errors(hass, user_input)  # the time selectors refuse what is not a time of day


def _time(value: Any) -> time | None:
    """A time of day from a form ("18:00" or "18:00:00"), or None."""
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        return None


def _to_data(
    hass: HomeAssistant, user_input: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    name = (previous or {}).get(CONF_NAME) or str(user_input.get(CONF_NAME, "")).strip()
    usual = PlugSchedule()
    arrival = _time(user_input.get(CONF_ARRIVAL)) or usual.arrival
    departure = _time(user_input.get(CONF_DEPARTURE)) or usual.departure
    return {
        CONF_CHARGER_KIND: KIND,
        CONF_NAME: name or DEFAULT_NAME,
        **ev_data(user_input),
        CONF_ARRIVAL: arrival.isoformat(),
        CONF_DEPARTURE: departure.isoformat(),
        CONF_TRIP_ENERGY_KWH: float(user_input.get(CONF_TRIP_ENERGY_KWH, usual.trip_energy_kwh)),
    }


def plug_schedule(data: Mapping[str, Any]) -> PlugSchedule:
    """The EV's daily plug schedule from a charger's data (the usual one where it has none)."""
    usual = PlugSchedule()
    return PlugSchedule(
        arrival=_time(data.get(CONF_ARRIVAL)) or usual.arrival,
        departure=_time(data.get(CONF_DEPARTURE)) or usual.departure,
        trip_energy_kwh=float(data.get(CONF_TRIP_ENERGY_KWH, usual.trip_energy_kwh)),
    )


SAVE_DELAY_S = 30.0


class PersistentSimulatedCharger(SimulatedCharger):
    """The simulation, saved as it runs, so a restart does not reset the EV.

    (Its energy counters would read as a meter reset in the statistics.)
    """

    def __init__(self, store: Store[dict[str, Any]], config: SimulatedChargerConfig) -> None:
        super().__init__(config, dt_util.utcnow, dt_util.get_default_time_zone())
        self._store = store

    async def async_read_state(self) -> ChargerState:
        """Advance, report, and schedule a save (Home Assistant writes it when it stops)."""
        state = await super().async_read_state()
        self._store.async_delay_save(self.snapshot, SAVE_DELAY_S)
        return state

    async def async_release(self) -> None:
        """Save now: the charger is being removed from memory."""
        await self._store.async_save(self.snapshot())


def _store(hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry) -> Store[Any]:
    return Store(hass, 1, f"{DOMAIN}.{site.entry_id}.{subentry.subentry_id}.simulation")


async def _async_create(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry
) -> ChargerBackend:
    data = subentry.data
    config = SimulatedChargerConfig(
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        capacity_kwh=float(data[CONF_CAPACITY_KWH]),
        schedule=plug_schedule(data),
    )
    store = _store(hass, site, subentry)
    charger = PersistentSimulatedCharger(store, config)
    if (snapshot := await store.async_load()) is not None:
        charger.restore(snapshot)
    return charger


async def _async_remove(hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry) -> None:
    await _store(hass, site, subentry).async_remove()


SPEC = ChargerKindSpec(
    kind=KIND,
    model="Simulated bidirectional charger",
    fields=_fields,
    async_validate=_validate,
    to_data=_to_data,
    unique_id=lambda data: f"{KIND}_{slugify(str(data.get(CONF_NAME) or DEFAULT_NAME))}",
    title=lambda data: str(data.get(CONF_NAME) or DEFAULT_NAME),
    async_create=_async_create,
    async_remove=_async_remove,
)
