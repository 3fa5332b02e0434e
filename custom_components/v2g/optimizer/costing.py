"""What a plan costs: money, battery wear, penalties for shortfalls and the energy left over.

`evaluate` turns per-vehicle charge and discharge schedules into a `Plan` (SoC, grid flows and a
`CostBreakdown`). The optimizer's answer and every baseline are costed by it, so strategies are
compared on the same terms. The two valuation rules the optimizer's objective shares with it live
here too: `terminal_value_per_kwh` (a kWh left at the horizon end) and `penalty_per_kwh` (a kWh
short of a reserve or a departure target).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .bounds import VehicleData, export_limit_kw, vehicles_data
from .capacity import horizon_charge
from .model import CostBreakdown, FloatArray, Plan, Problem, VehiclePlan, vehicle_bounds_w

__all__ = [
    "SITE_MUST_WEIGHT",
    "care_of",
    "dispatch_costs",
    "evaluate",
    "evaluate_data",
    "penalty_per_kwh",
    "prefer_penalty_per_kwh",
    "reserve_keep_value_per_kw_h",
    "terminal_value_per_kwh",
    "with_kept_reserve",
]

SITE_MUST_WEIGHT = 10.0
"""A kWh by which the site misses a `must` dispatch costs this many times `penalty_per_kwh`:
the dispatch comes before a departure target (a dispatch that would cost a reachable target is
refused before it starts; this keeps one that was accepted when things change)."""

PREFER_SHARE = 0.01
"""A kWh away from a `prefer` dispatch costs this share of `penalty_per_kwh`: ten times the
most a kWh can earn or cost, so it beats arbitrage, and yields to targets and the reserve."""


RESERVE_KEEP_SHARE = 0.01
"""An unpriced frequency offer: a kW kept for an hour is worth this share of `penalty_per_kwh`,
ten times the most a kWh can earn or cost (so it beats arbitrage) and a hundredth of a kWh
short of the driver's target or reserve (so it yields to them)."""


def reserve_keep_value_per_kw_h(problem: Problem) -> float:
    """Value per kW and hour that keeps an unpriced frequency offer (see `RESERVE_KEEP_SHARE`)."""
    return RESERVE_KEEP_SHARE * penalty_per_kwh(problem)


def with_kept_reserve(problem: Problem, plan: Plan, up_w: FloatArray, down_w: FloatArray) -> Plan:
    """``plan`` keeping this frequency response available (W per slot, each way), and its value.

    The value: the offer's price per kW and hour on the mean of the two directions
    (`ReserveOffer`).
    """
    offer = problem.reserve_offer
    assert offer is not None
    kw_h = problem.grid.durations_h * (up_w + down_w) / 2000.0
    value = float(np.sum(offer.price_per_kw_h * kw_h))
    return replace(
        plan,
        reserve_up_w=up_w,
        reserve_down_w=down_w,
        cost=replace(plan.cost, reserve_value=value),
    )


def terminal_value_per_kwh(problem: Problem) -> float:
    """Value of one kWh stored in a battery at the horizon end.

    ``Problem.terminal_value_per_kwh`` if set, else the lowest import price of the horizon
    (floored at 0). That is conservative: buying energy only to hold it never pays
    (``p / eta_c + wear > min p``), and a battery is only emptied before the horizon end when an
    export price beats the cheapest import price of the horizon after losses and wear.
    """
    if problem.terminal_value_per_kwh is not None:
        return float(problem.terminal_value_per_kwh)
    return max(0.0, float(problem.import_price_per_kwh.min()))


def penalty_per_kwh(problem: Problem) -> float:
    """Penalty per kWh of shortfall below a reserve or departure target (soft constraints).

    1000 times the most a kWh could cost (price, wear both ways, the peak charge of a kWh in the
    shortest slot), after losses: so a shortfall only remains when it cannot be avoided.
    """
    prices = max(
        float(np.abs(problem.import_price_per_kwh).max()),
        float(np.abs(problem.export_price_per_kwh).max()),
        0.01,
    )
    wear = max((v.wear_cost_per_kwh for v in problem.vehicles), default=0.0)
    eta = min((v.charge_efficiency * v.discharge_efficiency for v in problem.vehicles), default=1)
    # A kWh more in a slot of h hours raises the peak by 1 / h kW (slots under 5 min count as 5
    # min: a shortened first slot must not blow the penalty up by orders of magnitude).
    shortest_h = max(float(problem.grid.durations_h.min()), 1.0 / 12.0)
    capacity = problem.site.capacity_price_per_kw / shortest_h
    if problem.site.capacity_tariff is not None:
        capacity += problem.site.capacity_tariff.max_price_per_kwh()
    return 1000.0 * (prices + 2.0 * wear + capacity) / eta


