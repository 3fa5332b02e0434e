"""The V2G optimizer: pure Python on numpy and scipy's HiGHS; imports nothing from Home Assistant.

Build a `Problem` (slot grid from `make_grid`, prices, solar, load, `Vehicle`s, `Site`), call
`solve` (one vehicle or a fleet sharing the site connection), apply ``plan.setpoint_w``.
Baselines take the same Problem and return the same Plan.

Example (one EV, time-of-use price, from now for 48 hours)::

    now = datetime.now(UTC)
    grid = make_grid(now, now + timedelta(hours=48))  # 15-minute slots, UTC
    hour = grid.starts.astype("datetime64[h]").astype(int) % 24  # UTC hour of each slot
    price = np.where((hour >= 16) & (hour < 20), 0.45, 0.20)
    problem = Problem(
        grid=grid,
        import_price_per_kwh=price,
        export_price_per_kwh=price - 0.10,
        vehicles=(
            Vehicle(
                capacity_kwh=60,
                soc_pct=35,
                target_soc_pct=80,
                departure=now + timedelta(hours=14),
                max_charge_power_w=11_000,
            ),
        ),
        site=Site(import_limit_w=17_000),
    )
    plan = solve(problem)
    apply(plan.setpoint_w)  # signed W: + charge, - discharge
"""

from .baselines import STRATEGIES, charge_now, cheapest_slots, perfect_foresight
from .model import CostBreakdown, Plan, Problem, Site, Tariff, Vehicle, VehiclePlan
from .slots import (
    SlotGrid,
    grid_from_intervals,
    make_grid,
    make_local_day_grid,
    resample,
    to_datetime64,
)
from .solve import SolveOptions, evaluate, penalty_per_kwh, solve, terminal_value_per_kwh

__all__ = [
    "STRATEGIES",
    "CostBreakdown",
    "Plan",
    "Problem",
    "Site",
    "SlotGrid",
    "SolveOptions",
    "Tariff",
    "Vehicle",
    "VehiclePlan",
    "charge_now",
    "cheapest_slots",
    "evaluate",
    "grid_from_intervals",
    "make_grid",
    "make_local_day_grid",
    "penalty_per_kwh",
    "perfect_foresight",
    "resample",
    "solve",
    "terminal_value_per_kwh",
    "to_datetime64",
]
