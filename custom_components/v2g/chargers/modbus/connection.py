"""One Modbus TCP connection per charger, with bounded requests and reconnects with backoff.

Every request is bounded by the timeout: a charger that stops answering (or a network that drops
packets) costs a caller at most `timeout_s`, never more. After a failure the connection is closed
and the next attempt waits, doubling from `reconnect_min_s` up to `reconnect_max_s`; until then
requests fail at once with `ChargerUnavailableError`, so a charger that is away does not slow
every update down. pymodbus's own reconnect and retries are off: this class decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
import logging
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from .. import ChargerUnavailableError

_LOGGER = logging.getLogger(__name__)

MAX_REGISTERS_PER_READ = 125
"""The protocol's limit for one read of holding registers."""


class ModbusExceptionResponse(Exception):
    """The charger answered a request with a Modbus exception (it refused it)."""

    def __init__(self, address: int, code: int) -> None:
        super().__init__(f"Modbus exception {code} for register {address}")
        self.address = address
        self.code = code


class ModbusConnection:
    """A reconnecting Modbus TCP client for one unit of one charger."""

    def __init__(
        self,
        host: str,
        port: int,
        unit_id: int,
        *,
        clock: Callable[[], datetime],
        timeout_s: float,
        reconnect_min_s: float,
        reconnect_max_s: float,
    ) -> None:
        """Nothing connects before the first request."""
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self._clock = clock
        self._timeout_s = timeout_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._client: AsyncModbusTcpClient | None = None
        self._backoff_s = reconnect_min_s
        self._next_attempt: datetime | None = None
        self.failures = 0
        """Consecutive failed requests or connection attempts."""
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        """Whether a TCP connection is open now."""
        return self._client is not None and self._client.connected

    async def read(self, address: int, count: int) -> list[int]:
        """Read `count` holding registers from `address`."""
        if not 1 <= count <= MAX_REGISTERS_PER_READ:
            raise ValueError(f"cannot read {count} registers in one request")
        response = await self._request(
            address,
            lambda client: client.read_holding_registers(
                address, count=count, device_id=self.unit_id
            ),
        )
        registers = list(response.registers)
        if len(registers) != count:
            self._failed(f"{len(registers)} registers instead of {count} from {address}")
            raise ChargerUnavailableError(self._describe())
        return registers

    async def write(self, address: int, words: list[int]) -> None:
        """Write registers: one with function 6, several at once with function 16."""
        if len(words) == 1:
            await self._request(
                address,
                lambda client: client.write_register(address, words[0], device_id=self.unit_id),
            )
        else:
            await self._request(
                address,
                lambda client: client.write_registers(address, words, device_id=self.unit_id),
            )

    def close(self) -> None:
        """Close the connection; the next request connects again (without waiting)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._next_attempt = None
        self._backoff_s = self._reconnect_min_s

    def diagnostics(self) -> dict[str, Any]:
        """Connection facts for a diagnostics download."""
        return {
            "host": self.host,
            "port": self.port,
            "unit_id": self.unit_id,
            "connected": self.connected,
            "failures": self.failures,
            "last_error": self.last_error,
            "next_attempt": self._next_attempt.isoformat() if self._next_attempt else None,
        }

    async def _request(
        self, address: int, send: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        client = await self._connected_client()
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await send(client)
        except (TimeoutError, ModbusException, OSError) as err:
            self._failed(f"no answer for register {address}: {err or type(err).__name__}")
            raise ChargerUnavailableError(self._describe()) from err
        if response.isError():
            raise ModbusExceptionResponse(address, int(getattr(response, "exception_code", 0)))
        if self.failures:
            _LOGGER.info("Modbus charger at %s:%s answers again", self.host, self.port)
        self.failures = 0
        self.last_error = None
        return response

    async def _connected_client(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        now = self._clock()
        if self._next_attempt is not None and now < self._next_attempt:
            wait_s = (self._next_attempt - now).total_seconds()
            raise ChargerUnavailableError(f"{self._describe()}; next attempt in {wait_s:.0f} s")
        if self._client is not None:  # the charger closed the connection
            self._client.close()
            self._client = None
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self._timeout_s,
            retries=0,
            reconnect_delay=0,  # no reconnects behind our back
            name=f"v2g-{self.host}:{self.port}",
        )
        reason = "connection refused"
        try:
            async with asyncio.timeout(self._timeout_s):
                connected = await client.connect()
        except (TimeoutError, ModbusException, OSError) as err:
            connected = False
            reason = f"cannot connect: {err or type(err).__name__}"
        if not connected:
            client.close()
            self._failed(reason)
            raise ChargerUnavailableError(self._describe())
        self._client = client
        self._next_attempt = None
        self._backoff_s = self._reconnect_min_s
        return client

    def _failed(self, reason: str) -> None:
        """Close, remember why, and wait before the next attempt (doubling, capped)."""
        if self.failures == 0:
            _LOGGER.warning("Modbus charger at %s:%s: %s", self.host, self.port, reason)
        self.failures += 1
        self.last_error = reason
        if self._client is not None:
            self._client.close()
            self._client = None
        self._next_attempt = self._clock() + timedelta(seconds=self._backoff_s)
        self._backoff_s = min(self._reconnect_max_s, self._backoff_s * 2)

    def _describe(self) -> str:
        return f"Modbus charger at {self.host}:{self.port} unreachable ({self.last_error})"