def prefer_penalty_per_kwh(problem: Problem) -> float:
    """Penalty per kWh of deviation from a `prefer` dispatch (see `PREFER_SHARE`)."""
    return PREFER_SHARE * penalty_per_kwh(problem)


def dispatch_costs(
    problem: Problem, data: list[VehicleData], powers_kw: list[FloatArray], net_kw: FloatArray
) -> tuple[float, float]:
    """(penalty, unmet kWh) of the vehicles' signed powers and the site's net grid power.

    The penalty prices deviations from `prefer` dispatches and the site's misses of its `must`
    bounds, as the formulation does; the unmet energy counts every miss of a `must` bound
    (vehicles where they are plugged in, and the site).
    """
    h = problem.grid.durations_h
    n = h.shape[0]
    prefer = prefer_penalty_per_kwh(problem)
    penalty = 0.0
    unmet = 0.0
    for vd, power in zip(data, powers_kw, strict=True):
        floor_w, ceiling_w, _ = vehicle_bounds_w(vd.vehicle, n)
        if vd.preferred_kw.shape[0]:
            wanted = vd.preferred_kw
            deviation = np.where(np.isnan(wanted), 0.0, np.abs(power - np.nan_to_num(wanted)))
            penalty += prefer * float(np.sum(h * deviation))
        below = np.clip(floor_w / 1000.0 - power, 0.0, None)
        above = np.clip(power - ceiling_w / 1000.0, 0.0, None)
        unmet += float(np.sum(np.where(vd.available, h * (below + above), 0.0)))
    site_floor = problem.grid_floor / 1000.0
    site_ceiling = problem.grid_ceiling / 1000.0
    missed = np.clip(site_floor - net_kw, 0.0, None) + np.clip(net_kw - site_ceiling, 0.0, None)
    site_unmet = float(np.sum(h * missed))
    unmet += site_unmet
    penalty += SITE_MUST_WEIGHT * penalty_per_kwh(problem) * site_unmet
    wanted = problem.grid_preferred / 1000.0
    deviation = np.where(np.isnan(wanted), 0.0, np.abs(net_kw - np.nan_to_num(wanted)))
    penalty += prefer * float(np.sum(h * deviation))
    return penalty, unmet


def care_of(vd: VehicleData, stored_kwh: FloatArray, hours: FloatArray) -> tuple[float, float]:
    """Battery care cost and hours above the care threshold of a stored-energy trajectory.

    Both count slots until the departure (the whole horizon without one), by the stored energy
    at each slot's end (the formulation's convention); a Wh above the threshold does not count
    as an hour above it.
    """
    until = vd.care_until
    above = np.clip(stored_kwh - vd.care_kwh, 0.0, None)
    cost = float(np.sum(vd.care_weight * above)) if vd.care else 0.0
    hours_above = float(np.sum(hours[:until][above[:until] > 1e-3]))
    return cost, hours_above


def _peak_cost(problem: Problem, imp_kw: FloatArray) -> float:
    """The horizon's peak charge and what the plan adds to the monthly capacity charges."""
    peak_kw = max(float(imp_kw.max()), problem.site.peak_import_floor_w / 1000.0)
    cost = problem.site.capacity_price_per_kw * peak_kw
    if problem.site.capacity_tariff is not None:
        cost += horizon_charge(problem.site.capacity_tariff, problem.grid, imp_kw)
    return cost


def evaluate(
    problem: Problem,
    charge_power_w: list[FloatArray],
    discharge_power_w: list[FloatArray],
    *,
    strategy: str,
    status: str = "optimal",
    solve_time_s: float = 0.0,
    mip: bool = False,
    grid_import_w: FloatArray | None = None,
    grid_export_w: FloatArray | None = None,
) -> Plan:
    """Cost given per-vehicle charge and discharge schedules into a Plan (SoC, flows, costs).

    Used for the optimizer's answer and for the baselines, so every strategy is costed the same
    way. Without given grid flows, the surplus after the house and vehicles is exported up to the
    export limit when the export price is positive and curtailed (up to the solar power)
    otherwise; whatever is left is exported regardless.
    """
    data = vehicles_data(problem)
    return evaluate_data(
        problem,
        data,
        charge_power_w,
        discharge_power_w,
        strategy=strategy,
        status=status,
        solve_time_s=solve_time_s,
        mip=mip,
        grid_import_w=grid_import_w,
        grid_export_w=grid_export_w,
    )


