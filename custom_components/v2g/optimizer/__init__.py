"""The V2G optimizer: pure Python on numpy and scipy's HiGHS; imports nothing from Home Assistant.

Build a `Problem` (slot grid from `make_grid`, prices, solar, load, `Vehicle`s, `Site`), call
`solve` (one vehicle or a fleet sharing the site connection), apply ``plan.setpoint_w``.
Baselines take the same Problem and return the same Plan.

Public API (everything else in the package is internal):

- Input: `Problem` (grid, prices per kWh, solar and house load in W, vehicles, site,
  optional terminal value), `Vehicle`, `Site`, `Tariff` (spot price to import / export
  prices), `CapacityTariff` (a monthly capacity charge on import, ``Site.capacity_tariff``:
  Flanders' monthly 15-minute peak, Norway's steps on three daily peaks, Sweden's highest
  hours; `billed_peaks_kw` and `horizon_charge` price a plan's import under it), `SlotGrid`
  with `make_grid`, `make_local_day_grid`, `grid_from_intervals`, `resample`,
  `to_datetime64`.
- Solving: `solve(problem, options=None) -> Plan` with `SolveOptions`; it never raises for a
  well-formed Problem and always returns a plan that respects the charger and site limits,
  minimum powers included (``plan.status`` says "optimal", "near-optimal: ..." for a large
  fleet with minimum powers, or why a fallback was used).
- Per vehicle: `Vehicle.priority` (who gets scarce site energy first) and
  `Vehicle.reserve_within_s` (below the reserve: reach it within a window, cheaply, instead of
  at once). Battery care: `Vehicle.care_cost_per_kwh_h` (a cost per kWh held above
  `Vehicle.care_soc_pct` per hour, until the departure; in ``CostBreakdown.care_cost`` and the
  objective, not in the money), `Vehicle.charge_late` (equal-cost plans charge as late as the
  target allows instead of at once) and `Vehicle.finish_margin_s` (reach the target this much
  before the departure).
- Dispatch (aggregators, automations): per-slot bounds on a vehicle's signed power
  (`Vehicle.power_floor_w` / `power_ceiling_w`, hard within the reserve, the cycling cap and the
  fuse) and on the site's net grid power (`Problem.grid_floor_w` / `grid_ceiling_w`), and soft
  targets (`Vehicle.preferred_power_w`, `Problem.grid_preferred_w`, priced by
  `prefer_penalty_per_kwh`); `Plan.dispatch_unmet_kwh` says how much of the bounds was missed.
- Frequency reserve: `Problem.reserve_offer` (`ReserveOffer`: the response offered per slot and
  direction, its price per kW and hour, how long it must last); the plan keeps power and energy
  headroom for it where it pays (`reserve_keep_value_per_kw_h`: always, within the targets) and
  says how much in ``Plan.reserve_up_w`` / ``reserve_down_w``, its value in
  ``CostBreakdown.reserve_value``.
- Output: `Plan` (per-slot grid flows, `CostBreakdown`, status), `VehiclePlan` (per-vehicle
  power, SoC, whether the departure target is reachable, equivalent full cycles and hours above
  the care level).
- Baselines and costing: `charge_now`, `cheapest_slots`, `perfect_foresight`, `STRATEGIES`,
  `evaluate` (costs any schedule the way the optimizer costs its own), and the two valuation
  rules of the objective, `penalty_per_kwh` and `terminal_value_per_kwh`; `needed_kwh` and
  `reachable_kwh` (how much a vehicle needs, and can take at full power before a slot).

Inside, one module per concern: `model` (the data classes), `slots` (time grids), `bounds` (a
Problem in kW / kWh), `costing` (`evaluate` and the valuation rules), `heuristics` (charge now,
cheapest slots), `baselines`, `capacity` (monthly capacity tariffs, costed and as LP rows),
and the solvers, dispatched by `solve`:

- one vehicle (no capacity price or tariff): `curves` (each slot's cost against its stored
  energy), `hull` (their convex hulls as a warm LP in HiGHS), `single` (the exact search) and
  `dynamic` (a dynamic program over the stored energy: the search's plan when it runs out of
  time); with a frequency offer, the LP relaxation of the full formulation decides the reserve
  first;
- fleets and the rest: `formulation` (the LP / MILP matrices), `rules` (where integrality is
  needed), `rounding` (meter directions with a proof of optimality) and `fleet` (minimum powers
  of a fleet: the LP's on/off pattern, fixed); with a monthly capacity tariff the full MILP in
  one go;
- `highs`: every HiGHS call, with retries.

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
                min_charge_power_w=4_140,  # 6 A x 3 phases: 0 or at least this much
            ),
        ),
        site=Site(import_limit_w=17_000),
    )
    plan = solve(problem)
    apply(plan.setpoint_w)  # signed W: + charge, - discharge
    plan.vehicles[0].departure_soc_pct  # what the plan promises at departure
"""

from .baselines import STRATEGIES, perfect_foresight
from .bounds import needed_kwh, reachable_kwh
from .capacity import CapacityTariff, billed_peaks_kw, horizon_charge
from .costing import (
    evaluate,
    penalty_per_kwh,
    prefer_penalty_per_kwh,
    reserve_keep_value_per_kw_h,
    terminal_value_per_kwh,
)
from .heuristics import charge_now, cheapest_slots
from .model import (
    CostBreakdown,
    Plan,
    Problem,
    ReserveOffer,
    Site,
    SolveOptions,
    Tariff,
    Vehicle,
    VehiclePlan,
)
from .slots import (
    SlotGrid,
    grid_from_intervals,
    make_grid,
    make_local_day_grid,
    resample,
    to_datetime64,
)
from .solve import solve

__all__ = [
    "STRATEGIES",
    "CapacityTariff",
    "CostBreakdown",
    "Plan",
    "Problem",
    "ReserveOffer",
    "Site",
    "SlotGrid",
    "SolveOptions",
    "Tariff",
    "Vehicle",
    "VehiclePlan",
    "billed_peaks_kw",
    "charge_now",
    "cheapest_slots",
    "evaluate",
    "grid_from_intervals",
    "horizon_charge",
    "make_grid",
    "make_local_day_grid",
    "needed_kwh",
    "penalty_per_kwh",
    "perfect_foresight",
    "prefer_penalty_per_kwh",
    "reachable_kwh",
    "resample",
    "reserve_keep_value_per_kw_h",
    "solve",
    "terminal_value_per_kwh",
    "to_datetime64",
]
