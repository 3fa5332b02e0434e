"""The LP / MILP: sparse assembly of the objective, bounds and constraints.

Formulation (per slot ``t`` of length ``h_t`` hours; powers kW, energies kWh inside):

- site variables: grid import ``g_t``, export ``x_t``, curtailed solar ``u_t`` (``<= solar_t``),
  and the horizon's peak import ``P`` when a capacity price is set; a monthly capacity tariff
  adds its own columns and rows at the end (`capacity.add_rows`);
- per vehicle: AC charge ``c_t``, AC discharge ``d_t``, stored energy at slot end ``s_t``, a
  reserve shortfall ``m_t`` (only when the EV is below its reserve now) and a target shortfall
  ``y`` (one per vehicle with a departure);
- balance ``g - x - u + sum(d - c) = load - solar``; dynamics
  ``s_t = s_{t-1} + h_t (eta_c c_t - d_t / eta_d)``; ``s_t + m_t >= reserve``;
  ``s_dep + y >= target``; ``g_t <= P``;
- objective: ``sum h (p_imp g - p_exp x + wear (c + d)) + capacity_price P
  - v_term * sum s_end + M w (sum h m + y)`` (``w``: the vehicle's priority weight) plus
  tie-breaking epsilons (``eps`` = 1e-4 of the largest price): charging costs
  ``eps * (1 + t / T)`` more per kWh, so equal prices charge early and charging to hold energy
  at exactly its terminal value does not happen; discharging costs ``0.1 eps`` and curtailing
  ``0.001 eps`` (no cycling or spilling for nothing).

Soft constraints keep every problem feasible: shortfalls below the reserve or the target cost
``M`` per kWh (`costing.penalty_per_kwh`); the import limit is raised per slot to the base load
if the house alone exceeds it. So the solve never comes back infeasible, and an unreachable
target yields the best reachable SoC (the flag tells). ``v_term`` is
`costing.terminal_value_per_kwh`.

The LP has no integer variables. Integrality is added per slot where the LP can be gamed or is
wrong (`solve` decides where): direction binaries forbid charging and discharging at once
(`add_direction_binaries`) or importing and exporting at once (`add_grid_binaries`), and
semi-continuous variables enforce minimum powers (`set_semicontinuous`).

Costs are divided by the largest price: HiGHS tolerances are absolute, and the tie-breaking
epsilons must stay well above them whatever the currency or price level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from . import capacity
from .bounds import VehicleData, export_limit_kw, import_limit_kw, tie_epsilons
from .costing import (
    SITE_MUST_WEIGHT,
    penalty_per_kwh,
    prefer_penalty_per_kwh,
    terminal_value_per_kwh,
    with_kept_reserve,
)
from .model import FloatArray, Plan, Problem

__all__ = [
    "IntArray",
    "Model",
    "add_direction_binaries",
    "add_grid_binaries",
    "build",
    "fixed",
    "plain_cost",
    "reserve_site_limits_kw",
    "reserve_slots",
    "set_semicontinuous",
    "with_count",
    "with_reserve",
]

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class Model:
    """An assembled problem: objective, bounds, constraint triplets, integrality."""

    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    rows: list[IntArray] = field(default_factory=list)
    cols: list[IntArray] = field(default_factory=list)
    vals: list[FloatArray] = field(default_factory=list)
    row_lower: list[FloatArray] = field(default_factory=list)
    row_upper: list[FloatArray] = field(default_factory=list)
    n_rows: int = 0
    integrality: npt.NDArray[np.uint8] | None = None
    """Per column: 0 continuous, 1 integer, 2 semi-continuous (None: all continuous)."""
    plain_cost: FloatArray | None = None
    """The objective without the tie-breaking epsilons (None: the same as ``cost``)."""
    grid_binaries: list[IntArray] = field(default_factory=list)
    """Columns of the meter's direction binaries (1: the slot imports)."""
    grid_slots: list[IntArray] = field(default_factory=list)
    """Their slots."""
    reserve_cols: IntArray | None = None
    """Columns of the shares of the frequency offer kept per slot, under- then over-frequency
    (shape (2, n); -1: not offered; `_add_reserve`), if any."""

    def add_rows(
        self,
        count: int,
        entries: list[tuple[IntArray, IntArray, FloatArray]],
        lower: FloatArray,
        upper: FloatArray,
    ) -> None:
        """Append ``count`` rows; ``entries`` hold (row within block, column, value)."""
        for r, c, v in entries:
            self.rows.append(r + self.n_rows)
            self.cols.append(c)
            self.vals.append(v)
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        self.n_rows += count

    def add_columns(self, cost: FloatArray, lower: FloatArray, upper: FloatArray) -> IntArray:
        """Append variables; return their column indices."""
        first = self.cost.shape[0]
        self.cost = np.concatenate([self.cost, cost])
        self.lower = np.concatenate([self.lower, lower])
        self.upper = np.concatenate([self.upper, upper])
        if self.plain_cost is not None:
            self.plain_cost = np.concatenate([self.plain_cost, np.zeros(cost.shape[0])])
        if self.integrality is not None:
            self.integrality = np.concatenate(
                [self.integrality, np.zeros(cost.shape[0], dtype=np.uint8)]
            )
        return np.arange(first, first + cost.shape[0], dtype=np.int64)

    def copy(self) -> Model:
        """A copy that can take rows, columns and new bounds without changing this one."""
        return Model(
            cost=self.cost.copy(),
            lower=self.lower.copy(),
            upper=self.upper.copy(),
            rows=list(self.rows),
            cols=list(self.cols),
            vals=list(self.vals),
            row_lower=list(self.row_lower),
            row_upper=list(self.row_upper),
            n_rows=self.n_rows,
            integrality=None if self.integrality is None else self.integrality.copy(),
            plain_cost=self.plain_cost,
            grid_binaries=list(self.grid_binaries),
            grid_slots=list(self.grid_slots),
            reserve_cols=self.reserve_cols,
        )


