"""The one place that orchestrates: read the charger, collect inputs, plan, apply."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .chargers import ChargerBackend, ChargerState, ChargerUnavailableError, SetpointRejectedError
from .const import (
    DOMAIN,
    LOGGER,
    OPT_EXPORT_ALLOWED,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    SETPOINT_DEADBAND_W,
    SMART_MODES,
    UPDATE_INTERVAL,
)
from .decision import (
    Decision,
    Reason,
    decide,
    decide_from_plan,
    limit_to_grid,
    next_departure,
)
from .inputs import (
    InputCollector,
    Inputs,
    InputsConfig,
    clear_repair_issues,
    sync_repair_issues,
)
from .planner import PlanResult, build_problem, make_plan, planning_grid
from .settings import Settings, SettingsStore

PUSH_REFRESH_COOLDOWN_S = 1.0
# Within this long after the daily departure, an EV still plugged in below its target is charged
# at once instead of being planned towards tomorrow's departure.
MISSED_DEPARTURE_WINDOW = timedelta(hours=4)


class DepartureSource(StrEnum):
    """Which departure the plan works towards."""

    ONE_OFF = "one_off"
    """From the set_departure action."""
    EV = "ev"
    """Announced by the EV (ISO 15118 through OCPP)."""
    DAILY = "daily"
    """The daily departure time entity."""


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
    departure: datetime
    departure_source: DepartureSource
    plan: PlanResult | None = None
    """The optimizer's plan in the Smart modes while the EV is plugged in."""
    inputs: Inputs | None = None
    """Prices, solar and load on the plan's slots (Smart modes)."""


