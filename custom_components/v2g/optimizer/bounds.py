"""A Problem in solver units: per-slot bounds and constants of each vehicle and the site.

Everything here is in kW and kWh (the model speaks W and percent). The formulation, the costing
and the heuristics all read a vehicle through `VehicleData`, so they agree on what the departure
slot is, how much energy the target needs and when the EV is plugged in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from .model import BoolArray, FloatArray, Problem, Vehicle, vehicle_bounds_w

__all__ = [
    "VehicleData",
    "export_limit_kw",
    "import_limit_kw",
    "needed_kwh",
    "reachable_kwh",
    "tie_epsilons",
    "vehicle_data",
    "vehicles_data",
]


@dataclass(slots=True)
class VehicleData:
    """A vehicle's per-slot bounds and constants, in kW / kWh."""

    vehicle: Vehicle
    available: BoolArray
    """Per slot: plugged in and controllable."""
    charge_max_kw: FloatArray
    discharge_max_kw: FloatArray
    charge_min_kw: float
    discharge_min_kw: float
    eta_c: float
    eta_d: float
    capacity_kwh: float
    initial_kwh: float
    reserve_kwh: float
    upper_kwh: float
    """Highest stored energy the plan may reach (cycling cap, target and reserve included)."""
    target_kwh: float
    departure_index: int | None
    """Target applies to the stored energy at the end of slot ``departure_index - 1``."""
    wear: float
    shortfall_weight: float
    """Factor on the shortfall penalty: the vehicle's priority over the lowest of the problem."""
    soft_reserve: bool
    """The EV is below its reserve now: the reserve is a soft constraint (penalised shortfall)."""
    reserve_hours: FloatArray
    """Per slot, the hours a kWh below the reserve at its end is penalised for: the slot's length,
    or 0 before the deadline of ``Vehicle.reserve_within_s`` (soft reserve only)."""
    care_kwh: float = 0.0
    """Battery care threshold (kWh stored)."""
    care_weight: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot, the battery care cost of a kWh stored above ``care_kwh`` at the slot's end
    (cost per kWh-hour times the slot's hours until the departure; empty or zeros: none)."""
    care_until: int = 0
    """Slots counted for battery care and hours above its threshold: until the departure (the
    whole horizon without one)."""
    offset: int = 0
    """Column of this vehicle's first variable in the LP (set by the formulation)."""
    charge_floor_kw: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot: charging power the plan must at least run at (a `must` dispatch; kept within
    the charger's range, the site's headroom, the cycling cap). Empty: none."""
    discharge_floor_kw: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot: discharging power the plan must at least run at (within the reserve)."""
    preferred_kw: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot: the signed power a `prefer` dispatch asks for (NaN: none). Empty: none."""
    stored_floor_kwh: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot: least energy stored at the slot's end, above the reserve (energy kept for a
    frequency offer; hard). Empty: the reserve alone."""
    stored_ceiling_kwh: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per slot: most energy stored at the slot's end, below ``upper_kwh``. Empty: none."""

    @property
    def forced(self) -> bool:
        """Some slot must charge or discharge."""
        return bool(self.charge_floor_kw.any() or self.discharge_floor_kw.any())

    def charge_floor(self, n: int) -> FloatArray:
        """``charge_floor_kw`` with zeros when there is none."""
        return self.charge_floor_kw if self.charge_floor_kw.shape[0] else np.zeros(n)

    def discharge_floor(self, n: int) -> FloatArray:
        """``discharge_floor_kw`` with zeros when there is none."""
        return self.discharge_floor_kw if self.discharge_floor_kw.shape[0] else np.zeros(n)

    def stored_bounds(self, n: int) -> tuple[FloatArray, FloatArray]:
        """Per slot: the stored energy's lower and upper bound.

        The reserve is soft when the EV is below it now: its lower bound is then 0 (the shortfall
        is priced instead).
        """
        lower = np.full(n, 0.0 if self.soft_reserve else self.reserve_kwh)
        upper = np.full(n, self.upper_kwh)
        if self.stored_floor_kwh.shape[0]:
            lower = np.maximum(lower, self.stored_floor_kwh)
        if self.stored_ceiling_kwh.shape[0]:
            upper = np.maximum(np.minimum(upper, self.stored_ceiling_kwh), lower)
        return lower, upper

    @property
    def care(self) -> bool:
        """Whether stored energy above the care threshold is costed anywhere."""
        return bool(self.care_weight.shape[0]) and bool(np.any(self.care_weight > 0))

    @property
    def c(self) -> int:
        """Column of the charging power of slot 0 (one column per slot follows)."""
        return self.offset

    def d(self, n: int) -> int:
        """Column of the discharging power of slot 0."""
        return self.offset + n

    def s(self, n: int) -> int:
        """Column of the stored energy at the end of slot 0."""
        return self.offset + 2 * n

    def m(self, n: int) -> int:
        """Column of the reserve shortfall of slot 0 (only with a soft reserve)."""
        return self.offset + 3 * n

    def y(self, n: int) -> int:
        """Column of the target shortfall (only with a departure target)."""
        return self.offset + 3 * n + (n if self.soft_reserve else 0)

    def width(self, n: int) -> int:
        """Number of LP columns of this vehicle."""
        return 3 * n + (n if self.soft_reserve else 0) + (1 if self.departure_index else 0)


def site_headroom_kw(problem: Problem) -> tuple[FloatArray, FloatArray]:
    """Per slot: charging and discharging the site can take on top of the house, kW.

    Charging within the fuse; discharging within the feed-in limit (all solar curtailed).
    """
    load_kw = problem.load / 1000.0
    net_kw = load_kw - problem.solar / 1000.0
    charge = np.clip(problem.site.import_limit_w / 1000.0 - net_kw, 0.0, None)
    discharge = np.clip(export_limit_kw(problem) + load_kw, 0.0, None)
    return charge, discharge


def vehicles_data(problem: Problem) -> list[VehicleData]:
    """`vehicle_data` of every vehicle of ``problem``, in order.

    The vehicles' forced powers (`must` dispatch floors) share the site's headroom in order of
    priority (the problem's order on ties): together they never take the site above its fuse.
    """
    lowest = min((v.priority for v in problem.vehicles), default=1.0)
    headroom = site_headroom_kw(problem)
    data: list[VehicleData | None] = [None] * len(problem.vehicles)
    order = sorted(range(len(problem.vehicles)), key=lambda i: -problem.vehicles[i].priority)
    for i in order:
        vd = vehicle_data(problem, problem.vehicles[i], lowest_priority=lowest, headroom=headroom)
        if vd.forced:
            n = len(problem.grid)
            headroom = (
                np.clip(headroom[0] - vd.charge_floor(n), 0.0, None),
                np.clip(headroom[1] - vd.discharge_floor(n), 0.0, None),
            )
        data[i] = vd
    return [vd for vd in data if vd is not None]


def vehicle_data(
    problem: Problem,
    vehicle: Vehicle,
    *,
    lowest_priority: float | None = None,
    headroom: tuple[FloatArray, FloatArray] | None = None,
) -> VehicleData:
    """Bounds and constants of ``vehicle`` on ``problem``'s grid.

    A departure after the horizon end lowers the target by what the charger can still deliver
    between the horizon end and the departure. ``lowest_priority``: the lowest priority of the
    problem's vehicles (computed if not given). ``headroom``: charging and discharging the site
    leaves for this vehicle's forced powers (`site_headroom_kw` if not given).
    """
    if lowest_priority is None:
        lowest_priority = min(v.priority for v in problem.vehicles)
    grid = problem.grid
    n = len(grid)
    departure_index: int | None = None
    extra_kwh = 0.0
    if vehicle.departure is not None:
        finish = _finish(problem, vehicle)
        k = grid.slots_ending_by(finish)
        if k > 0:
            departure_index = k
            if k == n:
                # Departure after the horizon: require what cannot be charged after it.
                after_h = max(0.0, (finish - grid.end).total_seconds() / 3600.0)
                extra_kwh = (
                    after_h * vehicle.max_charge_power_w / 1000.0 * vehicle.charge_efficiency
                )
    if vehicle.available is not None:
        available = np.asarray(vehicle.available, dtype=bool)
    else:
        available = np.zeros(n, dtype=bool)
        if vehicle.departure is None:
            available[:] = True
        else:
            available[: grid.slots_ending_by(vehicle.departure)] = True
    cap = vehicle.capacity_kwh
    initial = vehicle.soc_pct / 100.0 * cap
    reserve = max(0.0, vehicle.min_soc_pct / 100.0 * cap)
    target = vehicle.target_soc_pct / 100.0 * cap - extra_kwh
    upper = max(vehicle.max_soc_pct, vehicle.target_soc_pct) / 100.0 * cap
    upper = max(min(upper, cap), initial, reserve)
    target = min(target, upper)
    soft_reserve = initial < reserve - 1e-9
    reserve_hours = grid.durations_h.copy()
    if soft_reserve and vehicle.reserve_within_s is not None:
        # Reach the reserve by the deadline: no penalty before it, and no discharging either.
        deadline = int(grid.start_s[0]) + vehicle.reserve_within_s
        reserve_hours[grid.end_s < deadline] = 0.0
    charge_max = np.where(available, vehicle.max_charge_power_w / 1000.0, 0.0)
    discharge_max = np.where(
        available & vehicle.can_discharge & (reserve_hours > 0.0),
        vehicle.max_discharge_power_w / 1000.0,
        0.0,
    )
    empty = np.zeros(0)
    floors = (empty, empty, empty)
    if (
        vehicle.power_floor_w is not None
        or vehicle.power_ceiling_w is not None
        or vehicle.preferred_power_w is not None
    ):
        charge_max, discharge_max, *rest = _dispatch_bounds(
            vehicle,
            grid.durations_h,
            (charge_max, discharge_max),
            (initial, reserve, upper),
            headroom if headroom is not None else site_headroom_kw(problem),
        )
        floors = (rest[0], rest[1], rest[2])
    care_weight = np.zeros(n)
    until = n if vehicle.departure is None else grid.slots_ending_by(vehicle.departure)
    care_weight[:until] = vehicle.care_cost_per_kwh_h * grid.durations_h[:until]
    return VehicleData(
        vehicle=vehicle,
        available=available,
        charge_max_kw=charge_max,
        discharge_max_kw=discharge_max,
        charge_min_kw=vehicle.min_charge_power_w / 1000.0,
        discharge_min_kw=vehicle.min_discharge_power_w / 1000.0,
        eta_c=vehicle.charge_efficiency,
        eta_d=vehicle.discharge_efficiency,
        capacity_kwh=cap,
        initial_kwh=initial,
        reserve_kwh=reserve,
        upper_kwh=upper,
        target_kwh=target,
        departure_index=departure_index if target > 0 else None,
        wear=vehicle.wear_cost_per_kwh,
        shortfall_weight=vehicle.priority / lowest_priority,
        soft_reserve=soft_reserve,
        reserve_hours=reserve_hours,
        charge_floor_kw=floors[0],
        discharge_floor_kw=floors[1],
        preferred_kw=floors[2],
        care_kwh=vehicle.care_soc_pct / 100.0 * cap,
        care_weight=care_weight,
        care_until=until,
    )


def _dispatch_bounds(
    vehicle: Vehicle,
    hours: FloatArray,
    limits: tuple[FloatArray, FloatArray],
    energies: tuple[float, float, float],
    headroom: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """A vehicle's dispatch bounds, made feasible, in kW.

    Returns (charge max, discharge max, charge floor, discharge floor, preferred).

    Ceilings only lower the maxima. Floors (power the plan must run at) are kept within the
    maxima and the site's headroom, raised to the charger's minimum power (or dropped where even
    that is out of range), then cut, slot by slot in time order, where running at them alone
    (idle elsewhere) would take the battery above its cycling cap or below its reserve: the
    driver's reserve and the fuse come before any dispatch. Idle elsewhere being a plan, the
    formulation then always has one.
    """
    n = hours.shape[0]
    charge_max, discharge_max = limits
    initial, reserve, upper = energies
    floor_w, ceiling_w, preferred_w = vehicle_bounds_w(vehicle, n)
    c_max = np.minimum(charge_max, np.clip(ceiling_w / 1000.0, 0.0, None))
    d_max = np.minimum(discharge_max, np.clip(-floor_w / 1000.0, 0.0, None))
    c_floor = np.minimum(np.clip(floor_w / 1000.0, 0.0, None), np.minimum(c_max, headroom[0]))
    d_floor = np.minimum(np.clip(-ceiling_w / 1000.0, 0.0, None), np.minimum(d_max, headroom[1]))
    c_min = vehicle.min_charge_power_w / 1000.0
    d_min = vehicle.min_discharge_power_w / 1000.0
    c_floor = _with_minimum(c_floor, c_min, np.minimum(c_max, headroom[0]))
    d_floor = _with_minimum(d_floor, d_min, np.minimum(d_max, headroom[1]))
    eta_c, eta_d = vehicle.charge_efficiency, vehicle.discharge_efficiency
    stored = initial
    for t in range(n):
        if c_floor[t] > 0.0:
            room = max(0.0, upper - stored) / (hours[t] * eta_c)
            c_floor[t] = c_floor[t] if c_floor[t] <= room else (room if room >= c_min else 0.0)
        if d_floor[t] > 0.0:
            room = max(0.0, stored - reserve) * eta_d / hours[t]
            d_floor[t] = d_floor[t] if d_floor[t] <= room else (room if room >= d_min else 0.0)
        stored += hours[t] * (eta_c * c_floor[t] - d_floor[t] / eta_d)
    preferred = np.clip(preferred_w / 1000.0, -d_max, c_max)
    return c_max, d_max, c_floor, d_floor, np.where(np.isnan(preferred_w), np.nan, preferred)


def _with_minimum(floor: FloatArray, minimum: float, maximum: FloatArray) -> FloatArray:
    """Floors raised to the charger's minimum power; 0 where the charger cannot reach it."""
    raised = np.where(floor > 0.0, np.maximum(floor, minimum), 0.0)
    return np.where(raised <= maximum + 1e-12, raised, 0.0)


def _finish(problem: Problem, vehicle: Vehicle) -> datetime:
    """When the departure target applies.

    ``finish_margin_s`` before the departure if the target is still in reach by then at full
    power (within the import limit); else at the departure itself, so the margin never costs
    the target.
    """
    assert vehicle.departure is not None
    if vehicle.finish_margin_s <= 0:
        return vehicle.departure
    finish = vehicle.departure - timedelta(seconds=vehicle.finish_margin_s)
    grid = problem.grid
    k = grid.slots_ending_by(finish)
    if k >= len(grid):
        return finish  # the target lies beyond the horizon either way
    return (
        finish if reachable_kwh(problem, vehicle, k) >= needed_kwh(vehicle) else vehicle.departure
    )


def needed_kwh(vehicle: Vehicle) -> float:
    """Battery energy from the vehicle's SoC now to its target (negative above it)."""
    return (vehicle.target_soc_pct - vehicle.soc_pct) / 100.0 * vehicle.capacity_kwh


def reachable_kwh(
    problem: Problem, vehicle: Vehicle, k: int, ceiling_w: FloatArray | None = None
) -> float:
    """Battery energy the vehicle can take in the first ``k`` slots at full power.

    Full power: its maximum (or ``ceiling_w`` per slot, when lower) where it is plugged in,
    within what the site's import limit leaves after the house; 0 in slots where that is below
    its minimum power.
    """
    grid = problem.grid
    if vehicle.available is not None:
        plugged = np.asarray(vehicle.available, dtype=bool)[:k]
    else:
        plugged = np.ones(k, dtype=bool)
    room_kw = np.clip(
        import_limit_kw(problem)[:k] - (problem.load - problem.solar)[:k] / 1000.0, 0.0, None
    )
    power_kw = np.minimum(vehicle.max_charge_power_w / 1000.0, room_kw)
    if ceiling_w is not None:
        power_kw = np.minimum(power_kw, ceiling_w[:k] / 1000.0)
    running = plugged & (power_kw >= vehicle.min_charge_power_w / 1000.0)
    power_kw = np.where(running, power_kw, 0.0)
    return float(np.sum(power_kw * grid.durations_h[:k])) * vehicle.charge_efficiency


def import_limit_kw(problem: Problem) -> FloatArray:
    """Import limit per slot, raised to the house's net load where that alone exceeds it."""
    net_load_kw = (problem.load - problem.solar) / 1000.0
    return np.maximum(problem.site.import_limit_w / 1000.0, net_load_kw)


def export_limit_kw(problem: Problem) -> float:
    """Export limit (0 when feed-in is not allowed)."""
    if not problem.site.export_allowed:
        return 0.0
    return problem.site.export_limit_w / 1000.0


def tie_epsilons(eps: float, n: int, *, late: bool) -> FloatArray:
    """Per-slot tie-breaking cost of charging a kW: rising (charge early) or falling (late)."""
    share = np.arange(n) / n
    epsilons: FloatArray = eps * (2.0 - share if late else 1.0 + share)
    return epsilons