def _full(n: int, value: float) -> FloatArray:
    return np.full(n, value, dtype=np.float64)


def build(problem: Problem, data: list[VehicleData], tie_break: bool) -> Model:  # noqa: PLR0915
    """Assemble the LP (sets each vehicle's column offset in ``data``)."""
    n = len(problem.grid)
    h = problem.grid.durations_h
    idx = np.arange(n, dtype=np.int64)
    p_imp = problem.import_price_per_kwh
    p_exp = problem.export_price_per_kwh
    site = problem.site
    scale = max(float(np.abs(p_imp).max()), float(np.abs(p_exp).max()), 0.01)
    eps = 1e-4 * scale if tie_break else 0.0
    penalty = penalty_per_kwh(problem)
    v_term = terminal_value_per_kwh(problem)

    # Site block: g, x, u, then P (optional).
    solar_kw = problem.solar / 1000.0
    cost_parts = [h * p_imp, -h * p_exp, h * (1e-3 * eps)]
    lower_parts = [np.zeros(3 * n)]
    upper_parts = [import_limit_kw(problem), _full(n, export_limit_kw(problem)), solar_kw]
    peak_col: int | None = None
    width = 3 * n
    if site.capacity_price_per_kw > 0:
        peak_col = width
        width += 1
        cost_parts.append(np.array([site.capacity_price_per_kw]))
        lower_parts.append(np.array([site.peak_import_floor_w / 1000.0]))
        upper_parts.append(np.array([np.inf]))
    for vd in data:
        vd.offset = width
        width += vd.width(n)
        later = tie_epsilons(eps, n, late=vd.vehicle.charge_late) if tie_break else np.zeros(n)
        cost_parts += [h * (vd.wear + later), h * (vd.wear + 0.1 * eps), np.zeros(n)]
        cost_parts[-1][-1] = -v_term
        s_lower, s_upper = vd.stored_bounds(n)
        lower_parts += [vd.charge_floor(n), vd.discharge_floor(n), s_lower]
        upper_parts += [vd.charge_max_kw, vd.discharge_max_kw, s_upper]
        if vd.soft_reserve:
            cost_parts.append(penalty * vd.shortfall_weight * vd.reserve_hours)
            lower_parts.append(np.zeros(n))
            upper_parts.append(_full(n, vd.reserve_kwh))
        if vd.departure_index:
            cost_parts.append(np.array([penalty * vd.shortfall_weight]))
            lower_parts.append(np.zeros(1))
            upper_parts.append(np.array([max(vd.target_kwh, 0.0)]))
    model = Model(
        cost=np.concatenate(cost_parts) / scale,
        lower=np.concatenate(lower_parts),
        upper=np.concatenate(upper_parts),
    )

    # Balance: g - x - u + sum(d - c) = load - solar.
    entries: list[tuple[IntArray, IntArray, FloatArray]] = [
        (idx, idx, _full(n, 1.0)),
        (idx, idx + n, _full(n, -1.0)),
        (idx, idx + 2 * n, _full(n, -1.0)),
    ]
    for vd in data:
        entries.append((idx, vd.c + idx, _full(n, -1.0)))
        entries.append((idx, vd.d(n) + idx, _full(n, 1.0)))
    net_kw = (problem.load - problem.solar) / 1000.0
    model.add_rows(n, entries, net_kw, net_kw.copy())

    # Dynamics: s_t - s_{t-1} - h eta_c c_t + h / eta_d d_t = [t == 0] s0.
    for vd in data:
        rhs = np.zeros(n)
        rhs[0] = vd.initial_kwh
        model.add_rows(
            n,
            [
                (idx, vd.s(n) + idx, _full(n, 1.0)),
                (idx[1:], vd.s(n) + idx[:-1], _full(n - 1, -1.0)),
                (idx, vd.c + idx, -h * vd.eta_c),
                (idx, vd.d(n) + idx, h / vd.eta_d),
            ],
            rhs,
            rhs.copy(),
        )
        if vd.soft_reserve:
            model.add_rows(
                n,
                [(idx, vd.s(n) + idx, _full(n, 1.0)), (idx, vd.m(n) + idx, _full(n, 1.0))],
                _full(n, vd.reserve_kwh),
                _full(n, np.inf),
            )
        if vd.departure_index:
            one = np.zeros(1, dtype=np.int64)
            model.add_rows(
                1,
                [
                    (one, one + vd.s(n) + vd.departure_index - 1, np.ones(1)),
                    (one, one + vd.y(n), np.ones(1)),
                ],
                np.array([vd.target_kwh]),
                np.array([np.inf]),
            )
    for vd in data:
        if vd.care:
            _add_care(model, vd, n, scale)
    if peak_col is not None:
        model.add_rows(
            n,
            [(idx, idx, _full(n, 1.0)), (idx, _full(n, peak_col).astype(np.int64), _full(n, -1.0))],
            _full(n, -np.inf),
            np.zeros(n),
        )
    if problem.dispatched:
        _add_dispatch(model, problem, data, scale)
    _add_capacity(model, problem, data, scale)
    _add_reserve(model, problem, data, scale)
    return model


