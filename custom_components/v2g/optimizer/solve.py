"""LP / MILP assembly with sparse matrices and the HiGHS call.

Formulation (per slot ``t`` of length ``h_t`` hours; powers kW, energies kWh inside):

- site variables: grid import ``g_t``, export ``x_t``, curtailed solar ``u_t`` (``<= solar_t``),
  and the horizon's peak import ``P`` when a capacity price is set;
- per vehicle: AC charge ``c_t``, AC discharge ``d_t``, stored energy at slot end ``s_t``, a
  reserve shortfall ``m_t`` (only when the EV is below its reserve now) and a target shortfall
  ``y`` (one per vehicle with a departure);
- balance ``g - x - u + sum(d - c) = load - solar``; dynamics
  ``s_t = s_{t-1} + h_t (eta_c c_t - d_t / eta_d)``; ``s_t + m_t >= reserve``;
  ``s_dep + y >= target``; ``g_t <= P``;
- objective: ``sum h (p_imp g - p_exp x + wear (c + d)) + capacity_price P
  - v_term * sum s_end + M (sum h m + y)`` plus tie-breaking epsilons (``eps`` = 1e-4 of the
  largest price): charging costs ``eps * (1 + t / T)`` more per kWh, so equal prices charge
  early and charging to hold energy at exactly its terminal value does not happen;
  discharging costs ``0.1 eps`` and curtailing ``0.001 eps`` (no cycling or spilling for
  nothing).

Soft constraints keep every problem feasible: shortfalls below the reserve or the target cost
``M`` per kWh, where ``M`` is 1000 times the most any kWh could cost; the import limit is raised
per slot to the base load if the house alone exceeds it. So the solve never comes back
infeasible, and an unreachable target yields the best reachable SoC (the flag tells). The
target of a departure after the horizon end is reduced by what the charger can still deliver
between the horizon end and the departure.

Terminal value ``v_term``: a kWh stored at the horizon end is worth the lowest import price of the
horizon (floored at 0), unless the Problem overrides it. That is conservative: it never pays to
buy energy just to hold it (``p / eta_c + wear > min p``), and the battery is only emptied at the
horizon end when an export price beats the cheapest import price of the horizon after losses and
wear (energy that could be bought back more cheaply later).

Integrality only where a pure LP can be gamed or is wrong: the LP is solved first; if any slot
charges and discharges at once (pays only with negative import prices), imports and exports at
once (only when export pays more than import), or charges below the charger's minimum power,
binaries (direction) or semi-continuous variables (minimum power) are added for exactly those
slots — pre-emptively for slots with negative import price or export above import — and the
problem re-solved, until the answer satisfies all of them. Since each round solves a relaxation
of the full MILP, an answer that satisfies every rule is optimal for the full MILP too. After
``max_rounds - 1`` rounds the full MILP is solved (every slot where a rule can bite).

Meter direction binaries (export above import, e.g. a fixed feed-in tariff above a cheap night
rate) get two extra rows tying import to load and charging and export to discharging, so the
relaxation cannot arbitrage with the vehicles idle; and a round with them is solved by
``_solve_lexicographic``: a lower bound from the number of import slots (the relaxation's value
is convex in it), roundings of the relaxation checked against that bound, and only if none is
proven optimal the MILP as before. Without this, a 48 h horizon with 30 such slots took HiGHS
~2 s of branching over equivalent orders of import and export slots; with it, ~20 ms (4 LPs).

HiGHS is called through scipy's bundled binding (``scipy.optimize._highspy``), which skips about
3 ms of per-call Python overhead in ``scipy.optimize.milp``; if a scipy release moves it, the code
falls back to ``milp`` (same solver, same answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import time

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_array

try:  # scipy's bundled HiGHS binding: private, so fall back to milp() if it ever moves
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover
    _highs = None

from .model import CostBreakdown, FloatArray, Plan, Problem, Vehicle, VehiclePlan

__all__ = ["SolveOptions", "evaluate", "penalty_per_kwh", "solve", "terminal_value_per_kwh"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_DUAL_TOLERANCE = 1e-9
"""HiGHS dual feasibility tolerance (default 1e-7): tie-breaking cost differences between
neighbouring slots are ~1e-7 of the largest price on a 192-slot horizon."""

_TOL_KW = 1e-6
"""Powers below this (kW, i.e. 1 mW) count as zero when checking the LP answer."""


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
    reference: bool = False
    """Solve the full MILP in one go, every rule enforced in every slot where it can bite, and
    skip the shortcut for meters with direction binaries (slow; a reference for tests)."""


@dataclass(slots=True)
class _VehicleData:
    """A vehicle's per-slot bounds and constants, in kW / kWh."""

    vehicle: Vehicle
    available: BoolArray
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
    target_kwh: float
    departure_index: int | None
    """Target applies to the stored energy at the end of slot ``departure_index - 1``."""
    wear: float
    soft_reserve: bool
    offset: int = 0
    """Column of this vehicle's first variable."""

    @property
    def c(self) -> int:
        return self.offset

    def d(self, n: int) -> int:
        return self.offset + n

    def s(self, n: int) -> int:
        return self.offset + 2 * n

    def m(self, n: int) -> int:
        return self.offset + 3 * n

    def y(self, n: int) -> int:
        return self.offset + 3 * n + (n if self.soft_reserve else 0)

    def width(self, n: int) -> int:
        return 3 * n + (n if self.soft_reserve else 0) + (1 if self.departure_index else 0)


