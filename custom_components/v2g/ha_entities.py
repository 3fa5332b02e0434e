"""A charger Home Assistant already controls, driven through another integration's entities.

The homeowner keeps the charger connected as it is (core `wallbox`, Peblar, go-e, Easee, Zaptec,
OpenEVSE, ...) and picks its entities in a form. How each one is used:

- **Control** (required): a `number` or `input_number` in A or W (kW). Its unit is read from the
  entity; a control that shows none (core `wallbox`'s "maximum charging current") takes the unit
  chosen in the form. Amps are watts divided by phases x voltage (both from the form, 230 V
  nominal). A control whose minimum is negative is *signed*: negative values discharge (a Wallbox
  Quasar through core `wallbox`), so the charger is bidirectional. Its range and step give the
  lowest charging and discharging powers; setpoints are rounded towards zero onto its steps.
- **Enable switch** (optional `switch` / `input_boolean`): turned off for 0 W, on otherwise (the
  control is written first). Without one, 0 W is written to the control, which must accept it.
- **Status** (required): a `binary_sensor` (on: an EV is plugged in) or a `sensor` whose states
  are mapped in the form to "plugged in", "charging" and "discharging" (compared case- and
  punctuation-insensitively; the defaults cover common integrations' states). Any other state
  means no EV is plugged in.
- **Power** (optional `sensor`, W or kW). A sensor that reports only the magnitude is made
  negative while the status says discharging (or, with a plug sensor, while the control is
  negative). Without one, or while it is unavailable, the power is *derived* from the control's
  value (0 when unplugged, switched off, or when the status says the EV takes nothing): an upper
  bound, since the EV may take less.
- **Energy charged / discharged** (optional `sensor`s, Wh or kWh): passed through (a counter that
  restarts each session shows as a reset, which energy statistics handle). Without one, energy
  is *derived* by integrating the power over time from 0 when the charger is set up.
- The EV's **state of charge** is the charger's generic "EV state of charge sensor"
  (`charger.py` reads it for every kind); without one it is unknown, never invented.

Writing: a value is written only when it differs from what the entity shows by at least half a
step (the charger's own deadband comes on top), and at most once per 30 s, unless the direction
changes (charge, discharge, idle): a value held back is written when its window opens (the
newest one wins; a change of direction drops it). The switch only changes with the direction.
Writes carry a context of ours, so changes made by anyone else are recognised (Home Assistant
gives a state its entity writes within 5 s of our call our context: a change by someone else
that soon after our write is taken for ours).

Never fighting the user: when the enable switch is turned off, or the control is set to another
value than ours, by someone else (a context that is not ours), the charger is *paused by the
charger*: its state says so, the site sends it nothing, and the plan sensor shows it. It resumes
when the switch is turned on again by someone else, or when the next setpoint comes (the site
sends one again only after the user chose a V2G mode, see `charger.py`).

Availability: the charger is unavailable while its control or status entity is unavailable
(or unknown, for the status). If that happens while discharging, a repair issue names the
entity, and 0 W is set (switch off, else 0 on the control) as soon as the control can take it:
at once when the control itself is there, else when it comes back. So discharging never resumes
blindly: the next update plans afresh. The issue goes when both entities are back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
import logging
import math
import re
from typing import Any

from homeassistant.components.number import ATTR_MAX, ATTR_MIN, ATTR_STEP
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfElectricCurrent,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
import voluptuous as vol

from .chargers import (
    Capabilities,
    ChangeListener,
    ChargerState,
    ChargerUnavailableError,
    DeviceDetails,
    SetpointRejectedError,
    flow_status,
)
from .const import DOMAIN
from .inputs import read_power_w
from .inputs.load import ENERGY_UNITS
from .inputs.model import to_float

_LOGGER = logging.getLogger(__name__)

MIN_CHARGE_CURRENT_A = 6.0
"""The lowest current an AC charger delivers (IEC 61851); a control that cannot reach it is
refused."""
NOMINAL_VOLTAGE_V = 230.0
WRITE_INTERVAL = timedelta(seconds=30)
"""At most one write per entity this often, unless the direction changes."""
IDLE_BELOW_W = 50.0
"""Below this magnitude no energy counts as flowing (status idle)."""
RECENT_CONTEXTS = 32

CONTROL_DOMAINS = ("number", "input_number")
ENABLE_DOMAINS = ("switch", "input_boolean")
STATUS_DOMAINS = ("binary_sensor", "sensor")
CONTROL_UNITS = (UnitOfElectricCurrent.AMPERE, UnitOfPower.WATT, UnitOfPower.KILO_WATT)

# Status states, normalised (`normalise_state`). From the status sensors of core wallbox, peblar
# and ohme, and of the Easee, Zaptec and go-e custom integrations; B/C/D are IEC 61851 states.
DEFAULT_PLUGGED_STATES = (
    "connected",
    "plugged",
    "plugged_in",
    "ev_connected",
    "car_connected",
    "vehicle_connected",
    "locked_car_connected",
    "connected_requesting",
    "connected_finished",
    "awaiting_start",
    "awaiting_authorization",
    "pending_approval",
    "ready_to_charge",
    "waiting",
    "waiting_for_car_demand",
    "waitcar",
    "wait_car",
    "paused",
    "suspended",
    "scheduled",
    "completed",
    "complete",
    "finished",
    "b",
)
DEFAULT_CHARGING_STATES = ("charging", "connected_charging", "c", "d")
DEFAULT_DISCHARGING_STATES = ("discharging",)


def normalise_state(value: str) -> str:
    """A state as the mapping compares it: lower case, runs of other characters as one `_`."""
    return re.sub(r"[^0-9a-z]+", "_", value.casefold()).strip("_")


def normalise_states(values: Iterable[str]) -> tuple[str, ...]:
    """Normalised, without blanks or repeats, in their order."""
    return tuple(dict.fromkeys(n for value in values if (n := normalise_state(str(value)))))


def domain_of(entity_id: str) -> str:
    """The domain part of an entity id."""
    return entity_id.partition(".")[0]


def is_up(state: State | None, *, unknown_is_down: bool = False) -> bool:
    """The entity exists and is available (and, if asked, its state is known)."""
    if state is None or state.state == STATE_UNAVAILABLE:
        return False
    return not (unknown_is_down and state.state == STATE_UNKNOWN)


def number(state: State | None) -> float | None:
    """The state as a finite number, else None."""
    return None if state is None else to_float(state.state)


def read_energy_kwh(state: State | None) -> float | None:
    """An energy sensor's value in kWh (None: unavailable or not Wh, kWh or MWh)."""
    value = number(state)
    unit = None if state is None else state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if value is None or unit not in ENERGY_UNITS:
        return None
    return EnergyConverter.convert(value, unit, UnitOfEnergy.KILO_WATT_HOUR)


