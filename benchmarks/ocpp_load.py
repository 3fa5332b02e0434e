"""Load and fuzz test of the OCPP central system, on the loopback interface only.

Run from the repository root:

    .venv/bin/python benchmarks/ocpp_load.py            # full: ~2-3 min
    .venv/bin/python benchmarks/ocpp_load.py --quick    # < 1 min

The server (OcppServer with 100 registered stations) runs in this process; the chargers run in a
child process (this script with --client), written against raw aiohttp websockets and
hand-written OCPP-J frames, so the server is measured alone (RSS) and the client shares no code
with it. Three phases, all bounded in count and time:

1. meter values: 100 chargers (1.6, 2.0.1 and 2.1) connect, boot and send MeterValues every
   second for 60 s, while the server applies a setpoint to every station every 10 s. Each
   station's energy register encodes its index, each setpoint its index: a value or a command
   that reaches the wrong station counts as misrouted.
2. reconnect storm: all 100 chargers drop and reconnect at once, 10 times.
3. fuzz: 10,000 frames on authenticated sessions: malformed JSON, wrong types, huge values,
   absurd multipliers, unknown actions and message types, stray results, control characters,
   SEND frames, oversized frames; every session must still answer a Heartbeat afterwards.

Printed and written to ``benchmarks/results/ocpp_load.json``: accept latency p50/p99, message
loss, misrouting, RSS before/after, log lines written. Nothing is asserted: it is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
import gc
import json
import logging
import os
from pathlib import Path
import platform
import random
import sys
import time
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from custom_components.v2g.chargers.ocpp import (  # noqa: E402
    OcppServer,
    OcppStation,
    StationOptions,
)

PASSWORD = "LoadTestPassw0rd1234"
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
OUT = REPO / "benchmarks" / "results" / "ocpp_load.json"
SETPOINT_BASES_W = (4_000, 6_000)
"""Setpoints are a base plus the station's index: the charger can tell whether it was meant."""


@dataclass(frozen=True)
class Plan:
    """What one run does (full or quick)."""

    stations: int = 100
    meter_s: float = 60.0
    meter_interval_s: float = 1.0
    setpoint_every_s: float = 10.0
    storm_rounds: int = 10
    fuzz_frames: int = 10_000
    fuzz_sessions: int = 20
    seed: int = 2026


QUICK = Plan(meter_s=10.0, setpoint_every_s=5.0, storm_rounds=3, fuzz_frames=2_000)
LIMITS = {"meter_s": 600.0, "storm_rounds": 100, "fuzz_frames": 100_000}
"""The most a run may be asked to do (it stays bounded in time and count)."""


def identity(index: int) -> str:
    return f"load-{index:03d}"


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # noqa: PLC0415

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the chargers (child process) -------------------------------------------------------------


@dataclass
class ClientStats:
    """What the chargers saw."""

    accept_ms: list[float] = field(default_factory=list)
    connect_failures: int = 0
    meter_sent: int = 0
    meter_acked: int = 0
    replies_misrouted: int = 0
    setpoints_received: int = 0
    setpoints_misrouted: int = 0
    storm_connects: int = 0
    fuzz_sent: int = 0
    fuzz_by_category: dict[str, int] = field(default_factory=dict)
    fuzz_answers: dict[str, int] = field(default_factory=dict)
    """Replies to fuzz frames: 'result' or the CallError code."""
    fuzz_sessions_alive: int = 0
    fuzz_sessions_closed: dict[str, int] = field(default_factory=dict)