def _vehicle_data(problem: Problem, vehicle: Vehicle) -> _VehicleData:
    grid = problem.grid
    n = len(grid)
    departure_index: int | None = None
    extra_kwh = 0.0
    if vehicle.departure is not None:
        k = grid.slots_ending_by(vehicle.departure)
        if k > 0:
            departure_index = k
            if k == n:
                # Departure after the horizon: require what cannot be charged after it.
                after_h = max(0.0, (vehicle.departure - grid.end).total_seconds() / 3600.0)
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
    charge_max = np.where(available, vehicle.max_charge_power_w / 1000.0, 0.0)
    can_discharge = vehicle.v2g_allowed and vehicle.max_discharge_power_w > 0
    discharge_max = np.where(available & can_discharge, vehicle.max_discharge_power_w / 1000.0, 0.0)
    return _VehicleData(
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
        soft_reserve=initial < reserve - 1e-9,
    )


def terminal_value_per_kwh(problem: Problem) -> float:
    """Value of one kWh stored in a battery at the horizon end (see the module docstring)."""
    if problem.terminal_value_per_kwh is not None:
        return float(problem.terminal_value_per_kwh)
    return max(0.0, float(problem.import_price_per_kwh.min()))


def penalty_per_kwh(problem: Problem) -> float:
    """Penalty per kWh of shortfall below a reserve or departure target (soft constraints)."""
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
    return 1000.0 * (prices + 2.0 * wear + capacity) / eta


def _import_limit_kw(problem: Problem) -> FloatArray:
    net_load_kw = (problem.load - problem.solar) / 1000.0
    return np.maximum(problem.site.import_limit_w / 1000.0, net_load_kw)


def _export_limit_kw(problem: Problem) -> float:
    if not problem.site.export_allowed:
        return 0.0
    return problem.site.export_limit_w / 1000.0


@dataclass(slots=True)
class _Model:
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
    plain_cost: FloatArray | None = None
    """The objective without the tie-breaking epsilons (None: the same as ``cost``)."""
    grid_binaries: list[IntArray] = field(default_factory=list)
    """Columns of the meter's direction binaries (1: the slot imports)."""
    grid_slots: list[IntArray] = field(default_factory=list)
    """Their slots."""

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

    def copy(self) -> _Model:
        """A copy that can take rows, columns and new bounds without changing this one."""
        return _Model(
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
        )


def _full(n: int, value: float) -> FloatArray:
    return np.full(n, value, dtype=np.float64)


