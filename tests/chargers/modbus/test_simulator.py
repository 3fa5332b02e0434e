"""The Modbus charger simulator on its own: registers, physics, watchdog, command line."""

from __future__ import annotations

import asyncio

from pymodbus.constants import ExcCodes
import pytest

from custom_components.v2g.chargers.modbus.registers import StateKind
from simulator.modbus_charger import (
    ModbusChargerSim,
    ModbusSimConfig,
    ModbusSimServer,
    _SimDevice,
    parse_args,
    run,
)

from .conftest import Clock


def quasar(clock: Clock, **options: object) -> ModbusChargerSim:
    return ModbusChargerSim(ModbusSimConfig(model="wallbox_quasar_1", **options), clock)  # type: ignore[arg-type]


def take_control(sim: ModbusChargerSim, timeout_s: int = 10) -> None:
    for address, value in ((81, 1), (82, 0), (83, 1), (88, timeout_s)):
        assert sim.write(address, [value]) is None


def test_powers_up_under_user_control(clock: Clock) -> None:
    sim = quasar(clock)
    assert not sim.remote_control
    assert sim.read(81, 3) == [0, 1, 0]  # user, autostart on, current setpoints
    assert sim.state_code == 4  # plugged in, paused
    assert sim.read(514, 1) == [7_400]
    assert sim.read(1, 3) == [6, 1, 57_920]  # firmware 6, serial 123456 in two words
    # Under user control the setpoint does nothing.
    assert sim.write(260, [65_536 - 3_000]) is None
    assert sim.write(257, [1]) is None
    assert sim.power_w == 0.0


def test_follows_the_setpoint_under_remote_control(clock: Clock) -> None:
    sim = quasar(clock, capacity_kwh=50.0, soc_pct=50.0)
    take_control(sim, timeout_s=0)  # no watchdog
    sim.write(260, [65_536 - 5_000])
    sim.write(257, [1])
    assert sim.state_code == 11
    assert sim.read(526, 1) == [65_536 - 5_000]
    clock.tick(3_600)
    sim.step()
    assert sim.energy_discharged_wh == pytest.approx(5_000.0)
    assert sim.battery.soc_pct == pytest.approx(50 - 5 / 0.92 / 50 * 100)
    assert sim.read(538, 1) == [round(sim.battery.soc_pct)]
    sim.write(257, [2])  # stop
    assert sim.power_w == 0.0
    assert sim.state_code == 4
    sim.write(260, [20_000])
    sim.write(257, [1])
    assert sim.power_w == 7_400.0  # clamped to the charger's maximum


def test_watchdog_releases_at_the_deadline(clock: Clock) -> None:
    sim = quasar(clock)
    take_control(sim, timeout_s=5)
    sim.write(260, [1_000])
    sim.write(257, [1])
    clock.tick(4)
    sim.step()
    assert sim.remote_control
    sim.write(88, [5])  # any write feeds it
    clock.tick(4)
    sim.step()
    assert sim.remote_control
    clock.tick(2)
    sim.step()
    assert not sim.remote_control
    assert sim.read(81, 8) == [0, 1, 0, 0, 0, 0, 0, 0]  # autostart back on, timeout cleared
    assert sim.power_w == 0.0
    # Charged for 9 s (5 s after the last write), not 10.
    assert sim.energy_charged_wh == pytest.approx(1_000 * 9 / 3600)


def test_refuses_remote_control(clock: Clock) -> None:
    sim = quasar(clock, refuse_remote_control=True)
    assert sim.write(81, [1]) is None  # answered, but not taken
    assert sim.read(81, 1) == [0]
    evtec = ModbusChargerSim(
        ModbusSimConfig(model="evtec_bidipro_10", refuse_remote_control=True), clock
    )
    assert evtec.write(186, [0xFFFF, 0xF448]) is None
    assert evtec.read(186, 2) == [0, 0]
    assert not evtec.remote_control


def test_only_whole_writable_values(clock: Clock) -> None:
    sim = ModbusChargerSim(ModbusSimConfig(model="evtec_bidipro_10"), clock)
    assert sim.write(100, [0, 8]) == ExcCodes.ILLEGAL_ADDRESS  # the state is read only
    assert sim.write(186, [0xFFFF]) == ExcCodes.ILLEGAL_ADDRESS  # half an int32
    assert sim.write(42, [0, 601]) == ExcCodes.ILLEGAL_VALUE  # 600 s at most
    assert sim.write(186, [0xFFFF, 0xF448, 0, 1]) is None  # setpoint and action at once
    assert sim.remote_control
    assert sim.power_w == -3_000.0
    assert sim.writes == [(186, [0xFFFF, 0xF448, 0, 1])]


def test_evtec_registers(clock: Clock) -> None:
    sim = ModbusChargerSim(ModbusSimConfig(model="evtec_bidipro_10", plug=3, soc_pct=42.5), clock)
    assert sim.read(300, 2) == [0, 10]  # waiting for the grid
    assert sim.read(312, 2) == [0, 425]  # per mille
    assert sim.read(322, 2) == [0xC61C, 0x4000]  # float32 -10000: discharging offered
    assert bytes.fromhex("".join(f"{w:04x}" for w in sim.read(0, 3))).startswith(b"6.1.0")
    sim.unplug()
    assert sim.read(300, 2) == [0, 1]
    assert sim.read(312, 2) == [0, 0]
    assert sim.read(322, 2) == [0, 0]
    sim.set_fault(True)
    assert sim.model.states[int(sim.state_code)].kind is StateKind.FAULT


def test_device_context_serves_holding_registers_only(clock: Clock) -> None:
    device = _SimDevice(quasar(clock))
    assert device.getValues(4, 537, 1) == ExcCodes.ILLEGAL_FUNCTION
    assert device.setValues(5, 81, [True]) == ExcCodes.ILLEGAL_FUNCTION
    assert device.getValues(3, 537, 1) == [4]
    assert device.setValues(6, 81, [1]) is None


def test_command_line() -> None:
    config = parse_args(
        [
            "--model",
            "evtec_bidipro_10",
            "--port",
            "15020",
            "--plug",
            "2",
            "--soc",
            "55",
            "--capacity-kwh",
            "77",
            "--max-power-w",
            "8000",
            "--refuse-remote-control",
            "--unplugged",
            "--no-soc-when-idle",
        ]
    )
    assert config.model == "evtec_bidipro_10"
    assert (config.port, config.plug, config.soc_pct, config.capacity_kwh) == (15020, 2, 55, 77)
    assert config.max_power_w == 8000
    assert config.refuse_remote_control
    assert not config.plugged_in
    assert not config.soc_when_idle
    assert parse_args([]).model == "wallbox_quasar_1"
    with pytest.raises(SystemExit):
        parse_args(["--model", "evtec_bidipro_10", "--plug", "11"])
    with pytest.raises(ValueError, match="unknown model"):
        ModbusSimConfig(model="nope")


async def test_run_until_stopped(socket_enabled: None) -> None:
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(
        run(ModbusSimConfig(port=0, verbose=True, tick_s=0.01), stop)
    )
    await asyncio.sleep(0.1)
    stop.set()
    async with asyncio.timeout(10):
        await task


async def test_server_restarts_on_the_same_port(socket_enabled: None, clock: Clock) -> None:
    server = ModbusSimServer(quasar(clock, port=0))
    await server.start()
    port = server.port
    await server.stop()
    await server.start()
    assert server.port == port
    await server.stop()
    await server.stop()  # twice is harmless