class Charger:
    """One charger on a raw websocket: answers the server's requests, sends its own."""

    def __init__(
        self, index: int, url: str, stats: ClientStats, protocol: str, *, fuzzing: bool = False
    ) -> None:
        self.index = index
        self.fuzzing = fuzzing
        self.identity = identity(index)
        self.url = f"{url}/{self.identity}"
        self.stats = stats
        self.protocol = protocol
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._seq = 0
        self.energy_wh = index * 1_000_000  # the station index, readable from any value

    async def connect(self, http: aiohttp.ClientSession) -> None:
        started = time.perf_counter()
        self.ws = await http.ws_connect(
            self.url,
            protocols=(self.protocol,),
            auth=aiohttp.BasicAuth(self.identity, PASSWORD),
            max_msg_size=0,
        )
        self.stats.accept_ms.append((time.perf_counter() - started) * 1000)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def closed(self, timeout_s: float = 10.0) -> None:
        """Wait until the server has closed the connection."""
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._reader)

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame[0] == 2:
                await self._answer(frame)
            elif (future := self._waiting.pop(str(frame[1]), None)) is not None:
                future.set_result(frame)
            elif self.fuzzing:
                answer = "result" if frame[0] == 3 else str(frame[2])
                self.stats.fuzz_answers[answer] = self.stats.fuzz_answers.get(answer, 0) + 1
            else:  # an answer to a request this charger never sent
                self.stats.replies_misrouted += 1

    async def _answer(self, frame: list[Any]) -> None:
        assert self.ws is not None
        message_id, action, payload = frame[1], frame[2], frame[3]
        result: dict[str, Any]
        if action == "GetVariables":
            result = {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": "W" if item["variable"]["name"] == "RateUnit" else "3",
                        "component": item["component"],
                        "variable": item["variable"],
                    }
                    for item in payload["getVariableData"]
                ]
            }
        elif action == "GetConfiguration":
            result = {
                "configurationKey": [
                    {
                        "key": "ChargingScheduleAllowedChargingRateUnit",
                        "readonly": True,
                        "value": "Power",
                    }
                ]
            }
        elif action == "SetChargingProfile":
            self.stats.setpoints_received += 1
            profile = payload.get("csChargingProfiles") or payload.get("chargingProfile")
            schedule = profile["chargingSchedule"]
            schedule = schedule[0] if isinstance(schedule, list) else schedule
            limit = schedule["chargingSchedulePeriod"][0].get("limit", 0)
            if round(float(limit)) - self.index not in SETPOINT_BASES_W:
                self.stats.setpoints_misrouted += 1
            result = {"status": "Accepted"}
        elif action == "ClearChargingProfile":
            result = {"status": "Accepted"}
        else:
            await self.ws.send_str(json.dumps([4, message_id, "NotImplemented", "", {}]))
            return
        await self.ws.send_str(json.dumps([3, message_id, result]))

    async def request(self, action: str, payload: dict[str, Any], timeout_s: float = 10) -> Any:
        assert self.ws is not None
        self._seq += 1
        message_id = f"{self.index}-{self._seq}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self.ws.send_str(json.dumps([2, message_id, action, payload]))
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            self._waiting.pop(message_id, None)

    async def boot(self) -> None:
        if self.protocol == "ocpp1.6":
            await self.request(
                "BootNotification", {"chargePointVendor": "Load", "chargePointModel": "L1"}
            )
            await self.request(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            )
        else:
            await self.request(
                "BootNotification",
                {"chargingStation": {"vendorName": "Load", "model": "L2"}, "reason": "PowerUp"},
            )
            await self.request(
                "StatusNotification",
                {
                    "timestamp": now_iso(),
                    "connectorStatus": "Occupied",
                    "evseId": 1,
                    "connectorId": 1,
                },
            )

    async def meter(self) -> None:
        self.energy_wh += 1
        if self.protocol == "ocpp1.6":
            sample: dict[str, Any] = {"value": str(self.energy_wh), "unit": "Wh"}
            payload: dict[str, Any] = {"connectorId": 1}
        else:
            sample = {"value": self.energy_wh, "unitOfMeasure": {"unit": "Wh"}}
            payload = {"evseId": 1}
        sample["measurand"] = "Energy.Active.Import.Register"
        payload["meterValue"] = [
            {
                "timestamp": now_iso(),
                "sampledValue": [
                    sample,
                    {
                        "value": "7200" if self.protocol == "ocpp1.6" else 7200,
                        "measurand": "Power.Active.Import",
                    },
                ],
            }
        ]
        self.stats.meter_sent += 1
        reply = await self.request("MeterValues", payload)
        if reply[0] == 3:
            self.stats.meter_acked += 1


