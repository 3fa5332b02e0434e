"""How fast the software droop answers a frequency change, in a real Home Assistant.

Home Assistant runs in this process (its own bootstrap, a temporary config directory, offline),
with one site and two chargers: the simulated one, and a Wallbox Quasar 1 over Modbus TCP played
by simulator/modbus_charger.py on 127.0.0.1. A frequency sensor's state is changed N times
(alternately 49.85 and 50.15 Hz, each a real response) and the latency is measured from the
state-change event to:

- the setpoints being applied by the integration (its own measure, every charger);
- the Quasar's power register holding the new setpoint (read back by the simulator: the moment
  the charger has it).

Prints p50 / p95 / max and writes results/frequency_latency.json. What the figures mean for
balancing products (activation times from ENTSO-E / Nordic rules): FFR needs full activation in
0.7-1.3 s, FCR-D 50 % within 5 s and 100 % within 30 s, FCR-N full within about 3 minutes.

    .venv/bin/python benchmarks/frequency_latency.py [--changes 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homeassistant import bootstrap, runner  # noqa: E402
from homeassistant.config_entries import ConfigEntry  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402

from simulator.modbus_charger import (  # noqa: E402
    ModbusChargerSim,
    ModbusSimConfig,
    ModbusSimServer,
)

FREQUENCY = "sensor.grid_frequency"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def prepare(config_dir: Path) -> None:
    """A configuration directory with this repository's integration (before the loop runs)."""
    (config_dir / "custom_components").mkdir()
    (config_dir / "custom_components" / "v2g").symlink_to(REPO / "custom_components" / "v2g")
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n  time_zone: Europe/Copenhagen\n  currency: EUR\n"
        "logger:\n  default: warning\n"
    )


async def start_home_assistant(config_dir: Path) -> HomeAssistant:
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(config_dir=str(config_dir), skip_pip=True, safe_mode=False)
    )
    if hass is None:
        raise SystemExit("Home Assistant did not start")
    await hass.async_start()
    return hass


async def add_site(hass: HomeAssistant, modbus_port: int) -> ConfigEntry:
    flow = await hass.config_entries.flow.async_init("v2g", context={"source": "user"})
    flow = await hass.config_entries.flow.async_configure(flow["flow_id"], {"name": "Bench"})
    await hass.config_entries.flow.async_configure(flow["flow_id"], {"next_step_id": "simulated"})
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {
            "name": "Sim",
            "max_charge_power_w": 11000,
            "max_discharge_power_w": 11000,
            "capacity_kwh": 60,
        },
    )
    entry: ConfigEntry = result["result"]
    sub = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"), context={"source": "user"}
    )
    await hass.config_entries.subentries.async_configure(sub["flow_id"], {"next_step_id": "modbus"})
    await hass.config_entries.subentries.async_configure(
        sub["flow_id"],
        {
            "model": "wallbox_quasar_1",
            "host": "127.0.0.1",
            "port": modbus_port,
            "plug": 1,
            "idle_timeout_s": 120,
            "max_charge_power_w": 7400,
            "max_discharge_power_w": 7400,
            "capacity_kwh": 40,
        },
    )
    await hass.async_block_till_done()
    hass.config_entries.async_update_entry(
        entry,
        options={
            **entry.options,
            "frequency_sensor": FREQUENCY,
            "frequency_max_up_w": 8000,
            "frequency_max_down_w": 8000,
        },
    )
    await hass.async_block_till_done()
    for charger in entry.runtime_data.chargers.values():
        await entry.runtime_data.coordinator.async_settings_changed(
            charger, allow_v2g=True, mode="off"
        )
    return entry


async def run(changes: int, config_dir: Path) -> dict[str, Any]:
    sim = ModbusChargerSim(ModbusSimConfig(port=0, soc_pct=60.0))
    server = ModbusSimServer(sim)
    await server.start()
    hass = await start_home_assistant(config_dir)
    try:
        entry = await add_site(hass, server.port)
        coordinator = entry.runtime_data.coordinator
        coordinator.frequency_latency_s.clear()
        to_register: list[float] = []
        setpoint_register = sim.model.setpoint.address
        for n in range(changes):
            value = 49.85 if n % 2 == 0 else 50.15
            writes_before = len(sim.writes)
            started = time.perf_counter()
            hass.states.async_set(FREQUENCY, str(value), {"unit_of_measurement": "Hz"})
            deadline = started + 5.0
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.0005)
                if any(addr == setpoint_register for addr, _ in sim.writes[writes_before:]):
                    to_register.append(time.perf_counter() - started)
                    break
            await hass.async_block_till_done()
            await asyncio.sleep(0.05)
        applied = list(coordinator.frequency_latency_s)
    finally:
        await hass.async_stop()
    await server.stop()

    def summary(values: list[float]) -> dict[str, float]:
        ms = [v * 1000 for v in values]
        return {
            "count": len(ms),
            "p50_ms": round(statistics.median(ms), 2) if ms else float("nan"),
            "p95_ms": round(percentile(ms, 0.95), 2) if ms else float("nan"),
            "max_ms": round(max(ms), 2) if ms else float("nan"),
        }

    return {
        "changes": changes,
        "event_to_applied_all_chargers": summary(applied),
        "event_to_quasar_register": summary(to_register),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "frequency_latency.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp))
        result = asyncio.run(run(args.changes, Path(tmp)))
    for name in ("event_to_applied_all_chargers", "event_to_quasar_register"):
        r = result[name]
        print(
            f"{name:34s} n={r['count']:4d}  p50 {r['p50_ms']:7.2f} ms  "
            f"p95 {r['p95_ms']:7.2f} ms  max {r['max_ms']:7.2f} ms"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
