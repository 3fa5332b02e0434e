"""A simulated Modbus TCP bidirectional charger with an EV behind it, for development and tests.

    .venv/bin/python simulator/modbus_charger.py --model wallbox_quasar_1 --port 1502 --soc 40
    .venv/bin/python simulator/modbus_charger.py --model evtec_bidipro_10 --port 5020 --plug 1

It serves the register map of either model (`custom_components/v2g/chargers/modbus/models.py`)
on 127.0.0.1 and runs the EV's battery (`BatteryModel`) behind it. Like the real chargers it
follows the power setpoint only under remote control: for the Wallbox once the control register
says remote (and autostart off, power setpoints), for the EVtec once a controller wrote a
setpoint. It honours the idle timeout the controller writes: when no write arrives for that long
it leaves remote control (the Wallbox also resets autostart, setpoint type and the timeout, as the
real one does), zeroes the setpoint and stops. Under user control it does not charge by itself.

It can refuse remote control (`--refuse-remote-control`: the Wallbox keeps its control register at
user; the EVtec keeps its setpoint at 0), start with the EV unplugged (`--unplugged`), and report a
SoC of 0 while no power flows, as the Quasar 1 does (`--no-soc-when-idle`). Tests drive the same
`ModbusChargerSim` in-process and call `unplug()`, `plug_in()` and `set_fault()`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import logging
from pathlib import Path
import sys

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusBaseDeviceContext, ModbusServerContext
from pymodbus.server import ModbusTcpServer

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.v2g.chargers.modbus.models import MODELS
from custom_components.v2g.chargers.modbus.registers import (
    ChargerModel,
    DataType,
    Register,
    StateKind,
    decode,
    encode,
)
from custom_components.v2g.chargers.simulated import BatteryModel

_LOGGER = logging.getLogger("v2g.simulator.modbus")
_HOLDING_REGISTER_FUNCTIONS = frozenset({3, 6, 16, 23})
_FLOW_THRESHOLD_W = 1.0


@dataclass(frozen=True, slots=True)
class ModbusSimConfig:
    """What is simulated and where it listens."""

    model: str = "wallbox_quasar_1"
    host: str = "127.0.0.1"
    port: int | None = None
    """None: the model's default port; 0: any free port (read it from the server)."""
    unit_id: int | None = None
    """None: the model's default unit id."""
    plug: int = 1
    capacity_kwh: float = 60.0
    soc_pct: float = 40.0
    max_power_w: float | None = None
    """None: the model's maximum."""
    min_soc_pct: float = 5.0
    max_soc_pct: float = 100.0
    plugged_in: bool = True
    refuse_remote_control: bool = False
    soc_when_idle: bool = True
    """False: report a SoC of 0 while no power flows (as the Wallbox Quasar 1 does)."""
    tick_s: float = 0.2
    """How often the server advances the physics and the idle-timeout watchdog on its own."""
    firmware: str = "6.1.0"
    serial_number: int = 123_456
    verbose: bool = False

    def __post_init__(self) -> None:
        """Reject an unknown model or plug."""
        model = MODELS.get(self.model)
        if model is None:
            raise ValueError(f"unknown model {self.model!r}; known: {list(MODELS)}")
        if not 1 <= self.plug <= model.max_plug:
            raise ValueError(f"plug must be 1 to {model.max_plug}")