def _direction(value: float) -> int:
    """Charge (1), idle (0) or discharge (-1)."""
    return (value > 0) - (value < 0)


@dataclass(frozen=True, slots=True)
class Control:
    """The control entity's range and value in its own unit, and what one unit is in W."""

    minimum: float
    maximum: float
    step: float
    w_per_unit: float
    value: float | None
    """What the entity shows now (None: unknown)."""

    def to_w(self, value: float) -> float:
        """A value of the control in W."""
        return value * self.w_per_unit

    @property
    def smallest_positive(self) -> float | None:
        """The lowest charging value on the control's steps (None: it cannot charge)."""
        if self.minimum > 0:
            return self.minimum if self.minimum <= self.maximum else None
        value = self.minimum + (math.floor(round(-self.minimum / self.step, 9)) + 1) * self.step
        return value if value <= self.maximum else None

    @property
    def largest_negative(self) -> float | None:
        """The discharging value closest to 0 on the control's steps (None: it cannot discharge)."""
        if self.minimum >= 0:
            return None
        return self.minimum + (math.ceil(round(-self.minimum / self.step, 9)) - 1) * self.step

    def quantise(self, power_w: float) -> float:
        """A signed power as a value the control takes: within range, on a step, towards zero.

        Below the lowest charging (or discharging) value it is 0: the charger cannot deliver less.
        """
        value = power_w / self.w_per_unit
        lowest = self.smallest_positive if value > 0 else self.largest_negative
        if value == 0 or lowest is None or abs(value) < abs(lowest) - 1e-9:
            return 0.0
        value = min(self.maximum, max(self.minimum, value))
        steps = round((value - self.minimum) / self.step, 9)
        rounded = math.floor(steps) if value > 0 else math.ceil(steps)
        return round(self.minimum + rounded * self.step, 6)