def _build(  # noqa: PLR0915
    problem: Problem, data: list[_VehicleData], tie_break: bool
) -> tuple[_Model, int | None]:
    """Assemble the LP. Returns the model and the column of the peak variable (or None)."""
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
    upper_parts = [_import_limit_kw(problem), _full(n, _export_limit_kw(problem)), solar_kw]
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
        later = eps * (1.0 + idx / n) if tie_break else np.zeros(n)
        cost_parts += [h * (vd.wear + later), h * (vd.wear + 0.1 * eps), np.zeros(n)]
        cost_parts[-1][-1] = -v_term
        s_lower = 0.0 if vd.soft_reserve else vd.reserve_kwh
        lower_parts += [np.zeros(2 * n), _full(n, s_lower)]
        upper_parts += [vd.charge_max_kw, vd.discharge_max_kw, _full(n, vd.upper_kwh)]
        if vd.soft_reserve:
            cost_parts.append(penalty * h)
            lower_parts.append(np.zeros(n))
            upper_parts.append(_full(n, vd.reserve_kwh))
        if vd.departure_index:
            cost_parts.append(np.array([penalty]))
            lower_parts.append(np.zeros(1))
            upper_parts.append(np.array([max(vd.target_kwh, 0.0)]))
    # Costs in units of the largest price: HiGHS tolerances are absolute, and the tie-breaking
    # epsilons must stay well above them whatever the currency or price level.
    model = _Model(
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
    if peak_col is not None:
        model.add_rows(
            n,
            [(idx, idx, _full(n, 1.0)), (idx, _full(n, peak_col).astype(np.int64), _full(n, -1.0))],
            _full(n, -np.inf),
            np.zeros(n),
        )
    return model, peak_col


def _add_direction_binaries(  # noqa: PLR0917
    model: _Model,
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


def _add_grid_binaries(
    model: _Model,
    data: list[_VehicleData],
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
    _add_direction_binaries(model, 0, n, slots, g_max[slots], x_max[slots])
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


def _set_semicontinuous(model: _Model, col0: int, slots: IntArray, minimum_kw: float) -> None:
    """Variables ``col0 + slots`` become 0 or within [minimum, upper]."""
    if slots.shape[0] == 0:
        return
    if model.integrality is None:
        model.integrality = np.zeros(model.cost.shape[0], dtype=np.uint8)
    cols = col0 + slots
    model.integrality[cols] = 2
    model.lower[cols] = minimum_kw


@dataclass(frozen=True, slots=True)
class _Csc:
    """A column-compressed constraint matrix as HiGHS takes it."""

    indptr: npt.NDArray[np.int32]
    indices: npt.NDArray[np.int32]
    data: FloatArray
    shape: tuple[int, int]


def _csc(model: _Model) -> _Csc:
    """Compress the triplets by column (no duplicates by construction).

    Built directly with numpy: scipy's generic COO to CSC conversion and format checks cost
    more than the rest of the assembly.
    """
    n_cols = model.cost.shape[0]
    rows = np.concatenate(model.rows)
    cols = np.concatenate(model.cols)
    vals = np.concatenate(model.vals)
    order = np.lexsort((rows, cols))
    indptr = np.zeros(n_cols + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols, minlength=n_cols), out=indptr[1:])
    return _Csc(indptr, rows[order].astype(np.int32), vals[order], (model.n_rows, n_cols))


def _run(
    model: _Model,
    options: SolveOptions,
    *,
    start: FloatArray | None = None,
) -> tuple[int, str, FloatArray | None]:
    """Solve the assembled model. Returns (status, message, solution or None).

    Status: 0 optimal, 1 stopped by the time limit with a feasible solution, 2 failure.
    """
    matrix = _csc(model)
    row_lower = np.concatenate(model.row_lower)
    row_upper = np.concatenate(model.row_upper)
    if _highs is not None:
        return _run_direct(model, matrix, row_lower, row_upper, options, start=start)
    return _run_milp(model, matrix, row_lower, row_upper, options)  # pragma: no cover


def _run_direct(
    model: _Model,
    matrix: _Csc,
    row_lower: FloatArray,
    row_upper: FloatArray,
    options: SolveOptions,
    *,
    start: FloatArray | None,
) -> tuple[int, str, FloatArray | None]:
    """Call HiGHS through scipy's bundled binding, skipping scipy's per-call wrapper.

    ``scipy.optimize.milp`` spends about 3 ms per call on option validation and on building dual
    information in a Python loop over the columns; we need neither. Same solver, same answers.
    """
    assert _highs is not None
    n_cols = model.cost.shape[0]
    lp = _highs.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = model.n_rows
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.lower
    lp.col_upper_ = model.upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = model.n_rows
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    if model.integrality is not None:
        kinds = (
            _highs.HighsVarType.kContinuous,
            _highs.HighsVarType.kInteger,
            _highs.HighsVarType.kSemiContinuous,
        )
        lp.integrality_ = [kinds[k] for k in model.integrality.tolist()]
    highs = _highs._Highs()
    highs_options = _highs.HighsOptions()
    highs_options.output_flag = False
    highs_options.log_to_console = False
    highs_options.time_limit = float(options.time_limit_s)
    highs_options.presolve = "on" if options.presolve else "off"
    highs_options.mip_rel_gap = float(options.mip_rel_gap)
    highs_options.dual_feasibility_tolerance = _DUAL_TOLERANCE
    highs.passOptions(highs_options)
    if highs.passModel(lp) == _highs.HighsStatus.kError:  # pragma: no cover - a bug if hit
        return 2, "HiGHS rejected the model", None
    if start is not None and model.integrality is not None:
        incumbent = _highs.HighsSolution()
        incumbent.col_value = start.tolist()
        incumbent.value_valid = True
        highs.setSolution(incumbent)
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    message = str(highs.modelStatusToString(status))
    if status == _highs.HighsModelStatus.kOptimal:
        code = 0
    elif info.primal_solution_status == _highs.SolutionStatus.kSolutionStatusFeasible:
        code = 1
    else:
        return 2, message, None
    return code, message, np.asarray(highs.getSolution().col_value, dtype=np.float64)


def _run_milp(
    model: _Model,
    matrix: _Csc,
    row_lower: FloatArray,
    row_upper: FloatArray,
    options: SolveOptions,
) -> tuple[int, str, FloatArray | None]:  # pragma: no cover - used if scipy moves its binding
    """Solve through the public ``scipy.optimize.milp``."""
    highs_options: dict[str, object] = {
        "time_limit": options.time_limit_s,
        "presolve": options.presolve,
    }
    if model.integrality is not None:
        highs_options["mip_rel_gap"] = options.mip_rel_gap
    result = milp(
        model.cost,
        integrality=model.integrality,
        bounds=Bounds(model.lower, model.upper),
        constraints=LinearConstraint(
            csc_array((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape),
            row_lower,
            row_upper,
        ),
        options=highs_options,
    )
    if result.x is None:
        return 2, str(result.message), None
    return (0 if result.status == 0 else 1), str(result.message), np.asarray(result.x, float)


def _with_count(model: _Model, count: int) -> _Model:
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


def _fixed(model: _Model, cols: IntArray, values: FloatArray) -> _Model:
    """A copy of ``model`` with the integer columns ``cols`` fixed at ``values``."""
    variant = model.copy()
    variant.lower[cols] = values
    variant.upper[cols] = values
    if variant.integrality is not None:
        variant.integrality[cols] = 0
        if not variant.integrality.any():
            variant.integrality = None
    return variant


_PHASES = (1.0 - 1e-4, 1e-4, 0.5)
"""Phases of the running-sum rounding tried: import first (a relaxation time-sharing at a
vehicle's lower energy bound must charge first), export first (at the upper bound), halfway."""


def _spread(values: FloatArray, phase: float = 0.5) -> FloatArray:
    """Round values in [0, 1] to 0 / 1 keeping every running sum within 1/2 of the original.

    Applied to the relaxation's direction binaries in slot order, import and export slots
    alternate the way the relaxation time-shares them, so the vehicles' stored energy follows
    the relaxation's within one slot's worth.
    """
    clean = np.where(values < 1e-5, 0.0, np.where(values > 1.0 - 1e-5, 1.0, values))
    running = np.floor(np.cumsum(np.clip(clean, 0.0, 1.0)) + phase)
    return np.diff(running, prepend=0.0)


def _solve_lexicographic(
    model: _Model, options: SolveOptions
) -> tuple[int, str, FloatArray | None]:
    """Solve a model with meter direction binaries, cheaply when a rounding can be proven optimal.

    Slots where export pays more than import are symmetric: with equal prices, which of them
    import and which export only moves the tie-breaking epsilons, and proving the epsilon-best
    order to HiGHS's gap takes thousands of LP solves (seconds). And the relaxation is weak in
    a way branching on single binaries hardly mends: it time-shares a fractional number of
    import slots. So, before any branching:

    1. A lower bound on the MILP's real cost (no epsilons): the relaxation (every binary in
       [0, 1], semi-continuous variables down to 0) has ``K*`` import slots (the sum of the
       direction binaries). Its value with that sum fixed is convex in the sum, so the smaller
       of the relaxations with the sum fixed at ``floor(K*)`` and at ``ceil(K*)`` is a lower
       bound on the MILP optimum (``_count_bound``).
    2. Integer answers: the better relaxation's direction binaries rounded by running sums
       (import and export slots alternating as the relaxation time-shares them; import first,
       export first, halfway), the LP re-solved with those directions and the epsilons. The
       first whose real cost is within ``mip_rel_gap`` of the bound is optimal for the full
       MILP and is the answer (its epsilons are optimal within its directions).
    3. If none is, the MILP as before (with the epsilons), warm-started from the best rounding.
    """
    assert model.integrality is not None
    plain = model.cost if model.plain_cost is None else model.plain_cost
    binaries = np.concatenate(model.grid_binaries)
    binaries = binaries[np.argsort(np.concatenate(model.grid_slots), kind="stable")]
    exact = model.copy()
    exact.cost = plain
    found = _count_bound(exact, binaries, options)
    start: FloatArray | None = None
    if found is not None:
        bound, relaxed_x = found
        for phase in _PHASES:
            rounded = _spread(relaxed_x[binaries], phase)
            status, message, x = _run(_fixed(model, binaries, rounded), options)
            if x is None or status != 0:
                continue
            value = float(plain @ x)
            if value - bound <= options.mip_rel_gap * max(1.0, abs(value)):
                return status, message, x
            if start is None or value < float(plain @ start):
                start = x
    return _run(model, options, start=start)


def _count_bound(
    exact: _Model, binaries: IntArray, options: SolveOptions
) -> tuple[float, FloatArray] | None:
    """Lower bound on the MILP (real costs) from the number of import slots.

    Returns the bound and the better relaxation's answer, or None if an LP fails.
    """
    assert exact.integrality is not None
    relaxed = exact.copy()
    relaxed.integrality = None
    relaxed.lower = np.where(exact.integrality == 2, 0.0, exact.lower)
    status, _, x = _run(relaxed, options)
    if x is None or status != 0:
        return None
    k_star = float(x[binaries].sum())
    counts = sorted({math.floor(k_star + 1e-6), math.ceil(k_star - 1e-6)})
    if len(counts) == 1:
        return float(exact.cost @ x), x
    best: tuple[float, FloatArray] | None = None
    for count in counts:
        status, _, x = _run(_with_count(relaxed, count), options)
        if x is None or status != 0:  # infeasible or failed: no valid bound from here
            return None
        if best is None or float(exact.cost @ x) < best[0]:
            best = (float(exact.cost @ x), x)
    return best


def _plain_cost(problem: Problem, data: list[_VehicleData], model: _Model) -> FloatArray:
    """``model``'s objective without the tie-breaking epsilons (built only when needed)."""
    plain = _build(problem, data, tie_break=False)[0].cost
    return np.concatenate([plain, np.zeros(model.cost.shape[0] - plain.shape[0])])


def _solve_model(model: _Model, options: SolveOptions) -> tuple[int, str, FloatArray | None]:
    if model.grid_binaries and not options.reference:
        return _solve_lexicographic(model, options)
    return _run(model, options)


@dataclass(slots=True)
class _Rules:
    """Which slots already carry integrality, per rule (vehicle rules: one mask per vehicle)."""

    direction: list[BoolArray]
    charge_min: list[BoolArray]
    discharge_min: list[BoolArray]
    grid: BoolArray


def _candidates(data: list[_VehicleData], g_max: FloatArray, x_max: FloatArray) -> _Rules:
    """Slots where each rule can bite at all."""
    return _Rules(
        direction=[(vd.charge_max_kw > 0) & (vd.discharge_max_kw > 0) for vd in data],
        charge_min=[(vd.charge_max_kw >= vd.charge_min_kw) & (vd.charge_min_kw > 0) for vd in data],
        discharge_min=[
            (vd.discharge_max_kw >= vd.discharge_min_kw) & (vd.discharge_min_kw > 0) for vd in data
        ],
        grid=(g_max > 0) & (x_max > 0),
    )


def _violations(x: FloatArray, data: list[_VehicleData], n: int) -> _Rules:
    """Slots whose LP answer breaks a rule the LP does not enforce."""
    direction: list[BoolArray] = []
    charge_min: list[BoolArray] = []
    discharge_min: list[BoolArray] = []
    for vd in data:
        c = x[vd.c : vd.c + n]
        d = x[vd.d(n) : vd.d(n) + n]
        direction.append((c > _TOL_KW) & (d > _TOL_KW))
        charge_min.append((c > _TOL_KW) & (c < vd.charge_min_kw - _TOL_KW))
        discharge_min.append((d > _TOL_KW) & (d < vd.discharge_min_kw - _TOL_KW))
    grid = (x[:n] > _TOL_KW) & (x[n : 2 * n] > _TOL_KW)
    return _Rules(direction, charge_min, discharge_min, grid)


def _any(rules: _Rules) -> bool:
    masks = [*rules.direction, *rules.charge_min, *rules.discharge_min, rules.grid]
    return any(bool(mask.any()) for mask in masks)


def _impose(
    model: _Model,
    data: list[_VehicleData],
    n: int,
    have: _Rules,
    want: _Rules,
    *,
    limits: tuple[FloatArray, FloatArray],
    net_kw: FloatArray,
) -> None:
    """Add integrality for the slots in ``want`` not yet in ``have`` (and record them)."""
    for i, vd in enumerate(data):
        new = np.flatnonzero(want.direction[i] & ~have.direction[i]).astype(np.int64)
        _add_direction_binaries(
            model, vd.c, vd.d(n), new, vd.charge_max_kw[new], vd.discharge_max_kw[new]
        )
        have.direction[i] |= want.direction[i]
        new = np.flatnonzero(want.charge_min[i] & ~have.charge_min[i]).astype(np.int64)
        _set_semicontinuous(model, vd.c, new, vd.charge_min_kw)
        have.charge_min[i] |= want.charge_min[i]
        new = np.flatnonzero(want.discharge_min[i] & ~have.discharge_min[i]).astype(np.int64)
        _set_semicontinuous(model, vd.d(n), new, vd.discharge_min_kw)
        have.discharge_min[i] |= want.discharge_min[i]
    new = np.flatnonzero(want.grid & ~have.grid).astype(np.int64)
    _add_grid_binaries(model, data, n, new, limits=limits, net_kw=net_kw)
    have.grid |= want.grid


def _restrict(want: _Rules, allowed: _Rules) -> _Rules:
    return _Rules(
        direction=[w & a for w, a in zip(want.direction, allowed.direction, strict=True)],
        charge_min=[w & a for w, a in zip(want.charge_min, allowed.charge_min, strict=True)],
        discharge_min=[
            w & a for w, a in zip(want.discharge_min, allowed.discharge_min, strict=True)
        ],
        grid=want.grid & allowed.grid,
    )


def solve(problem: Problem, options: SolveOptions | None = None) -> Plan:
    """Optimal plan for every vehicle of ``problem`` (one or a fleet sharing the site limits).

    Never raises for a well-formed Problem: if HiGHS fails, the answer is the charge-now plan with
    ``status`` saying why.
    """
    started = time.perf_counter()
    opts = options or SolveOptions()
    n = len(problem.grid)
    data = [_vehicle_data(problem, v) for v in problem.vehicles]
    model, peak_col = _build(problem, data, opts.tie_break)
    # Finite bounds on import and export (big-M of the direction binaries): the limits, or what
    # the house and the vehicles could possibly draw or deliver.
    # These are also the variables' bounds: more import than the house and the vehicles can
    # draw (with all solar curtailed), or more export than solar and V2G can deliver, is useless.
    load_kw = problem.load / 1000.0
    solar_kw = problem.solar / 1000.0
    charge_all = sum((vd.charge_max_kw for vd in data), np.zeros(n))
    discharge_all = sum((vd.discharge_max_kw for vd in data), np.zeros(n))
    g_max = np.minimum(model.upper[:n], load_kw + charge_all)
    x_max = np.minimum(model.upper[n : 2 * n], np.clip(solar_kw + discharge_all - load_kw, 0, None))
    model.upper[:n] = g_max
    model.upper[n : 2 * n] = x_max

    limits = (g_max, x_max)
    net_kw = load_kw - solar_kw
    for vd in data:  # a charger that cannot reach its minimum power cannot run at all there
        model.upper[vd.c + np.flatnonzero(vd.charge_max_kw < vd.charge_min_kw)] = 0.0
        model.upper[vd.d(n) + np.flatnonzero(vd.discharge_max_kw < vd.discharge_min_kw)] = 0.0
    allowed = _candidates(data, g_max, x_max)
    have = _Rules(
        direction=[np.zeros(n, dtype=bool) for _ in data],
        charge_min=[np.zeros(n, dtype=bool) for _ in data],
        discharge_min=[np.zeros(n, dtype=bool) for _ in data],
        grid=np.zeros(n, dtype=bool),
    )
    # Pre-emptive: where the LP is known to be gameable (negative import price: burning energy
    # by charging and discharging at once pays; export paying more than import: import to export).
    negative = problem.import_price_per_kwh < 0
    pre = _Rules(
        direction=[negative.copy() for _ in data],
        charge_min=[np.zeros(n, dtype=bool) for _ in data],
        discharge_min=[np.zeros(n, dtype=bool) for _ in data],
        grid=problem.export_price_per_kwh > problem.import_price_per_kwh,
    )
    _impose(
        model,
        data,
        n,
        have,
        allowed if opts.reference else _restrict(pre, allowed),
        limits=limits,
        net_kw=net_kw,
    )

    status_text = "optimal"
    solution: FloatArray | None = None
    rounds = max(2, opts.max_rounds)
    for round_index in range(rounds):
        if opts.tie_break and model.grid_binaries and model.plain_cost is None:
            model.plain_cost = _plain_cost(problem, data, model)
        status, message, x = _solve_model(model, opts)
        if x is None or status not in (0, 1):
            status_text = f"solver failed: {message}"
            solution = None
            break
        solution = x
        status_text = "optimal" if status == 0 else f"time limit: {message}"
        broken = _violations(x, data, n)
        if not _any(broken):
            break
        if round_index >= rounds - 2:
            # Last resort: the full MILP (every slot where a rule can bite).
            _impose(model, data, n, have, allowed, limits=limits, net_kw=net_kw)
        else:
            _impose(model, data, n, have, _restrict(broken, allowed), limits=limits, net_kw=net_kw)
    else:
        status_text = "rule violations remain after the last round"

    if solution is None:
        from .baselines import charge_now  # noqa: PLC0415  (circular at import time)

        fallback = charge_now(problem)
        return Plan(
            grid=fallback.grid,
            vehicles=fallback.vehicles,
            grid_import_w=fallback.grid_import_w,
            grid_export_w=fallback.grid_export_w,
            curtailed_solar_w=fallback.curtailed_solar_w,
            cost=fallback.cost,
            status=status_text,
            solve_time_s=time.perf_counter() - started,
            strategy="charge_now (solver fallback)",
        )
    x = solution
    charge = [np.clip(x[vd.c : vd.c + n], 0.0, None) * 1000.0 for vd in data]
    discharge = [np.clip(x[vd.d(n) : vd.d(n) + n], 0.0, None) * 1000.0 for vd in data]
    _ = peak_col
    return _evaluate(
        problem,
        data,
        charge,
        discharge,
        strategy="optimal",
        status=status_text,
        solve_time_s=time.perf_counter() - started,
        mip=model.integrality is not None,
        grid_import_w=np.clip(x[:n], 0.0, None) * 1000.0,
        grid_export_w=np.clip(x[n : 2 * n], 0.0, None) * 1000.0,
    )


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
    data = [_vehicle_data(problem, v) for v in problem.vehicles]
    return _evaluate(
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


def _evaluate(
    problem: Problem,
    data: list[_VehicleData],
    charge_power_w: list[FloatArray],
    discharge_power_w: list[FloatArray],
    *,
    strategy: str,
    status: str,
    solve_time_s: float,
    mip: bool,
    grid_import_w: FloatArray | None,
    grid_export_w: FloatArray | None,
) -> Plan:
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
    for vd, c_w, d_w in zip(data, charge_power_w, discharge_power_w, strict=True):
        c = np.asarray(c_w, dtype=np.float64) / 1000.0
        d = np.asarray(d_w, dtype=np.float64) / 1000.0
        total_c += c
        total_d += d
        stored = vd.initial_kwh + np.cumsum(h * (vd.eta_c * c - d / vd.eta_d))
        wear = float(np.sum(h * vd.wear * (c + d)))
        wear_total += wear
        shortfall += penalty * float(np.sum(h * np.clip(vd.reserve_kwh - stored, 0.0, None)))
        terminal += v_term * float(stored[-1] - vd.initial_kwh)
        reachable = True
        best: float | None = None
        dep_soc: float | None = None
        if vd.departure_index:
            at_departure = float(stored[vd.departure_index - 1])
            missing = max(0.0, vd.target_kwh - at_departure)
            shortfall += penalty * missing
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
            )
        )
    net_kw = (problem.load - problem.solar) / 1000.0 + total_c - total_d
    if grid_import_w is None or grid_export_w is None:
        imp = np.clip(net_kw, 0.0, None)
        surplus = np.clip(-net_kw, 0.0, None)
        x_max = _export_limit_kw(problem)
        solar_kw = problem.solar / 1000.0
        export_wanted = np.where(problem.export_price_per_kwh > 0, surplus, 0.0)
        exp = np.minimum(export_wanted, x_max)
        curtail = np.minimum(surplus - exp, solar_kw)
        exp = surplus - curtail  # whatever cannot be curtailed must go out
    else:
        imp = grid_import_w / 1000.0
        exp = grid_export_w / 1000.0
        curtail = np.clip(imp - exp - net_kw, 0.0, None)
    peak_kw = max(float(imp.max()), problem.site.peak_import_floor_w / 1000.0)
    cost = CostBreakdown(
        import_cost=float(np.sum(h * problem.import_price_per_kwh * imp)),
        export_revenue=float(np.sum(h * problem.export_price_per_kwh * exp)),
        wear_cost=wear_total,
        peak_cost=problem.site.capacity_price_per_kw * peak_kw,
        terminal_value=terminal,
        shortfall_penalty=shortfall,
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
    )
