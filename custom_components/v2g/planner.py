"""Turns the chargers' states, the EVs' settings and the site's inputs into one joint plan.

Pure functions, no Home Assistant objects: the coordinator calls `build_problem` on the event
loop and `make_plan` in an executor thread (HiGHS releases nothing for the loop to do meanwhile).
Every plugged-in EV in a Smart mode is one `Vehicle` of one `Problem`: they share the site's grid
connection, so the plan never puts them together above the main fuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .chargers import Capabilities, ChargerState
from .const import (
    CARE_DEFAULTS,
    DEFAULT_OPTIONS,
    OPT_CARE_COST_PER_KWH_H,
    OPT_CARE_SOC_PCT,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_CHARGE_LATE,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_EXPORT_ALLOWED,
    OPT_FINISH_MARGIN_MIN,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMITED,
    OPT_MAX_V2G_SOC_PCT,
    OPT_WEAR_COST_PER_KWH,
    PRIORITY_WEIGHTS,
    Mode,
)
from .frequency import Droop
from .inputs import Inputs
from .inputs.parsers import parse_generic
from .optimizer import (
    CapacityTariff,
    CostBreakdown,
    Plan,
    Problem,
    ReserveOffer,
    Site,
    SlotGrid,
    Vehicle,
    VehiclePlan,
    charge_now,
    evaluate,
    make_grid,
    resample,
    reserve_keep_value_per_kw_h,
    solve,
    terminal_value_per_kwh,
)
from .settings import Settings

HORIZON = timedelta(hours=48)
SLOT_S = 900

type FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class VehicleMoney:
    """One EV's share of the plan's money, and what it saves against "Charge now"."""

    cost: float
    """What the EV adds to the site's bill over the horizon (import minus export it causes)."""
    savings: float
    """Against "Charge now" on the same inputs, both valuing the energy left at the end."""


@dataclass(frozen=True, slots=True)
class PlanResult:
    """The optimizer's joint plan, "Charge now" on the same inputs, and each EV's share.

    `vehicle_ids[i]` names the charger whose EV `plan.vehicles[i]` is.
    """

    plan: Plan
    vehicle_ids: tuple[str, ...]
    baseline_cost: float
    """Money "Charge now" would spend over the horizon, terminal energy valued alike."""
    site_cost_without_ev: float
    """The house and solar alone over the horizon: what the site pays anyway."""
    money: tuple[VehicleMoney, ...]
    soc_assumed: tuple[bool, ...]
    """Per EV: it reported no SoC, the plan assumed it is at its reserve."""
    baseline_import_w: FloatArray | None = None
    """The site's import per slot if every EV charged now (for the capacity cost avoided)."""
    reserve_priced: bool = False
    """The frequency offer was priced by a capacity market (its value is revenue)."""

    @property
    def cost(self) -> float:
        """What the EVs add to the site's bill over the horizon (import - export + peak charge).

        The house's own consumption is not counted; solar surplus the EVs take counts at the
        feed-in it forgoes. Battery wear is not money paid now; it is part of `savings`.
        """
        return cash(self.plan.cost) - self.site_cost_without_ev

    @property
    def savings(self) -> float:
        """What the plan saves against "Charge now", both valuing the energy left at the end."""
        return self.baseline_cost - (self.plan.cost.total_cost - self.plan.cost.terminal_value)

    def index(self, vehicle_id: str) -> int | None:
        """Where a charger's EV is in the plan (None: not planned)."""
        try:
            return self.vehicle_ids.index(vehicle_id)
        except ValueError:
            return None

    def facts(self, index: int | None = None) -> dict[str, Any]:
        """What the plan promises (one EV's when `index` is given), for sensors and actions."""
        plan = self.plan
        facts: dict[str, Any] = {"status": plan.status}
        if index is None:
            return facts | {
                "vehicles": len(self.vehicle_ids),
                "peak_import_w": round(plan.peak_import_w),
                **self._reserve_facts(),
            }
        vehicle = plan.vehicles[index]
        best = vehicle.best_reachable_soc_pct
        departure = vehicle.departure_soc_pct
        return facts | {
            "target_reachable": vehicle.target_reachable,
            "best_reachable_soc_pct": None if best is None else round(best, 1),
            "departure_soc_pct": None if departure is None else round(departure, 1),
            "soc_assumed": self.soc_assumed[index],
            "full_cycles": round(vehicle.full_cycles, 3),
            "hours_above_care_soc": round(vehicle.hours_above_care, 2),
        }

    def _reserve_facts(self) -> dict[str, Any]:
        """The frequency response kept available now, and its capacity revenue over the plan."""
        plan = self.plan
        if plan.reserve_up_w is None or plan.reserve_down_w is None:
            return {}
        revenue = round(plan.cost.reserve_value, 2) if self.reserve_priced else None
        return {
            "frequency_reserve": {
                "up_w": round(float(plan.reserve_up_w[0])),
                "down_w": round(float(plan.reserve_down_w[0])),
                "revenue": revenue,
            }
        }


