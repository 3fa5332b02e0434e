"""The OCPP server over real websockets: auth, subprotocols, robustness, several chargers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import ipaddress
import json
import logging
from pathlib import Path
import socket
import ssl
import tracemalloc
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pytest
import pytest_socket

from custom_components.v2g.chargers import ChargerUnavailableError
from custom_components.v2g.chargers.ocpp import (
    IDENTITY_PATTERN,
    OcppServer,
    StationEvent,
    build_ssl_context,
    generate_password,
    valid_identity,
)
from custom_components.v2g.chargers.ocpp.limits import UnknownIdentityGate
from custom_components.v2g.chargers.ocpp.server import choose_subprotocol, identity_from_path

from .conftest import PASSWORD, Connect, FakeClock, register, wait_for


async def _handshake(
    http: aiohttp.ClientSession,
    server: OcppServer,
    identity: str,
    auth: aiohttp.BasicAuth | None,
    protocols: tuple[str, ...] = ("ocpp2.1",),
) -> int:
    """The HTTP status the server answers an upgrade request with (101 = accepted)."""
    try:
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/{identity}", protocols=protocols, auth=auth
        )
    except aiohttp.WSServerHandshakeError as err:
        return err.status
    await ws.close()
    return 101


async def _reply(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """The next response from the server (its own requests, e.g. GetVariables, are skipped)."""
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame[0] != 2:
            return list(frame)


async def test_auth_success_and_failures(server: OcppServer, http: aiohttp.ClientSession) -> None:
    unknown: list[tuple[str, str]] = []
    server.on_unknown_identity = lambda identity, remote: unknown.append((identity, remote))
    register(server, "cp1")
    register(server, "cp2")

    assert await _handshake(http, server, "cp1", aiohttp.BasicAuth("cp1", PASSWORD)) == 101
    assert await _handshake(http, server, "cp1", aiohttp.BasicAuth("cp1", "wrong")) == 401
    assert await _handshake(http, server, "cp1", None) == 401
    # A valid password of another charger, or this password under another user name.
    assert await _handshake(http, server, "cp1", aiohttp.BasicAuth("cp2", PASSWORD)) == 401
    assert unknown == []
    assert await _handshake(http, server, "nobody", aiohttp.BasicAuth("nobody", PASSWORD)) == 404
    assert unknown == [("nobody", "127.0.0.1")]

    # 401 carries a challenge; malformed headers are refused the same way.
    url = f"ws://127.0.0.1:{server.port}/cp1"
    for header in ("Basic !!!", "Bearer abc", "Basic " + "Y3Ax"):  # "cp1" without ':'
        async with http.get(url, headers={"Authorization": header}) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_password_never_logged(
    server: OcppServer,
    http: aiohttp.ClientSession,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    station = register(server, "cp1", debug_traffic=True)
    await connect("cp1")
    await wait_for(lambda: station.connected)
    await _handshake(http, server, "cp1", aiohttp.BasicAuth("cp1", "x"))
    assert "BootNotification" in caplog.text  # traffic logging works when asked for...
    assert PASSWORD not in caplog.text  # ...and credentials never show
    assert "Authorization" not in caplog.text
    assert "Y3Ax" not in caplog.text


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (("ocpp1.6",), "ocpp1.6"),
        (("ocpp2.0.1",), "ocpp2.0.1"),
        (("ocpp2.1",), "ocpp2.1"),
        (("ocpp1.6", "ocpp2.0.1", "ocpp2.1"), "ocpp2.1"),
        (("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1"),
    ],
)
async def test_subprotocol_negotiation(
    server: OcppServer, connect: Connect, offered: tuple[str, ...], expected: str
) -> None:
    station = register(server, "cp1")
    client = await connect("cp1", expected, offer=offered)
    assert client.ws.protocol == expected
    await wait_for(lambda: station.boot_info is not None)
    assert station.ocpp_version == expected.removeprefix("ocpp")
    assert station.connected


@pytest.mark.parametrize("offered", ["ocpp1.5", "OCPP1.6", "Ocpp2.0.1", "OCPP2.1"])
async def test_no_common_subprotocol_closes_1002(
    server: OcppServer, http: aiohttp.ClientSession, offered: str
) -> None:
    """No exact match (tokens are case-sensitive): no subprotocol echoed, closed with 1002."""
    station = register(server, "cp1")
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/cp1",
        protocols=(offered,),
        auth=aiohttp.BasicAuth("cp1", PASSWORD),
    )
    assert ws.protocol is None
    msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1002
    assert not station.connected
    assert station.ocpp_version is None  # no session ran
    await ws.close()


def test_helpers() -> None:
    assert choose_subprotocol("ocpp1.6, ocpp2.1") == "ocpp2.1"
    assert choose_subprotocol("ocpp1.5") is None
    assert choose_subprotocol("OCPP1.6, ocpp2.0.1") == "ocpp2.0.1"
    assert choose_subprotocol(None) is None
    assert identity_from_path("ocpp/ws/CP-1/") == "CP-1"
    password = generate_password()
    assert len(password) == 20
    assert password.isalnum()
    assert generate_password() != password
    with pytest.raises(ValueError, match="16 to 40"):
        generate_password(8)
    with pytest.raises(FileNotFoundError):
        build_ssl_context("/nonexistent/cert.pem", "/nonexistent/key.pem")


async def test_url_for_and_registration(server: OcppServer) -> None:
    register(server, "cp*1")
    assert server.url_for("cp*1", "192.168.1.5") == f"ws://192.168.1.5:{server.port}/cp%2A1"
    assert server.url_for("x", "fe80::1").startswith("ws://[fe80::1]:")
    with pytest.raises(ValueError, match="already registered"):
        register(server, "cp*1")
    # ':' splits user name and password in Basic auth: such a charger could never log in.
    for bad in ("a/b", "a:b", "", "cp 1", "x" * 49, "cp\n1"):
        with pytest.raises(ValueError, match="no ':'"):
            register(server, bad)
        assert not valid_identity(bad)
    assert valid_identity("CP-1_a=b+c|d@e.f*")
    assert IDENTITY_PATTERN.pattern.count(":") == 0
    assert set(server.stations) == {"cp*1"}
    await server.unregister_station("cp*1")
    await server.unregister_station("cp*1")  # idempotent
    assert server.get_station("cp*1") is None


async def test_unknown_identity_flood_is_bounded(
    server: OcppServer,
    http: aiohttp.ClientSession,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """300 unknown identities in a burst: a few discovery reports, one summary line."""
    reported: list[str] = []
    server.on_unknown_identity = lambda identity, _remote: reported.append(identity)
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }

    async def knock(identity: str) -> int:
        async with http.get(f"http://127.0.0.1:{server.port}/{identity}", headers=headers) as r:
            return r.status

    statuses = await asyncio.gather(*(knock(f"scan{number}") for number in range(300)))
    assert set(statuses) == {404}
    assert len(reported) == 3  # per source address and window
    assert await knock(reported[0]) == 404
    assert len(reported) == 3  # the same identity is not reported again in the window
    unknown_lines = [r for r in caplog.records if "Unknown charger" in r.getMessage()]
    assert len(unknown_lines) == 3

    clock.advance(601.0)  # the next window: a summary of the last one, and room again
    assert await knock("carport") == 404
    assert reported[-1] == "carport"
    summary = [r.getMessage() for r in caplog.records if "refused in the last" in r.getMessage()]
    assert summary == [
        "297 unknown charger identities from 1 address refused in the last 10 min "
        "(297 connection attempts; at most 10 identities per 10 min are offered for setup)"
    ]


def test_unknown_identity_gate_memory_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    gate = UnknownIdentityGate(logging.getLogger("test"), clock=clock)
    admitted = [gate.admit(f"id{n}", f"10.0.{n // 256}.{n % 256}") for n in range(5_000)]
    assert sum(admitted) == 10  # overall cap per window
    clock.advance(700.0)
    gate.close()
    assert "at least 1,024 unknown charger identities from 1,024 addresses" in caplog.text
    assert "4,990 connection attempts" in caplog.text


async def test_malformed_frames_do_not_take_the_server_down(
    server: OcppServer, http: aiohttp.ClientSession, connect: Connect
) -> None:
    station = register(server, "cp1")
    register(server, "cp2")
    other = await connect("cp2", "ocpp1.6")
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/cp1",
        protocols=("ocpp2.1",),
        auth=aiohttp.BasicAuth("cp1", PASSWORD),
    )
    # OCPP-J 2.x: what is no JSON array (or has no readable message id) gets RpcFrameworkError
    # with message id "-1"; an unknown message type MessageTypeNotSupported.
    expected = {
        "not json": ["-1", "RpcFrameworkError"],
        "[]": ["-1", "RpcFrameworkError"],
        "[2]": ["-1", "RpcFrameworkError"],
        '{"a": 1}': ["-1", "RpcFrameworkError"],
        "[NaN]": ["-1", "RpcFrameworkError"],
        '[2, "x0", "Heartbeat"]': ["x0", "RpcFrameworkError"],
        '[2, "x1", {"unhashable": 1}, {}]': ["x1", "NotImplemented"],  # action is no string
        '[2, "x3", "Heartbeat", []]': ["x3", "FormatViolation"],
        '[9, "x2", "Heartbeat", {}]': ["x2", "MessageTypeNotSupported"],
    }
    for frame, (message_id, code) in expected.items():
        await ws.send_str(frame)
        reply = await _reply(ws)
        assert reply[:3] == [4, message_id, code], frame
    # A response to nothing and a binary frame are dropped without an answer.
    await ws.send_str('[3, "no-such-request", {}]')
    await ws.send_bytes(b"\x00\x01")
    # Schema violation: answered with a CallError, the connection stays up.
    await ws.send_str('[2, "bad", "Heartbeat", {"unexpected": "' + "u" * 40_000 + '"}]')
    reply = await _reply(ws)
    assert reply[:3] == [4, "bad", "FormatViolation"]
    assert len(json.dumps(reply)) < 1_000  # the cause, not the whole frame again
    await ws.send_str('[2, "hb", "Heartbeat", {}]')
    reply = await _reply(ws)
    assert reply[:2] == [3, "hb"]
    assert "currentTime" in reply[2]
    assert station.connected

    # An oversized frame ends that connection only (1009); the server keeps serving.
    await ws.send_str('[2, "big", "Heartbeat", {"x": "' + "a" * 70_000 + '"}]')
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1009
    await wait_for(lambda: not station.connected)
    response = await other.cp.call(other.call.Heartbeat())
    assert response.current_time
    again = await connect("cp1", "ocpp2.1")
    await wait_for(lambda: station.connected)
    await again.cp.call(again.call.Heartbeat())


async def test_v16_bad_frames(server: OcppServer, http: aiohttp.ClientSession) -> None:
    """1.6 has no RpcFrameworkError: unreadable frames are dropped, a broken CALL is refused."""
    register(server, "cp1")
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/cp1",
        protocols=("ocpp1.6",),
        auth=aiohttp.BasicAuth("cp1", PASSWORD),
    )
    for frame in ("not json", "[]", '[9, "x", "Heartbeat", {}]', '[6, "s", "X", {}]'):
        await ws.send_str(frame)
    await ws.send_str('[2, "short", "Heartbeat"]')
    reply = await _reply(ws)
    assert reply[:3] == [4, "short", "ProtocolError"]
    await ws.send_str('[2, "p", "Heartbeat", "payload"]')
    reply = await _reply(ws)
    assert reply[:3] == [4, "p", "FormationViolation"]
    await ws.send_str('[2, "hb", "Heartbeat", {}]')
    reply = await _reply(ws)
    assert reply[:2] == [3, "hb"]
    await ws.close()


async def test_stray_responses_are_dropped_on_receipt(
    server: OcppServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Responses to no request are dropped at once: no memory held, a few log lines."""
    caplog.set_level(logging.INFO)  # frames themselves are logged at DEBUG only
    station = register(server, "cp1", rate_unit="W")
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/cp1",
        protocols=("ocpp2.0.1",),
        auth=aiohttp.BasicAuth("cp1", PASSWORD),
    )
    events: list[StationEvent] = []
    station.add_event_listener(lambda _station, event: events.append(event))
    # The station reads the configuration; answer it, so nothing is pending.
    request = json.loads((await ws.receive(timeout=5)).data)
    assert request[2] == "GetVariables"
    unknown = {
        "attributeStatus": "UnknownVariable",
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": "RateUnit"},
    }
    await ws.send_str(json.dumps([3, request[1], {"getVariableResult": [unknown]}]))
    await wait_for(lambda: StationEvent.CONFIGURED in events)

    filler = "S" * 50_000
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number in range(200):  # 10 MB of responses nobody asked for
            await ws.send_str(json.dumps([3, f"stray{number}", {"data": filler}]))
        await ws.send_str('[2, "hb", "Heartbeat", {}]')  # frames are handled in order
        reply = await _reply(ws)
        assert reply[:2] == [3, "hb"]
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 2_000_000

    # The next request of the station is not disturbed by them.
    task = asyncio.get_running_loop().create_task(station.async_apply_setpoint(4_000.0))
    request = json.loads((await ws.receive(timeout=5)).data)
    assert request[2] == "SetChargingProfile"
    await ws.send_str(json.dumps([3, "stray-late", {"status": "Rejected"}]))
    await ws.send_str(json.dumps([3, request[1], {"status": "Accepted"}]))
    await task
    assert station.state().extra["profile_unit"] == "W"
    dropped = [r for r in caplog.records if "dropped a response" in r.getMessage()]
    assert 1 <= len(dropped) <= 5
    assert all("\n" not in r.getMessage() for r in caplog.records)
    await ws.close()