class V2GCoordinator(DataUpdateCoordinator[V2GData]):
    """Reads the charger, plans, and applies the first slot's setpoint, every update."""

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
            # Chargers that push (OCPP) ask for refreshes; follow them within a second.
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=PUSH_REFRESH_COOLDOWN_S, immediate=True
            ),
        )
        self.backend = backend
        self.settings_store = settings
        self.inputs = InputCollector(hass, InputsConfig.from_options(entry.options))
        self._applied_w: float | None = None
        self._plan_failed = False
        self._plugged_since: datetime | None = None
        self._control_lock = asyncio.Lock()
        self._stopped = False

    @property
    def settings(self) -> Settings:
        """The user's current settings."""
        return self.settings_store.settings

    @property
    def currency(self) -> str:
        """The price source's currency, else Home Assistant's."""
        inputs = self.data.inputs if self.data else None
        return (inputs.currency if inputs else None) or self.hass.config.currency

    async def _async_update_data(self) -> V2GData:
        now = dt_util.now()
        state = await self._async_read_state()
        if not state.plugged_in:
            self._plugged_since = None
        elif self._plugged_since is None:
            self._plugged_since = dt_util.utcnow()  # after a restart: as if plugged in now
        settings = self.settings
        departure, departure_source = self._departure(state, settings, now)
        decision, plan, inputs = await self._async_decide(state, settings, now, departure)
        decision = self._within_grid_limits(decision, state)
        previous = self._applied_w
        applied = await self._async_apply(decision.setpoint_w)
        if applied != previous and self._applied_w is not None:
            # Show the effect of a new setpoint at once, not one update later.
            state = await self._async_read_state()
        return V2GData(
            state=state,
            decision=decision,
            applied_setpoint_w=applied,
            updated_at=now,
            departure=departure,
            departure_source=departure_source,
            plan=plan,
            inputs=inputs,
        )

    async def _async_decide(
        self, state: ChargerState, settings: Settings, now: datetime, departure: datetime
    ) -> tuple[Decision, PlanResult | None, Inputs | None]:
        """The setpoint and why; in the Smart modes also the inputs and the plan."""
        if settings.mode not in SMART_MODES:
            # Inputs are not read outside the Smart modes: their problems are not current.
            clear_repair_issues(self.hass, DOMAIN, self.config_entry.entry_id)
            return decide(state, settings, now), None, None
        inputs = await self.inputs.async_collect(planning_grid(now), dt_util.utcnow())
        sync_repair_issues(self.hass, DOMAIN, self.config_entry.entry_id, inputs.problems)
        if not state.plugged_in:
            return decide(state, settings, now), None, inputs
        if self._missed_departure(state, settings, now):
            # Still here after the departure time, below the target: the driver is late and
            # needs the energy now, not at tomorrow's cheapest hours.
            decision = replace(decide(state, settings, now), reason=Reason.MISSED_DEPARTURE)
            return decision, None, inputs
        if (plan := await self._async_plan(state, settings, departure, inputs)) is None:
            # Planning failed: the plain rule keeps the driver's target (never discharges).
            return decide(state, settings, now), None, inputs
        return decide_from_plan(plan.plan.setpoint_w, state, settings), plan, inputs

    @staticmethod
    def _departure(
        state: ChargerState, settings: Settings, now: datetime
    ) -> tuple[datetime, DepartureSource]:
        """A one-off departure from the action, else the EV's own, else the daily time."""
        if settings.departure_override is not None and settings.departure_override > now:
            return settings.departure_override, DepartureSource.ONE_OFF
        if state.ev_departure is not None and state.ev_departure > now:
            return state.ev_departure, DepartureSource.EV  # the driver told the car
        return next_departure(settings.departure_time, now), DepartureSource.DAILY

    def _missed_departure(self, state: ChargerState, settings: Settings, now: datetime) -> bool:
        """The EV was plugged in over the daily departure time and is still below its target."""
        if state.soc_pct is None or state.soc_pct >= settings.target_soc_pct - 0.5:
            return False
        if self._departure(state, settings, now)[1] is not DepartureSource.DAILY:
            return False
        # Wall-clock arithmetic for the daily time, UTC for durations (DST-safe).
        last = dt_util.as_utc(next_departure(settings.departure_time, now) - timedelta(days=1))
        plugged_before = self._plugged_since is not None and self._plugged_since < last
        return plugged_before and dt_util.as_utc(now) - last <= MISSED_DEPARTURE_WINDOW

    def _within_grid_limits(self, decision: Decision, state: ChargerState) -> Decision:
        """Correct the setpoint with the live grid meter, when one is configured."""
        grid_power_w = self.inputs.read_grid_power_w()
        if grid_power_w is None or decision.setpoint_w == 0:
            return decision
        options = self.config_entry.options
        limited = limit_to_grid(
            decision.setpoint_w,
            grid_power_w=grid_power_w,
            ev_power_w=state.power_w,
            import_limit_w=float(options.get(OPT_GRID_IMPORT_LIMIT_W, math.inf)) or math.inf,
            export_limit_w=float(options.get(OPT_GRID_EXPORT_LIMIT_W, math.inf)),
            export_allowed=bool(options.get(OPT_EXPORT_ALLOWED, True)),
        )
        if abs(limited - decision.setpoint_w) < 1.0:
            return decision
        return replace(decision, setpoint_w=limited, limited_by_grid=True)

    async def _async_plan(
        self, state: ChargerState, settings: Settings, departure: datetime, inputs: Inputs
    ) -> PlanResult | None:
        problem, soc_assumed = build_problem(
            state=state,
            capabilities=self.backend.capabilities,
            mode=settings.mode,
            allow_v2g=settings.allow_v2g,
            target_soc_pct=settings.target_soc_pct,
            min_soc_pct=settings.min_soc_pct,
            max_charge_power_w=settings.max_charge_power_w,
            max_discharge_power_w=settings.max_discharge_power_w,
            capacity_kwh=settings.capacity_kwh,
            departure=departure,
            options=self.config_entry.options,
            grid=inputs.grid,
            import_price_per_kwh=inputs.import_price_per_kwh,
            export_price_per_kwh=inputs.export_price_per_kwh,
            solar_w=inputs.solar_power_w,
            load_w=inputs.base_load_power_w,
        )
        try:
            result = await self.hass.async_add_executor_job(make_plan, problem, soc_assumed)
        except Exception:  # the driver must never be stranded by a solver bug
            if not self._plan_failed:
                LOGGER.exception("Planning failed; charging at full power until it works again")
            self._plan_failed = True
            return None
        if self._plan_failed:
            LOGGER.info("Planning works again")
            self._plan_failed = False
        return result

    async def _async_read_state(self) -> ChargerState:
        try:
            return await self.backend.async_read_state()
        except ChargerUnavailableError as err:
            self._applied_w = None  # re-send the setpoint once it is back
            raise _unavailable(err) from err

    async def _async_apply(self, setpoint_w: float) -> float:
        """Send the setpoint when it changed meaningfully; return what the charger follows."""
        async with self._control_lock:
            if self._stopped:
                return 0.0
            return await self._async_send(setpoint_w)

    async def _async_send(self, setpoint_w: float) -> float:
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
            # The charger's last state is still fresh (it answered the read) but it cannot take
            # commands right now, for example while it reconnects: send again next time.
            LOGGER.debug("Setpoint of %.0f W not sent: %s", setpoint_w, err)
            self._applied_w = None
            return 0.0
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
        """Leave the charger safe for good: idle, and no setpoint sent after this.

        Called on unload and when Home Assistant stops. Refreshes are shut down first; a refresh
        already under way either sent its setpoint before the lock was taken (the stop below
        then replaces it) or finds the latch set and sends nothing.
        """
        self._stopped = True
        await self.async_shutdown()
        async with self._control_lock:
            try:
                await self.backend.async_stop()
            except ChargerUnavailableError:
                LOGGER.debug("Charger unreachable while stopping; its timeouts end any discharge")
            self._applied_w = None


def _unavailable(err: ChargerUnavailableError) -> UpdateFailed:
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="charger_unavailable",
        translation_placeholders={"error": str(err) or type(err).__name__},
    )
