"""How fast an OCPP 2.1 charger with a LocalFrequency profile answers a frequency change.

The integration's OCPP server and station (real websocket on 127.0.0.1) send the simulated
OCPP 2.1 charger (simulator/ocpp_charger.py) a LocalFrequency profile: baseline 0 W and the
default droop (deadband 20 mHz, full response at 200 mHz) for 8 kW each way. The charger measures
the frequency every `--step` seconds (100 ms by default, in real time) and reports its power at
once when it moved. The frequency it measures is switched N times between 49.85 and 50.15 Hz
(each a real response) and the latency is measured from the switch to:

- the charger's power following the curve (the charger's own response: what the grid sees);
- the central system (the integration's station) seeing that power in a MeterValues message.

No round trip through Home Assistant is involved: once the profile is there the charger answers
alone; Home Assistant only re-sends the profile when the plan's baseline or the curve changes.
Compare with benchmarks/frequency_latency.py (the software loop: sensor state change -> applied
setpoint), which also depends on how often the frequency sensor itself updates. Product classes
(ENTSO-E / Nordic activation times): FFR full in 0.7-1.3 s, FCR-D 50 % within 5 s and 100 %
within 30 s, FCR-N full within about 3 minutes.

    .venv/bin/python benchmarks/frequency_local_latency.py [--changes 100] [--step 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
import json
from pathlib import Path
import statistics
import sys
import time
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from custom_components.v2g.chargers.ocpp import OcppServer, StationOptions  # noqa: E402
from custom_components.v2g.frequency import Droop, curve_power_w, watt_curve  # noqa: E402
from simulator.ocpp_charger import EvSimulation, SimConfig, run_charger  # noqa: E402

PASSWORD = "BenchPassw0rdAbcdEF1"
DROOP = Droop(max_up_w=8_000, max_down_w=8_000)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 2) if ms else float("nan"),
        "p95_ms": round(percentile(ms, 0.95), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


async def _until(condition: Any, within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.0005)


async def run(changes: int, step_s: float) -> dict[str, Any]:
    server = OcppServer(host="127.0.0.1", port=0, max_msg_size=64 * 1024)
    await server.start()
    station = server.register_station("bench", PASSWORD, StationOptions(min_current_a=0.0))
    frequency = [50.0]
    config = SimConfig(
        url=f"ws://127.0.0.1:{server.port}/ocpp/bench",
        identity="bench",
        password=PASSWORD,
        meter_interval_s=5.0,
        frequency_step_s=step_s,
        soc_pct=60.0,
        min_soc_pct=10.0,
    )
    sim = EvSimulation(config, frequency=lambda _at: frequency[0])
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_charger(config, stop, sim))
    at_charger: list[float] = []
    at_central: list[float] = []
    try:
        await _until(lambda: station.capabilities.local_frequency)
        curve = watt_curve(DROOP, DROOP.max_up_w, DROOP.max_down_w)
        await station.async_apply_frequency_response(0.0, curve)
        await _until(sim.follows_curve)
        for n in range(changes):
            value = 49.85 if n % 2 == 0 else 50.15
            expected = curve_power_w(curve, value)
            await asyncio.sleep(step_s * (0.5 + (n * 0.37) % 1.0))  # a random phase
            started = time.perf_counter()
            frequency[0] = value
            await _until(lambda e=expected: abs(sim.power_w - e) < 1.0)
            at_charger.append(time.perf_counter() - started)
            await _until(lambda e=expected: abs(station.state().power_w - e) < 1.0)
            at_central.append(time.perf_counter() - started)
    finally:
        stop.set()
        await task
        await server.stop()
    return {
        "changes": changes,
        "frequency_step_s": step_s,
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "frequency_change_to_charger_power": summary(at_charger),
        "frequency_change_to_power_reported": summary(at_central),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--step", type=float, default=0.1, help="charger's answer period, s")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results" / "frequency_local_latency.json",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.changes, args.step))
    for name in ("frequency_change_to_charger_power", "frequency_change_to_power_reported"):
        r = result[name]
        print(
            f"{name:36s} n={r['count']:4d}  p50 {r['p50_ms']:7.2f} ms  "
            f"p95 {r['p95_ms']:7.2f} ms  max {r['max_ms']:7.2f} ms"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