def _add_reserve(model: Model, problem: Problem, data: list[VehicleData], scale: float) -> None:
    """Frequency reserve kept available: the offer's shares per direction and each EV's part.

    Columns per offered slot: the shares ``a_up`` and ``a_down`` (0-1) of the under- and
    over-frequency response ``U`` and ``W`` kept, worth ``price * h * (U a_up + W a_down) / 2``
    (a market's symmetric product: ``a_up = a_down``); per vehicle its parts ``u`` and ``w``.
    Rows: ``sum u = a_up U``, ``sum w = a_down W``; per vehicle plugged in ``c - d + w <= c_max``
    (room to charge more) and ``d - c + u <= d_max`` (room to charge less or discharge more);
    unpriced, the offer is not worth running for, so only the room left by the plan's own
    direction counts: ``c + w <= c_max`` and ``d + u <= d_max``. For an EV that can discharge
    ``s - D / eta_d u >= reserve`` (the response lasts ``D`` hours above the reserve);
    ``s + D eta_c w <= upper`` (and below the cycling cap). For the site, the response stays
    within the fuse and the feed-in limit: ``g - x + sum w <= import limit``,
    ``x - g + sum u <= export limit``. No reserve is kept where a site dispatch sets the grid
    power (`reserve_slots`).
    """
    offer = problem.reserve_offer
    if offer is None:
        return
    n = len(problem.grid)
    slots = reserve_slots(problem)
    k = slots.shape[0]
    h = problem.grid.durations_h[slots]
    up_kw, down_kw = offer.up_w[slots] / 1000.0, offer.down_w[slots] / 1000.0
    value = offer.price_per_kw_h[slots] * h / (2.0 * scale)
    shares = model.add_columns(
        np.concatenate([-value * up_kw, -value * down_kw]), np.zeros(2 * k), np.ones(2 * k)
    )
    model.reserve_cols = np.full((2, n), -1, dtype=np.int64)
    model.reserve_cols[:, slots] = shares.reshape(2, k)
    if k == 0:
        return
    r = np.arange(k, dtype=np.int64)
    one = _full(k, 1.0)
    if offer.priced:
        model.add_rows(k, [(r, shares[:k], one), (r, shares[k:], -one)], np.zeros(k), np.zeros(k))
    totals: list[list[tuple[IntArray, IntArray, FloatArray]]] = [
        [(r, shares[:k], -up_kw)],
        [(r, shares[k:], -down_kw)],
    ]
    more = [(r, slots, one), (r, n + slots, -one)]  # the site: g - x + sum w
    less_site = [(r, n + slots, one), (r, slots, -one)]  # x - g + sum u
    duration = offer.duration_h
    for vd in data:
        on = vd.available[slots]
        up = model.add_columns(np.zeros(k), np.zeros(k), np.where(on, up_kw, 0.0))
        down = model.add_columns(np.zeros(k), np.zeros(k), np.where(on, down_kw, 0.0))
        totals[0].append((r, up, one))
        totals[1].append((r, down, one))
        more.append((r, down, one))
        less_site.append((r, up, one))
        c, d, s = vd.c + slots, vd.d(n) + slots, vd.s(n) + slots
        extra = [(r, c, one), (r, down, one)] + ([(r, d, -one)] if offer.priced else [])
        model.add_rows(k, extra, -np.inf * one, vd.charge_max_kw[slots].copy())
        less = [(r, d, one), (r, up, one)] + ([(r, c, -one)] if offer.priced else [])
        model.add_rows(k, less, -np.inf * one, vd.discharge_max_kw[slots].copy())
        if np.any(vd.discharge_max_kw > 0):
            floor = [(r, s, one), (r, up, _full(k, -duration / vd.eta_d))]
            if vd.soft_reserve:  # below the reserve now: its shortfall (priced) makes room
                floor.append((r, vd.m(n) + slots, one))
            model.add_rows(k, floor, _full(k, vd.reserve_kwh), np.inf * one)
        ceiling = [(r, s, one), (r, down, _full(k, duration * vd.eta_c))]
        model.add_rows(k, ceiling, -np.inf * one, _full(k, vd.upper_kwh))
    for entries in totals:
        model.add_rows(k, entries, np.zeros(k), np.zeros(k))
    import_kw, export_kw = reserve_site_limits_kw(problem)
    model.add_rows(k, more, -np.inf * one, import_kw[slots])
    model.add_rows(k, less_site, -np.inf * one, export_kw[slots])


