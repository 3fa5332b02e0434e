"""The Modbus backend against the simulated chargers over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
import pytest

from custom_components.v2g.chargers import (
    ChargerBackend,
    ChargerStatus,
    ChargerUnavailableError,
    SetpointRejectedError,
)
from custom_components.v2g.chargers.modbus import EVTEC_BIDIPRO_10, WALLBOX_QUASAR_1
from custom_components.v2g.chargers.modbus.base import _number
from custom_components.v2g.chargers.modbus.connection import ModbusConnection
from custom_components.v2g.chargers.modbus.registers import encode

from .conftest import Clock, MakeCharger, StartSim, wait_for

MODELS = ["wallbox_quasar_1", "evtec_bidipro_10"]


@pytest.mark.parametrize("model", MODELS)
async def test_discharge_written_confirmed_and_reported(
    start_sim: StartSim, make_charger: MakeCharger, model: str
) -> None:
    server = await start_sim(model, soc_pct=55.0)
    charger = make_charger(server, idle_timeout_s=90)
    assert isinstance(charger, ChargerBackend)
    assert charger.device_details() is None
    await charger.async_start()
    details = charger.device_details()
    assert details is not None
    assert details.manufacturer == server.sim.model.manufacturer
    assert details.sw_version
    assert details.serial_number

    state = await charger.async_read_state()
    assert state.plugged_in
    assert state.status is ChargerStatus.IDLE
    assert state.soc_pct == pytest.approx(55.0)
    assert not server.sim.remote_control

    await charger.async_apply_setpoint(-3_000.0)
    sim = server.sim
    assert sim.remote_control
    assert sim.idle_timeout_s == 90
    assert sim.setpoint_w == -3_000.0
    assert sim.power_w == -3_000.0
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.DISCHARGING
    assert state.power_w == -3_000.0
    assert state.setpoint_w == -3_000.0
    assert state.extra["state"] in ("discharging", "feeding the grid")
    assert state.extra["remote_control"] is True

    await charger.async_apply_setpoint(2_000.0)
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.CHARGING
    assert sim.power_w == 2_000.0


async def test_quasar_wire_format(start_sim: StartSim, make_charger: MakeCharger) -> None:
    """Remote control, autostart off, power setpoints, idle timeout, 65536 + P, then start."""
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server, idle_timeout_s=120)
    await charger.async_apply_setpoint(-3_000.0)
    assert server.sim.writes == [
        (81, [1]),
        (82, [0]),
        (83, [1]),
        (88, [120]),
        (260, [65_536 - 3_000]),
        (257, [1]),
    ]


async def test_evtec_wire_format_on_plug_2(start_sim: StartSim, make_charger: MakeCharger) -> None:
    """int32 high word first at plug x 100 + offset; the timeout in the charge point block."""
    server = await start_sim("evtec_bidipro_10", plug=2)
    charger = make_charger(server, plug=2, idle_timeout_s=600)
    await charger.async_apply_setpoint(-3_000.0)
    assert server.sim.writes == [(42, [0, 600]), (286, [0xFFFF, 0xF448]), (288, [0, 1])]
    await charger.async_apply_setpoint(0.0)
    assert server.sim.writes[-2:] == [(286, [0, 0]), (288, [0, 0])]
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.IDLE
    assert state.extra["state_code"] == 10


@pytest.mark.parametrize("model", MODELS)
async def test_writes_only_what_changed(
    start_sim: StartSim, make_charger: MakeCharger, model: str
) -> None:
    server = await start_sim(model)
    charger = make_charger(server)
    await charger.async_apply_setpoint(-2_000.0)
    writes = len(server.sim.writes)
    await charger.async_apply_setpoint(-2_000.0)
    await charger.async_read_state()
    assert len(server.sim.writes) == writes  # same setpoint: nothing written
    await charger.async_apply_setpoint(-2_500.0)
    assert len(server.sim.writes) == writes + 1  # the setpoint alone; control is held


async def test_setpoint_clamped_and_small_requests_raised(
    start_sim: StartSim, make_charger: MakeCharger
) -> None:
    server = await start_sim("wallbox_quasar_1", max_power_w=7_400.0)
    charger = make_charger(server, min_charge_power_w=1_380.0, max_discharge_power_w=5_000.0)
    assert charger.capabilities.min_charge_power_w == 1_380.0
    await charger.async_apply_setpoint(20_000.0)
    assert server.sim.setpoint_w == 7_400.0  # the Quasar's maximum
    await charger.async_apply_setpoint(500.0)
    assert server.sim.setpoint_w == 1_380.0  # raised to the minimum, not dropped
    await charger.async_apply_setpoint(0.2)
    assert server.sim.setpoint_w == 1_380.0
    await charger.async_apply_setpoint(-9_000.0)
    assert server.sim.setpoint_w == -5_000.0  # the configured discharge limit
    await charger.async_apply_setpoint(-0.3)
    assert server.sim.setpoint_w == -1.0  # the smallest discharge, not a stop
    await charger.async_apply_setpoint(0.0)
    assert server.sim.setpoint_w == 0.0
    assert server.sim.writes[-1] == (257, [2])  # zero stops


async def test_charger_reported_limits(start_sim: StartSim, make_charger: MakeCharger) -> None:
    # The Quasar's register 514 lowers both limits; the EVtec offers no discharge unplugged.
    server = await start_sim("wallbox_quasar_1", max_power_w=3_680.0)
    charger = make_charger(server)
    state = await charger.async_read_state()
    assert (state.max_charge_power_w, state.max_discharge_power_w) == (3_680.0, 3_680.0)
    await charger.async_apply_setpoint(-7_000.0)
    assert server.sim.setpoint_w == -3_680.0

    evtec = await start_sim("evtec_bidipro_10", plugged_in=False)
    charger = make_charger(evtec)
    state = await charger.async_read_state()
    assert not state.plugged_in
    assert state.status is ChargerStatus.DISCONNECTED
    assert state.max_discharge_power_w == 0.0
    assert state.soc_pct is None
    await charger.async_apply_setpoint(-3_000.0)
    assert evtec.sim.setpoint_w == 0.0  # no discharging offered


@pytest.mark.parametrize("model", MODELS)
async def test_refused_remote_control(
    start_sim: StartSim,
    make_charger: MakeCharger,
    model: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger that will not be steered: SetpointRejectedError; reading still works."""
    caplog.set_level(logging.WARNING)
    server = await start_sim(model, refuse_remote_control=True)
    charger = make_charger(server)
    await charger.async_start()
    expected = "refused remote control" if model == "wallbox_quasar_1" else "reads 0 after writing"
    with pytest.raises(SetpointRejectedError, match=expected):
        await charger.async_apply_setpoint(-3_000.0)
    assert server.sim.power_w == 0.0
    assert charger.diagnostics()["last_rejection"]
    writes = len(server.sim.writes)
    state = await charger.async_read_state()  # tries again, does not raise
    assert state.status is ChargerStatus.IDLE
    assert len(server.sim.writes) > writes
    assert caplog.text.count(expected) == 1  # the same refusal is logged once
    await charger.async_stop()  # logged, not raised: an unload never fails halfway