async def test_v21_send_frames_are_never_answered(
    server: OcppServer, http: aiohttp.ClientSession
) -> None:
    station = register(server, "cp1")
    stream = {
        "id": 1,
        "pending": 0,
        "basetime": "2026-01-01T00:00:00Z",
        "data": [{"t": 0, "v": "7200"}],
    }
    replies = {}
    for protocol in ("ocpp2.1", "ocpp2.0.1"):
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/cp1",
            protocols=(protocol,),
            auth=aiohttp.BasicAuth("cp1", PASSWORD),
        )
        for frame in (
            [6, "s1", "NotifyPeriodicEventStream", stream],
            [6, "s2", "NotifyPeriodicEventStream", {"id": "x"}],  # invalid: dropped too
            [6, "s3", "MakeCoffee", {}],
            [6, "s4", "NotifyPeriodicEventStream"],
            [6, "s5", "NotifyPeriodicEventStream", []],
            [6, "s6", "../../v16/schemas/BootNotification", {}],  # no schema lookup by path
        ):
            await ws.send_str(json.dumps(frame))
        await ws.send_str('[2, "hb", "Heartbeat", {}]')
        replies[protocol] = await _reply(ws)
        if protocol == "ocpp2.1":
            assert station.session is not None
            assert station.session.send_frames_received == 6
        await ws.close()
        await wait_for(lambda: not station.connected)
    assert replies["ocpp2.1"][:2] == [3, "hb"]  # no answer to any SEND came before it
    # 2.0.1 has no SEND: MessageTypeNotSupported.
    assert replies["ocpp2.0.1"][:3] == [4, "s1", "MessageTypeNotSupported"]


