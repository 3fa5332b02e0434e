"""The safety net: a controller killed with SIGKILL leaves the charger idle within its timeout."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
import signal
import sys

import pytest

from simulator.modbus_charger import ModbusChargerSim, ModbusSimConfig, ModbusSimServer

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("model", ["wallbox_quasar_1", "evtec_bidipro_10"])
async def test_kill_9_controller_leaves_charger_idle(socket_enabled: None, model: str) -> None:
    sim = ModbusChargerSim(
        ModbusSimConfig(model=model, port=0, tick_s=0.05), lambda: datetime.now(UTC)
    )
    server = ModbusSimServer(sim)
    await server.start()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.chargers.modbus.controller",
        "--model",
        model,
        "--port",
        str(server.port),
        "--idle-timeout",
        "1",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
        assert line.strip() == b"discharging", line
        await wait_for(lambda: sim.power_w < 0 and sim.remote_control, 10)
        assert sim.idle_timeout_s == 1

        process.send_signal(signal.SIGKILL)  # no goodbye: no stop, no control given back
        assert await process.wait() == -signal.SIGKILL

        await wait_for(lambda: not sim.remote_control, 10)
        assert sim.power_w == 0.0
        assert sim.setpoint_w == 0.0
        assert sim.idle_timeouts >= 1
        state = sim.model.states[sim.state_code]
        assert state.plugged_in
        assert state.kind.value == "connected"  # plugged in, nothing flowing
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.stop()
