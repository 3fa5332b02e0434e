"""A real OpenADR 3 VTN (simulator/openadr_vtn.py) on 127.0.0.1 for the VEN's tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from simulator.openadr_vtn import OpenAdrVtn

CLIENT_ID = "garage-ven"
CLIENT_SECRET = "s3cret-of-the-ven"


@pytest.fixture
async def vtn(socket_enabled: None) -> AsyncGenerator[OpenAdrVtn]:
    """A VTN that knows one client, listening on a random port of 127.0.0.1."""
    server = OpenAdrVtn({CLIENT_ID: CLIENT_SECRET})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    """A client session of its own (Home Assistant's shared one in the integration)."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session