def cash(cost: CostBreakdown) -> float:
    """Money that changes hands: import - export revenue + peak charge (no wear)."""
    return cost.import_cost - cost.export_revenue + cost.peak_cost


def planning_grid(now: datetime, boundaries: Sequence[datetime] = ()) -> SlotGrid:
    """15-minute slots over the horizon; the first one runs from now to the next quarter hour.

    Starting at `now` rather than at the quarter's start means the first slot's energy is what
    can really still flow before the next re-plan boundary. A slot is split at each of
    `boundaries` (departures): an EV leaving at 20:50 is charged until 20:50, not 20:45.
    """
    grid = make_grid(now, now + HORIZON, SLOT_S)
    starts = grid.starts.astype(np.int64)
    ends = starts + grid.durations_s
    cuts = {int(now.timestamp())} | {int(b.timestamp()) for b in boundaries}
    edges = sorted(
        {*starts.tolist(), int(ends[-1])} | {c for c in cuts if starts[0] < c < ends[-1]}
    )
    first = int(now.timestamp())
    edges = [edge for edge in edges if edge >= first] if starts[0] < first else edges
    edge_array = np.asarray(edges, dtype=np.int64)
    return SlotGrid(edge_array[:-1].astype("datetime64[s]"), np.diff(edge_array))


def option(options: Mapping[str, Any], key: str) -> float:
    """A numeric site option, or its default."""
    return float(options.get(key, DEFAULT_OPTIONS[key]))


def care_option(options: Mapping[str, Any], key: str) -> float:
    """A battery care option (`CARE_DEFAULTS`), or its default."""
    return float(options.get(key, CARE_DEFAULTS[key]))


def build_vehicle(
    *,
    name: str,
    state: ChargerState,
    capabilities: Capabilities,
    settings: Settings,
    departure: datetime,
    options: Mapping[str, Any],
    charge_cap_w: float | None = None,
) -> tuple[Vehicle, bool]:
    """The optimizer's view of one plugged-in EV; returns it and whether its SoC was assumed."""
    soc_assumed = state.soc_pct is None
    soc_pct = settings.min_soc_pct if state.soc_pct is None else state.soc_pct
    v2g = settings.mode is Mode.SMART and settings.allow_v2g and capabilities.bidirectional
    vehicle = Vehicle(
        name=name,
        capacity_kwh=settings.capacity_kwh,
        soc_pct=soc_pct,
        target_soc_pct=settings.target_soc_pct,
        departure=departure,
        min_soc_pct=settings.min_soc_pct,
        # Above the target only energy that costs less than it is worth later gets stored (solar
        # surplus); grid energy bought just to hold it never pays (see optimizer.solve).
        max_soc_pct=max(option(options, OPT_MAX_V2G_SOC_PCT), settings.target_soc_pct),
        max_charge_power_w=max(
            0.0,
            min(
                settings.max_charge_power_w,
                state.max_charge_power_w,
                math.inf if charge_cap_w is None else charge_cap_w,
            ),
        ),
        max_discharge_power_w=(
            max(0.0, min(settings.max_discharge_power_w, state.max_discharge_power_w))
            if v2g
            else 0.0
        ),
        min_charge_power_w=capabilities.min_charge_power_w,
        min_discharge_power_w=capabilities.min_discharge_power_w if v2g else 0.0,
        charge_efficiency=option(options, OPT_CHARGE_EFFICIENCY_PCT) / 100.0,
        discharge_efficiency=option(options, OPT_DISCHARGE_EFFICIENCY_PCT) / 100.0,
        wear_cost_per_kwh=option(options, OPT_WEAR_COST_PER_KWH),
        v2g_allowed=v2g,
        priority=PRIORITY_WEIGHTS[settings.priority],
        care_soc_pct=care_option(options, OPT_CARE_SOC_PCT),
        care_cost_per_kwh_h=care_option(options, OPT_CARE_COST_PER_KWH_H),
        charge_late=bool(care_option(options, OPT_CHARGE_LATE)),
        finish_margin_s=care_option(options, OPT_FINISH_MARGIN_MIN) * 60.0,
    )
    return vehicle, soc_assumed


