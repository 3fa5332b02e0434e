"""One charger of a site at run time: its backend, its EV's settings and what was sent to it.

The site coordinator owns one `Charger` per charger subentry. A charger reads its backend with a
timeout of its own (one slow charger never holds up the others), remembers when the EV was
plugged in and which setpoint the charger follows, and sends a new setpoint only when it changed
meaningfully.

Two things hold for every kind of charger:
- The EV's state of charge comes from the backend when it reports one; else from the charger's
  optional "EV state of charge sensor" (the car's own integration), else it is unknown.
- A charger the backend reports as paused by the charger (someone switched it off or took over
  its control) is sent nothing. It is steered again when the backend stops reporting that, or
  when the user chooses another V2G mode: the next setpoint then goes out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import logging

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, PERCENTAGE, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .chargers import (
    ChargerBackend,
    ChargerState,
    ChargerUnavailableError,
    SetpointRejectedError,
)
from .const import CONF_EV_SOC_ENTITY, SETPOINT_DEADBAND_W, Mode
from .decision import next_departure
from .inputs.model import to_float
from .kinds import ChargerKindSpec, kind_of
from .ledger import Ledger, LedgerStore
from .settings import Settings, SettingsStore

_LOGGER = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
"""A charger that does not answer a read within this long is unavailable for this update."""
APPLY_TIMEOUT_S = 15.0
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


def read_soc_pct(hass: HomeAssistant, entity_id: str) -> float | None:
    """A state of charge sensor's value in % (None: unavailable, not a number, not in %)."""
    state = hass.states.get(entity_id)
    if (
        state is None
        or state.state == STATE_UNAVAILABLE
        or state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) != PERCENTAGE
        or (value := to_float(state.state)) is None
    ):
        return None
    return min(100.0, max(0.0, value))


@dataclass(frozen=True, slots=True)
class Departure:
    """When the EV leaves, and who said so."""

    at: datetime
    source: DepartureSource


