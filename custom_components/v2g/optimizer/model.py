"""Input and output data of the optimizer: Problem, Vehicle, Site, Tariff, Plan.

Units live in names. Powers are W, energies kWh, prices per kWh (any currency, as long as every
price of one problem uses the same one), state of charge in percent of the usable capacity.
Signed power: positive = into the EV (charging), negative = out of the EV (discharging); grid
import positive at the meter. Arrays are per slot of ``Problem.grid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import math

import numpy as np
import numpy.typing as npt

from .capacity import CapacityTariff
from .slots import SlotGrid

__all__ = [
    "BoolArray",
    "CostBreakdown",
    "FloatArray",
    "Plan",
    "Problem",
    "ReserveOffer",
    "Site",
    "SolveOptions",
    "Tariff",
    "Vehicle",
    "VehiclePlan",
    "vehicle_bounds_w",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _bound_array(value: object, length: int, name: str, fill: float) -> FloatArray:
    """A per-slot bound: None or a scalar broadcast; ``fill`` (inf or NaN) means none."""
    if value is None:
        return np.full(length, fill, dtype=np.float64)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(length, float(array), dtype=np.float64)
    if array.shape != (length,):
        msg = f"{name} has shape {array.shape}, expected ({length},) (one value per slot)"
        raise ValueError(msg)
    if np.isnan(fill):
        ok = np.isnan(array) | np.isfinite(array)
    else:
        ok = ~np.isnan(array) & ((array == fill) | np.isfinite(array))
    if not ok.all():
        msg = f"{name} contains values that are not finite (none: {fill})"
        raise ValueError(msg)
    return array


def vehicle_bounds_w(vehicle: Vehicle, length: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A vehicle's dispatch floor, ceiling and preference per slot, W (-inf / +inf / NaN: none)."""
    return (
        _bound_array(vehicle.power_floor_w, length, "power_floor_w", -np.inf),
        _bound_array(vehicle.power_ceiling_w, length, "power_ceiling_w", np.inf),
        _bound_array(vehicle.preferred_power_w, length, "preferred_power_w", np.nan),
    )


