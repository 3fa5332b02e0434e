"""The VEN's REST client against a real VTN on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from datetime import UTC, datetime, timedelta
import json
import socket
from typing import Any

import aiohttp
import pytest

from custom_components.v2g.openadr import VtnAuthError, VtnClient, VtnCredentials, VtnError
from custom_components.v2g.openadr.client import PAGE_SIZE
from simulator.openadr_vtn import OpenAdrVtn, parse_args, run

from .conftest import CLIENT_ID, CLIENT_SECRET

VEN = ("VEN_NAME", "garage")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _client(session: aiohttp.ClientSession, vtn: OpenAdrVtn, **creds: str | None) -> VtnClient:
    return VtnClient(
        session,
        VtnCredentials(
            vtn.url + "/",
            creds.get("client_id", CLIENT_ID),
            creds.get("client_secret", CLIENT_SECRET),
            creds.get("token_url"),
        ),
    )


async def test_reads_pages_with_one_token(vtn: OpenAdrVtn, session: aiohttp.ClientSession) -> None:
    program = vtn.add_program("prices")
    vtn.add_program("congestion", targets=[{"type": "VEN_NAME", "values": ["barn"]}])
    for hour in range(PAGE_SIZE + 7):
        vtn.add_event(program, [{"id": 0}], eventName=f"hour {hour}")
    vtn.add_event(program, [{"id": 0}], targets=[{"type": "VEN_NAME", "values": ["garage"]}])
    client = _client(session, vtn)
    assert client.base_url == vtn.url
    # Untargeted objects for everyone, targeted ones only when asked for.
    assert [p["programName"] for p in await client.async_programs()] == ["prices"]
    assert len(await client.async_events()) == PAGE_SIZE + 7
    assert len(await client.async_events(VEN)) == PAGE_SIZE + 8
    created = await client.async_create_report(
        {"programID": program["id"], "eventID": "e", "clientName": "garage", "resources": []}
    )
    assert created["objectType"] == "REPORT"
    assert len(vtn.reports) == 1
    # One token for all of it.
    assert vtn.token_requests == 1


async def test_token_renewal(vtn: OpenAdrVtn, session: aiohttp.ClientSession) -> None:
    now = [datetime(2026, 1, 15, 17, tzinfo=UTC)]
    client = VtnClient(
        session,
        VtnCredentials(vtn.url, CLIENT_ID, CLIENT_SECRET, f"{vtn.url}/auth/token"),
        lambda: now[0],
    )
    await client.async_programs()
    # A token the VTN forgot is renewed once, and the request goes through.
    vtn.revoke_tokens()
    await client.async_programs()
    assert vtn.token_requests == 2
    # A token about to expire is renewed before it is used.
    now[0] += timedelta(minutes=59, seconds=30)
    await client.async_programs()
    assert vtn.token_requests == 3


async def test_public_vtn_needs_no_token(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    vtn = OpenAdrVtn()
    await vtn.start()
    try:
        vtn.add_program("public tariff")
        client = _client(session, vtn, client_id=None, client_secret=None)
        assert len(await client.async_programs()) == 1
        assert vtn.token_requests == 0
    finally:
        await vtn.stop()


async def test_failures_are_vtn_errors(vtn: OpenAdrVtn, session: aiohttp.ClientSession) -> None:
    # Wrong secret: the token endpoint's OAuth error, never the secret itself.
    with pytest.raises(VtnAuthError, match="invalid_client") as refused:
        await _client(session, vtn, client_secret="wrong").async_events()
    assert "wrong" not in str(refused.value)
    client = _client(session, vtn)
    vtn.failure = "garbage"
    with pytest.raises(VtnError, match="token: the answer is not JSON"):
        await client.async_events()
    vtn.failure = "down"
    with pytest.raises(VtnError, match="token: HTTP 503"):
        await client.async_events()
    vtn.failure = None
    await client.async_events()
    vtn.failure = "garbage"
    with pytest.raises(VtnError, match="GET /events: the answer is not JSON"):
        await client.async_events()
    vtn.failure = "down"
    with pytest.raises(VtnError, match="GET /events: HTTP 503"):
        await client.async_events()
    vtn.failure = None
    # A report the VTN cannot take.
    with pytest.raises(VtnError, match="POST /reports: HTTP 400"):
        await client.async_create_report({"clientName": "garage"})
    # Nobody listens any more.
    await vtn.stop()
    with pytest.raises(VtnError, match="ClientConnectorError"):
        await client.async_events()
    with pytest.raises(VtnError, match="token: ClientConnectorError"):
        await _client(session, vtn, client_id="other").async_events()


async def test_odd_answers(socket_enabled: None, session: aiohttp.ClientSession) -> None:
    """A VTN that answers JSON, but not what the specification describes."""
    from aiohttp import web

    answers: dict[str, Callable[[], web.Response]] = {}

    async def handler(request: web.Request) -> web.Response:
        return answers[request.path]()  # a response is sent once: made anew each time

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        client = VtnClient(session, VtnCredentials(url, "id", "secret"))
        answers["/auth/token"] = lambda: web.json_response({"token_type": "Bearer"})
        with pytest.raises(VtnError, match="no access_token"):
            await client.async_events()
        # Without a lifetime a token lasts an hour; a 401 answer twice is a refused token.
        answers["/auth/token"] = lambda: web.json_response({"access_token": "t"})
        answers["/events"] = lambda: web.json_response({"title": "Unauthorized"}, status=401)
        with pytest.raises(VtnAuthError, match="HTTP 401, the VEN is not let in"):
            await client.async_events()
        answers["/events"] = lambda: web.json_response({"events": []})
        with pytest.raises(VtnError, match="did not answer a list"):
            await client.async_events()
        answers["/reports"] = lambda: web.json_response({"title": "Conflict"}, status=409)
        assert await client.async_create_report({"id": "r"}) is None
        answers["/auth/token"] = lambda: web.Response(status=500)
        with pytest.raises(VtnError, match="token: HTTP 500"):
            await VtnClient(session, VtnCredentials(url, "id", "secret")).async_events()
        answers["/auth/token"] = lambda: web.Response(status=401, text="no")
        with pytest.raises(VtnAuthError, match="HTTP 401"):
            await VtnClient(session, VtnCredentials(url, "id", "secret")).async_events()
    finally:
        await runner.cleanup()


async def test_the_demo_vtn_from_the_command_line(
    socket_enabled: None, session: aiohttp.ClientSession, tmp_path: Any
) -> None:
    """`python -m simulator.openadr_vtn --demo`: a day of prices and a congestion event."""
    content = tmp_path / "vtn.json"
    content.write_text(
        json.dumps({"programs": [{"id": "p-extra", "programName": "extra"}], "events": []})
    )
    port = _free_port()
    args = parse_args(
        [
            "--port", str(port), "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
            "--ven-name", "garage", "--demo", "--load", str(content),
        ]
    )  # fmt: skip
    task = asyncio.create_task(run(args))
    client = VtnClient(
        session, VtnCredentials(f"http://127.0.0.1:{port}", CLIENT_ID, CLIENT_SECRET)
    )
    try:
        for _ in range(100):
            try:
                programs = await client.async_programs()
                break
            except VtnError:
                await asyncio.sleep(0.05)
        assert sorted(p["programName"] for p in programs) == ["demo-dynamic-prices", "extra"]
        # The demo's events are targeted at the VEN named on the command line.
        assert await client.async_events() == []
        events = await client.async_events(VEN)
        assert [e["eventName"] for e in events] == ["day-ahead prices", "congestion"]
        assert len(events[0]["intervals"][0]["payloads"][0]["values"]) == 24
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
