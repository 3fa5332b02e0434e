"""Real-websocket fixtures: an OCPP server on 127.0.0.1 and charge points built on the library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from ocpp.routing import on
from ocpp.v16 import (
    ChargePoint as Cp16,
    call as call16,
    call_result as result16,
)
from ocpp.v21 import (
    ChargePoint as Cp21,
    call as call21,
    call_result as result21,
)
from ocpp.v201 import (
    ChargePoint as Cp201,
    call as call201,
    call_result as result201,
)
import pytest

from custom_components.v2g.chargers.ocpp import OcppServer, OcppStation, StationOptions
from custom_components.v2g.chargers.ocpp.base import WebSocketConnection

PASSWORD = "S3cretPassw0rdAbcdEF"
FAST = StationOptions(
    boot_wait_s=0.3,
    response_timeout_s=2.0,
    offline_grace_s=30.0,
    min_current_a=0.0,
)


class FakeClock:
    """A monotonic clock the test moves by hand (grace periods without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def wait_for(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll until `condition()` holds."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling a plain predicate
            await asyncio.sleep(0.01)


@dataclass
class Recorder:
    """What a test charge point received, and how it answers."""

    profiles: list[dict[str, Any]] = field(default_factory=list)
    clears: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)
    policy: Callable[[dict[str, Any]], str] = lambda _payload: "Accepted"
    silent: bool = False
    """Never answer SetChargingProfile."""
    ignore_reads: bool = False
    """Never answer GetConfiguration / GetVariables (and keep answering everything else)."""
    reads: int = 0
    """GetConfiguration / GetVariables requests received."""


class _Reads:
    """Counts configuration reads, and leaves them unanswered when told to."""

    rec: Recorder

    async def _handle_call(self, msg: Any) -> Any:
        if msg.action in ("GetConfiguration", "GetVariables"):
            self.rec.reads += 1
            if self.rec.ignore_reads:
                return None
        return await super()._handle_call(msg)  # type: ignore[misc]


class Charger16(_Reads, Cp16):
    """An OCPP 1.6 charge point (the library validates what it receives)."""

    rec: Recorder

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> Any:
        self.rec.profiles.append(payload)
        if self.rec.silent:
            await asyncio.sleep(3600)
        return result16.SetChargingProfile(status=self.rec.policy(payload))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **payload: Any) -> Any:
        self.rec.clears.append(payload)
        return result16.ClearChargingProfile(status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, **payload: Any) -> Any:
        return result16.GetConfiguration(
            configuration_key=[
                {"key": key, "readonly": True, "value": value}
                for key, value in self.rec.config.items()
            ]
        )


class _Charger2x:
    rec: Recorder
    _result: Any

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> Any:
        self.rec.profiles.append(payload)
        if self.rec.silent:
            await asyncio.sleep(3600)
        return self._result.SetChargingProfile(status=self.rec.policy(payload))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **payload: Any) -> Any:
        self.rec.clears.append(payload)
        return self._result.ClearChargingProfile(status="Accepted")

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in get_variable_data:
            key = f"{item['component']['name']}.{item['variable']['name']}"
            value = self.rec.config.get(key)
            result = {
                "attribute_status": "Accepted" if value is not None else "UnknownVariable",
                "component": item["component"],
                "variable": item["variable"],
            }
            if value is not None:
                result["attribute_value"] = value
            results.append(result)
        return self._result.GetVariables(get_variable_result=results)


class Charger201(_Reads, _Charger2x, Cp201):
    """An OCPP 2.0.1 charging station."""

    _result = result201


class Charger21(_Reads, _Charger2x, Cp21):
    """An OCPP 2.1 charging station."""

    _result = result21


CHARGERS: dict[str, type[Any]] = {
    "ocpp1.6": Charger16,
    "ocpp2.0.1": Charger201,
    "ocpp2.1": Charger21,
}
CALLS: dict[str, Any] = {"ocpp1.6": call16, "ocpp2.0.1": call201, "ocpp2.1": call21}


@dataclass
class Client:
    """One connected test charge point."""

    identity: str
    protocol: str
    ws: aiohttp.ClientWebSocketResponse
    cp: Any
    rec: Recorder
    task: asyncio.Task[Any]

    @property
    def call(self) -> Any:
        return CALLS[self.protocol]

    async def boot(self) -> None:
        """BootNotification in the client's protocol."""
        if self.protocol == "ocpp1.6":
            payload = call16.BootNotification(
                charge_point_vendor="TestVendor", charge_point_model="T1"
            )
        else:
            payload = self.call.BootNotification(
                charging_station={"vendor_name": "TestVendor", "model": "T2"},
                reason="PowerUp",
            )
        response = await self.cp.call(payload)
        assert response.status == "Accepted"

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


type Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
def clock() -> FakeClock:
    """The server's (and its stations') clock."""
    return FakeClock()


@pytest.fixture
async def server(socket_enabled: None, clock: FakeClock) -> AsyncGenerator[OcppServer]:
    """A started server on a free port of 127.0.0.1 (connections stay limited to 127.0.0.1)."""
    srv = OcppServer(host="127.0.0.1", port=0, max_msg_size=64 * 1024, clock=clock)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def http() -> AsyncGenerator[aiohttp.ClientSession]:
    """An HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def connect(server: OcppServer, http: aiohttp.ClientSession) -> AsyncGenerator[Connect]:
    """Connect (and boot) test charge points; all are closed at the end."""
    clients: list[Client] = []

    async def _connect(
        identity: str,
        protocol: str = "ocpp2.1",
        *,
        password: str = PASSWORD,
        config: dict[str, str] | None = None,
        boot: bool = True,
        offer: tuple[str, ...] | None = None,
        rec: Recorder | None = None,
    ) -> Client:
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/ocpp/{identity}",
            protocols=offer or (protocol,),
            auth=aiohttp.BasicAuth(identity, password),
            autoclose=True,
        )
        rec = rec or Recorder(config=dict(config or {}))
        cp = CHARGERS[protocol](identity, WebSocketConnection(ws, identity), response_timeout=3)
        cp.rec = rec
        task = asyncio.get_running_loop().create_task(cp.start())
        client = Client(identity, protocol, ws, cp, rec, task)
        clients.append(client)
        if boot:
            await client.boot()
        return client

    yield _connect
    for client in clients:
        await client.close()


def register(server: OcppServer, identity: str, **options: Any) -> OcppStation:
    """Register a station with fast test timings."""
    base = {
        "boot_wait_s": FAST.boot_wait_s,
        "response_timeout_s": FAST.response_timeout_s,
        "offline_grace_s": FAST.offline_grace_s,
        "min_current_a": 0.0,
    }
    base.update(options)
    return server.register_station(identity, PASSWORD, StationOptions(**base))