async def run_meter_phase(chargers: list[Charger], plan: Plan) -> None:
    async def one(charger: Charger) -> None:
        await asyncio.sleep(random.random() * plan.meter_interval_s)  # spread the load
        loop = asyncio.get_running_loop()
        end = loop.time() + plan.meter_s
        while loop.time() < end:
            await charger.meter()
            await asyncio.sleep(plan.meter_interval_s)

    await asyncio.gather(*(one(charger) for charger in chargers))


async def connect_all(http: aiohttp.ClientSession, chargers: list[Charger]) -> None:
    async def one(charger: Charger) -> None:
        try:
            await charger.connect(http)
            await charger.boot()
        except (aiohttp.ClientError, TimeoutError, OSError):
            charger.stats.connect_failures += 1

    await asyncio.gather(*(one(charger) for charger in chargers))


async def run_storm(http: aiohttp.ClientSession, chargers: list[Charger], plan: Plan) -> None:
    for _ in range(plan.storm_rounds):
        await asyncio.gather(*(charger.close() for charger in chargers))
        await connect_all(http, chargers)
        chargers[0].stats.storm_connects += len(chargers)


CONTROL = "\n\r\x1b[31m\u202e\x00"
"""Newline, carriage return, an ANSI colour, a right-to-left override and NUL."""


def _huge_meter_values(rng: random.Random, protocol: str) -> dict[str, Any]:
    """Schema-valid MeterValues with absurd values (1.6: strings; 2.x: multipliers too)."""
    value = rng.choice([1e308, -1e308, 1e306, 5e-324])
    sample: dict[str, Any] = {"measurand": rng.choice(["Power.Active.Import", "SoC"])}
    if protocol == "ocpp1.6":
        sample["value"] = rng.choice([repr(value), "1e999", "-1e999"])
        payload: dict[str, Any] = {"connectorId": 1}
    else:
        sample["value"] = value
        sample["unitOfMeasure"] = {"unit": "W", "multiplier": rng.choice([0, 308, 400, -400])}
        payload = {"evseId": 1}
    payload["meterValue"] = [{"timestamp": now_iso(), "sampledValue": [sample]}]
    return payload