def evaluate_data(  # noqa: PLR0915
    problem: Problem,
    data: list[VehicleData],
    charge_power_w: list[FloatArray],
    discharge_power_w: list[FloatArray],
    *,
    strategy: str,
    status: str = "optimal",
    solve_time_s: float = 0.0,
    mip: bool = False,
    grid_import_w: FloatArray | None = None,
    grid_export_w: FloatArray | None = None,
) -> Plan:
    """`evaluate` with the vehicles' `VehicleData` already at hand."""
    n = len(problem.grid)
    h = problem.grid.durations_h
    total_c = np.zeros(n)
    total_d = np.zeros(n)
    plans: list[VehiclePlan] = []
    penalty = penalty_per_kwh(problem)
    v_term = terminal_value_per_kwh(problem)
    wear_total = 0.0
    shortfall = 0.0
    terminal = 0.0
    care_total = 0.0
    for vd, c_w, d_w in zip(data, charge_power_w, discharge_power_w, strict=True):
        c = np.asarray(c_w, dtype=np.float64) / 1000.0
        d = np.asarray(d_w, dtype=np.float64) / 1000.0
        total_c += c
        total_d += d
        stored = vd.initial_kwh + np.cumsum(h * (vd.eta_c * c - d / vd.eta_d))
        wear = float(np.sum(h * vd.wear * (c + d)))
        wear_total += wear
        weight = penalty * vd.shortfall_weight
        below = np.clip(vd.reserve_kwh - stored, 0.0, None)
        shortfall += weight * float(np.sum(vd.reserve_hours * below))
        terminal += v_term * float(stored[-1] - vd.initial_kwh)
        care = care_of(vd, stored, h)
        care_total += care[0]
        reachable = True
        best: float | None = None
        dep_soc: float | None = None
        if vd.departure_index:
            at_departure = float(stored[vd.departure_index - 1])
            missing = max(0.0, vd.target_kwh - at_departure)
            shortfall += weight * missing
            reachable = missing <= 1e-3
            dep_soc = at_departure / vd.capacity_kwh * 100.0
            if not reachable:
                best = dep_soc
        plans.append(
            VehiclePlan(
                charge_power_w=c * 1000.0,
                discharge_power_w=d * 1000.0,
                soc_pct=stored / vd.capacity_kwh * 100.0,
                target_reachable=reachable,
                best_reachable_soc_pct=best,
                departure_soc_pct=dep_soc,
                departure_index=vd.departure_index,
                wear_cost=wear,
                full_cycles=float(np.sum(h * (vd.eta_c * c + d / vd.eta_d)))
                / (2.0 * vd.capacity_kwh),
                hours_above_care=care[1],
            )
        )
    net_kw = (problem.load - problem.solar) / 1000.0 + total_c - total_d
    if grid_import_w is None or grid_export_w is None:
        imp = np.clip(net_kw, 0.0, None)
        surplus = np.clip(-net_kw, 0.0, None)
        x_max = export_limit_kw(problem)
        solar_kw = problem.solar / 1000.0
        export_wanted = np.where(problem.export_price_per_kwh > 0, surplus, 0.0)
        exp = np.minimum(export_wanted, x_max)
        curtail = np.minimum(surplus - exp, solar_kw)
        exp = surplus - curtail  # whatever cannot be curtailed must go out
    else:
        imp = grid_import_w / 1000.0
        exp = grid_export_w / 1000.0
        curtail = np.clip(imp - exp - net_kw, 0.0, None)
    dispatch_penalty, unmet = 0.0, 0.0
    if problem.dispatched:
        powers = [plan.power_w / 1000.0 for plan in plans]
        dispatch_penalty, unmet = dispatch_costs(problem, data, powers, imp - exp)
    cost = CostBreakdown(
        import_cost=float(np.sum(h * problem.import_price_per_kwh * imp)),
        export_revenue=float(np.sum(h * problem.export_price_per_kwh * exp)),
        wear_cost=wear_total,
        peak_cost=_peak_cost(problem, imp),
        terminal_value=terminal,
        shortfall_penalty=shortfall,
        dispatch_penalty=dispatch_penalty,
        care_cost=care_total,
    )
    return Plan(
        grid=problem.grid,
        vehicles=tuple(plans),
        grid_import_w=imp * 1000.0,
        grid_export_w=exp * 1000.0,
        curtailed_solar_w=curtail * 1000.0,
        cost=cost,
        status=status,
        solve_time_s=solve_time_s,
        strategy=strategy,
        mip=mip,
        dispatch_unmet_kwh=unmet,
    )