def reserve_slots(problem: Problem) -> IntArray:
    """The slots in which the offer may be kept.

    Offered, priced above 0 when priced, and not under a site dispatch (its bounds are the
    aggregator's, not ours to answer around).
    """
    offer = problem.reserve_offer
    if offer is None:
        return np.zeros(0, dtype=np.int64)
    slots = offer.offered() & ~np.isfinite(problem.grid_floor) & ~np.isfinite(problem.grid_ceiling)
    if offer.priced:
        slots &= offer.price_per_kw_h > 0
    return np.flatnonzero(slots).astype(np.int64)


def reserve_site_limits_kw(problem: Problem) -> tuple[FloatArray, FloatArray]:
    """Per slot: the most net import and net export a frequency response may take the site to.

    The fuse (raised to the house's own load where that exceeds it) and the feed-in limit.
    """
    n = len(problem.grid)
    return import_limit_kw(problem), np.full(n, export_limit_kw(problem))


def with_reserve(problem: Problem, plan: Plan, model: Model, x: FloatArray) -> Plan:
    """``plan`` with the frequency response the answer ``x`` keeps available, and its value."""
    offer = problem.reserve_offer
    if offer is None or model.reserve_cols is None:
        return plan
    cols = model.reserve_cols
    share = np.where(cols >= 0, np.clip(x[np.maximum(cols, 0)], 0.0, 1.0), 0.0)
    share = np.where(share < 1e-6, 0.0, share)  # solver noise, not an offer
    return with_kept_reserve(problem, plan, share[0] * offer.up_w, share[1] * offer.down_w)


def _add_capacity(model: Model, problem: Problem, data: list[VehicleData], scale: float) -> None:
    """The monthly capacity tariff's rows (`capacity.add_rows`), when the site has one."""
    tariff = problem.site.capacity_tariff
    if tariff is None:
        return
    n = len(problem.grid)
    load_kw = problem.load / 1000.0
    charge_kw = sum((vd.charge_max_kw for vd in data), np.zeros(n))
    peak_kw = float(np.max(np.minimum(model.upper[:n], load_kw + charge_kw)))
    capacity.add_rows(model, tariff, problem.grid, scale, peak_kw)