async def test_log_lines_are_escaped_and_rate_limited(
    server: OcppServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood of bad frames writes a few escaped warnings and one summary, not one each."""
    caplog.set_level(logging.INFO)
    station = register(server, "cp1")
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/cp1",
        protocols=("ocpp1.6",),
        auth=aiohttp.BasicAuth("cp1", PASSWORD),
    )
    forged = "x\n2026-01-01 00:00:00.000 ERROR (MainThread) [homeassistant.core] forged"
    for _ in range(500):
        await ws.send_str(forged)
        await ws.send_str('[3, "stray", {}]')
    await ws.send_str('[2, "hb", "Heartbeat", {}]')
    assert (await _reply(ws))[:2] == [3, "hb"]
    await ws.close()
    await wait_for(lambda: not station.connected)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 5
    assert all("\n" not in r.getMessage() for r in caplog.records)
    assert any("\\n2026-01-01" in r.getMessage() for r in warnings)
    await server.unregister_station("cp1")  # writes the summary of what was left out
    assert station.diagnostics()["warnings_left_out"] == 995
    summary = caplog.records[-1].getMessage()
    assert "Charger cp1: 995 more warnings left out" in summary
    assert "stray response 498" in summary
    assert "bad frame 497" in summary


async def test_oversized_frame_reconnect_loop_is_bounded(
    server: OcppServer,
    http: aiohttp.ClientSession,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger that sends a frame over the limit, is closed (1009), reconnects and sends it
    again, 30 times: each connection ends alone, the log stays short, the charger gets back in."""
    caplog.set_level(logging.INFO)
    station = register(server, "cp1")
    register(server, "cp2")
    other = await connect("cp2", "ocpp2.1")
    big = '[2, "big", "NotifyReport", {"x": "' + "a" * 70_000 + '"}]'
    for _ in range(30):
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/cp1",
            protocols=("ocpp2.1",),
            auth=aiohttp.BasicAuth("cp1", PASSWORD),
        )
        await ws.send_str(big)
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009
        await ws.close()
        await wait_for(lambda: not station.connected)
    assert (await other.cp.call(other.call.Heartbeat())).current_time
    client = await connect("cp1", "ocpp2.1")
    await wait_for(lambda: station.connected)
    assert (await client.cp.call(client.call.Heartbeat())).current_time

    cp1_lines = [r.getMessage() for r in caplog.records if "cp1" in r.getMessage()]
    too_big = [line for line in cp1_lines if "over the size limit" in line]
    assert 1 <= len(too_big) <= 5  # rate limited per station
    lifecycle = [line for line in cp1_lines if line.startswith("Charger cp1 ")]
    assert len(lifecycle) <= 10  # connected / disconnected, then left out until the summary
    await server.unregister_station("cp1")
    assert "Charger cp1: 52 more connection messages left out" in caplog.text


