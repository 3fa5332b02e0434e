"""Modbus chargers over real TCP on 127.0.0.1: the simulator as charger, our backend as client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.v2g.chargers.modbus import ModbusCharger, ModbusChargerConfig
from simulator.modbus_charger import ModbusChargerSim, ModbusSimConfig, ModbusSimServer

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand, shared by the simulator and the backend."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def wait_for(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll until `condition()` holds (a bound against hanging, not a speed check)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - another task (the network) changes it
            await asyncio.sleep(0.01)


type StartSim = Callable[..., Awaitable[ModbusSimServer]]
type MakeCharger = Callable[..., ModbusCharger]


@pytest.fixture
def clock() -> Clock:
    """The test's clock."""
    return Clock()


@pytest.fixture
async def start_sim(socket_enabled: None, clock: Clock) -> AsyncGenerator[StartSim]:
    """Start simulated chargers on free ports of 127.0.0.1; all are stopped at the end."""
    servers: list[ModbusSimServer] = []

    async def _start(model: str = "wallbox_quasar_1", **options: Any) -> ModbusSimServer:
        config = ModbusSimConfig(model=model, port=0, **options)
        server = ModbusSimServer(ModbusChargerSim(config, clock))
        await server.start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        await server.stop()


@pytest.fixture
async def make_charger(clock: Clock) -> AsyncGenerator[MakeCharger]:
    """Backends with short timeouts on the test's clock; all are released at the end."""
    chargers: list[ModbusCharger] = []

    def _make(server: ModbusSimServer | None = None, **options: Any) -> ModbusCharger:
        settings: dict[str, Any] = {"host": "127.0.0.1", "idle_timeout_s": 60, "timeout_s": 2.0}
        if server is not None:
            settings.update(port=server.port, model=server.sim.model.key)
        settings.update(options)
        charger = ModbusCharger(ModbusChargerConfig(**settings), clock)
        chargers.append(charger)
        return charger

    yield _make
    for charger in chargers:
        await charger.async_release()
