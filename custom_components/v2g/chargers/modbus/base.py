"""The Modbus TCP charger backend: one class for every model, driven by its register table.

Control, the same for every model (the table says which registers exist):
1. Before the first setpoint the backend takes control: it writes the model's control registers
   (Wallbox: remote mode, autostart off, power setpoints) and the charger's own idle timeout, so a
   charger that stops hearing from Home Assistant leaves remote control and stops discharging by
   itself. A charger that does not accept remote mode raises `SetpointRejectedError`, whose
   message says what to change on the charger; reading its state still works.
2. A setpoint is clamped to the limits (the table's, the configuration's and what the charger
   reports now). A positive setpoint below the minimum charging power is raised to that minimum,
   and a negative one below the minimum discharging power likewise: a small request is never
   silently dropped. Zero stops. The setpoint register is written first, then the action (start,
   or stop for zero): a stop always zeroes the setpoint even where the action register does
   nothing.
3. Every write is read back; a charger that keeps another value raises `SetpointRejectedError`.
   Registers are written only when the charger does not already hold the value (each poll
   refreshes what it holds), so a steady setpoint costs no writes.
4. Each poll re-applies the last setpoint when the charger dropped it (its idle timeout fired while
   Home Assistant was busy, or someone took control in the vendor app), and rewrites the idle
   timeout once a third of it has passed since the last write, for chargers whose watchdog only
   counts writes.

`async_stop` zeroes the setpoint, stops, and gives control back to the user; `async_release`
closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import asdict, dataclass
from datetime import datetime
import logging
from typing import Any

from .. import (
    Capabilities,
    ChangeListener,
    ChargerState,
    ChargerStatus,
    ChargerUnavailableError,
    DeviceDetails,
    SetpointRejectedError,
    flow_status,
)
from .connection import MAX_REGISTERS_PER_READ, ModbusConnection, ModbusExceptionResponse
from .models import MODELS
from .registers import ChargerModel, Register, StateKind, decode, encode

_LOGGER = logging.getLogger(__name__)

IDLE_THRESHOLD_W = 50.0
"""Below this magnitude no energy counts as flowing (meters show noise)."""
DEFAULT_IDLE_TIMEOUT_S = 180
"""The charger's own watchdog: six missed 30-second updates."""
MAX_INTEGRATION_GAP_S = 300.0
"""Without energy registers, power is integrated between polls at most this far apart."""


@dataclass(frozen=True, slots=True)
class ModbusChargerConfig:
    """How to reach one Modbus charger and how to drive it (built from a config subentry)."""

    host: str
    model: str
    """A key of `MODELS`: "wallbox_quasar_1" or "evtec_bidipro_10"."""
    port: int | None = None
    """None: the model's default port (502 for the Wallbox, 5020 for the EVtec)."""
    unit_id: int | None = None
    """The Modbus unit (slave) id; None: the model's default (1)."""
    plug: int = 1
    """The plug (connector) to steer, on chargers with several (EVtec: 1 to 10)."""
    idle_timeout_s: int = DEFAULT_IDLE_TIMEOUT_S
    """Written to the charger: it stops on its own after this long without Home Assistant."""
    timeout_s: float = 5.0
    """Longest wait for one connection attempt or one request."""
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    max_charge_power_w: float | None = None
    """A lower limit than the model's (a weaker supply); None: the model's."""
    max_discharge_power_w: float | None = None
    min_charge_power_w: float | None = None
    """None: the model's minimum."""

    def __post_init__(self) -> None:
        """Reject settings that cannot work."""
        model = MODELS.get(self.model)
        if model is None:
            raise ValueError(f"unknown Modbus charger model {self.model!r}; known: {list(MODELS)}")
        if not self.host:
            raise ValueError("host is required")
        if self.port is not None and not 1 <= self.port <= 65_535:
            raise ValueError("port must be 1 to 65535")
        if self.unit_id is not None and not 0 <= self.unit_id <= 247:
            raise ValueError("unit_id must be 0 to 247")
        if not 1 <= self.plug <= model.max_plug:
            raise ValueError(f"plug must be 1 to {model.max_plug} for {model.model}")
        if not model.idle_timeout_min_s <= self.idle_timeout_s <= model.idle_timeout_max_s:
            raise ValueError(
                f"idle_timeout_s must be {model.idle_timeout_min_s} to "
                f"{model.idle_timeout_max_s} s for {model.model}"
            )
        if self.timeout_s <= 0 or self.reconnect_min_s <= 0:
            raise ValueError("timeout_s and reconnect_min_s must be positive")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be below reconnect_min_s")
        for limit in (self.max_charge_power_w, self.max_discharge_power_w, self.min_charge_power_w):
            if limit is not None and limit < 0:
                raise ValueError("power limits must not be negative")