async def test_unknown_action_gets_not_implemented(
    server: OcppServer, http: aiohttp.ClientSession
) -> None:
    register(server, "cp1")
    for protocol in ("ocpp2.1", "ocpp2.0.1", "ocpp1.6"):
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/cp1",
            protocols=(protocol,),
            auth=aiohttp.BasicAuth("cp1", PASSWORD),
        )
        # A real 2.1 action nobody handles, and one no version knows.
        for unique_id, action in (("u1", "NotifyDERAlarm"), ("u2", "MakeCoffee")):
            await ws.send_str(json.dumps([2, unique_id, action, {}]))
            reply = await _reply(ws)
            assert reply[:3] == [4, unique_id, "NotImplemented"], protocol
        await ws.close()


async def test_skip_schema_validation_option(
    server: OcppServer, http: aiohttp.ClientSession
) -> None:
    strict = register(server, "strict")
    lax = register(server, "lax", skip_schema_validation=True)
    boot = {
        "chargingStation": {"vendorName": "V", "model": "M", "bogus": 1},
        "reason": "PowerUp",
    }
    replies = {}
    for identity in ("strict", "lax"):
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{server.port}/{identity}",
            protocols=("ocpp2.0.1",),
            auth=aiohttp.BasicAuth(identity, PASSWORD),
        )
        await ws.send_str(json.dumps([2, "b1", "BootNotification", boot]))
        replies[identity] = await _reply(ws)
        await ws.close()
    assert replies["strict"][0] == 4  # FormatViolation
    assert replies["lax"][0] == 3
    assert lax.boot_info is not None
    assert lax.boot_info.vendor == "V"
    assert strict.boot_info is None