def _fuzz_frame(  # noqa: PLR0911, PLR0912
    category: str, n: int, rng: random.Random, protocol: str
) -> str:
    """One frame of a category; `n` makes message ids unique."""
    if category == "bad json":
        forged = "x\n2026-01-01 00:00:00 ERROR (MainThread) [homeassistant] forged" + CONTROL
        return rng.choice(["{", '[2, "x"', "not json", "[NaN]", "\x00\x01", forged])
    if category == "deep nesting":
        return "[" * 5_000 + "]" * 5_000
    if category == "not an array":
        return rng.choice(["{}", '"text"', "123", "null", "true", "[]"])
    if category == "wrong types":
        return rng.choice(
            [
                f'[2, {n}, "Heartbeat", {{}}]',
                f'[2, "f{n}", 5, {{}}]',
                f'[2, "f{n}", "Heartbeat", []]',
                f'["2", "f{n}", "Heartbeat", {{}}]',
                f'[true, "f{n}", "Heartbeat", {{}}]',
                f'[2.0, "f{n}", "Heartbeat", {{}}]',
                f'[2, "f{n}", "Heartbeat"]',
            ]
        )
    if category == "unknown type":
        return json.dumps([rng.choice([0, 1, 7, 99, -1]), f"f{n}", "Heartbeat", {}])
    if category == "unknown action":
        action = rng.choice(["MakeCoffee", "", "x" * 200, "Boot" + CONTROL + "Notification"])
        return json.dumps([2, f"f{n}", action, {}])
    if category == "huge numbers":
        return json.dumps([2, f"f{n}", "MeterValues", _huge_meter_values(rng, protocol)])
    if category == "too many digits":
        return f'[2, "f{n}", "Heartbeat", {{"x": {"9" * 5_000}}}]'
    if category == "long strings":
        payload = {"vendorId": "v" * rng.randint(100, 40_000), "messageId": "m"}
        return json.dumps([2, f"f{n}", "DataTransfer", payload])
    if category == "stray results":
        return json.dumps([3, f"stray{n}", {"data": "S" * rng.randint(10, 50_000)}])
    if category == "stray errors":
        return json.dumps([4, f"stray{n}", "GenericError", CONTROL, {}])
    if category == "control chars":
        return json.dumps([2, f"f{n}{CONTROL}", "Heartbeat" + CONTROL, {"k" + CONTROL: CONTROL}])
    if category == "schema violations":
        return json.dumps([2, f"f{n}", "BootNotification", {"bogus": CONTROL}])
    if category == "send frames":
        stream = {"id": 1, "pending": 0, "basetime": now_iso(), "data": [{"t": 0, "v": "1"}]}
        return json.dumps([6, f"s{n}", "NotifyPeriodicEventStream", stream])
    if category == "callresulterror":
        return json.dumps([5, f"f{n}", "FormatViolation", "", {}])
    if category == "valid heartbeat":
        return json.dumps([2, f"f{n}", "Heartbeat", {}])
    # "oversized": over the server's 256 KiB limit, the connection is closed (1009)
    return '[2, "big", "DataTransfer", {"vendorId": "' + "a" * 300_000 + '"}]'


FUZZ_WEIGHTS = {
    "bad json": 8,
    "deep nesting": 1,
    "not an array": 6,
    "wrong types": 10,
    "unknown type": 5,
    "unknown action": 8,
    "huge numbers": 8,
    "too many digits": 2,
    "long strings": 6,
    "stray results": 10,
    "stray errors": 6,
    "control chars": 8,
    "schema violations": 6,
    "send frames": 4,
    "callresulterror": 3,
    "valid heartbeat": 8,
    "oversized": 0.2,
}


def fuzz_frames(
    rng: random.Random, count: int, protocol: str, first: int = 0
) -> list[tuple[str, str]]:
    """(category, frame text) pairs; most fit the size limit, a few do not."""
    categories = list(FUZZ_WEIGHTS)
    weights = list(FUZZ_WEIGHTS.values())
    chosen = rng.choices(categories, weights=weights, k=count)
    return [
        (category, _fuzz_frame(category, first + number, rng, protocol))
        for number, category in enumerate(chosen)
    ]