class ModbusChargerSim:
    """The charger's registers and the EV's battery, independent of the network."""

    def __init__(
        self, config: ModbusSimConfig, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """Power up: user control, autostart on, no idle timeout, the EV plugged in or not."""
        self.config = config
        self.model: ChargerModel = MODELS[config.model]
        self.clock = clock
        self.battery = BatteryModel(
            capacity_kwh=config.capacity_kwh,
            soc_pct=config.soc_pct,
            min_soc_pct=config.min_soc_pct,
            max_soc_pct=config.max_soc_pct,
        )
        model = self.model
        self.max_power_w = config.max_power_w or model.max_charge_power_w
        self.registers: dict[int, int] = {}
        self.writes: list[tuple[int, list[int]]] = []
        """Every accepted write request (address, registers), as it came over the wire."""
        self.plugged_in = config.plugged_in
        self.fault = False
        self.power_w = 0.0
        self.energy_charged_wh = 0.0
        self.energy_discharged_wh = 0.0
        self.last_write: datetime | None = None
        self.idle_timeouts = 0
        """How often the idle timeout made the charger leave remote control."""
        self._remote = False  # models without a control register: a controller wrote a setpoint
        self._now = clock()
        self._release()
        identity = (
            (model.firmware, config.firmware, int(config.firmware.split(".")[0])),
            (model.serial_number, f"SIM{config.serial_number}", config.serial_number),
        )
        for register, text, number in identity:
            if register is not None and register.data_type is DataType.STRING:
                self._set_text(register, text)
            elif register is not None:
                self._set(register, number)
        self._publish()

    # --- what a test or the command line looks at -------------------------------------------

    @property
    def remote_control(self) -> bool:
        """Whether a controller has the charger (its control register says remote)."""
        if self.model.take_control:
            control = self.model.take_control[0]
            return self._get(control.register) == control.on
        return self._remote

    @property
    def state_code(self) -> int:
        """The state register as a controller reads it."""
        return int(self._get(self.model.state))

    @property
    def setpoint_w(self) -> float:
        """The setpoint register."""
        return self._get(self.model.setpoint)

    @property
    def idle_timeout_s(self) -> float:
        """The idle timeout the controller wrote (0: none)."""
        return self._get(self.model.idle_timeout)

    def unplug(self) -> None:
        """The driver pulls the plug: the session ends, no power flows."""
        self.step()
        self.plugged_in = False
        self._publish()

    def plug_in(self) -> None:
        """The EV comes back."""
        self.step()
        self.plugged_in = True
        self._publish()

    def set_fault(self, fault: bool) -> None:
        """The charger reports an error (and delivers nothing) until cleared."""
        self.step()
        self.fault = fault
        self._publish()

    # --- Modbus -------------------------------------------------------------------------------

    def read(self, address: int, count: int) -> list[int]:
        """Holding registers as they are now (unused addresses read 0)."""
        self.step()
        return [self.registers.get(address + offset, 0) for offset in range(count)]

    def write(self, address: int, words: list[int]) -> ExcCodes | None:
        """A controller writes: only whole writable values are accepted."""
        self.step()
        targets = self._writable_in(address, len(words))
        if targets is None:
            return ExcCodes.ILLEGAL_ADDRESS
        for register, start in targets:
            value = decode(
                words[start - address : start - address + register.count],
                register.data_type,
                self.model.word_order,
            )
            if register == self.model.idle_timeout and not (
                0 <= float(value) <= self.model.idle_timeout_max_s
            ):
                return ExcCodes.ILLEGAL_VALUE
        self.writes.append((address, list(words)))
        self.last_write = self.clock()
        for register, start in targets:
            self._accept(register, words[start - address : start - address + register.count])
        self._publish()
        return None

    def _writable_in(self, address: int, count: int) -> list[tuple[Register, int]] | None:
        """The writable registers a write covers exactly, or None when it touches anything else."""
        model = self.model
        writable = [model.setpoint, model.idle_timeout]
        writable += [control.register for control in model.take_control]
        if model.action is not None:
            writable.append(model.action)
        covered: set[int] = set()
        targets: list[tuple[Register, int]] = []
        for register in writable:
            start = model.absolute(register, self.config.plug)
            span = set(range(start, start + register.count))
            inside = span & set(range(address, address + count))
            if not inside:
                continue
            if inside != span:
                return None  # half a value
            covered |= span
            targets.append((register, start))
        return targets if covered == set(range(address, address + count)) else None

    def _accept(self, register: Register, words: list[int]) -> None:
        model = self.model
        refuse = self.config.refuse_remote_control
        value = decode(words, register.data_type, model.word_order)
        if model.take_control and register == model.take_control[0].register:
            control = model.take_control[0]
            if value == control.on and refuse:
                _LOGGER.info("Remote control refused")
                return
            if value != control.on:
                self._release()
                return
        if register == model.setpoint and not model.take_control:
            if refuse:
                _LOGGER.info("Setpoint refused (remote control is off)")
                return
            self._remote = True
        address = model.absolute(register, self.config.plug)
        for offset, word in enumerate(words):
            self.registers[address + offset] = word

    def _release(self) -> None:
        """Back to user control; the Wallbox resets autostart, setpoint type and idle timeout."""
        model = self.model
        for control in model.take_control:
            self._set(control.register, _released(control.on))
        self._set(model.idle_timeout, 0)
        self._set(model.setpoint, 0)
        if model.action is not None:
            self._set(model.action, model.action_stop)
        self._remote = False

    # --- physics ------------------------------------------------------------------------------

    def step(self) -> None:
        """Run the battery up to now; let the idle timeout fire when it is due."""
        now = self.clock()
        deadline = self._watchdog_deadline()
        if deadline is not None and deadline <= now:
            self._flow(deadline)
            self.idle_timeouts += 1
            _LOGGER.info("No write for %.0f s: leaving remote control", self.idle_timeout_s)
            self._release()
        self._flow(now)
        self._publish()

    def _watchdog_deadline(self) -> datetime | None:
        timeout_s = self.idle_timeout_s
        if not self.remote_control or timeout_s <= 0 or self.last_write is None:
            return None
        return self.last_write + timedelta(seconds=timeout_s)

    def _target_w(self) -> float:
        """What the charger delivers: the setpoint under full remote control, else nothing."""
        model = self.model
        in_control = all(
            self._get(control.register) == control.on for control in model.take_control
        )
        if not (self.plugged_in and not self.fault and self.remote_control and in_control):
            return 0.0
        if model.action is not None and self._get(model.action) != model.action_start:
            return 0.0
        return min(self.max_power_w, max(-self.max_power_w, self.setpoint_w))

    def _flow(self, until: datetime) -> None:
        duration_s = (until - self._now).total_seconds()
        if duration_s > 0:
            grid_kwh = self.battery.step(self._target_w(), duration_s)
            if grid_kwh >= 0:
                self.energy_charged_wh += grid_kwh * 1000.0
            else:
                self.energy_discharged_wh -= grid_kwh * 1000.0
        self._now = max(self._now, until)

    def _publish(self) -> None:
        """The measured registers, from the physics."""
        model = self.model
        self.power_w = self.battery.max_power_w(self._target_w(), 1.0)
        if self.fault:
            kind = StateKind.FAULT
        elif not self.plugged_in:
            kind = StateKind.DISCONNECTED
        elif self.power_w > _FLOW_THRESHOLD_W:
            kind = StateKind.CHARGING
        elif self.power_w < -_FLOW_THRESHOLD_W:
            kind = StateKind.DISCHARGING
        else:
            kind = StateKind.CONNECTED
        self._set(model.state, model.canonical_code(kind))
        self._set(model.power, round(self.power_w, 1))
        if model.soc is not None:
            flowing = abs(self.power_w) > _FLOW_THRESHOLD_W
            shown = self.plugged_in and (flowing or self.config.soc_when_idle)
            self._set(model.soc, self.battery.soc_pct if shown else 0)
        if model.charge_limit is not None:
            self._set(model.charge_limit, self.max_power_w)
        if model.discharge_limit is not None and model.discharge_limit != model.charge_limit:
            self._set(model.discharge_limit, self.max_power_w if self.plugged_in else 0.0)
        if model.energy_charged is not None:
            self._set(model.energy_charged, self.energy_charged_wh / 1000.0)
        if model.energy_discharged is not None:
            self._set(model.energy_discharged, self.energy_discharged_wh / 1000.0)

    # --- registers ----------------------------------------------------------------------------

    def _get(self, register: Register) -> float:
        address = self.model.absolute(register, self.config.plug)
        words = [self.registers.get(address + offset, 0) for offset in range(register.count)]
        value = decode(words, register.data_type, self.model.word_order)
        if isinstance(value, str):
            raise TypeError("a string register is not a number")
        return float(value) * register.scale

    def _set(self, register: Register, value: float) -> None:
        address = self.model.absolute(register, self.config.plug)
        words = encode(value / register.scale, register.data_type, self.model.word_order)
        for offset, word in enumerate(words):
            self.registers[address + offset] = word

    def _set_text(self, register: Register, text: str) -> None:
        raw = text.encode("ascii")[: register.count * 2].ljust(register.count * 2, b"\x00")
        address = self.model.absolute(register, self.config.plug)
        for offset in range(register.count):
            self.registers[address + offset] = int.from_bytes(raw[2 * offset : 2 * offset + 2])


def _released(on: int) -> int:
    """A control register's value under user control (the Wallbox's flags are 0/1)."""
    return 0 if on else 1


class _SimDevice(ModbusBaseDeviceContext):
    """pymodbus's view of the simulated unit: holding registers only."""

    def __init__(self, sim: ModbusChargerSim) -> None:
        self.sim = sim

    def getValues(
        self, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        if func_code not in _HOLDING_REGISTER_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        return self.sim.read(address, count)

    def setValues(
        self, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        if func_code not in _HOLDING_REGISTER_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        return self.sim.write(address, [int(value) for value in values])


class ModbusSimServer:
    """Serves a `ModbusChargerSim` over Modbus TCP and ticks its physics."""

    def __init__(self, sim: ModbusChargerSim) -> None:
        """Not listening before `start`."""
        self.sim = sim
        config = sim.config
        self.host = config.host
        self.port = config.port if config.port is not None else sim.model.default_port
        self.unit_id = config.unit_id if config.unit_id is not None else sim.model.default_unit_id
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen (on the same port again after a stop: a port of 0 is resolved once)."""
        context = ModbusServerContext(devices={self.unit_id: _SimDevice(self.sim)}, single=False)
        self._server = ModbusTcpServer(context, address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        transport = self._server.transport
        sockets = getattr(transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        _LOGGER.info("%s listening on %s:%s", self.sim.model.model, self.host, self.port)

    async def stop(self) -> None:
        """Close the listener and every connection (the simulated charger keeps its state)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def _tick(self) -> None:
        last = None
        while True:
            self.sim.step()
            summary = (self.sim.state_code, round(self.sim.power_w), self.sim.remote_control)
            if summary != last and self.sim.config.verbose:
                _LOGGER.info(
                    "state %s, power %.0f W, remote control %s, SoC %.1f %%",
                    *summary,
                    self.sim.battery.soc_pct,
                )
            last = summary
            await asyncio.sleep(self.sim.config.tick_s)


async def run(config: ModbusSimConfig, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set."""
    stop = stop or asyncio.Event()
    server = ModbusSimServer(ModbusChargerSim(config))
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop()


def parse_args(argv: Sequence[str] | None = None) -> ModbusSimConfig:
    """Command line -> ModbusSimConfig."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="wallbox_quasar_1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: the model's port (502 or 5020)")
    parser.add_argument("--unit-id", type=int)
    parser.add_argument("--plug", type=int, default=1, help="EVtec connector (1-10)")
    parser.add_argument("--capacity-kwh", type=float, default=60.0)
    parser.add_argument("--soc", type=float, default=40.0, help="initial state of charge, %%")
    parser.add_argument("--max-power-w", type=float, help="default: the model's maximum")
    parser.add_argument("--refuse-remote-control", action="store_true")
    parser.add_argument("--unplugged", action="store_true", help="start without an EV")
    parser.add_argument(
        "--soc-when-idle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="report the SoC while no power flows (the Quasar 1 reports 0 then)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every state change")
    args = parser.parse_args(argv)
    try:
        return ModbusSimConfig(
            model=args.model,
            host=args.host,
            port=args.port,
            unit_id=args.unit_id,
            plug=args.plug,
            capacity_kwh=args.capacity_kwh,
            soc_pct=args.soc,
            max_power_w=args.max_power_w,
            plugged_in=not args.unplugged,
            refuse_remote_control=args.refuse_remote_control,
            soc_when_idle=args.soc_when_idle,
            verbose=args.verbose,
        )
    except ValueError as err:
        parser.error(str(err))


def main(argv: Sequence[str] | None = None) -> None:
    """Run until interrupted."""
    config = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(config))


if __name__ == "__main__":
    main()