async def test_reconnect_keeps_station_and_takeover(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    events: list[StationEvent] = []
    remove = station.add_event_listener(lambda _station, event: events.append(event))
    first = await connect("cp1", "ocpp1.6")
    await wait_for(lambda: station.connected)
    await first.cp.call(
        first.call.MeterValues(
            connector_id=1,
            meter_value=[
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "sampled_value": [
                        {"value": "12345", "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        )
    )
    # A second connection for the same identity replaces the first.
    second = await connect("cp1", "ocpp2.0.1")
    await wait_for(lambda: first.ws.closed)
    assert server.get_station("cp1") is station
    assert station.ocpp_version == "2.0.1"
    assert (await station.async_read_state()).energy_charged_kwh == pytest.approx(12.345)
    await second.close()
    await wait_for(lambda: not station.connected)
    assert StationEvent.DISCONNECTED in events
    # Within the grace period the last state is still reported.
    assert (await station.async_read_state()).energy_charged_kwh == pytest.approx(12.345)
    third = await connect("cp1", "ocpp2.1")
    await wait_for(lambda: station.connected)
    assert server.get_station("cp1") is station
    assert events.count(StationEvent.CONNECTED) == 3
    remove()
    await third.close()


async def test_three_chargers_each_get_their_own_commands(
    server: OcppServer, connect: Connect
) -> None:
    stations = {
        "cp-a": register(server, "cp-a"),
        "cp-b": register(server, "cp-b"),
        "cp-c": register(server, "cp-c"),
    }
    clients = {
        "cp-a": await connect(
            "cp-a", "ocpp1.6", config={"ChargingScheduleAllowedChargingRateUnit": "Power"}
        ),
        "cp-b": await connect("cp-b", "ocpp2.0.1", config={"SmartChargingCtrlr.RateUnit": "W"}),
        "cp-c": await connect("cp-c", "ocpp2.1", config={"SmartChargingCtrlr.RateUnit": "W"}),
    }
    for station in stations.values():
        await wait_for(lambda station=station: station.config.rate_units is not None)
    setpoints = {"cp-a": 4000.0, "cp-b": 5000.0, "cp-c": 6000.0}
    await asyncio.gather(
        *(stations[name].async_apply_setpoint(power) for name, power in setpoints.items())
    )
    for name, client in clients.items():
        assert len(client.rec.profiles) == 1, name
        profile = client.rec.profiles[0]
        if name == "cp-a":
            periods = profile["cs_charging_profiles"]["charging_schedule"][
                "charging_schedule_period"
            ]
        else:
            periods = profile["charging_profile"]["charging_schedule"][0][
                "charging_schedule_period"
            ]
        assert periods[0]["limit"] == setpoints[name]


async def _raw_request(server: OcppServer, data: bytes) -> bytes:
    """Send raw bytes to the server; what it answers until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


async def test_oversized_header_is_refused_quietly(
    server: OcppServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A header over 8,190 bytes: HTTP 400 and one warning line, no error with a traceback."""
    register(server, "cp1")
    request = b"GET /cp1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9_000 + b"\r\n\r\n"
    for _ in range(20):
        answer = await _raw_request(server, request)
        assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(problems) <= 5
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in problems)
    assert "malformed HTTP request from 127.0.0.1" in problems[0].getMessage()


async def test_slow_requests_are_dropped(socket_enabled: None) -> None:
    """A client that never finishes its request is dropped; a charger that did stays."""
    # Long enough for any loopback handshake, short enough for a test.
    server = OcppServer(host="127.0.0.1", port=0, header_timeout_s=1.0)
    station = register(server, "cp1")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(
                f"ws://127.0.0.1:{server.port}/cp1",
                protocols=("ocpp2.0.1",),
                auth=aiohttp.BasicAuth("cp1", PASSWORD),
            )
            # Half a request, then nothing (slowloris): the server closes the connection.
            assert await _raw_request(server, b"GET /cp1 HTTP/1.1\r\nHost: x\r\n") == b""
            # A 404 closes the connection at once instead of keeping it alive.
            answer = await _raw_request(server, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 404")
            assert b"Connection: close" in answer
            # The websocket upgraded before the deadline is not touched by it.
            await ws.send_str('[2, "hb", "Heartbeat", {}]')
            assert (await _reply(ws))[:2] == [3, "hb"]
            assert station.connected
            await ws.close()
    finally:
        await server.stop()


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def test_tls_security_profile_2(socket_enabled: None, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = build_ssl_context(cert, key)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    server = OcppServer(host="127.0.0.1", port=0, ssl_context=context)
    station = register(server, "secure")
    await station.async_start()  # starts the shared server
    assert server.running
    assert server.url_for("secure", "127.0.0.1").startswith("wss://")
    client_context = ssl.create_default_context(cafile=cert)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(
                server.url_for("secure", "127.0.0.1"),
                protocols=("ocpp2.0.1",),
                auth=aiohttp.BasicAuth("secure", PASSWORD),
                ssl=client_context,
            )
            await ws.send_str('[2, "hb", "Heartbeat", {}]')
            reply = await _reply(ws)
            assert reply[:2] == [3, "hb"]
            assert station.connected
            assert station.diagnostics()["ocpp_version"] == "2.0.1"
            assert PASSWORD not in str(station.diagnostics())
            await ws.close()
    finally:
        await server.stop()
    assert not server.running


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


async def _heartbeat(url: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, protocols=("ocpp2.1",), auth=aiohttp.BasicAuth("cp1", PASSWORD)) as ws,
    ):
        await ws.send_str('[2, "hb", "Heartbeat", {}]')
        reply = await _reply(ws)
        return str(reply[2]["currentTime"])


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_listens_on_ipv6_loopback(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test harness lets sockets connect to 127.0.0.1 only; this test talks to ::1 as well.
    monkeypatch.setattr(socket.socket, "connect", socket.socket.connect)
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"])
    server = OcppServer(host="::1", port=0)
    station = register(server, "cp1")
    await server.start()
    try:
        url = server.url_for("cp1", "::1")
        assert url == f"ws://[::1]:{server.port}/cp1"
        assert await _heartbeat(url)
        assert station.remote == "::1"
    finally:
        await server.stop()


async def test_listens_on_all_ipv4_interfaces(socket_enabled: None) -> None:
    server = OcppServer(host="0.0.0.0", port=0)
    station = register(server, "cp1")
    await server.start()
    try:
        assert await _heartbeat(f"ws://127.0.0.1:{server.port}/cp1")  # reached via loopback
        assert station.remote == "127.0.0.1"
    finally:
        await server.stop()


async def test_port_in_use_makes_start_fail(server: OcppServer) -> None:
    other = OcppServer(host="127.0.0.1", port=server.port)
    station = register(other, "cp1")
    with pytest.raises(ChargerUnavailableError, match="cannot listen"):
        await station.async_start()
    assert not other.running
    await other.stop()


async def test_unregister_closes_the_connection(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp1.6")
    await wait_for(lambda: station.connected)
    await server.unregister_station("cp1")
    await wait_for(lambda: not station.connected)
    # The charge point sees the close (or fails writing its last answer into it).
    await wait_for(lambda: client.ws.closed or client.task.done())
    station.set_debug_traffic(True)
    assert station.options.debug_traffic