def _add_dispatch(model: Model, problem: Problem, data: list[VehicleData], scale: float) -> None:
    """Dispatch rows: `prefer` deviations and the site's `must` bounds, with priced slacks.

    Per slot with a preference: ``power - dev_up + dev_down = preferred`` (``power`` is a
    vehicle's ``c - d`` or the site's ``g - x``), each deviation costing
    `costing.prefer_penalty_per_kwh`. Per slot with a site bound:
    ``floor <= g - x + miss_up - miss_down <= ceiling``, a miss costing `SITE_MUST_WEIGHT`
    times the shortfall penalty (kept feasible whatever the house does; vehicles' own bounds
    are column bounds, made feasible in `bounds`).
    """
    n = len(problem.grid)
    h = problem.grid.durations_h
    prefer = prefer_penalty_per_kwh(problem) / scale
    must = SITE_MUST_WEIGHT * penalty_per_kwh(problem) / scale
    blocks: list[tuple[IntArray, IntArray, float, FloatArray]] = [
        (slots, cols, sign, wanted)
        for vd in data
        if vd.preferred_kw.shape[0]
        for slots, wanted in [(np.flatnonzero(~np.isnan(vd.preferred_kw)), vd.preferred_kw)]
        for cols, sign in ((vd.c + slots, 1.0), (vd.d(n) + slots, -1.0))
    ]
    site_pref = problem.grid_preferred / 1000.0
    slots = np.flatnonzero(~np.isnan(site_pref))
    blocks += [(slots, slots, 1.0, site_pref), (slots, n + slots, -1.0, site_pref)]
    for start in range(0, len(blocks), 2):
        slots, _, _, wanted = blocks[start]
        k = slots.shape[0]
        if k == 0:
            continue
        cost = np.concatenate([h[slots] * prefer, h[slots] * prefer])
        cols = model.add_columns(cost, np.zeros(2 * k), _full(2 * k, np.inf))
        r = np.arange(k, dtype=np.int64)
        entries = [(r, c, _full(k, sign)) for _, c, sign, _ in blocks[start : start + 2]]
        entries += [(r, cols[:k], _full(k, -1.0)), (r, cols[k:], _full(k, 1.0))]
        model.add_rows(k, entries, wanted[slots], wanted[slots].copy())
    floor = problem.grid_floor / 1000.0
    ceiling = problem.grid_ceiling / 1000.0
    slots = np.flatnonzero(np.isfinite(floor) | np.isfinite(ceiling))
    k = slots.shape[0]
    if k:
        cost = np.concatenate([h[slots] * must, h[slots] * must])
        cols = model.add_columns(cost, np.zeros(2 * k), _full(2 * k, np.inf))
        r = np.arange(k, dtype=np.int64)
        entries = [
            (r, slots, _full(k, 1.0)),
            (r, n + slots, _full(k, -1.0)),
            (r, cols[:k], _full(k, 1.0)),
            (r, cols[k:], _full(k, -1.0)),
        ]
        model.add_rows(k, entries, floor[slots], ceiling[slots])


def _add_care(model: Model, vd: VehicleData, n: int, scale: float) -> None:
    """Battery care: ``z_t >= s_t - care_kwh``, ``z_t >= 0``, costing ``care_weight_t`` per kWh."""
    idx = np.arange(n, dtype=np.int64)
    room = max(0.0, vd.upper_kwh - vd.care_kwh)
    cols = model.add_columns(vd.care_weight / scale, np.zeros(n), _full(n, room))
    model.add_rows(
        n,
        [(idx, cols, _full(n, 1.0)), (idx, vd.s(n) + idx, _full(n, -1.0))],
        _full(n, -vd.care_kwh),
        _full(n, np.inf),
    )


def plain_cost(problem: Problem, data: list[VehicleData], model: Model) -> FloatArray:
    """``model``'s objective without the tie-breaking epsilons."""
    plain = build(problem, data, tie_break=False).cost
    return np.concatenate([plain, np.zeros(model.cost.shape[0] - plain.shape[0])])