def read_control(
    state: State, fallback_unit: str | None, phases: int, voltage_v: float
) -> Control | None:
    """The control's range from its state; None when its unit is not A, W or kW."""
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or fallback_unit
    factors: dict[str, float] = {
        UnitOfElectricCurrent.AMPERE: phases * voltage_v,
        UnitOfPower.WATT: 1.0,
        UnitOfPower.KILO_WATT: 1000.0,
    }
    if unit not in factors:
        return None
    try:
        minimum = float(state.attributes[ATTR_MIN])
        maximum = float(state.attributes[ATTR_MAX])
        step = float(state.attributes.get(ATTR_STEP) or 1.0)
    except (KeyError, TypeError, ValueError):
        return None
    return Control(minimum, maximum, step if step > 0 else 1.0, factors[unit], number(state))


@dataclass(frozen=True, slots=True)
class HaEntitiesConfig:
    """Which entities drive the charger, and how to read them."""

    control_entity: str
    status_entity: str
    enable_entity: str | None = None
    power_entity: str | None = None
    energy_charged_entity: str | None = None
    energy_discharged_entity: str | None = None
    control_unit: str | None = None
    """The control's unit when the entity shows none."""
    phases: int = 3
    voltage_v: float = NOMINAL_VOLTAGE_V
    plugged_states: tuple[str, ...] = DEFAULT_PLUGGED_STATES
    charging_states: tuple[str, ...] = DEFAULT_CHARGING_STATES
    discharging_states: tuple[str, ...] = DEFAULT_DISCHARGING_STATES
    reports_soc: bool = False
    """An EV state of charge sensor is set for this charger (read by `charger.py`)."""
    name: str = ""
    """The charger's name, for the repair issue."""
    issue_id: str = ""


@dataclass(slots=True)
class _Energy:
    """Energy counters in kWh: from a sensor (last known value) or integrated from power."""

    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    last: tuple[datetime, float] | None = None
    """When the power was last read, and what it was (W)."""
    sensors: dict[str, float] = field(default_factory=dict)
    """Each energy sensor's last readable value."""


@dataclass(slots=True)
class _Writes:
    """What was asked of each entity, and when it was last written."""

    asked: dict[str, float] = field(default_factory=dict)
    """Per entity: the value last asked for (switch: 1 on, 0 off)."""
    written_at: dict[str, datetime] = field(default_factory=dict)
    direction: int | None = None
    """Of the last setpoint: charge 1, idle 0, discharge -1 (None: none yet)."""
    contexts: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_CONTEXTS))
    pending: float | None = None
    """A rate-limited control value, written when its window opens."""
    unsub_pending: CALLBACK_TYPE | None = None