@pytest.mark.parametrize("model", MODELS)
async def test_idle_timeout_when_writes_stop(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock, model: str
) -> None:
    server = await start_sim(model)
    sim = server.sim
    charger = make_charger(server, idle_timeout_s=2)
    await charger.async_apply_setpoint(-3_000.0)
    assert sim.power_w == -3_000.0
    clock.tick(1.9)
    sim.step()
    assert sim.remote_control  # not yet
    clock.tick(0.2)
    sim.step()  # no write for 2 s: the charger lets go by itself
    assert not sim.remote_control
    assert sim.power_w == 0.0
    assert sim.setpoint_w == 0.0
    assert sim.idle_timeouts == 1
    assert sim.state_code == sim.model.canonical_code(sim.model.states[sim.state_code].kind)
    assert sim.model.states[sim.state_code].plugged_in
    # Energy flowed until the deadline, not beyond.
    assert sim.energy_discharged_wh == pytest.approx(3_000.0 * 2.0 / 3600.0, rel=0.01)

    # Home Assistant is back: the poll sees the charger idle and puts the setpoint back.
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.IDLE
    assert sim.remote_control
    assert sim.power_w == -3_000.0


@pytest.mark.parametrize("model", MODELS)
async def test_polls_keep_the_watchdog_fed(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock, model: str
) -> None:
    server = await start_sim(model)
    charger = make_charger(server, idle_timeout_s=3)
    await charger.async_apply_setpoint(-3_000.0)
    writes = len(server.sim.writes)
    for _ in range(10):  # 10 s of polls every second, the setpoint unchanged
        clock.tick(1.0)
        await charger.async_read_state()
    assert server.sim.remote_control
    assert server.sim.idle_timeouts == 0
    assert server.sim.power_w == -3_000.0
    assert len(server.sim.writes) - writes == 10  # the idle timeout rewritten once a second