class _Counter:
    """A charger's energy counter made monotonic: a counter that restarts (new session) adds on."""

    def __init__(self) -> None:
        self.offset_kwh = 0.0
        self.last_kwh: float | None = None

    def total(self, reading_kwh: float) -> float:
        if self.last_kwh is not None and reading_kwh < self.last_kwh:
            self.offset_kwh += self.last_kwh
        self.last_kwh = reading_kwh
        return self.offset_kwh + reading_kwh


class ModbusCharger:
    """A Modbus TCP charger described by a `ChargerModel` table. Implements ChargerBackend."""

    def __init__(self, config: ModbusChargerConfig, clock: Callable[[], datetime]) -> None:
        """Prepare; nothing connects before `async_start`."""
        self.config = config
        self.model: ChargerModel = MODELS[config.model]
        self._clock = clock
        self._connection = ModbusConnection(
            config.host,
            config.port if config.port is not None else self.model.default_port,
            config.unit_id if config.unit_id is not None else self.model.default_unit_id,
            clock=clock,
            timeout_s=config.timeout_s,
            reconnect_min_s=config.reconnect_min_s,
            reconnect_max_s=config.reconnect_max_s,
        )
        self._lock = asyncio.Lock()
        model = self.model
        self._max_charge_w = min(model.max_charge_power_w, _or_inf(config.max_charge_power_w))
        self._max_discharge_w = (
            min(model.max_discharge_power_w, _or_inf(config.max_discharge_power_w))
            if model.bidirectional
            else 0.0
        )
        min_charge_w = model.min_charge_power_w
        if config.min_charge_power_w is not None:
            min_charge_w = config.min_charge_power_w
        self._capabilities = Capabilities(
            bidirectional=model.bidirectional and self._max_discharge_w > 0,
            reports_soc=model.soc is not None,
            min_charge_power_w=min(min_charge_w, self._max_charge_w),
            min_discharge_power_w=min(model.min_discharge_power_w, self._max_discharge_w),
        )
        # What the charger holds in the registers we write (refreshed by every poll).
        self._held: dict[int, list[int]] = {}
        self._in_control = False
        self._requested_w: float | None = None
        """The last setpoint asked for (None after a stop): polls put it back when dropped."""
        self._last_write: datetime | None = None
        self._limits_w = (self._max_charge_w, self._max_discharge_w)
        self._details: DeviceDetails | None = None
        self._state: ChargerState | None = None
        self._state_code: int | None = None
        self._errors: dict[str, int] = {}
        self._last_soc: float | None = None
        self._charged = _Counter()
        self._discharged = _Counter()
        self._integrated_kwh = [0.0, 0.0]
        self._last_sample: tuple[datetime, float] | None = None
        self._rejected: str | None = None

    # --- ChargerBackend ------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """What this charger can do (from its table and the configuration)."""
        return self._capabilities

    async def async_start(self) -> None:
        """Connect and read what the charger says about itself; unreachable: raise."""
        async with self._lock:
            await self._read_required([self.model.state])  # proves the unit answers
            self._details = await self._read_details()

    async def async_stop(self) -> None:
        """Setpoint 0, stop, and control back to the user; every step is tried.

        Raises ChargerUnavailableError when the charger cannot be reached (its idle timeout
        then ends any discharge); a register the charger keeps is logged, not raised, so an
        unload never fails halfway.
        """
        model = self.model
        async with self._lock:
            self._requested_w = None
            self._in_control = False
            steps: list[tuple[Register, float]] = [(model.setpoint, 0.0)]
            if model.action is not None:
                steps.append((model.action, model.action_stop))
            steps.extend(
                (control.register, control.off)
                for control in reversed(model.take_control)
                if control.off is not None
            )
            for register, value in steps:
                try:
                    await self._write(register, value, force=True)
                except SetpointRejectedError as err:
                    _LOGGER.warning("Stopping %s: %s", model.model, err)

    async def async_read_state(self) -> ChargerState:
        """Poll the charger; put back a setpoint it dropped; keep its watchdog fed."""
        async with self._lock:
            state = await self._poll()
            try:
                if self._requested_w is not None:  # clamped again: the limits may have moved
                    await self._apply(self._clamp(self._requested_w))
                await self._keep_alive()
            except SetpointRejectedError as err:
                self._reject(err)
            return state

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Follow a signed setpoint, clamped to the limits (see the module docstring)."""
        async with self._lock:
            target = self._clamp(power_w)
            if target != power_w:
                _LOGGER.debug("Setpoint %.0f W applied as %.0f W", power_w, target)
            self._requested_w = power_w
            try:
                await self._apply(target)
            except SetpointRejectedError as err:
                self._reject(err)
                raise
            self._rejected = None

    async def async_release(self) -> None:
        """Close the connection (after `async_stop`, which gave control back)."""
        async with self._lock:
            self._requested_w = None
            self._in_control = False
            self._held.clear()
            self._connection.close()

    def device_details(self) -> DeviceDetails | None:
        """Manufacturer and model from the table, firmware and serial number as read."""
        return self._details

    def diagnostics(self) -> dict[str, Any]:
        """Configuration, connection and what the charger last reported (nothing secret)."""
        return {
            "config": asdict(self.config),
            "model": self.model.model,
            "connection": self._connection.diagnostics(),
            "capabilities": asdict(self._capabilities),
            "in_control": self._in_control,
            "requested_w": self._requested_w,
            "state_code": self._state_code,
            "errors": dict(self._errors),
            "last_rejection": self._rejected,
            "held_registers": {str(address): words for address, words in self._held.items()},
            "state": asdict(self._state) if self._state else None,
        }

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """A polled backend never pushes."""
        return lambda: None

    # --- control -------------------------------------------------------------------------

    def _clamp(self, power_w: float) -> float:
        """Within the limits; a small non-zero request is raised to the minimum, never dropped."""
        max_charge_w, max_discharge_w = self._limits_w
        caps = self._capabilities
        if power_w > 0:
            if max_charge_w <= 0:
                return 0.0
            return float(round(min(max_charge_w, max(power_w, caps.min_charge_power_w, 1.0))))
        if power_w < 0:
            if max_discharge_w <= 0:
                return 0.0
            magnitude = min(max_discharge_w, max(-power_w, caps.min_discharge_power_w, 1.0))
            return -float(round(magnitude))
        return 0.0

    async def _apply(self, target_w: float) -> None:
        model = self.model
        if not self._in_control:
            await self._take_control()
        await self._write(model.setpoint, target_w)
        if model.action is not None:
            await self._write(model.action, model.action_start if target_w else model.action_stop)

    async def _take_control(self) -> None:
        model = self.model
        for index, control in enumerate(model.take_control):
            try:
                await self._write(control.register, control.on, force=True)
            except SetpointRejectedError as err:
                if index == 0:
                    raise SetpointRejectedError(
                        f"{model.manufacturer} {model.model} refused remote control ({err}); "
                        "allow control over Modbus in the charger's settings or app"
                    ) from err
                raise
        await self._write(model.idle_timeout, self.config.idle_timeout_s, force=True)
        self._in_control = True
        _LOGGER.debug(
            "Took control of %s (idle timeout %s s)", model.model, self.config.idle_timeout_s
        )

    async def _keep_alive(self) -> None:
        if not self._in_control or self._last_write is None:
            return
        since_s = (self._clock() - self._last_write).total_seconds()
        if since_s >= self.config.idle_timeout_s / 3:
            await self._write(self.model.idle_timeout, self.config.idle_timeout_s, force=True)

    async def _write(self, register: Register, value: float, *, force: bool = False) -> None:
        """Write `value` (engineering units) unless the charger holds it; confirm by reading."""
        address = self.model.absolute(register, self.config.plug)
        words = encode(value / register.scale, register.data_type, self.model.word_order)
        if not force and self._held.get(address) == words:
            return
        self._held.pop(address, None)
        try:
            await self._connection.write(address, words)
            self._last_write = self._clock()
            held = await self._connection.read(address, len(words))
        except ModbusExceptionResponse as err:
            raise SetpointRejectedError(
                f"the charger refused {value:g} for register {address} (Modbus exception "
                f"{err.code})"
            ) from err
        self._held[address] = held
        if held != words:
            raw = decode(held, register.data_type, self.model.word_order)
            raise SetpointRejectedError(
                f"register {address} reads {_number(raw) * register.scale:g} after writing "
                f"{value:g}"
            )

    def _reject(self, err: SetpointRejectedError) -> None:
        if str(err) != self._rejected:
            _LOGGER.warning("%s: %s", self.model.model, err)
        self._rejected = str(err)

    # --- reading -------------------------------------------------------------------------

    async def _poll(self) -> ChargerState:
        model = self.model
        now = self._clock()
        controls = [control.register for control in model.take_control]
        written = [model.setpoint, *([model.action] if model.action else []), *controls]
        optional = [
            model.soc,
            model.charge_limit,
            model.discharge_limit,
            model.energy_charged,
            model.energy_discharged,
        ]
        wanted = [model.state, model.power, *written, *model.errors]
        wanted += [register for register in optional if register is not None]
        values = await self._read_required(wanted)
        for register in written:
            self._held[self.model.absolute(register, self.config.plug)] = values.words(register)
        if self._in_control and any(
            values.words(control.register)
            != encode(control.on, control.register.data_type, model.word_order)
            for control in model.take_control
        ):
            _LOGGER.info("%s left remote control (its idle timeout, or the app)", model.model)
            self._in_control = False

        code = int(values.number(model.state))
        info = model.states.get(code)
        plugged_in = info.plugged_in if info else False
        power_w = values.number(model.power)
        if info is None or info.kind is StateKind.FAULT:
            status = ChargerStatus.FAULT
        else:
            status = flow_status(plugged_in, power_w, IDLE_THRESHOLD_W)
        self._state_code = code
        self._errors = {
            str(model.absolute(register, self.config.plug)): int(values.number(register))
            for register in model.errors
        }
        self._limits_w = self._present_limits(values)
        charged_kwh, discharged_kwh = self._energy(values, now, power_w if plugged_in else 0.0)
        extra: dict[str, str | float | int | bool | None] = {
            "state_code": code,
            "state": info.label if info else f"unknown state code {code}",
            "remote_control": self._in_control,
        }
        extra.update({f"error_{address}": value for address, value in self._errors.items()})
        self._state = ChargerState(
            plugged_in=plugged_in,
            status=status,
            power_w=round(power_w, 1),
            energy_charged_kwh=round(charged_kwh, 4),
            energy_discharged_kwh=round(discharged_kwh, 4),
            max_charge_power_w=self._limits_w[0],
            max_discharge_power_w=self._limits_w[1],
            soc_pct=self._soc(values, plugged_in),
            setpoint_w=values.number(model.setpoint),
            updated_at=now,
            extra=extra,
        )
        return self._state

    def _soc(self, values: _Values, plugged_in: bool) -> float | None:
        """The EV's SoC; a 0 while plugged in keeps the last reading of this plug-in."""
        if self.model.soc is None or not plugged_in:
            self._last_soc = None
            return None
        soc = values.number(self.model.soc)
        if 0 < soc <= 100:
            self._last_soc = round(soc, 1)
        return self._last_soc

    def _present_limits(self, values: _Values) -> tuple[float, float]:
        """The configured limits, lowered to what the charger offers right now."""
        max_charge_w, max_discharge_w = self._max_charge_w, self._max_discharge_w
        if self.model.charge_limit is not None:
            reported = values.number(self.model.charge_limit)
            if reported > 0:
                max_charge_w = min(max_charge_w, reported)
        if self.model.discharge_limit is not None:
            max_discharge_w = max(
                0.0, min(max_discharge_w, values.number(self.model.discharge_limit))
            )
        return max_charge_w, max_discharge_w

    def _energy(self, values: _Values, now: datetime, power_w: float) -> tuple[float, float]:
        """Cumulative energy in and out: the charger's counters, or the power integrated."""
        model = self.model
        if model.energy_charged is not None and model.energy_discharged is not None:
            return (
                self._charged.total(values.number(model.energy_charged)),
                self._discharged.total(values.number(model.energy_discharged)),
            )
        if self._last_sample is not None:
            then, last_power_w = self._last_sample
            gap_s = (now - then).total_seconds()
            if 0 < gap_s <= MAX_INTEGRATION_GAP_S:
                kwh = (last_power_w + power_w) / 2 * gap_s / 3_600_000
                if kwh > 0:
                    self._integrated_kwh[0] += kwh
                else:
                    self._integrated_kwh[1] -= kwh
        self._last_sample = (now, power_w)
        return self._integrated_kwh[0], self._integrated_kwh[1]

    async def _read_details(self) -> DeviceDetails:
        """Firmware and serial number, when the charger answers for them."""
        found: dict[str, str | None] = {"firmware": None, "serial_number": None}
        registers = {"firmware": self.model.firmware, "serial_number": self.model.serial_number}
        for name, register in registers.items():
            if register is not None:
                with contextlib.suppress(ModbusExceptionResponse):
                    value = (await self._read_registers([register])).value(register)
                    found[name] = str(value) or None
        return DeviceDetails(
            manufacturer=self.model.manufacturer,
            model=self.model.model,
            sw_version=found["firmware"],
            serial_number=found["serial_number"],
        )

    async def _read_required(self, registers: Iterable[Register]) -> _Values:
        """Read registers the backend cannot do without: a refusal makes the charger unusable."""
        try:
            return await self._read_registers(registers)
        except ModbusExceptionResponse as err:
            raise ChargerUnavailableError(
                f"{self.model.model} refused to read register {err.address} "
                f"(Modbus exception {err.code})"
            ) from err

    async def _read_registers(self, registers: Iterable[Register]) -> _Values:
        """Read the registers in as few requests as the table allows."""
        plug = self.config.plug
        spans = sorted(
            {(self.model.absolute(register, plug), register.count) for register in registers}
        )
        words: dict[int, int] = {}
        for start, count in _merge(spans, self.model.max_read_gap, self.model.plug_stride):
            for offset, word in enumerate(await self._connection.read(start, count)):
                words[start + offset] = word
        return _Values(self.model, plug, words)