def add_direction_binaries(  # noqa: PLR0917
    model: Model,
    first_col: int,
    second_col: int,
    slots: IntArray,
    first_max: FloatArray,
    second_max: FloatArray,
) -> None:
    """Forbid ``first > 0`` and ``second > 0`` in the same slot, for the given slots."""
    k = slots.shape[0]
    if k == 0:
        return
    if model.integrality is None:
        model.integrality = np.zeros(model.cost.shape[0], dtype=np.uint8)
    cols = model.add_columns(np.zeros(k), np.zeros(k), np.ones(k))
    assert model.integrality is not None
    model.integrality[cols] = 1
    r = np.arange(k, dtype=np.int64)
    # first - M1 b <= 0 ; second + M2 b <= M2
    model.add_rows(
        k,
        [(r, first_col + slots, np.ones(k)), (r, cols, -first_max)],
        _full(k, -np.inf),
        np.zeros(k),
    )
    model.add_rows(
        k,
        [(r, second_col + slots, np.ones(k)), (r, cols, second_max.copy())],
        _full(k, -np.inf),
        second_max.copy(),
    )


def add_grid_binaries(
    model: Model,
    data: list[VehicleData],
    n: int,
    slots: IntArray,
    *,
    limits: tuple[FloatArray, FloatArray],
    net_kw: FloatArray,
) -> None:
    """Forbid import and export in the same slot at the meter, for the given slots.

    Besides the big-M rows ``g <= G b`` and ``x <= X (1 - b)`` (``b`` = 1: the slot imports),
    two rows tie the flows to what can cause them (``net`` = load - solar, per slot):
    ``g <= b net + u + sum c`` and ``x <= -(1 - b) net + sum d``. Both hold in either
    direction (with ``b`` = 1 the balance gives ``g = net + u + sum(c - d)``, with ``b`` = 0 it
    gives ``x = -net - u + sum(d - c)``), so no integer answer is lost, but they cut off the
    relaxation's favourite: ``b`` = 1/2, importing and exporting half the limit each with
    every vehicle idle. Without them, a tariff whose export price beats the import price (a
    fixed feed-in tariff above a cheap night rate) leaves a root gap of the whole arbitrage
    and HiGHS needs seconds of branching; with them the relaxation can only arbitrage by
    charging and discharging (a time-share of import and export slots), which the integer
    answer can nearly match.
    """
    k = slots.shape[0]
    if k == 0:
        return
    g_max, x_max = limits
    add_direction_binaries(model, 0, n, slots, g_max[slots], x_max[slots])
    b = model.cost.shape[0] - k + np.arange(k, dtype=np.int64)
    model.grid_binaries.append(b)
    model.grid_slots.append(slots)
    r = np.arange(k, dtype=np.int64)
    net = net_kw[slots]
    # g - net b - u - sum c <= 0
    entries = [(r, slots, np.ones(k)), (r, b, -net), (r, 2 * n + slots, -np.ones(k))]
    entries += [(r, vd.c + slots, -np.ones(k)) for vd in data]
    model.add_rows(k, entries, _full(k, -np.inf), np.zeros(k))
    # x - net b - sum d <= -net
    entries = [(r, n + slots, np.ones(k)), (r, b, -net)]
    entries += [(r, vd.d(n) + slots, -np.ones(k)) for vd in data]
    model.add_rows(k, entries, _full(k, -np.inf), -net)


def set_semicontinuous(model: Model, col0: int, slots: IntArray, minimum_kw: float) -> None:
    """Variables ``col0 + slots`` become 0 or within [minimum, upper]."""
    if slots.shape[0] == 0:
        return
    if model.integrality is None:
        model.integrality = np.zeros(model.cost.shape[0], dtype=np.uint8)
    cols = col0 + slots
    model.integrality[cols] = 2
    model.lower[cols] = minimum_kw


def with_count(model: Model, count: int) -> Model:
    """A copy of ``model`` in which exactly ``count`` of the meter's direction binaries are 1."""
    variant = model.copy()
    binaries = np.concatenate(model.grid_binaries)
    k = binaries.shape[0]
    variant.add_rows(
        1,
        [(np.zeros(k, dtype=np.int64), binaries, np.ones(k))],
        np.array([float(count)]),
        np.array([float(count)]),
    )
    return variant


def fixed(model: Model, cols: IntArray, values: FloatArray) -> Model:
    """A copy of ``model`` with the integer columns ``cols`` fixed at ``values``."""
    variant = model.copy()
    variant.lower[cols] = values
    variant.upper[cols] = values
    if variant.integrality is not None:
        variant.integrality[cols] = 0
        if not variant.integrality.any():
            variant.integrality = None
    return variant
