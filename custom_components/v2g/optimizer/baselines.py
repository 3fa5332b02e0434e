"""The strategies the optimizer is compared with, all behind one interface: Problem in, Plan out.

- `charge_now` and `cheapest_slots` (from `heuristics`): what chargers and simple smart-charging
  tools do.
- `perfect_foresight`: the optimizer fed the realised prices and loads instead of forecasts
  (an upper bound on what any forecast-driven strategy can save).
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses

from .heuristics import charge_now, cheapest_slots
from .model import FloatArray, Plan, Problem, SolveOptions
from .solve import solve

__all__ = ["STRATEGIES", "perfect_foresight"]


def perfect_foresight(
    problem: Problem,
    *,
    import_price_per_kwh: FloatArray | None = None,
    export_price_per_kwh: FloatArray | None = None,
    solar_power_w: FloatArray | None = None,
    base_load_power_w: FloatArray | None = None,
    options: SolveOptions | None = None,
) -> Plan:
    """Solve on the realised series (each one given replaces the forecast)."""
    changes: dict[str, FloatArray] = {}
    if import_price_per_kwh is not None:
        changes["import_price_per_kwh"] = import_price_per_kwh
    if export_price_per_kwh is not None:
        changes["export_price_per_kwh"] = export_price_per_kwh
    if solar_power_w is not None:
        changes["solar_power_w"] = solar_power_w
    if base_load_power_w is not None:
        changes["base_load_power_w"] = base_load_power_w
    realised = dataclasses.replace(problem, **changes)  # type: ignore[arg-type]
    plan = solve(realised, options)
    return dataclasses.replace(plan, strategy="perfect_foresight")


STRATEGIES: dict[str, Callable[[Problem], Plan]] = {
    "charge_now": charge_now,
    "cheapest_slots": cheapest_slots,
    "optimal": solve,
}
"""Strategy name -> function (Problem -> Plan), for benchmarks and a strategy selector."""