def _float_array(value: object, length: int, name: str, default: float | None = None) -> FloatArray:
    if value is None:
        if default is None:
            msg = f"{name} is required"
            raise ValueError(msg)
        return np.full(length, default, dtype=np.float64)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return np.full(length, float(array), dtype=np.float64)
    if array.shape != (length,):
        msg = f"{name} has shape {array.shape}, expected ({length},) (one value per slot)"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"{name} contains NaN or infinite values; fill gaps before building the Problem"
        raise ValueError(msg)
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class Vehicle:
    """One EV behind one charger, as the optimizer sees it.

    The departure target applies at the end of the last slot that ends at or before
    ``departure`` (a departure inside a slot is rounded down to that slot's start, so the
    promise is kept early rather than late). Without a departure there is no target.

    ``max_soc_pct`` caps cycling: the plan never raises the SoC above
    ``max(max_soc_pct, target_soc_pct, soc_pct)`` (an EV already above the cap may stay there).
    ``min_soc_pct`` is the reserve: never planned below it, and V2G never discharges below it
    (if the EV arrives below it, the plan charges up to it first, as a soft constraint).

    ``reserve_within_s`` relaxes that first charge: when the EV is below its reserve, it must
    reach the reserve within this many seconds from the start of the grid, in the cheapest slots of
    that window (it is never discharged before; the shortfall is penalised from the deadline on).
    None (the default) means at once, whatever the price.

    ``priority`` weighs this vehicle's shortfalls (below the departure target, below the reserve)
    against the other vehicles' when the site connection cannot serve every target: a kWh short
    costs the penalty times ``priority / (lowest priority of the problem)``, so the vehicle with
    the higher priority gets the scarce energy first. Equal priorities (the default) share it
    where it is cheapest. Ratios beyond about 1000 add nothing but numerical noise.

    ``power_floor_w`` / ``power_ceiling_w`` bound the signed power per slot (dispatch by an
    aggregator or an automation): hard bounds, except where keeping them would take the EV below
    its reserve or above its cycling cap, or the site above its fuse (then the plan keeps as close
    as those allow, and ``Plan.dispatch_unmet_kwh`` says how much is missing).
    ``preferred_power_w`` is the soft variant.
    """

    capacity_kwh: float
    """Usable battery capacity."""
    soc_pct: float
    """State of charge now."""
    target_soc_pct: float = 80.0
    """State of charge wanted at departure."""
    departure: datetime | None = None
    """When the driver leaves (aware datetime); None = no deadline, no target."""
    min_soc_pct: float = 0.0
    """Reserve floor."""
    max_soc_pct: float = 100.0
    """Upper end of the band for V2G cycling and opportunistic charging."""
    max_charge_power_w: float = 11_000.0
    """Charging limit, AC side (what the grid connection sees)."""
    max_discharge_power_w: float = 0.0
    """Discharging limit, AC side; 0 for a unidirectional charger."""
    min_charge_power_w: float = 0.0
    """Lowest non-zero charging power the charger can deliver (0 = any power)."""
    min_discharge_power_w: float = 0.0
    """Lowest non-zero discharging power (0 = any power)."""
    charge_efficiency: float = 0.92
    """Battery energy gained per AC kWh drawn while charging."""
    discharge_efficiency: float = 0.92
    """AC kWh delivered per kWh of battery energy while discharging."""
    wear_cost_per_kwh: float = 0.0
    """Battery degradation cost per kWh of throughput, counted on the AC side, both directions."""
    v2g_allowed: bool = False
    """Discharging (to the home or grid) allowed at all."""
    available: BoolArray | None = None
    """Per slot: plugged in and controllable. None = every slot until departure."""
    priority: float = 1.0
    """Weight of this vehicle's shortfall penalties relative to the other vehicles' (> 0)."""
    reserve_within_s: float | None = None
    """Below the reserve: reach it within this many seconds (None: at once)."""
    power_floor_w: FloatArray | None = None
    """Per slot: the lowest signed power the plan may run at (a `must` dispatch; -inf = none).
    Kept where the EV is plugged in, the charger can run at it and the reserve, the cycling cap
    and the site's fuse and feed-in limit allow; otherwise lowered as little as they need."""
    power_ceiling_w: FloatArray | None = None
    """Per slot: the highest signed power the plan may run at (+inf = none); same caveats."""
    preferred_power_w: FloatArray | None = None
    """Per slot: a signed power the plan should run at (a `prefer` dispatch; NaN = none). Each
    kWh of deviation costs `costing.prefer_penalty_per_kwh`: more than arbitrage can earn, less
    than a shortfall below the target or the reserve."""
    care_soc_pct: float = 80.0
    """Battery care threshold: stored energy above this SoC is costed by ``care_cost_per_kwh_h``."""
    care_cost_per_kwh_h: float = 0.0
    """Battery care (calendar ageing at high SoC): cost per kWh stored above ``care_soc_pct``
    per hour, from now until the departure (the whole horizon without one); 0 = none. Counted in
    the plan's objective, not in its money (``CostBreakdown.care_cost``)."""
    finish_margin_s: float = 0.0
    """Reach the departure target this many seconds before the departure (a margin for a charger
    that delivers less than planned); the EV stays available until the departure."""
    charge_late: bool = False
    """Tie-break: among plans of equal cost, charge as late as the target allows (False: as
    early as possible)."""
    name: str = "ev"
    """Identifier, for the caller's bookkeeping."""

    def __post_init__(self) -> None:
        """Check physical sanity."""
        if not self.capacity_kwh > 0:
            msg = "capacity_kwh must be positive"
            raise ValueError(msg)
        for attr in ("charge_efficiency", "discharge_efficiency"):
            value = getattr(self, attr)
            if not 0 < value <= 1:
                msg = f"{attr} must be in (0, 1]"
                raise ValueError(msg)
        for attr in (
            "max_charge_power_w",
            "max_discharge_power_w",
            "min_charge_power_w",
            "min_discharge_power_w",
            "wear_cost_per_kwh",
            "care_cost_per_kwh_h",
            "finish_margin_s",
        ):
            if getattr(self, attr) < 0 or not math.isfinite(getattr(self, attr)):
                msg = f"{attr} must be finite and >= 0"
                raise ValueError(msg)
        if not 0 <= self.care_soc_pct <= 100:
            msg = "care_soc_pct must be in [0, 100]"
            raise ValueError(msg)
        if not (self.priority > 0 and math.isfinite(self.priority)):
            msg = "priority must be finite and > 0"
            raise ValueError(msg)
        if self.reserve_within_s is not None and not (
            self.reserve_within_s >= 0 and math.isfinite(self.reserve_within_s)
        ):
            msg = "reserve_within_s must be None or finite and >= 0"
            raise ValueError(msg)

    @property
    def can_discharge(self) -> bool:
        """V2G allowed and the charger can discharge."""
        return self.v2g_allowed and self.max_discharge_power_w > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """The grid connection shared by the house and every charger on it."""

    import_limit_w: float = math.inf
    """Main fuse / contracted import power. Raised per slot to the base load if that exceeds it."""
    export_limit_w: float = math.inf
    """Maximum feed-in power."""
    export_allowed: bool = True
    """Feed-in allowed at all (False: V2G may only serve the house, V2H)."""
    capacity_price_per_kw: float = 0.0
    """Demand charge per kW of the highest import power over the horizon (0 = none)."""
    peak_import_floor_w: float = 0.0
    """Peak import already reached in the current billing period (no charge below it)."""
    capacity_tariff: CapacityTariff | None = None
    """A monthly capacity tariff on import (Flanders, Norway, Sweden; see `capacity`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tariff:
    """Turns a spot price into the prices the household pays and receives, per kWh.

    ``import = (spot * import_multiplier + import_fee_per_kwh) * (1 + vat)`` and
    ``export = spot * export_multiplier - export_fee_per_kwh``.
    """

    import_fee_per_kwh: float = 0.0
    import_multiplier: float = 1.0
    vat: float = 0.0
    export_fee_per_kwh: float = 0.0
    export_multiplier: float = 1.0

    def import_price(self, spot_per_kwh: npt.ArrayLike) -> FloatArray:
        """Import price per kWh from spot prices per kWh."""
        spot = np.asarray(spot_per_kwh, dtype=np.float64)
        return (spot * self.import_multiplier + self.import_fee_per_kwh) * (1.0 + self.vat)

    def export_price(self, spot_per_kwh: npt.ArrayLike) -> FloatArray:
        """Export price per kWh from spot prices per kWh."""
        spot = np.asarray(spot_per_kwh, dtype=np.float64)
        return spot * self.export_multiplier - self.export_fee_per_kwh


@dataclass(frozen=True, eq=False, kw_only=True)
class ReserveOffer:
    """Frequency reserve the site may hold back for the grid (a droop's power, both ways).

    Per slot and direction the optimizer chooses how much of the offered response it keeps
    available: up to ``up_w`` more power to the grid (less charging, or discharging) and up to
    ``down_w`` more from it (more charging), each sustainable for ``duration_h`` hours within
    the reserve, the cycling cap, the chargers' limits and the fuse. A kW kept for an hour earns
    ``price_per_kw_h`` (averaged over both directions). Priced by a market, the product is
    symmetric (the same share both ways) and charging to offer "less charging" counts;
    unpriced (`costing.reserve_keep_value_per_kw_h`: kept whenever the drivers' targets allow),
    each direction is kept on its own and nothing is charged just to offer it.
    """

    up_w: FloatArray
    """Per slot: the site's most response to under-frequency, W (0: not offered)."""
    down_w: FloatArray
    """Per slot: the site's most response to over-frequency, W (0: not offered)."""
    price_per_kw_h: FloatArray
    """Per slot: what a kW of reserve kept for an hour is worth (>= 0)."""
    duration_h: float = 0.25
    """How long a full response must be sustainable from the stored energy."""
    priced: bool = True
    """The price is money (a capacity market); False: a value that only keeps the offer."""

    def offered(self) -> BoolArray:
        """Slots in which any response is offered."""
        return (self.up_w > 0) | (self.down_w > 0)


@dataclass(frozen=True, eq=False, kw_only=True)
class Problem:
    """Everything one solve needs. Arrays have one value per slot of ``grid``.

    Scalars are broadcast to every slot; ``None`` solar / load mean zero; prices are required
    and must be finite (fill gaps before building the Problem). One vehicle or a fleet: all
    vehicles share the site's import and export limits and are solved jointly.
    """

    grid: SlotGrid
    import_price_per_kwh: FloatArray
    export_price_per_kwh: FloatArray
    vehicles: tuple[Vehicle, ...]
    solar_power_w: FloatArray | None = None
    base_load_power_w: FloatArray | None = None
    site: Site = field(default_factory=Site)
    terminal_value_per_kwh: float | None = None
    """Value of a kWh left in a battery at the horizon end. None = the default rule
    (the lowest import price of the horizon, floored at 0; see `solve`)."""
    grid_floor_w: FloatArray | None = None
    """Per slot: the lowest net grid power (import - export, W) the plan may have (a site
    `must` dispatch; -inf = none). Priced far above any target shortfall when it cannot be met."""
    grid_ceiling_w: FloatArray | None = None
    """Per slot: the highest net grid power (import - export, W); +inf = none."""
    grid_preferred_w: FloatArray | None = None
    """Per slot: a net grid power the plan should keep (a site `prefer` dispatch; NaN = none)."""
    reserve_offer: ReserveOffer | None = None
    """Frequency reserve to keep available where it pays (or always, when unpriced)."""

    def __post_init__(self) -> None:
        """Normalise arrays (scalars broadcast) and check lengths."""
        n = len(self.grid)
        if n == 0:
            msg = "the slot grid is empty"
            raise ValueError(msg)
        object.__setattr__(
            self,
            "import_price_per_kwh",
            _float_array(self.import_price_per_kwh, n, "import_price_per_kwh"),
        )
        object.__setattr__(
            self,
            "export_price_per_kwh",
            _float_array(self.export_price_per_kwh, n, "export_price_per_kwh"),
        )
        object.__setattr__(
            self, "solar_power_w", _float_array(self.solar_power_w, n, "solar_power_w", 0.0)
        )
        object.__setattr__(
            self,
            "base_load_power_w",
            _float_array(self.base_load_power_w, n, "base_load_power_w", 0.0),
        )
        for name, fill in (
            ("grid_floor_w", -np.inf),
            ("grid_ceiling_w", np.inf),
            ("grid_preferred_w", np.nan),
        ):
            object.__setattr__(self, name, _bound_array(getattr(self, name), n, name, fill))
        vehicles = tuple(self.vehicles)
        for vehicle in vehicles:
            if vehicle.available is not None and np.shape(vehicle.available) != (n,):
                msg = f"vehicle {vehicle.name!r}: available must have one value per slot"
                raise ValueError(msg)
            for name, fill in (
                ("power_floor_w", -np.inf),
                ("power_ceiling_w", np.inf),
                ("preferred_power_w", np.nan),
            ):
                _bound_array(getattr(vehicle, name), n, f"vehicle {vehicle.name!r}: {name}", fill)
        object.__setattr__(self, "vehicles", vehicles)
        if (offer := self.reserve_offer) is not None:
            arrays = {
                name: _float_array(getattr(offer, name), n, f"reserve_offer.{name}")
                for name in ("up_w", "down_w", "price_per_kw_h")
            }
            if any(np.any(a < 0) for a in arrays.values()) or not (
                offer.duration_h >= 0 and math.isfinite(offer.duration_h)
            ):
                msg = "reserve_offer: powers, prices and duration must be >= 0"
                raise ValueError(msg)
            object.__setattr__(
                self,
                "reserve_offer",
                ReserveOffer(**arrays, duration_h=offer.duration_h, priced=offer.priced),
            )

    @property
    def dispatched(self) -> bool:
        """Any dispatch bound or preference, on the site or a vehicle."""
        site = (
            np.isfinite(self.grid_floor).any()
            or np.isfinite(self.grid_ceiling).any()
            or np.isfinite(self.grid_preferred).any()
        )
        return bool(site) or any(
            v.power_floor_w is not None
            or v.power_ceiling_w is not None
            or v.preferred_power_w is not None
            for v in self.vehicles
        )

    @property
    def grid_floor(self) -> FloatArray:
        """Net grid power floor per slot, W (-inf: none)."""
        assert self.grid_floor_w is not None  # normalised in __post_init__
        return self.grid_floor_w

    @property
    def grid_ceiling(self) -> FloatArray:
        """Net grid power ceiling per slot, W (+inf: none)."""
        assert self.grid_ceiling_w is not None  # normalised in __post_init__
        return self.grid_ceiling_w

    @property
    def grid_preferred(self) -> FloatArray:
        """Preferred net grid power per slot, W (NaN: none)."""
        assert self.grid_preferred_w is not None  # normalised in __post_init__
        return self.grid_preferred_w

    @property
    def solar(self) -> FloatArray:
        """Solar forecast, W (zeros if not given)."""
        assert self.solar_power_w is not None  # normalised in __post_init__
        return self.solar_power_w

    @property
    def load(self) -> FloatArray:
        """House base load, W (zeros if not given)."""
        assert self.base_load_power_w is not None  # normalised in __post_init__
        return self.base_load_power_w


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBreakdown:
    """Money over the horizon, in the price currency."""

    import_cost: float
    export_revenue: float
    wear_cost: float
    peak_cost: float
    terminal_value: float = 0.0
    """Value credited for battery energy left at the horizon end (not money spent)."""
    shortfall_penalty: float = 0.0
    """Penalty for planned SoC below the reserve or the departure target (soft constraints)."""
    dispatch_penalty: float = 0.0
    """Penalty for deviating from a `prefer` dispatch and for missing a site `must` dispatch."""
    care_cost: float = 0.0
    """Battery care: ``Vehicle.care_cost_per_kwh_h`` times the kWh-hours stored above the care
    threshold (a preference the optimizer weighs, not money paid)."""
    reserve_value: float = 0.0
    """Frequency reserve kept available times its price per kW and hour (`ReserveOffer`):
    capacity revenue when priced by a market, otherwise a weight that keeps the offer."""

    @property
    def total_cost(self) -> float:
        """Net money: import cost - export revenue + wear + peak charge."""
        return self.import_cost - self.export_revenue + self.wear_cost + self.peak_cost

    @property
    def objective(self) -> float:
        """What the optimizer minimises (up to tie-breaking epsilons)."""
        return (
            self.total_cost
            - self.terminal_value
            + self.shortfall_penalty
            + self.dispatch_penalty
            + self.care_cost
            - self.reserve_value
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SolveOptions:
    """Solver knobs; the defaults suit a coordinator re-planning every few minutes."""

    time_limit_s: float = 5.0
    """HiGHS time limit per round; a feasible answer found by then is used."""
    mip_rel_gap: float = 1e-6
    """Relative MIP gap at which HiGHS stops (rounds with binaries only)."""
    max_rounds: int = 6
    """Rounds of adding binaries where the LP answer breaks a rule."""
    tie_break: bool = True
    """Add the small epsilons that make equal-cost plans charge early."""
    presolve: bool = True
    search_time_s: float = 0.15
    """CPU time (of the solving thread, like the capacity path's budget) the single-vehicle
    search may spend proving optimality: half of it for its branch and bound, then the best plan
    found is used and the status says "time limit: ..." (with 0.5 s or more left, the compact
    MILP first tries to prove it). Most problems are proven in a few milliseconds."""
    reference: bool = False
    """Solve the full MILP in one go, every rule enforced in every slot where it can bite, and
    skip the shortcut for meters with direction binaries (slow; a reference for tests)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class VehiclePlan:
    """The plan of one vehicle."""

    charge_power_w: FloatArray
    """AC charging power per slot, >= 0."""
    discharge_power_w: FloatArray
    """AC discharging power per slot, >= 0 (never both > 0 in one slot)."""
    soc_pct: FloatArray
    """State of charge at the end of each slot."""
    target_reachable: bool
    """The departure target can be met (True when there is no target)."""
    best_reachable_soc_pct: float | None
    """When the target is unreachable: the highest SoC at departure the plan reaches."""
    departure_soc_pct: float | None
    """Planned SoC at departure; at the horizon end when the departure is later (the target
    there is then reduced by what can still be charged after the horizon). None without a
    departure target."""
    departure_index: int | None
    """Number of slots before the departure target applies (None without a target)."""
    wear_cost: float
    full_cycles: float = 0.0
    """Equivalent full cycles of the plan: battery energy charged plus discharged over twice the
    usable capacity."""
    hours_above_care: float = 0.0
    """Hours (until the departure, or the horizon end) the SoC is planned above
    ``Vehicle.care_soc_pct`` at a slot's end."""

    @property
    def power_w(self) -> FloatArray:
        """Signed power per slot: + charge, - discharge."""
        return self.charge_power_w - self.discharge_power_w

    @property
    def setpoint_w(self) -> float:
        """Signed power to apply now (first slot)."""
        return float(self.charge_power_w[0] - self.discharge_power_w[0])


@dataclass(frozen=True, eq=False, kw_only=True)
class Plan:
    """The optimizer's (or a baseline's) answer for the whole horizon."""

    grid: SlotGrid
    vehicles: tuple[VehiclePlan, ...]
    grid_import_w: FloatArray
    grid_export_w: FloatArray
    curtailed_solar_w: FloatArray
    cost: CostBreakdown
    status: str
    """"optimal"; "near-optimal: within x % of a bound" for a fleet with minimum powers that the
    fleet heuristic could not prove optimal (a good plan, see `optimizer.fleet`); "time limit:
    ..." (the best plan found in time); or a description of what went wrong (the plan is then
    a safe fallback, charge now)."""
    solve_time_s: float
    """Wall time to build and solve, s."""
    strategy: str = "optimal"
    mip: bool = False
    """Whether binaries / semi-continuous variables were needed."""
    dispatch_unmet_kwh: float = 0.0
    """Energy by which the plan misses the `must` dispatch bounds (vehicles where plugged in,
    and the site): 0 when every one is kept."""
    reserve_up_w: FloatArray | None = None
    """Per slot: the under-frequency response the plan keeps available, W (None: no
    `ReserveOffer` in the problem)."""
    reserve_down_w: FloatArray | None = None
    """Per slot: the over-frequency response the plan keeps available, W."""

    @property
    def ok(self) -> bool:
        """The solver found a plan proven optimal (within ``SolveOptions.mip_rel_gap``)."""
        return self.status == "optimal"

    @property
    def peak_import_w(self) -> float:
        """Highest planned import power."""
        return float(self.grid_import_w.max())

    # Convenience accessors for the single-vehicle case (vehicle 0).
    @property
    def charge_power_w(self) -> FloatArray:
        """Charging power of the first vehicle, W."""
        return self.vehicles[0].charge_power_w

    @property
    def discharge_power_w(self) -> FloatArray:
        """Discharging power of the first vehicle, W."""
        return self.vehicles[0].discharge_power_w

    @property
    def soc_pct(self) -> FloatArray:
        """SoC of the first vehicle at each slot end, %."""
        return self.vehicles[0].soc_pct

    @property
    def setpoint_w(self) -> float:
        """Signed setpoint of the first vehicle for the current slot, W."""
        return self.vehicles[0].setpoint_w

    @property
    def target_reachable(self) -> bool:
        """Whether the first vehicle's departure target is reachable."""
        return self.vehicles[0].target_reachable

    @property
    def best_reachable_soc_pct(self) -> float | None:
        """The first vehicle's best SoC at departure when the target is unreachable."""
        return self.vehicles[0].best_reachable_soc_pct

    @property
    def departure_soc_pct(self) -> float | None:
        """Planned SoC of the first vehicle at departure."""
        return self.vehicles[0].departure_soc_pct