def site_limits(
    options: Mapping[str, Any],
    operator_import_w: float | None = None,
    operator_export_w: float | None = None,
    capacity_tariff: CapacityTariff | None = None,
) -> Site:
    """The grid connection's limits from the site's options (no import limit when off, or 0).

    The operator's limits (a §14a sensor, an OpenADR capacity limit) lower them while in force.
    ``capacity_tariff``: the site's monthly capacity tariff with the month's peaks so far.
    """
    import_limit = option(options, OPT_GRID_IMPORT_LIMIT_W)
    limited = bool(options.get(OPT_GRID_IMPORT_LIMITED, True)) and import_limit > 0
    limit_w = import_limit if limited else math.inf
    if operator_import_w is not None:
        limit_w = min(limit_w, operator_import_w)
    export_limit_w = option(options, OPT_GRID_EXPORT_LIMIT_W)
    if operator_export_w is not None:
        export_limit_w = min(export_limit_w, operator_export_w)
    return Site(
        import_limit_w=limit_w,
        export_limit_w=export_limit_w,
        export_allowed=bool(options.get(OPT_EXPORT_ALLOWED, DEFAULT_OPTIONS[OPT_EXPORT_ALLOWED])),
        capacity_tariff=capacity_tariff,
    )


def fixed_load_w(grid: SlotGrid, power_w: float, energy_kwh: float | None) -> FloatArray:
    """An EV charging at a fixed power outside the plan ("Charge now"), as load on the slots.

    It draws `power_w` until `energy_kwh` is delivered (all horizon long when unknown).
    """
    load = np.zeros(len(grid))
    if power_w <= 0:
        return load
    hours = grid.durations_h
    if energy_kwh is None:
        load[:] = power_w
        return load
    delivered_before = np.concatenate(([0.0], np.cumsum(hours * power_w / 1000.0)[:-1]))
    remaining = np.clip(energy_kwh - delivered_before, 0.0, None)
    return np.minimum(power_w, remaining * 1000.0 / hours)


def with_frequency_offer(
    problem: Problem,
    droop: Droop,
    tz: tzinfo,
    *,
    duration_h: float,
    price_per_kw_h: FloatArray | None = None,
) -> Problem:
    """Keep the offered frequency response available in the hours it is offered.

    The plan keeps power headroom both ways around the EVs' setpoints (the droop's most power
    per direction for the site) and enough stored energy above the reserve and below the cycling
    cap to sustain it for ``duration_h`` (`optimizer.ReserveOffer`). Without a price the offer
    is kept whenever the drivers' targets allow (`reserve_keep_value_per_kw_h`); with a capacity
    price per kW and hour the optimizer keeps it only where it pays against arbitrage. A
    dispatch (added later) comes first: the offer yields where a dispatch needs the power.
    """
    if not problem.vehicles or (droop.max_up_w <= 0 and droop.max_down_w <= 0):
        return problem
    epoch_s = problem.grid.starts.astype("datetime64[s]").astype(np.int64)
    offered = np.array(
        [droop.offered_at(datetime.fromtimestamp(int(t), UTC).astimezone(tz)) for t in epoch_s]
    )
    if not offered.any():
        return problem
    priced = price_per_kw_h is not None
    price = (
        np.clip(np.nan_to_num(price_per_kw_h, nan=0.0), 0.0, None)
        if price_per_kw_h is not None
        else np.full(offered.shape[0], reserve_keep_value_per_kw_h(problem))
    )
    return replace(
        problem,
        reserve_offer=ReserveOffer(
            up_w=np.where(offered, droop.max_up_w, 0.0),
            down_w=np.where(offered, droop.max_down_w, 0.0),
            price_per_kw_h=price,
            duration_h=duration_h,
            priced=priced,
        ),
    )


