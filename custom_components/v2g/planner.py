"""Turns the charger's state, the user's settings and the world's inputs into a plan.

Pure functions, no Home Assistant objects: the coordinator calls `build_problem` on the event
loop and `make_plan` in an executor thread (HiGHS releases nothing for the loop to do meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from typing import Any

import numpy as np

from .chargers import Capabilities, ChargerState
from .const import (
    DEFAULT_OPTIONS,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_EXPORT_ALLOWED,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    OPT_MAX_V2G_SOC_PCT,
    OPT_WEAR_COST_PER_KWH,
    Mode,
)
from .optimizer import (
    CostBreakdown,
    Plan,
    Problem,
    Site,
    SlotGrid,
    Vehicle,
    charge_now,
    evaluate,
    make_grid,
    solve,
)

HORIZON = timedelta(hours=48)
SLOT_S = 900


@dataclass(frozen=True, slots=True)
class PlanResult:
    """The optimizer's plan, what "Charge now" would cost on the same inputs, and the grid."""

    plan: Plan
    baseline_cost: float
    """Money "Charge now" would spend over the horizon, terminal energy valued alike."""
    soc_assumed: bool
    """The EV reported no SoC; the plan assumed it is at its reserve."""
    site_cost_without_ev: float
    """The house and solar alone over the horizon: what the site pays anyway."""

    @property
    def cost(self) -> float:
        """What the EV adds to the site's bill over the horizon (import - export + peak charge).

        The house's own consumption is not counted; solar surplus the EV takes counts at the
        feed-in it forgoes. Battery wear is not money paid now; it is part of `savings`.
        """
        return _cash(self.plan.cost) - self.site_cost_without_ev

    @property
    def savings(self) -> float:
        """What the plan saves against "Charge now", both valuing the energy left at the end."""
        return self.baseline_cost - (self.plan.cost.total_cost - self.plan.cost.terminal_value)

    def facts(self) -> dict[str, Any]:
        """What the plan promises, for the plan sensor, the get_plan action and diagnostics."""
        plan = self.plan
        best = plan.best_reachable_soc_pct
        departure = plan.departure_soc_pct
        return {
            "status": plan.status,
            "target_reachable": plan.target_reachable,
            "best_reachable_soc_pct": None if best is None else round(best, 1),
            "departure_soc_pct": None if departure is None else round(departure, 1),
            "soc_assumed": self.soc_assumed,
        }


def _cash(cost: CostBreakdown) -> float:
    """Money that changes hands: import - export revenue + peak charge (no wear)."""
    return cost.import_cost - cost.export_revenue + cost.peak_cost


def planning_grid(now: datetime) -> SlotGrid:
    """15-minute slots over the horizon; the first one runs from now to the next quarter hour.

    Starting at `now` rather than at the quarter's start means the first slot's energy is what
    can really still flow before the next re-plan boundary.
    """
    grid = make_grid(now, now + HORIZON, SLOT_S)
    now_s = np.datetime64(int(now.timestamp()), "s")
    starts = grid.starts.copy()
    durations = grid.durations_s.copy()
    shift = int((now_s - starts[0]).astype(np.int64))
    if 0 < shift < durations[0]:
        starts[0] = now_s
        durations[0] -= shift
    return SlotGrid(starts, durations)


def _option(options: Mapping[str, Any], key: str) -> float:
    return float(options.get(key, DEFAULT_OPTIONS[key]))


def build_problem(
    *,
    state: ChargerState,
    capabilities: Capabilities,
    mode: Mode,
    allow_v2g: bool,
    target_soc_pct: float,
    min_soc_pct: float,
    max_charge_power_w: float,
    max_discharge_power_w: float,
    capacity_kwh: float,
    departure: datetime,
    options: Mapping[str, Any],
    grid: SlotGrid,
    import_price_per_kwh: np.ndarray[Any, np.dtype[np.float64]],
    export_price_per_kwh: np.ndarray[Any, np.dtype[np.float64]],
    solar_w: np.ndarray[Any, np.dtype[np.float64]],
    load_w: np.ndarray[Any, np.dtype[np.float64]],
) -> tuple[Problem, bool]:
    """The optimizer's problem for one EV; returns it and whether the SoC was assumed."""
    soc_assumed = state.soc_pct is None
    soc_pct = min_soc_pct if state.soc_pct is None else state.soc_pct
    v2g = mode is Mode.SMART and allow_v2g and capabilities.bidirectional
    vehicle = Vehicle(
        capacity_kwh=capacity_kwh,
        soc_pct=soc_pct,
        target_soc_pct=target_soc_pct,
        departure=departure,
        min_soc_pct=min_soc_pct,
        # Above the target only energy that costs less than it is worth later gets stored (solar
        # surplus); grid energy bought just to hold it never pays (see optimizer.solve).
        max_soc_pct=max(_option(options, OPT_MAX_V2G_SOC_PCT), target_soc_pct),
        max_charge_power_w=max(0.0, min(max_charge_power_w, state.max_charge_power_w)),
        max_discharge_power_w=(
            max(0.0, min(max_discharge_power_w, state.max_discharge_power_w)) if v2g else 0.0
        ),
        min_charge_power_w=capabilities.min_charge_power_w,
        charge_efficiency=_option(options, OPT_CHARGE_EFFICIENCY_PCT) / 100.0,
        discharge_efficiency=_option(options, OPT_DISCHARGE_EFFICIENCY_PCT) / 100.0,
        wear_cost_per_kwh=_option(options, OPT_WEAR_COST_PER_KWH),
        v2g_allowed=v2g,
    )
    import_limit = _option(options, OPT_GRID_IMPORT_LIMIT_W)
    export_limit = _option(options, OPT_GRID_EXPORT_LIMIT_W)
    site = Site(
        import_limit_w=import_limit if import_limit > 0 else math.inf,
        export_limit_w=export_limit,
        export_allowed=bool(options.get(OPT_EXPORT_ALLOWED, DEFAULT_OPTIONS[OPT_EXPORT_ALLOWED])),
    )
    problem = Problem(
        grid=grid,
        import_price_per_kwh=import_price_per_kwh,
        export_price_per_kwh=export_price_per_kwh,
        vehicles=(vehicle,),
        solar_power_w=solar_w,
        base_load_power_w=load_w,
        site=site,
    )
    return problem, soc_assumed


def make_plan(problem: Problem, soc_assumed: bool) -> PlanResult:
    """Solve, and price "Charge now" on the same inputs (runs in an executor thread)."""
    plan = solve(problem)
    baseline = charge_now(problem)
    idle = np.zeros(len(problem.grid))
    without_ev = evaluate(problem, [idle], [idle], strategy="no_ev").cost
    return PlanResult(
        plan=plan,
        baseline_cost=baseline.cost.total_cost - baseline.cost.terminal_value,
        soc_assumed=soc_assumed,
        site_cost_without_ev=_cash(without_ev),
    )


def schedule(plan: Plan) -> list[dict[str, Any]]:
    """The plan as ApexCharts-friendly points: one {start, power_w, soc_pct} per slot."""
    starts = plan.grid.starts.astype("datetime64[s]").astype(str)
    power = np.round(plan.vehicles[0].power_w, 0)
    soc = np.round(plan.vehicles[0].soc_pct, 1)
    return [
        {"start": f"{start}+00:00", "power_w": float(p), "soc_pct": float(s)}
        for start, p, s in zip(starts, power, soc, strict=True)
    ]