async def run_fuzz(http: aiohttp.ClientSession, url: str, stats: ClientStats, plan: Plan) -> None:
    rng = random.Random(plan.seed)
    per_session = -(-plan.fuzz_frames // plan.fuzz_sessions)
    batches = []
    for number in range(plan.fuzz_sessions):
        count = min(per_session, plan.fuzz_frames - number * per_session)
        protocol = PROTOCOLS[number % len(PROTOCOLS)]
        batches.append(fuzz_frames(rng, max(0, count), protocol, number * per_session))

    async def session(number: int, batch: list[tuple[str, str]]) -> None:
        index = number % plan.stations
        charger = Charger(index, url, stats, PROTOCOLS[number % len(PROTOCOLS)], fuzzing=True)
        await charger.connect(http)
        for category, frame in batch:
            assert charger.ws is not None
            if charger.ws.closed:  # an oversized frame ended the session: come back
                code = str(charger.ws.close_code)
                stats.fuzz_sessions_closed[code] = stats.fuzz_sessions_closed.get(code, 0) + 1
                await charger.close()
                await charger.connect(http)
                assert charger.ws is not None
            stats.fuzz_sent += 1
            stats.fuzz_by_category[category] = stats.fuzz_by_category.get(category, 0) + 1
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await charger.ws.send_str(frame)  # closed under us: reconnects for the next
            if category == "oversized":
                await charger.closed()  # the server closes the connection (1009)
        if charger.ws is None or charger.ws.closed:
            await charger.close()
            await charger.connect(http)
        try:
            reply = await charger.request("Heartbeat", {})
            if reply[0] == 3:
                stats.fuzz_sessions_alive += 1
        except (TimeoutError, ConnectionError):
            pass
        await charger.close()

    await asyncio.gather(*(session(n, batch) for n, batch in enumerate(batches)))


async def client_main(url: str, plan: Plan) -> dict[str, Any]:
    random.seed(plan.seed)
    stats = ClientStats()
    chargers = [
        Charger(index, url, stats, PROTOCOLS[index % len(PROTOCOLS)])
        for index in range(plan.stations)
    ]
    timings: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await connect_all(http, chargers)
        accept_first = list(stats.accept_ms)
        print("phase", "meter", flush=True)  # tells the server to start its setpoints
        await run_meter_phase(chargers, plan)
        timings["meter_s"] = time.perf_counter() - started
        print("phase", "storm", flush=True)
        started = time.perf_counter()
        await run_storm(http, chargers, plan)
        timings["storm_s"] = time.perf_counter() - started
        accept_storm = stats.accept_ms[len(accept_first) :]
        await asyncio.gather(*(charger.close() for charger in chargers))
        print("phase", "fuzz", flush=True)
        started = time.perf_counter()
        await run_fuzz(http, url, stats, plan)
        timings["fuzz_s"] = time.perf_counter() - started
    result = asdict(stats)
    result["accept_ms_first"] = accept_first
    result["accept_ms_storm"] = accept_storm
    result["timings"] = timings
    return result


# --- the server (this process) ----------------------------------------------------------------


class LineCounter(logging.Handler):
    """Counts the log lines (and bytes) the server writes, by level and logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s (%(name)s) %(message)s"))
        self.lines = 0
        self.bytes = 0
        self.by_level: dict[str, int] = {}
        self.by_logger: dict[str, int] = {}
        self.tracebacks = 0
        self.phase = "start"
        self.examples: dict[str, list[str]] = {}
        """The first lines of each phase and level, to show what is written."""

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.lines += text.count("\n") + 1
        self.bytes += len(text) + 1
        self.by_level[record.levelname] = self.by_level.get(record.levelname, 0) + 1
        name = record.name.removeprefix("custom_components.v2g.chargers.")
        self.by_logger[name] = self.by_logger.get(name, 0) + 1
        if record.exc_info:
            self.tracebacks += 1
        examples = self.examples.setdefault(f"{self.phase} {record.levelname}", [])
        if len(examples) < 3:
            examples.append(record.getMessage()[:200])


@dataclass
class ServerStats:
    """What the stations saw."""

    meter_applied: int = 0
    meter_misrouted: int = 0
    setpoints_applied: int = 0
    setpoint_errors: int = 0


def watch(station: OcppStation, index: int, stats: ServerStats) -> None:
    """Count the meter values a station takes, and those that are not its own."""
    original = station.on_meter_values

    def on_meter_values(
        connector_id: int | None, meter_values: list[Any], transaction_id: str | None = None
    ) -> None:
        for meter_value in meter_values:
            for sample in meter_value.get("sampled_value") or ():
                if sample.get("measurand") == "Energy.Active.Import.Register":
                    stats.meter_applied += 1
                    if int(float(sample["value"])) // 1_000_000 != index:
                        stats.meter_misrouted += 1
        original(connector_id, meter_values, transaction_id)

    station.on_meter_values = on_meter_values  # type: ignore[method-assign]


async def apply_setpoints(
    stations: list[OcppStation], stats: ServerStats, plan: Plan, stop: asyncio.Event
) -> None:
    """Every station gets a setpoint that names it (a base + its index), again and again."""
    rounds = 0
    while not stop.is_set():
        base = SETPOINT_BASES_W[rounds % len(SETPOINT_BASES_W)]
        rounds += 1

        async def one(index: int, station: OcppStation, base: float = base) -> None:
            try:
                await station.async_apply_setpoint(base + index)
                stats.setpoints_applied += 1
            except Exception:
                stats.setpoint_errors += 1

        await asyncio.gather(*(one(i, s) for i, s in enumerate(stations) if s.connected))
        try:
            async with asyncio.timeout(plan.setpoint_every_s):
                await stop.wait()
        except TimeoutError:
            pass


async def server_main(plan: Plan, mode: str) -> dict[str, Any]:
    counter = LineCounter()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(counter)
    for noisy in ("ocpp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    gc.collect()
    rss_start = rss_mb()
    server = OcppServer(host="127.0.0.1", port=0)
    options = StationOptions(boot_wait_s=0.5, min_current_a=0.0, deadband_w=0.0)
    stats = ServerStats()
    stations = []
    for index in range(plan.stations):
        station = server.register_station(identity(index), PASSWORD, options)
        watch(station, index, stats)
        stations.append(station)
    await server.start()
    gc.collect()
    rss_before = rss_mb()
    lines_before = counter.lines

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        f"ws://127.0.0.1:{server.port}",
        *(["--quick"] if mode == "quick" else []),
        "--meter-s",
        str(plan.meter_s),
        "--storm-rounds",
        str(plan.storm_rounds),
        "--fuzz-frames",
        str(plan.fuzz_frames),
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,
    )
    assert child.stdout is not None
    stop = asyncio.Event()
    setpoints: asyncio.Task[None] | None = None
    phase_lines: dict[str, int] = {}
    phase = counter.phase = "connect"
    mark = counter.lines
    output = b""
    rss_peak = rss_before
    while line := await child.stdout.readline():
        rss_peak = max(rss_peak, rss_mb())
        if line.startswith(b"phase "):
            phase_lines[phase] = counter.lines - mark
            mark = counter.lines
            phase = line.split()[1].decode()
            counter.phase = phase
            print(f"  ... {phase}", flush=True)
            if phase == "meter":
                setpoints = asyncio.get_running_loop().create_task(
                    apply_setpoints(stations, stats, plan, stop)
                )
            elif phase == "storm":
                stop.set()
        else:
            output += line
    await child.wait()
    phase_lines[phase] = counter.lines - mark
    stop.set()
    if setpoints is not None:
        await setpoints
    client = json.loads(output)
    gc.collect()
    rss_after = rss_mb()
    lines = counter.lines - lines_before
    await server.stop()
    root.removeHandler(counter)

    def latency(values: list[float]) -> dict[str, float | None]:
        return {
            "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99),
            "max_ms": max(values) if values else None,
            "count": len(values),
        }

    accept_all = client["accept_ms_first"] + client["accept_ms_storm"]
    return {
        "mode": mode,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "date": now_iso(),
        "plan": asdict(plan),
        "timings_s": {k: round(v, 1) for k, v in client["timings"].items()},
        "accept_latency": {
            "all": latency(accept_all),
            "first_connect": latency(client["accept_ms_first"]),
            "reconnect_storm": latency(client["accept_ms_storm"]),
        },
        "connect_failures": client["connect_failures"],
        "meter_values": {
            "sent": client["meter_sent"],
            "acknowledged": client["meter_acked"],
            "applied_by_stations": stats.meter_applied,
            "lost": client["meter_sent"] - client["meter_acked"],
        },
        "misrouting": {
            "meter_values_to_wrong_station": stats.meter_misrouted,
            "setpoints_to_wrong_charger": client["setpoints_misrouted"],
            "replies_to_wrong_charger": client["replies_misrouted"],
        },
        "setpoints": {
            "applied": stats.setpoints_applied,
            "errors": stats.setpoint_errors,
            "received_by_chargers": client["setpoints_received"],
        },
        "fuzz": {
            "frames_sent": client["fuzz_sent"],
            "frames_by_category": client["fuzz_by_category"],
            "answers": client["fuzz_answers"],
            "sessions_alive_after": client["fuzz_sessions_alive"],
            "sessions": plan.fuzz_sessions,
            "sessions_closed_by_server": client["fuzz_sessions_closed"],
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "before_load": round(rss_before, 1),
            "peak_sampled": round(rss_peak, 1),
            "after": round(rss_after, 1),
        },
        "log": {
            "lines": lines,
            "bytes": counter.bytes,
            "tracebacks": counter.tracebacks,
            "by_phase": phase_lines,
            "by_level": counter.by_level,
            "by_logger": counter.by_logger,
            "examples": counter.examples,
        },
    }


def report(result: dict[str, Any]) -> None:
    acc = result["accept_latency"]
    meter = result["meter_values"]
    mis = result["misrouting"]
    fuzz = result["fuzz"]
    rss = result["rss_mb"]
    log = result["log"]
    print(f"== OCPP load ({result['mode']}), {result['machine']}")
    print(f"phases (s): {result['timings_s']}")
    for name, values in acc.items():
        print(
            f"accept latency {name:16s} p50 {values['p50_ms']:.1f} ms  p99 {values['p99_ms']:.1f} "
            f"ms  max {values['max_ms']:.1f} ms  ({values['count']} handshakes)"
        )
    print(f"connect failures: {result['connect_failures']}")
    print(
        f"meter values: {meter['sent']} sent, {meter['acknowledged']} answered, "
        f"{meter['applied_by_stations']} taken by stations, loss {meter['lost']}"
    )
    print(
        f"misrouted: {mis['meter_values_to_wrong_station']} meter values, "
        f"{mis['setpoints_to_wrong_charger']} setpoints, {mis['replies_to_wrong_charger']} replies"
    )
    print(f"setpoints: {result['setpoints']}")
    print(
        f"fuzz: {fuzz['frames_sent']} frames, {fuzz['sessions_alive_after']}/{fuzz['sessions']} "
        f"sessions answer a Heartbeat afterwards, closed by the server: "
        f"{fuzz['sessions_closed_by_server']}"
    )
    print(
        f"RSS: {rss['before_load']:.1f} MB before, peak {rss['peak_sampled']:.1f} MB, "
        f"{rss['after']:.1f} MB after"
    )
    print(
        f"log: {log['lines']} lines, {log['bytes']:,} bytes, {log['tracebacks']} tracebacks; "
        f"by phase {log['by_phase']}; by level {log['by_level']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases, < 1 min")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--meter-s", type=float, help="length of the meter-value phase")
    parser.add_argument("--storm-rounds", type=int, help="reconnects of every charger")
    parser.add_argument("--fuzz-frames", type=int, help="fuzzed frames in all")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    overrides = {
        name: value
        for name, value in (
            ("meter_s", args.meter_s),
            ("storm_rounds", args.storm_rounds),
            ("fuzz_frames", args.fuzz_frames),
        )
        if value is not None
    }
    if any(
        value < 0 or value > limit
        for value, limit in zip(
            overrides.values(), (LIMITS[name] for name in overrides), strict=True
        )
    ):
        parser.error(f"bounded run: at most {LIMITS}")
    plan = replace(plan, **overrides)
    if args.client:
        if not args.client.startswith("ws://127.0.0.1:"):
            raise SystemExit("the load client talks to 127.0.0.1 only")
        result = asyncio.run(client_main(args.client, plan))
        print(json.dumps(result), flush=True)
        return
    mode = "quick" if args.quick else "full"
    print(f"OCPP load test ({mode}) on 127.0.0.1")
    result = asyncio.run(server_main(plan, mode))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
