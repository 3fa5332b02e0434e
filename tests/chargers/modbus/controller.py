"""A controller in its own process, for the kill -9 test: takes the charger and discharges.

    python -m tests.chargers.modbus.controller --model wallbox_quasar_1 --port 1502

Prints "discharging" once the setpoint is confirmed, then polls every 0.1 s (which keeps the
charger's idle timeout fed) until it is killed. It loads `chargers/` without the integration's
package `__init__` (which needs Home Assistant): starting is quick, and it shows that the charger
code runs without Home Assistant.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
import sys
import types

_INTEGRATION = types.ModuleType("custom_components.v2g")
_INTEGRATION.__path__ = [str(Path(__file__).resolve().parents[3] / "custom_components" / "v2g")]
sys.modules.setdefault("custom_components.v2g", _INTEGRATION)

from custom_components.v2g.chargers.modbus import (  # noqa: E402 - after the stand-in above
    ModbusCharger,
    ModbusChargerConfig,
)


async def control(model: str, port: int, idle_timeout_s: int, power_w: float) -> None:
    charger = ModbusCharger(
        ModbusChargerConfig(
            host="127.0.0.1", port=port, model=model, idle_timeout_s=idle_timeout_s, timeout_s=2
        ),
        lambda: datetime.now(UTC),
    )
    await charger.async_start()
    await charger.async_apply_setpoint(power_w)
    if "homeassistant" in sys.modules:
        raise SystemExit("chargers/ imported Home Assistant")
    print("discharging", flush=True)
    while True:
        await charger.async_read_state()
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-timeout", type=int, default=1)
    parser.add_argument("--power-w", type=float, default=-3_000.0)
    args = parser.parse_args()
    asyncio.run(control(args.model, args.port, args.idle_timeout, args.power_w))


if __name__ == "__main__":
    main()