async def test_control_taken_in_the_app_is_taken_back(
    start_sim: StartSim, make_charger: MakeCharger
) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server)
    await charger.async_apply_setpoint(-3_000.0)
    assert server.sim.write(81, [0]) is None  # someone gives control to the app
    assert server.sim.power_w == 0.0
    state = await charger.async_read_state()
    assert state.extra["remote_control"] is False
    assert server.sim.remote_control
    assert server.sim.power_w == -3_000.0


@pytest.mark.parametrize("model", MODELS)
async def test_unplug_during_discharge(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock, model: str
) -> None:
    server = await start_sim(model)
    charger = make_charger(server)
    await charger.async_apply_setpoint(-3_000.0)
    await charger.async_read_state()
    clock.tick(30)
    assert (await charger.async_read_state()).status is ChargerStatus.DISCHARGING
    server.sim.unplug()
    state = await charger.async_read_state()
    assert not state.plugged_in
    assert state.status is ChargerStatus.DISCONNECTED
    assert state.power_w == 0.0
    assert state.soc_pct is None
    assert state.energy_discharged_kwh == pytest.approx(0.025, rel=0.02)
    # The EVtec offers no discharging without an EV: the setpoint is clamped to 0 again.
    assert server.sim.setpoint_w == (0.0 if model == "evtec_bidipro_10" else -3_000.0)
    server.sim.plug_in()
    await charger.async_read_state()  # puts the setpoint back once discharging is offered
    clock.tick(30)
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.DISCHARGING


async def test_fault_and_unknown_state(start_sim: StartSim, make_charger: MakeCharger) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server)
    server.sim.set_fault(True)
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.FAULT
    assert state.extra["state"] == "error"
    server.sim.set_fault(False)
    server.sim.registers[537] = 99
    server.sim.step = lambda: None  # type: ignore[method-assign]  # keep the odd code
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.FAULT
    assert state.extra["state"] == "unknown state code 99"


async def test_quasar_soc_of_zero_while_idle(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock
) -> None:
    """The Quasar reads 0 % while no power flows: the last reading of this plug-in is kept."""
    server = await start_sim("wallbox_quasar_1", soc_when_idle=False, soc_pct=50.0)
    charger = make_charger(server, idle_timeout_s=3_600)
    assert (await charger.async_read_state()).soc_pct is None  # never seen yet
    await charger.async_apply_setpoint(3_600.0)
    clock.tick(600)
    charging = await charger.async_read_state()
    assert charging.soc_pct is not None
    assert charging.soc_pct > 50.0
    await charger.async_apply_setpoint(0.0)
    assert (await charger.async_read_state()).soc_pct == charging.soc_pct
    server.sim.unplug()
    await charger.async_read_state()
    server.sim.plug_in()
    assert (await charger.async_read_state()).soc_pct is None  # a new plug-in


async def test_energy_integrated_without_counters(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock
) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server)
    await charger.async_apply_setpoint(3_600.0)
    await charger.async_read_state()
    for _ in range(4):
        clock.tick(30)
        state = await charger.async_read_state()
    assert state.energy_charged_kwh == pytest.approx(0.12)
    await charger.async_apply_setpoint(-3_600.0)
    await charger.async_read_state()
    clock.tick(30)
    state = await charger.async_read_state()
    assert state.energy_discharged_kwh == pytest.approx(0.03)
    clock.tick(3_600)  # a gap too long to integrate over
    state = await charger.async_read_state()
    assert state.energy_discharged_kwh == pytest.approx(0.03)


async def test_evtec_energy_counters_stay_monotonic(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock
) -> None:
    server = await start_sim("evtec_bidipro_10")
    charger = make_charger(server, idle_timeout_s=600)
    await charger.async_apply_setpoint(3_600.0)
    clock.tick(500)
    await charger.async_read_state()
    clock.tick(500)
    state = await charger.async_read_state()
    assert state.energy_charged_kwh == pytest.approx(1.0)
    server.sim.energy_charged_wh = 100.0  # the counter restarts with a new session
    clock.tick(1)
    state = await charger.async_read_state()
    assert state.energy_charged_kwh == pytest.approx(1.0 + 0.101, abs=0.001)