class _Values:
    """Decoded register values from one poll."""

    def __init__(self, model: ChargerModel, plug: int, words: dict[int, int]) -> None:
        self._model = model
        self._plug = plug
        self._words = words

    def words(self, register: Register) -> list[int]:
        address = self._model.absolute(register, self._plug)
        return [self._words[address + offset] for offset in range(register.count)]

    def value(self, register: Register) -> int | float | str:
        raw = decode(self.words(register), register.data_type, self._model.word_order)
        if isinstance(raw, str):
            return raw
        return raw * register.scale if register.scale != 1 else raw

    def number(self, register: Register) -> float:
        return float(_number(self.value(register)))


def _merge(spans: list[tuple[int, int]], max_gap: int, block: int) -> list[tuple[int, int]]:
    """Merge sorted (start, count) spans that are close and in the same plug block."""
    merged: list[tuple[int, int]] = []
    for start, count in spans:
        if merged:
            first, length = merged[-1]
            end = max(first + length, start + count)
            same_block = block == 0 or first // block == (end - 1) // block
            close = start - (first + length) <= max_gap
            if close and same_block and end - first <= MAX_REGISTERS_PER_READ:
                merged[-1] = (first, end - first)
                continue
        merged.append((start, count))
    return merged


def _number(value: int | float | str) -> float:
    if isinstance(value, str):
        raise TypeError("a string register is not a number")
    return float(value)


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value