def reserve_prices(
    value: float | None, attributes: Mapping[str, Any], grid: SlotGrid, tz: tzinfo
) -> FloatArray:
    """A capacity price per kW and hour on every slot, from a price entity.

    Its list attribute (any of the spellings price sensors use) where it covers a slot, its
    state for the first slot, and 0 where nothing is known: the offer is made where the market
    has priced it, and nowhere else. An entity without a list (an `input_number`) is a flat
    price. Prices per MW (a unit with "MW") are turned into prices per kW.
    """
    intervals = parse_generic(attributes, tz).intervals
    prices, _covered = resample(intervals, grid)
    known = value is not None and math.isfinite(value)
    if known and not intervals:
        prices[:] = value
    elif known and np.isnan(prices[0]):
        prices[0] = value
    if "MW" in str(attributes.get("unit_of_measurement", "")):
        prices /= 1000.0
    return np.nan_to_num(prices, nan=0.0)


def kept_response_now(result: PlanResult | None) -> tuple[float, float] | None:
    """The frequency response the plan keeps available now: (under-, over-frequency) W.

    None without a plan or without an offer in it.
    """
    if result is None:
        return None
    plan = result.plan
    if plan.reserve_up_w is None or plan.reserve_down_w is None:
        return None
    return float(plan.reserve_up_w[0]), float(plan.reserve_down_w[0])


def build_problem(
    *,
    vehicles: Sequence[Vehicle],
    options: Mapping[str, Any],
    grid: SlotGrid,
    import_price_per_kwh: FloatArray,
    export_price_per_kwh: FloatArray,
    solar_w: FloatArray,
    load_w: FloatArray,
    operator_import_w: float | None = None,
    operator_export_w: float | None = None,
    capacity_tariff: CapacityTariff | None = None,
) -> Problem:
    """One problem for every EV of the site that the plan steers."""
    return Problem(
        grid=grid,
        import_price_per_kwh=import_price_per_kwh,
        export_price_per_kwh=export_price_per_kwh,
        vehicles=tuple(vehicles),
        solar_power_w=solar_w,
        base_load_power_w=load_w,
        site=site_limits(options, operator_import_w, operator_export_w, capacity_tariff),
    )


def make_plan(
    problem: Problem, vehicle_ids: Sequence[str], soc_assumed: Sequence[bool]
) -> PlanResult:
    """Solve, and price "Charge now" on the same inputs (runs in an executor thread)."""
    plan = solve(problem)
    baseline = charge_now(problem)
    idle = [np.zeros(len(problem.grid)) for _ in problem.vehicles]
    without_ev = evaluate(problem, idle, idle, strategy="no_ev").cost
    baseline_cost = baseline.cost.total_cost - baseline.cost.terminal_value
    site_cost_without_ev = cash(without_ev)
    if len(problem.vehicles) == 1:
        # One EV: its share is the whole difference the EV makes to the site's bill.
        money: tuple[VehicleMoney, ...] = (
            VehicleMoney(
                cost=cash(plan.cost) - site_cost_without_ev,
                savings=baseline_cost - (plan.cost.total_cost - plan.cost.terminal_value),
            ),
        )
    else:
        money = tuple(
            VehicleMoney(
                cost=_marginal_cash(problem, plan, i),
                savings=_value(problem, baseline, i) - _value(problem, plan, i),
            )
            for i in range(len(problem.vehicles))
        )
    return PlanResult(
        plan=plan,
        vehicle_ids=tuple(vehicle_ids),
        baseline_cost=baseline_cost,
        site_cost_without_ev=site_cost_without_ev,
        money=money,
        soc_assumed=tuple(soc_assumed),
        baseline_import_w=baseline.grid_import_w,
        reserve_priced=problem.reserve_offer is not None and problem.reserve_offer.priced,
    )


def _marginal_prices(problem: Problem, plan: Plan) -> FloatArray:
    """What one more kWh costs the site in each slot.

    The import price while the site imports, else the feed-in price it forgoes.
    """
    importing = plan.grid_import_w > 1.0
    return np.where(importing, problem.import_price_per_kwh, problem.export_price_per_kwh)


def _marginal_cash(problem: Problem, plan: Plan, index: int) -> float:
    """One EV's energy priced at the site's marginal price of each slot."""
    vehicle: VehiclePlan = plan.vehicles[index]
    energy_kwh = problem.grid.durations_h * vehicle.power_w / 1000.0
    return float(np.sum(_marginal_prices(problem, plan) * energy_kwh))