class HaEntitiesCharger:
    """A `ChargerBackend` that reads and writes other integrations' entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        config: HaEntitiesConfig,
        clock: Callable[[], datetime] = dt_util.utcnow,
    ) -> None:
        self._hass = hass
        self.config = config
        self._clock = clock
        self._control: Control | None = None
        self._writes = _Writes()
        self._energy = _Energy()
        self._lock = asyncio.Lock()
        self._listeners: list[ChangeListener] = []
        self._unsub_state: CALLBACK_TYPE | None = None
        self.paused = False
        """Someone else switched the charger off or took over its control."""
        self._stop_pending = False
        """It was discharging when a required entity went away: write 0 when the control can."""

    # --- the protocol ---------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """Bidirectional iff the control goes below 0; lowest powers from its steps."""
        control = self._control
        if control is None:
            return Capabilities(bidirectional=False, reports_soc=self.config.reports_soc)
        lowest_charge = control.smallest_positive
        lowest_discharge = control.largest_negative
        return Capabilities(
            bidirectional=lowest_discharge is not None,
            reports_soc=self.config.reports_soc,
            min_charge_power_w=0.0 if lowest_charge is None else control.to_w(lowest_charge),
            min_discharge_power_w=(
                0.0 if lowest_discharge is None else -control.to_w(lowest_discharge)
            ),
        )

    async def async_start(self) -> None:
        """Check the required entities exist and follow their changes."""
        self._control = self._read_control(self._required(self.config.control_entity))
        self._required(self.config.status_entity, unknown_is_down=True)
        if self._unsub_state is None:
            watched = [
                entity_id
                for entity_id in (
                    self.config.control_entity,
                    self.config.status_entity,
                    self.config.enable_entity,
                )
                if entity_id
            ]
            self._unsub_state = async_track_state_change_event(
                self._hass, watched, self._async_state_changed
            )

    async def async_read_state(self) -> ChargerState:
        """Read the entities; ChargerUnavailableError while the control or status is not there."""
        cfg = self.config
        control = self._control = self._read_control(self._required(cfg.control_entity))
        status = self._required(cfg.status_entity, unknown_is_down=True)
        plugged_in, flow = self._plug(status)
        enabled = self._enabled()
        following = control.value if enabled and control.value is not None else 0.0
        power_w = self._measured_power_w(flow, following)
        derived = power_w is None
        if power_w is None:
            power_w = control.to_w(following) if plugged_in and flow != 0 else 0.0
        charged_kwh, discharged_kwh = self._energy_kwh(power_w)
        return ChargerState(
            plugged_in=plugged_in,
            status=flow_status(plugged_in, power_w, IDLE_BELOW_W),
            power_w=round(power_w, 1),
            energy_charged_kwh=round(charged_kwh, 4),
            energy_discharged_kwh=round(discharged_kwh, 4),
            max_charge_power_w=max(0.0, control.to_w(control.maximum)),
            max_discharge_power_w=max(0.0, -control.to_w(control.minimum)),
            setpoint_w=round(control.to_w(following), 1),
            updated_at=self._clock(),
            paused_by_charger=self.paused,
            extra={
                "control_value": control.value,
                "status": status.state,
                "enabled": enabled,
                "power_derived": derived,
            },
        )

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Write the setpoint; a setpoint while paused means the site steers again."""
        if self.paused:
            _LOGGER.info("%s: steering again", self.config.name)
            self.paused = False
        control = self._control
        if control is None:
            raise ChargerUnavailableError("the control has not been read yet")
        async with self._lock:
            self._stop_pending = False
            await self._async_set(control, control.quantise(power_w))

    async def async_stop(self) -> None:
        """Leave the charger idle, unless it is idle already or someone else has it."""
        self._cancel_pending()
        control = self._control
        if self.paused or control is None or not self._writes.direction:
            return
        async with self._lock:
            await self._async_set(control, 0.0)

    async def async_release(self) -> None:
        """Stop following the entities; forget the repair issue."""
        self._cancel_pending()
        if self._unsub_state is not None:
            self._unsub_state()
            self._unsub_state = None
        self._listeners.clear()
        ir.async_delete_issue(self._hass, DOMAIN, self.config.issue_id)

    def device_details(self) -> DeviceDetails | None:
        """The control entity's device, as its own integration describes it."""
        entry = er.async_get(self._hass).async_get(self.config.control_entity)
        device = (
            dr.async_get(self._hass).async_get(entry.device_id)
            if entry is not None and entry.device_id
            else None
        )
        if device is None:
            return None
        return DeviceDetails(
            manufacturer=device.manufacturer,
            model=device.model,
            sw_version=device.sw_version,
            serial_number=device.serial_number,
        )

    def diagnostics(self) -> dict[str, Any]:
        """The entities used and what was last asked of them."""
        return {
            "config": asdict(self.config),
            "asked": dict(self._writes.asked),
            "pending": self._writes.pending,
            "paused_by_charger": self.paused,
            "stop_pending": self._stop_pending,
        }

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Called on news the site should act on at once: paused, resumed, plugged in or out."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # --- reading ----------------------------------------------------------------------------

    def _required(self, entity_id: str, *, unknown_is_down: bool = False) -> State:
        state = self._hass.states.get(entity_id)
        if state is None or not is_up(state, unknown_is_down=unknown_is_down):
            raise ChargerUnavailableError(f"{entity_id} is {state.state if state else 'missing'}")
        return state

    def _read_control(self, state: State) -> Control:
        cfg = self.config
        control = read_control(state, cfg.control_unit, cfg.phases, cfg.voltage_v)
        if control is None:
            raise ChargerUnavailableError(f"{cfg.control_entity} has no range in A, W or kW")
        return control

    def _plug(self, status: State) -> tuple[bool, int | None]:
        """Plugged in, and what the status says flows (1, 0, -1; None: a plug sensor can't say)."""
        cfg = self.config
        if domain_of(cfg.status_entity) == "binary_sensor":
            return status.state == STATE_ON, None
        value = normalise_state(status.state)
        if value in cfg.charging_states:
            return True, 1
        if value in cfg.discharging_states:
            return True, -1
        return value in cfg.plugged_states, 0

    def _enabled(self) -> bool:
        """The enable switch is on (no switch: always)."""
        if not self.config.enable_entity:
            return True
        state = self._hass.states.get(self.config.enable_entity)
        return state is not None and state.state == STATE_ON

    def _measured_power_w(self, flow: int | None, following: float) -> float | None:
        """The power sensor, signed (None: no sensor, or not readable now)."""
        if not self.config.power_entity:
            return None
        power_w = read_power_w(self._hass, self.config.power_entity)
        if power_w is None:
            return None
        discharging = flow == -1 or (flow is None and following < 0)
        return -abs(power_w) if discharging else power_w

    def _energy_kwh(self, power_w: float) -> tuple[float, float]:
        """Charged and discharged energy: the sensors where set, else integrated power."""
        energy = self._energy
        now = self._clock()
        if energy.last is not None:
            since, last_w = energy.last
            kwh = last_w * max(0.0, (now - since).total_seconds()) / 3_600_000
            energy.charged_kwh += max(0.0, kwh)
            energy.discharged_kwh += max(0.0, -kwh)
        energy.last = (now, power_w)
        return (
            self._sensor_kwh(self.config.energy_charged_entity, energy.charged_kwh),
            self._sensor_kwh(self.config.energy_discharged_entity, energy.discharged_kwh),
        )

    def _sensor_kwh(self, entity_id: str | None, integrated_kwh: float) -> float:
        """An energy sensor's value (its last one while unreadable); no sensor: integrated."""
        if not entity_id:
            return integrated_kwh
        known = self._energy.sensors
        if (value := read_energy_kwh(self._hass.states.get(entity_id))) is not None:
            known[entity_id] = value
        return known.get(entity_id, 0.0)

    # --- writing ----------------------------------------------------------------------------

    async def _async_set(self, control: Control, value: float) -> None:
        """Make the charger follow `value` (the control's unit); the caller holds the lock."""
        cfg = self.config
        direction = _direction(value)
        if value == 0 and cfg.enable_entity:
            self._cancel_pending()
            await self._async_switch(on=False)
        elif value == 0 and control.minimum > 0:
            raise SetpointRejectedError(f"{cfg.control_entity} cannot be set to 0")
        else:
            # The value first: switched on, the charger must not run at an old value a moment.
            flip = direction != self._writes.direction
            await self._async_write_control(control, value, at_once=flip)
            if cfg.enable_entity:
                await self._async_switch(on=True)
        self._writes.direction = direction  # only once it was sent

    async def _async_write_control(self, control: Control, value: float, *, at_once: bool) -> None:
        """Write the control, unless it shows the value already; held back within the window."""
        entity_id = self.config.control_entity
        current = number(self._hass.states.get(entity_id))  # now, not as last read
        if current is not None and abs(current - value) < control.step / 2:
            self._cancel_pending()
            self._writes.asked[entity_id] = value
            return
        wait = self._wait(entity_id)
        if wait is not None and not at_once:
            self._writes.pending = value
            if self._writes.unsub_pending is None:
                self._writes.unsub_pending = async_call_later(
                    self._hass, wait, self._async_write_pending
                )
            return
        self._cancel_pending()
        await self._async_call(
            domain_of(entity_id), "set_value", {ATTR_ENTITY_ID: entity_id, "value": value}
        )
        self._writes.asked[entity_id] = value

    async def _async_write_pending(self, _now: datetime) -> None:
        """The rate limit's window opened: write the newest value asked for."""
        self._writes.unsub_pending = None
        async with self._lock:
            value, self._writes.pending = self._writes.pending, None
            control = self._control
            if value is None or control is None or self.paused:
                return
            try:
                await self._async_write_control(control, value, at_once=True)
            except (ChargerUnavailableError, SetpointRejectedError) as err:
                _LOGGER.debug("%s: %s not written: %s", self.config.name, value, err)

    async def _async_switch(self, *, on: bool) -> None:
        entity_id = self.config.enable_entity
        assert entity_id is not None
        self._writes.asked[entity_id] = float(on)
        state = self._hass.states.get(entity_id)
        if state is not None and state.state == (STATE_ON if on else STATE_OFF):
            return
        await self._async_call(
            domain_of(entity_id),
            SERVICE_TURN_ON if on else SERVICE_TURN_OFF,
            {ATTR_ENTITY_ID: entity_id},
        )

    def _wait(self, entity_id: str) -> float | None:
        """Seconds until the entity may be written again (None: now)."""
        written_at = self._writes.written_at.get(entity_id)
        if written_at is None:
            return None
        wait = (written_at + WRITE_INTERVAL - self._clock()).total_seconds()
        return wait if wait > 0 else None

    async def _async_call(self, domain: str, service: str, data: dict[str, Any]) -> None:
        context = Context()
        self._writes.contexts.append(context.id)
        self._writes.written_at[data[ATTR_ENTITY_ID]] = self._clock()
        try:
            await self._hass.services.async_call(
                domain, service, data, blocking=True, context=context
            )
        except (ServiceValidationError, vol.Invalid) as err:
            raise SetpointRejectedError(f"{data[ATTR_ENTITY_ID]}: {err}") from err
        except HomeAssistantError as err:
            raise ChargerUnavailableError(f"{data[ATTR_ENTITY_ID]}: {err}") from err

    def _cancel_pending(self) -> None:
        self._writes.pending = None
        if self._writes.unsub_pending is not None:
            self._writes.unsub_pending()
            self._writes.unsub_pending = None

    # --- following the entities -------------------------------------------------------------

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        old, new = event.data["old_state"], event.data["new_state"]
        cfg = self.config
        if entity_id == cfg.enable_entity:
            news = self._switch_changed(old, new)
        elif entity_id == cfg.control_entity:
            self._follow_availability(entity_id, old, new)
            news = self._control_changed(old, new)
        else:
            self._follow_availability(entity_id, old, new)
            news = self._plug_changed(old, new)
        if news:
            for listener in list(self._listeners):
                listener()

    def _ours(self, state: State) -> bool:
        contexts = self._writes.contexts
        return state.context.id in contexts or state.context.parent_id in contexts

    def _switch_changed(self, old: State | None, new: State | None) -> bool:
        """Switched off by someone else: paused; switched on again by someone else: resumed."""
        if old is None or new is None or self._ours(new):
            return False
        asked_off = self._writes.asked.get(new.entity_id) == 0.0
        if old.state == STATE_ON and new.state == STATE_OFF and not (self.paused or asked_off):
            return self._pause(f"{new.entity_id} was switched off")
        if old.state == STATE_OFF and new.state == STATE_ON and self.paused:
            _LOGGER.info("%s: %s was switched on again", self.config.name, new.entity_id)
            self.paused = False
            return True
        return False

    def _control_changed(self, old: State | None, new: State | None) -> bool:
        """Set to another value than ours by someone else: paused."""
        asked = self._writes.asked.get(self.config.control_entity)
        value, control = number(new), self._control
        if (
            asked is None
            or value is None
            or control is None
            or new is None
            or not is_up(old)
            or number(old) == value
            or abs(value - asked) < control.step / 2
            or self._ours(new)
            or self.paused
        ):
            return False
        return self._pause(f"{new.entity_id} was set to {new.state}")

    def _pause(self, why: str) -> bool:
        _LOGGER.info("%s is paused by the charger: %s", self.config.name, why)
        self.paused = True
        self._cancel_pending()
        return True

    def _plug_changed(self, old: State | None, new: State | None) -> bool:
        """An EV was plugged in or out (plan at once)."""
        if old is None or new is None or not (is_up(old, unknown_is_down=True) and is_up(new)):
            return False
        return self._plug(old)[0] != self._plug(new)[0]

    def _follow_availability(self, entity_id: str, old: State | None, new: State | None) -> None:
        """A required entity went away or came back.

        No refresh at once: the next update reads every entity afresh, after the fall-back to 0.
        """
        unknown_is_down = entity_id == self.config.status_entity
        was, now = (is_up(s, unknown_is_down=unknown_is_down) for s in (old, new))
        if was == now:
            return
        if not now and self._writes.direction == -1 and not self.paused:
            self._stop_pending = True
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                self.config.issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="charger_entity_unavailable",
                translation_placeholders={"charger": self.config.name, "entity_id": entity_id},
            )
        if self._stop_pending:
            self._hass.async_create_task(self._async_fall_back())
        elif self._required_up():
            ir.async_delete_issue(self._hass, DOMAIN, self.config.issue_id)

    def _required_up(self) -> bool:
        """The control and the status entity are both there."""
        return all(
            is_up(self._hass.states.get(entity_id), unknown_is_down=True)
            for entity_id in (self.config.control_entity, self.config.status_entity)
        )

    async def _async_fall_back(self) -> None:
        """Discharging when an entity went away: 0 as soon as the control takes it."""
        control_state = self._hass.states.get(self.config.control_entity)
        if not is_up(control_state):
            return
        assert control_state is not None
        async with self._lock:
            if not self._stop_pending:
                return  # a setpoint came meanwhile, from a fresh reading
            try:
                control = self._control = self._read_control(control_state)
                await self._async_set(control, 0.0)
            except (ChargerUnavailableError, SetpointRejectedError) as err:
                _LOGGER.warning("%s could not be stopped: %s", self.config.name, err)
                return
            self._stop_pending = False
        if self._required_up():
            ir.async_delete_issue(self._hass, DOMAIN, self.config.issue_id)