@pytest.mark.parametrize("model", MODELS)
async def test_stop_gives_control_back(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock, model: str
) -> None:
    server = await start_sim(model)
    sim = server.sim
    charger = make_charger(server, idle_timeout_s=5)
    await charger.async_apply_setpoint(-3_000.0)
    writes = len(sim.writes)
    await charger.async_stop()
    assert sim.power_w == 0.0
    assert sim.setpoint_w == 0.0
    assert not sim.remote_control or model == "evtec_bidipro_10"
    stop_writes = sim.writes[writes:]
    setpoint = sim.model.absolute(sim.model.setpoint, 1)
    assert stop_writes[0][0] == setpoint  # the setpoint first, whatever the action does
    if model == "wallbox_quasar_1":
        assert stop_writes == [(260, [0]), (257, [2]), (81, [0])]
        assert sim.idle_timeout_s == 0  # the Quasar resets its own settings
    # Stopped for good: polls neither restore the setpoint nor feed the watchdog.
    writes = len(sim.writes)
    clock.tick(10)
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.IDLE
    assert len(sim.writes) == writes
    # A stop is forced, even when the charger already holds the values.
    await charger.async_stop()
    assert len(sim.writes) > writes


async def test_a_write_the_charger_refuses(
    start_sim: StartSim,
    make_charger: MakeCharger,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_sim("evtec_bidipro_10")
    charger = make_charger(server)
    monkeypatch.setattr(server.sim, "write", lambda address, words: ExcCodes.ILLEGAL_VALUE)
    with pytest.raises(SetpointRejectedError, match="Modbus exception 3"):
        await charger.async_apply_setpoint(1_000.0)
    with caplog.at_level(logging.WARNING):
        await charger.async_stop()  # logged, not raised
    assert "Stopping BiDiPro 10" in caplog.text


async def test_a_control_setting_the_charger_keeps(
    start_sim: StartSim, make_charger: MakeCharger, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server)
    write = server.sim.write

    def no_power_setpoints(address: int, words: list[int]) -> ExcCodes | None:
        return None if address == 83 else write(address, words)

    monkeypatch.setattr(server.sim, "write", no_power_setpoints)
    with pytest.raises(SetpointRejectedError, match="register 83 reads 0 after writing 1"):
        await charger.async_apply_setpoint(1_000.0)


async def test_identity_the_charger_does_not_tell(
    start_sim: StartSim, make_charger: MakeCharger, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_sim("wallbox_quasar_1")
    read = server.sim.read

    def no_identity(address: int, count: int) -> list[int] | ExcCodes:
        return ExcCodes.ILLEGAL_ADDRESS if address < 10 else read(address, count)

    monkeypatch.setattr(server.sim, "read", no_identity)
    charger = make_charger(server)
    await charger.async_start()
    details = charger.device_details()
    assert details is not None
    assert (details.model, details.sw_version, details.serial_number) == ("Quasar 1", None, None)


async def test_a_short_answer_is_a_failure(
    start_sim: StartSim, make_charger: MakeCharger, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_sim("wallbox_quasar_1")
    monkeypatch.setattr(server.sim, "read", lambda address, count: [0] * (count - 1))
    charger = make_charger(server)
    with pytest.raises(ChargerUnavailableError, match="instead of"):
        await charger.async_start()


async def test_wrong_unit_is_unavailable(start_sim: StartSim, make_charger: MakeCharger) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server, unit_id=7)
    with pytest.raises(ChargerUnavailableError, match="refused to read register 537"):
        await charger.async_start()


async def test_connection_loss_and_reconnect(
    start_sim: StartSim, make_charger: MakeCharger, clock: Clock
) -> None:
    server = await start_sim("wallbox_quasar_1")
    charger = make_charger(server, reconnect_min_s=5, reconnect_max_s=20, timeout_s=0.5)
    await charger.async_start()
    await charger.async_apply_setpoint(-3_000.0)
    await server.stop()  # the charger drops off the network
    await wait_for(lambda: not charger.diagnostics()["connection"]["connected"])

    with pytest.raises(ChargerUnavailableError, match="connection refused"):
        await charger.async_read_state()
    with pytest.raises(ChargerUnavailableError, match="next attempt in 5 s"):
        await charger.async_read_state()  # fails at once, without touching the network
    clock.tick(5)
    with pytest.raises(ChargerUnavailableError):
        await charger.async_read_state()  # the charger is still away
    with pytest.raises(ChargerUnavailableError, match="next attempt in 10 s"):
        await charger.async_apply_setpoint(-2_000.0)  # the wait doubles
    diagnostics = charger.diagnostics()["connection"]
    assert not diagnostics["connected"]
    assert diagnostics["failures"] == 2

    await server.start()  # back on the same port
    clock.tick(10)
    state = await charger.async_read_state()
    assert state.status is ChargerStatus.DISCHARGING  # the simulated charger kept its state
    await charger.async_apply_setpoint(-2_000.0)
    assert server.sim.setpoint_w == -2_000.0
    assert charger.diagnostics()["connection"]["failures"] == 0


async def test_a_silent_charger_costs_one_timeout(
    socket_enabled: None, make_charger: MakeCharger
) -> None:
    """A charger that accepts the connection but never answers: unavailable after the timeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await asyncio.sleep(3600)

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    charger = make_charger(port=port, model="wallbox_quasar_1", timeout_s=0.3)
    try:
        async with asyncio.timeout(10):  # a guard against hanging, not a speed check
            with pytest.raises(ChargerUnavailableError, match="no answer for register 537"):
                await charger.async_start()
    finally:
        tcp.close()


async def test_start_fails_when_nothing_listens(
    socket_enabled: None, start_sim: StartSim, make_charger: MakeCharger
) -> None:
    server = await start_sim("evtec_bidipro_10")
    await server.stop()
    charger = make_charger(server)
    with pytest.raises(ChargerUnavailableError, match="unreachable"):
        await charger.async_start()


async def test_release_listener_and_diagnostics(
    start_sim: StartSim, make_charger: MakeCharger
) -> None:
    server = await start_sim("evtec_bidipro_10")
    charger = make_charger(server)
    remove = charger.add_listener(lambda: None)
    remove()
    await charger.async_apply_setpoint(-1_000.0)
    diagnostics = charger.diagnostics()
    assert diagnostics["config"]["model"] == "evtec_bidipro_10"
    assert diagnostics["in_control"] is True
    assert diagnostics["requested_w"] == -1_000.0
    assert diagnostics["connection"]["connected"] is True
    await charger.async_release()
    assert charger.diagnostics()["connection"]["connected"] is False
    assert charger.diagnostics()["in_control"] is False
    # A new request connects again at once.
    assert (await charger.async_read_state()).plugged_in


async def test_connect_errors_are_unavailable(
    make_charger: MakeCharger, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: object) -> bool:
        raise OSError("network unreachable")

    monkeypatch.setattr(AsyncModbusTcpClient, "connect", broken)
    charger = make_charger(port=502, model="wallbox_quasar_1")
    with pytest.raises(ChargerUnavailableError, match="cannot connect: network unreachable"):
        await charger.async_start()


async def test_read_limits() -> None:
    connection = ModbusConnection(
        "127.0.0.1",
        502,
        1,
        clock=Clock(),
        timeout_s=1,
        reconnect_min_s=1,
        reconnect_max_s=2,
    )
    with pytest.raises(ValueError, match="cannot read 126 registers"):
        await connection.read(0, 126)
    with pytest.raises(TypeError, match="not a number"):
        _number("text")


def test_capabilities_follow_table_and_config() -> None:
    from datetime import UTC, datetime

    from custom_components.v2g.chargers.modbus import ModbusCharger, ModbusChargerConfig

    charger = ModbusCharger(
        ModbusChargerConfig(
            host="192.0.2.1",
            model="evtec_bidipro_10",
            max_charge_power_w=0,
            max_discharge_power_w=0,
        ),
        lambda: datetime.now(UTC),
    )
    assert not charger.capabilities.bidirectional
    assert charger._clamp(3_000.0) == 0.0
    assert charger._clamp(-3_000.0) == 0.0
    assert charger.capabilities.reports_soc
    assert EVTEC_BIDIPRO_10.power.data_type.value == "float32"
    assert encode(-1, WALLBOX_QUASAR_1.setpoint.data_type, WALLBOX_QUASAR_1.word_order) == [65535]