def _value(problem: Problem, plan: Plan, index: int) -> float:
    """One EV's cash plus wear minus the value of the energy it holds at the end."""
    vehicle = problem.vehicles[index]
    planned = plan.vehicles[index]
    stored_kwh = (float(planned.soc_pct[-1]) - vehicle.soc_pct) / 100.0 * vehicle.capacity_kwh
    terminal = terminal_value_per_kwh(problem) * stored_kwh
    return _marginal_cash(problem, plan, index) + planned.wear_cost - terminal


@dataclass(slots=True)
class _Starts:
    """The last grid's local start times: every EV's schedule of a joint plan shares its grid."""

    grid: SlotGrid | None = None
    tz: tzinfo | None = None
    starts: tuple[str, ...] = ()


_LAST_STARTS = _Starts()


def _local_starts(grid: SlotGrid, tz: tzinfo) -> tuple[str, ...]:
    """Each slot's start in the user's time zone, to the second.

    Formatted once per grid (a depot's 50 schedules of one plan would format them 50 times);
    the grid is kept, so a new plan's grid is never mistaken for it.
    """
    if _LAST_STARTS.grid is not grid or _LAST_STARTS.tz is not tz:
        seconds = grid.starts.astype("datetime64[s]").astype(np.int64)
        _LAST_STARTS.starts = tuple(datetime.fromtimestamp(int(t), tz).isoformat() for t in seconds)
        _LAST_STARTS.grid = grid
        _LAST_STARTS.tz = tz
    return _LAST_STARTS.starts


def schedule(plan: Plan, index: int, inputs: Inputs | None, tz: tzinfo) -> list[dict[str, Any]]:
    """One EV's plan per slot, for the card, ApexCharts and automations.

    `{start, power_w, soc_pct, import_price, export_price, estimated}`: local start time, planned
    power (W, + charging), state of charge at the slot's end (%), the prices the plan used and
    whether the import price was estimated (not published yet, or the source is down); with an
    OpenADR VEN also `openadr`, whether an event set the slot's prices.
    """
    vehicle = plan.vehicles[index]
    points: list[dict[str, Any]] = [
        {"start": start, "power_w": round(float(p)), "soc_pct": round(float(soc), 1)}
        for start, p, soc in zip(
            _local_starts(plan.grid, tz), vehicle.power_w, vehicle.soc_pct, strict=True
        )
    ]
    if inputs is not None and len(inputs.grid) == len(plan.grid):
        for point, imp, exp, estimated in zip(
            points,
            inputs.import_price_per_kwh,
            inputs.export_price_per_kwh,
            inputs.price_estimated,
            strict=True,
        ):
            point |= {
                "import_price": round(float(imp), 4),
                "export_price": round(float(exp), 4),
                "estimated": bool(estimated),
            }
        if inputs.openadr_slots is not None:
            # With a VEN only: whether an OpenADR event set this slot's prices.
            for point, by_event in zip(points, inputs.openadr_slots, strict=True):
                point["openadr"] = bool(by_event)
    return points


def price_schedule(inputs: Inputs, tz: tzinfo) -> list[dict[str, Any]]:
    """The site's prices per slot: {start, import_price, export_price, estimated}."""
    return [
        {
            "start": start,
            "import_price": round(float(imp), 4),
            "export_price": round(float(exp), 4),
            "estimated": bool(estimated),
        }
        for start, imp, exp, estimated in zip(
            _local_starts(inputs.grid, tz),
            inputs.import_price_per_kwh,
            inputs.export_price_per_kwh,
            inputs.price_estimated,
            strict=True,
        )
    ]


def site_schedule(plan: Plan, tz: tzinfo) -> list[dict[str, Any]]:
    """The site's planned grid exchange per slot: {start, import_w, export_w}.

    With a frequency offer, also the response kept available: reserve_up_w, reserve_down_w.
    """
    rows: list[dict[str, Any]] = [
        {"start": start, "import_w": round(float(i)), "export_w": round(float(e))}
        for start, i, e in zip(
            _local_starts(plan.grid, tz), plan.grid_import_w, plan.grid_export_w, strict=True
        )
    ]
    if plan.reserve_up_w is not None and plan.reserve_down_w is not None:
        for row, up, down in zip(rows, plan.reserve_up_w, plan.reserve_down_w, strict=True):
            row |= {"reserve_up_w": round(float(up)), "reserve_down_w": round(float(down))}
    return rows
