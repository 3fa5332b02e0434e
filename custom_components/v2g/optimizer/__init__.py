"""The V2G optimizer: pure Python on numpy and scipy's HiGHS; imports nothing from Home Assistant.

Build a `Problem` (slot grid from `make_grid`, prices, solar, load, `Vehicle`s, `Site`), call
`solve` (one vehicle or a fleet sharing the site connection), apply ``plan.setpoint_w``.
Baselines take the same Problem and return the same Plan.
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