class Charger:
    """A charger subentry's backend, settings and control state."""

    def __init__(
        self,
        hass: HomeAssistant,
        subentry: ConfigSubentry,
        backend: ChargerBackend,
        settings: SettingsStore,
        ledger: LedgerStore,
    ) -> None:
        self.hass = hass
        self.subentry = subentry
        self.ledger_store = ledger
        self.loaded_data = dict(subentry.data)
        """The subentry's data the backend was built with (Home Assistant updates the subentry
        object in place: a reconfigure shows as a difference to this)."""
        self.backend = backend
        self.settings_store = settings
        self.applied_w: float | None = None
        """The setpoint the charger follows (None: unknown, send the next one)."""
        self.plugged_since: datetime | None = None
        self.started = False
        """`backend.async_start` succeeded; until it does, every read tries it again."""
        self.unwatch: Callable[[], None] = lambda: None
        """Removes the listener on the backend's pushed news."""
        self.paused = False
        """Paused by the charger as of the last read: nothing is sent to it."""
        self._paused_in_mode: Mode | None = None
        """The V2G mode when the backend began reporting the pause (None: not paused)."""

    @property
    def subentry_id(self) -> str:
        """The charger's subentry id."""
        return self.subentry.subentry_id

    @property
    def unique_id(self) -> str:
        """What entity and device ids are built from (the subentry's unique id)."""
        return str(self.subentry.unique_id)

    @property
    def title(self) -> str:
        """The charger's name."""
        return self.subentry.title

    @property
    def kind(self) -> ChargerKindSpec:
        """What kind of charger this is."""
        return kind_of(self.subentry.data)

    @property
    def settings(self) -> Settings:
        """The settings in force now: the user's, with a one-off trip's target while it lasts."""
        return self.settings_store.settings.in_force(dt_util.now())

    @property
    def stored_settings(self) -> Settings:
        """What the user set (the setting entities show these)."""
        return self.settings_store.settings

    @property
    def ledger(self) -> Ledger:
        """The EV's realized money and battery use."""
        return self.ledger_store.ledger

    async def async_start(self) -> None:
        """Connect (or start serving); ChargerUnavailableError when that is impossible now."""
        async with asyncio.timeout(READ_TIMEOUT_S):
            await self.backend.async_start()
        self.started = True

    async def async_read(self) -> ChargerState:
        """The charger's state; ChargerUnavailableError when it does not answer in time."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                if not self.started:
                    await self.async_start()
                state = await self.backend.async_read_state()
        except TimeoutError as err:
            self.applied_w = None  # re-send the setpoint once it answers again
            raise ChargerUnavailableError(f"no answer within {READ_TIMEOUT_S:.0f} s") from err
        except ChargerUnavailableError:
            self.applied_w = None
            raise
        state = self._follow_pause(self._with_ev_soc(state))
        if not state.plugged_in:
            self.plugged_since = None
        elif self.plugged_since is None:
            self.plugged_since = dt_util.utcnow()  # after a restart: as if plugged in now
        return state

    def _with_ev_soc(self, state: ChargerState) -> ChargerState:
        """The EV state of charge sensor's value, when the backend reports none."""
        entity_id = self.subentry.data.get(CONF_EV_SOC_ENTITY)
        if state.soc_pct is not None or not entity_id:
            return state
        soc_pct = read_soc_pct(self.hass, str(entity_id))
        return state if soc_pct is None else replace(state, soc_pct=soc_pct)

    def _follow_pause(self, state: ChargerState) -> ChargerState:
        """Paused while the backend says so, until the user chooses another V2G mode."""
        if not state.paused_by_charger:
            self._paused_in_mode = None
        elif self._paused_in_mode is None:
            self._paused_in_mode = self.settings.mode
            self.applied_w = None  # unknown now: send the first setpoint after the pause
            _LOGGER.info("%s was paused at the charger; it is left alone", self.title)
        elif self.settings.mode is not self._paused_in_mode:
            state = replace(state, paused_by_charger=False)  # the user chose: steer again
        self.paused = state.paused_by_charger
        return state

    def departure(self, state: ChargerState | None, now: datetime) -> Departure:
        """A one-off departure from the action, else the EV's own, else the daily time."""
        settings = self.settings
        if settings.departure_override is not None and settings.one_off_active(now):
            return Departure(settings.departure_override, DepartureSource.ONE_OFF)
        if state is not None and state.ev_departure is not None and state.ev_departure > now:
            return Departure(state.ev_departure, DepartureSource.EV)  # the driver told the car
        return Departure(next_departure(settings.departure_time, now), DepartureSource.DAILY)

    def missed_departure(self, state: ChargerState, now: datetime) -> bool:
        """The EV was plugged in over the daily departure time and is still below its target."""
        settings = self.settings
        if state.soc_pct is None or state.soc_pct >= settings.target_soc_pct - 0.5:
            return False
        if self.departure(state, now).source is not DepartureSource.DAILY:
            return False
        # Wall-clock arithmetic for the daily time, UTC for durations (DST-safe).
        last = dt_util.as_utc(next_departure(settings.departure_time, now) - timedelta(days=1))
        plugged_before = self.plugged_since is not None and self.plugged_since < last
        return plugged_before and dt_util.as_utc(now) - last <= MISSED_DEPARTURE_WINDOW

    async def async_apply(
        self, setpoint_w: float, deadband_w: float = SETPOINT_DEADBAND_W
    ) -> float:
        """Send the setpoint when it changed meaningfully; return what the charger follows.

        Nothing is sent to a charger paused by the charger (0 is returned).
        """
        if self.paused:
            return 0.0
        previous = self.applied_w
        changed = (
            previous is None
            or abs(setpoint_w - previous) >= deadband_w
            or (setpoint_w == 0.0) != (previous == 0.0)
        )
        if not changed:
            return previous if previous is not None else setpoint_w
        try:
            async with asyncio.timeout(APPLY_TIMEOUT_S):
                await self.backend.async_apply_setpoint(setpoint_w)
        except (ChargerUnavailableError, TimeoutError) as err:
            # The charger's last state is still fresh (it answered the read) but it cannot take
            # commands right now, for example while it reconnects: send again next time.
            _LOGGER.debug("%s: setpoint of %.0f W not sent: %s", self.title, setpoint_w, err)
            self.applied_w = None
            return 0.0
        except SetpointRejectedError as err:
            _LOGGER.warning("%s rejected a setpoint of %.0f W: %s", self.title, setpoint_w, err)
            self.applied_w = None
            return 0.0
        self.applied_w = setpoint_w
        return setpoint_w

    async def async_stop(self) -> None:
        """Leave the charger safe: idle (never discharging); unreachable chargers time out."""
        try:
            async with asyncio.timeout(APPLY_TIMEOUT_S):
                await self.backend.async_stop()
        except (ChargerUnavailableError, TimeoutError):
            _LOGGER.debug(
                "%s unreachable while stopping; its timeouts end any discharge", self.title
            )
        self.applied_w = None
