"""The HiGHS calls: an assembled `Model` in, (status, message, solution) out.

HiGHS is called through scipy's bundled binding (``scipy.optimize._highspy``), which skips about
3 ms of per-call Python overhead in ``scipy.optimize.milp``; if a scipy release moves it, the code
falls back to ``milp`` (same solver, same answers).

`LpHandle` keeps one LP alive in HiGHS between solves: a search that changes a few bounds, costs
or rows re-solves from the previous basis in a few simplex iterations instead of from scratch.
It needs the binding (`persistent_available`); without it callers use `run`.

Retries: HiGHS occasionally ends with "Solve error" (or another status that is neither an answer
nor a proof of infeasibility) on a problem it solves with other settings: 2 of 13,520 re-plans on
real prices did, and both solved with presolve off. So a failed call is retried as listed in
`RETRIES` (presolve off, then the primal simplex) before the caller falls back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_array

try:  # scipy's bundled HiGHS binding: private, so fall back to milp() if it ever moves
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover
    _highs = None

from .formulation import Model
from .model import FloatArray, SolveOptions

__all__ = [
    "FAILED",
    "OPTIMAL",
    "RETRIES",
    "TIME_LIMIT",
    "LpHandle",
    "persistent_available",
    "run",
]

OPTIMAL = 0
"""Status: solved to optimality (within the MIP gap for a MILP)."""
TIME_LIMIT = 1
"""Status: stopped (time limit) with a feasible solution."""
FAILED = 2
"""Status: no solution."""

RETRIES: tuple[dict[str, object], ...] = (
    {},
    {"presolve": "off"},
    {"presolve": "off", "simplex_strategy": 4},
)
"""HiGHS option changes tried in turn after a failed call (4: the primal simplex)."""

_DUAL_TOLERANCE = 1e-9
"""HiGHS dual feasibility tolerance (default 1e-7): tie-breaking cost differences between
neighbouring slots are ~1e-7 of the largest price on a 192-slot horizon."""


@dataclass(frozen=True, slots=True)
class _Csc:
    """A column-compressed constraint matrix as HiGHS takes it."""

    indptr: npt.NDArray[np.int32]
    indices: npt.NDArray[np.int32]
    data: FloatArray
    shape: tuple[int, int]


def _csc(model: Model) -> _Csc:
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


def _lp(model: Model) -> object:
    """The model as a ``HighsLp`` (column-wise matrix, integrality if any)."""
    assert _highs is not None
    matrix = _csc(model)
    n_cols = model.cost.shape[0]
    lp = _highs.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = model.n_rows
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.lower
    lp.col_upper_ = model.upper
    lp.row_lower_ = np.concatenate(model.row_lower) if model.row_lower else np.zeros(0)
    lp.row_upper_ = np.concatenate(model.row_upper) if model.row_upper else np.zeros(0)
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
    return lp


def _options(options: SolveOptions, *, presolve: bool) -> object:
    assert _highs is not None
    highs_options = _highs.HighsOptions()
    highs_options.output_flag = False
    highs_options.log_to_console = False
    highs_options.time_limit = float(options.time_limit_s)
    highs_options.presolve = "on" if presolve else "off"
    highs_options.mip_rel_gap = float(options.mip_rel_gap)
    highs_options.dual_feasibility_tolerance = _DUAL_TOLERANCE
    return highs_options


def persistent_available() -> bool:
    """Whether `LpHandle` can be used (scipy's HiGHS binding is importable)."""
    return _highs is not None


class LpHandle:
    """One LP kept in HiGHS between solves (no integrality; presolve off, so the basis carries).

    Change column bounds and costs, row bounds, append or drop rows, then `solve` again: HiGHS
    starts from the last basis. Values are those of the last successful solve.
    """

    def __init__(
        self, model: Model, options: SolveOptions, *, presolve: bool = False, devex: bool = False
    ) -> None:
        """Pass ``model`` (its integrality is ignored) to a new HiGHS instance.

        ``presolve``: presolve the first solve (pays for large models; later solves start from
        the basis without it). ``devex``: devex pricing instead of HiGHS's default dual
        steepest edge, cheaper per iteration; for small LPs re-solved warm in a few iterations
        (the single-vehicle search: 3-4 % less time on the 1,500 problems of
        ``benchmarks/speed.py``, interleaved, the same plans). A fleet's LP keeps the default:
        its rounding depends on which of several optimal answers the LP gives.
        """
        assert _highs is not None
        self._highs = _highs._Highs()
        self._highs.passOptions(_options(options, presolve=presolve))
        if devex:
            self._highs.setOptionValue("simplex_dual_edge_weight_strategy", 1)
        self._presolve = presolve
        integrality, model.integrality = model.integrality, None
        try:
            self._highs.passModel(_lp(model))
        finally:
            model.integrality = integrality
        self.values: FloatArray = np.zeros(model.cost.shape[0])
        self.objective = 0.0

    def solve(self) -> tuple[int, str]:
        """Re-solve; returns (`OPTIMAL` or `FAILED`, HiGHS's status text).

        A failure that does not prove infeasibility is retried from scratch (basis dropped)
        with the primal simplex.
        """
        assert _highs is not None
        status, message = self._run()
        if self._presolve:  # only the first solve: later ones start from its basis
            self._highs.setOptionValue("presolve", "off")
            self._presolve = False
        if status == _highs.HighsModelStatus.kOptimal:
            return OPTIMAL, message
        if _proves_infeasible(status):
            return FAILED, message
        self._highs.clearSolver()
        self._highs.setOptionValue("simplex_strategy", 4)
        status, retried = self._run()
        self._highs.setOptionValue("simplex_strategy", 1)
        if status == _highs.HighsModelStatus.kOptimal:
            return OPTIMAL, f"{retried} (after {message})"
        return FAILED, f"{message}; {retried}"

    def _run(self) -> tuple[object, str]:
        assert _highs is not None
        self._highs.run()
        status = self._highs.getModelStatus()
        if status == _highs.HighsModelStatus.kOptimal:
            self.values = np.asarray(self._highs.getSolution().col_value, dtype=np.float64)
            self.objective = float(self._highs.getInfo().objective_function_value)
        return status, str(self._highs.modelStatusToString(status))

    def set_columns(
        self, cols: npt.NDArray[np.int32], lower: FloatArray, upper: FloatArray, cost: FloatArray
    ) -> None:
        """New bounds and costs for the given columns."""
        self._highs.changeColsBounds(cols.shape[0], cols, lower, upper)
        self._highs.changeColsCost(cols.shape[0], cols, cost)

    def set_row_bounds(self, row: int, lower: float, upper: float) -> None:
        """New bounds for one row."""
        self._highs.changeRowBounds(row, lower, upper)

    def add_rows(
        self,
        lower: FloatArray,
        upper: FloatArray,
        starts: npt.NDArray[np.int32],
        cols: npt.NDArray[np.int32],
        vals: FloatArray,
    ) -> None:
        """Append rows ``lower <= A x <= upper``, ``A`` given row-wise (CSR ``starts`` per row)."""
        self._highs.addRows(lower.shape[0], lower, upper, cols.shape[0], starts, cols, vals)

    def keep_rows(self, count: int) -> None:
        """Drop every row after the first ``count``."""
        total = int(self._highs.getNumRow())
        if total > count:
            self._highs.deleteRows(total - count, np.arange(count, total, dtype=np.int32))


def run(
    model: Model,
    options: SolveOptions,
    *,
    start: FloatArray | None = None,
) -> tuple[int, str, FloatArray | None]:
    """Solve the assembled model. Returns (status, message, solution or None).

    Status: `OPTIMAL`, `TIME_LIMIT` (stopped with a feasible solution) or `FAILED`. ``start``
    is a feasible MILP answer HiGHS may start from.
    """
    if _highs is not None:
        return _run_direct(model, options, start=start)
    return _run_milp(model, options)  # pragma: no cover


def _run_direct(
    model: Model,
    options: SolveOptions,
    *,
    start: FloatArray | None,
) -> tuple[int, str, FloatArray | None]:
    """Call HiGHS through scipy's bundled binding, skipping scipy's per-call wrapper.

    ``scipy.optimize.milp`` spends about 3 ms per call on option validation and on building dual
    information in a Python loop over the columns; we need neither. Same solver, same answers.
    A call that fails without proving the model infeasible is retried (see `RETRIES`).
    """
    assert _highs is not None
    lp = _lp(model)
    failures: list[str] = []
    for overrides in RETRIES:
        code, message, x, definite = _attempt(model, lp, options, overrides, start)
        if code != FAILED or definite:
            if failures:
                message = f"{message} (after {', '.join(failures)})"
            return code, message, x
        failures.append(message)
    return FAILED, "; ".join(failures), None


def _attempt(
    model: Model,
    lp: object,
    options: SolveOptions,
    overrides: dict[str, object],
    start: FloatArray | None,
) -> tuple[int, str, FloatArray | None, bool]:
    """One HiGHS call with some options changed: (status, message, solution, infeasible)."""
    assert _highs is not None
    highs = _highs._Highs()
    highs_options = _options(options, presolve=options.presolve)
    for name, value in overrides.items():
        setattr(highs_options, name, value)
    highs.passOptions(highs_options)
    if highs.passModel(lp) == _highs.HighsStatus.kError:  # pragma: no cover - a bug if hit
        return FAILED, "HiGHS rejected the model", None, True
    if start is not None and model.integrality is not None:
        incumbent = _highs.HighsSolution()
        incumbent.col_value = start.tolist()
        incumbent.value_valid = True
        highs.setSolution(incumbent)
    highs.run()
    status = highs.getModelStatus()
    message = str(highs.modelStatusToString(status))
    if status == _highs.HighsModelStatus.kOptimal:
        code = OPTIMAL
    elif highs.getInfo().primal_solution_status == _highs.SolutionStatus.kSolutionStatusFeasible:
        code = TIME_LIMIT
    elif start is not None and status == _highs.HighsModelStatus.kTimeLimit:
        # Out of time without having taken the start (with presolve on it sometimes fails to
        # carry it over): the start is the answer, not a retry that would take as long again.
        return TIME_LIMIT, message, start.copy(), False
    else:
        return FAILED, message, None, _proves_infeasible(status)
    return code, message, np.asarray(highs.getSolution().col_value, dtype=np.float64), False


def _proves_infeasible(status: object) -> bool:
    """HiGHS answered "no solution" (a retry would not change that)."""
    assert _highs is not None
    kinds = _highs.HighsModelStatus
    return status in {kinds.kInfeasible, kinds.kUnboundedOrInfeasible, kinds.kUnbounded}


def _run_milp(
    model: Model, options: SolveOptions
) -> tuple[int, str, FloatArray | None]:  # pragma: no cover - used if scipy moves its binding
    """Solve through the public ``scipy.optimize.milp``."""
    matrix = _csc(model)
    row_lower = np.concatenate(model.row_lower)
    row_upper = np.concatenate(model.row_upper)
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
        return FAILED, str(result.message), None
    code = OPTIMAL if result.status == 0 else TIME_LIMIT
    return code, str(result.message), np.asarray(result.x, float)
