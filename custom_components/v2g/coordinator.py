"""The one place that orchestrates: read the charger, decide, apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .chargers import ChargerBackend, ChargerState, ChargerUnavailableError, SetpointRejectedError
from .const import DOMAIN, LOGGER, SETPOINT_DEADBAND_W, UPDATE_INTERVAL
from .decision import Decision, decide
from .settings import Settings, SettingsStore


@dataclass(slots=True)
class V2GRuntimeData:
    """What a loaded entry holds."""

    backend: ChargerBackend
    settings: SettingsStore
    coordinator: V2GCoordinator


type V2GConfigEntry = ConfigEntry[V2GRuntimeData]


@dataclass(frozen=True, slots=True)
class V2GData:
    """One update's result, read by every entity."""

    state: ChargerState
    decision: Decision
    applied_setpoint_w: float
    updated_at: datetime


class V2GCoordinator(DataUpdateCoordinator[V2GData]):
    """Reads the charger, decides a setpoint and applies it, every update."""

    config_entry: V2GConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: V2GConfigEntry,
        backend: ChargerBackend,
        settings: SettingsStore,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=UPDATE_INTERVAL,
        )
        self.backend = backend
        self.settings_store = settings
        self._applied_w: float | None = None

    @property
    def settings(self) -> Settings:
        """The user's current settings."""
        return self.settings_store.settings

    async def _async_update_data(self) -> V2GData:
        now = dt_util.now()
        state = await self._async_read_state()
        decision = decide(state, self.settings, now)
        previous = self._applied_w
        applied = await self._async_apply(decision.setpoint_w)
        if applied != previous:
            # Show the effect of a new setpoint at once, not one update later.
            state = await self._async_read_state()
        return V2GData(state=state, decision=decision, applied_setpoint_w=applied, updated_at=now)

    async def _async_read_state(self) -> ChargerState:
        try:
            return await self.backend.async_read_state()
        except ChargerUnavailableError as err:
            self._applied_w = None  # re-send the setpoint once it is back
            raise _unavailable(err) from err

    async def _async_apply(self, setpoint_w: float) -> float:
        """Send the setpoint when it changed meaningfully; return what the charger follows."""
        previous = self._applied_w
        changed = (
            previous is None
            or abs(setpoint_w - previous) >= SETPOINT_DEADBAND_W
            or (setpoint_w == 0.0) != (previous == 0.0)
        )
        if not changed:
            return previous if previous is not None else setpoint_w
        try:
            await self.backend.async_apply_setpoint(setpoint_w)
        except ChargerUnavailableError as err:
            self._applied_w = None
            raise _unavailable(err) from err
        except SetpointRejectedError as err:
            LOGGER.warning("Charger rejected a setpoint of %.0f W: %s", setpoint_w, err)
            self._applied_w = None
            return 0.0
        self._applied_w = setpoint_w
        return setpoint_w

    async def async_settings_changed(self, **changes: Any) -> None:
        """Store new settings and act on them at once."""
        self.settings_store.update(**changes)
        # Not debounced: a user who flips the mode expects the charger to follow at once.
        await self.async_refresh()

    async def async_shutdown_charger(self) -> None:
        """Leave the charger safe: no discharging once Home Assistant is not in control."""
        try:
            await self.backend.async_stop()
        except ChargerUnavailableError:
            LOGGER.debug("Charger unreachable while stopping; its own timeouts end any discharge")
        self._applied_w = None


def _unavailable(err: ChargerUnavailableError) -> UpdateFailed:
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="charger_unavailable",
        translation_placeholders={"error": str(err) or type(err).__name__},
    )
