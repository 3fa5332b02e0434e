"""Per-slot cost curves of one vehicle: what a slot costs as a function of the energy stored in it.

With one vehicle on the site, fixing the vehicle's AC power ``p`` in a slot (+ charge, - discharge)
fixes everything else in that slot: the cheapest grid flows for house, solar and vehicle follow
(import or export, never both, as the meter's direction binaries of the full MILP demand; surplus
exported or curtailed, whichever pays), and so does the battery's energy change
``e = h (eta_c p+ - p- / eta_d)``. So each slot is a curve: cost against ``e``. The slots are
coupled only through the stored energy (bounds, reserve, target, terminal value), which
`single` handles.

A curve is piecewise linear between a few candidate powers: the charger's limits and minimum
powers, 0, the site's import and export limits, and the powers where the site flow changes regime
(import to export, export limit reached, solar curtailed, and where importing with negative
prices starts to pay more than exporting). It is defined only on the powers the charger can run
at: 0, [minimum, maximum] charging and [minimum, maximum] discharging, each cut to the site limits.
Between two neighbouring points the cost is linear when both lie in one interval of allowed powers
(``linked``); otherwise the gap between them cannot be used. Within an interval the curve is
convex, except where exporting pays more than importing (a fixed feed-in tariff above a cheap
night rate) or importing pays (negative prices): those regions, and the gaps, are what make the
problem a MILP.

The objective of a point is the full MILP's (`formulation`): energy cost at the meter, wear and
the tie-breaking epsilons, divided by the same price scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bounds import VehicleData, export_limit_kw, import_limit_kw, tie_epsilons
from .model import BoolArray, FloatArray, Problem

__all__ = ["Curves", "idle_gaps", "power_kw", "price_scale", "site_flows_kw", "vehicle_curves"]

IntArray = npt.NDArray[np.int64]

_SAME_KW = 1e-9
"""Candidate powers closer than this (kW) are one point."""


@dataclass(frozen=True, slots=True)
class Curves:
    """The cost curves of one vehicle, one row per slot.

    Points of a slot are sorted by energy and packed to the left: the first ``count[t]`` entries
    of row ``t`` are valid; padding holds ``inf`` energy and cost and 0 power.
    """

    energy_kwh: FloatArray
    """(n, m) change of stored energy at each point."""
    cost: FloatArray
    """(n, m) the slot's share of the objective at each point, in units of ``scale``."""
    power_kw: FloatArray
    """(n, m) signed AC power at each point."""
    count: IntArray
    """(n,) number of points of each slot (at least 1: idle is always possible)."""
    linked: BoolArray
    """(n, m - 1) the cost is linear between points k and k + 1 (no gap between them)."""
    zero: IntArray
    """(n,) index of the idle point (power 0) of each slot."""
    scale: float
    """Price scale the costs are divided by (as in the LP: the largest absolute price)."""


IdleGap = tuple[BoolArray, IntArray, IntArray]
"""Per slot: whether its curve has a gap next to idle in one direction (running at all needs a
minimum power), and the gap's lower and upper point."""


def idle_gaps(curves: Curves) -> tuple[IdleGap, IdleGap]:
    """The gaps next to idle, charging (idle to the minimum run) and discharging (back).

    Where a slot has no such gap, its two points mean nothing.
    """
    rows = np.arange(curves.count.shape[0])
    zero, last = curves.zero, curves.count - 1
    linked = np.pad(curves.linked, ((0, 0), (0, 1)))
    down = np.maximum(zero - 1, 0)
    charging = ((zero < last) & ~linked[rows, zero], zero, np.minimum(zero + 1, last))
    discharging = ((zero > 0) & ~linked[rows, down], down, zero)
    return charging, discharging


def price_scale(problem: Problem) -> float:
    """The largest absolute price (at least 0.01): costs are divided by it inside the solvers."""
    return max(
        float(np.abs(problem.import_price_per_kwh).max()),
        float(np.abs(problem.export_price_per_kwh).max()),
        0.01,
    )


def _site(
    q: FloatArray, limits: tuple[FloatArray, float, FloatArray], prices: tuple[FloatArray, ...]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Cheapest meter flows for a net site demand ``q`` (kW; broadcasts), per mode.

    Returns (import-mode cost, export-mode cost, import kW, export kW) per hour, costs ``inf``
    where a mode is infeasible, flows those of the cheaper mode. Import mode: ``g = q + u``
    (curtailing ``u`` lets more be imported, which pays only with negative prices); export mode:
    ``x + u = -q`` (curtail only what does not pay to export).
    """
    g_max, x_max, solar = limits
    p_imp, p_exp, eps_u = prices
    u_low = np.maximum(0.0, -q)
    u_high = np.minimum(solar, g_max - q)
    u = np.where(p_imp + eps_u >= 0.0, u_low, u_high)
    import_ok = u_low <= u_high + 1e-12
    import_cost = np.where(import_ok, p_imp * (q + u) + eps_u * u, np.inf)
    x_low = np.maximum(0.0, -q - solar)
    x_high = np.minimum(x_max, -q)
    x = np.where(p_exp + eps_u > 0.0, x_high, x_low)
    export_ok = (q <= 1e-12) & (x_low <= x_high + 1e-12)
    export_cost = np.where(export_ok, -p_exp * x + eps_u * (-q - x), np.inf)
    use_export = export_cost < import_cost
    g = np.where(use_export, 0.0, np.clip(q + u, 0.0, None))
    exported = np.where(use_export, np.clip(x, 0.0, None), 0.0)
    return import_cost, export_cost, g, exported


def _site_inputs(
    problem: Problem, eps: float
) -> tuple[FloatArray, tuple[FloatArray, float, FloatArray], tuple[FloatArray, ...]]:
    solar = problem.solar / 1000.0
    net = problem.load / 1000.0 - solar
    limits = (import_limit_kw(problem), export_limit_kw(problem), solar)
    prices = (problem.import_price_per_kwh, problem.export_price_per_kwh, np.full(1, 1e-3 * eps))
    return net, limits, prices


def site_flows_kw(problem: Problem, power_kw: FloatArray, eps: float) -> tuple[FloatArray, ...]:
    """Grid import and export (kW per slot) that go with the vehicle's signed power."""
    net, limits, prices = _site_inputs(problem, eps)
    _, _, g, x = _site(net + power_kw, limits, prices)
    return g, x


def power_kw(energy_kwh: FloatArray, vd: VehicleData, hours: FloatArray) -> FloatArray:
    """Signed AC power that changes the stored energy by ``energy_kwh`` in slots of ``hours``."""
    return np.where(
        energy_kwh > 0.0, energy_kwh / (hours * vd.eta_c), energy_kwh * vd.eta_d / hours
    )


def vehicle_curves(problem: Problem, vd: VehicleData, *, tie_break: bool) -> Curves:
    """The cost curves of ``vd`` on ``problem`` (the vehicle alone on the site)."""
    n = len(problem.grid)
    h = problem.grid.durations_h
    scale = price_scale(problem)
    eps = 1e-4 * scale if tie_break else 0.0
    net, limits, prices = _site_inputs(problem, eps)
    g_max, x_max, solar = limits
    load = net + solar
    c_min, d_min = vd.charge_min_kw, vd.discharge_min_kw
    c_max = np.where(vd.charge_max_kw >= c_min, vd.charge_max_kw, 0.0)
    d_max = np.where(vd.discharge_max_kw >= d_min, vd.discharge_max_kw, 0.0)
    p_low = np.maximum(-d_max, -x_max - load)
    p_high = np.minimum(c_max, g_max - net)

    # Candidate powers: limits, 0, minimum powers, and where the site flow changes regime.
    site_q = [np.zeros(n), g_max, g_max - solar, -solar, np.full(n, -x_max), -x_max - solar]
    candidates = np.column_stack(
        [p_low, p_high, np.zeros(n), np.full(n, c_min), np.full(n, -d_min)]
        + [q - net for q in site_q]
    )
    candidates = np.clip(candidates, p_low[:, None], p_high[:, None])
    candidates = _allowed(candidates, c_min, d_min)
    if np.any(problem.import_price_per_kwh + 1e-3 * eps < 0.0):
        # Where importing (negative price) pays more than exporting, the cheaper mode switches
        # inside a piece: add the switching point so the curve stays linear between neighbours.
        switches = _mode_switches(candidates, net, limits, prices)
        candidates = _allowed(np.column_stack([candidates, switches]), c_min, d_min)
    candidates.sort(axis=1)  # NaN (not allowed) last
    duplicate = np.zeros(candidates.shape, dtype=bool)
    duplicate[:, 1:] = np.diff(candidates, axis=1) < _SAME_KW
    candidates[duplicate] = np.nan
    candidates.sort(axis=1)
    count = np.sum(~np.isnan(candidates), axis=1).astype(np.int64)
    m = int(count.max())
    p = candidates[:, :m]
    valid = ~np.isnan(p)
    p = np.where(valid, p, 0.0)

    import_cost, export_cost, _, _ = _site(net[:, None] + p, *_broadcast(limits, prices))
    site_cost = np.minimum(import_cost, export_cost)
    later = tie_epsilons(eps, n, late=vd.vehicle.charge_late)
    vehicle_cost = np.where(p > 0.0, (vd.wear + later[:, None]) * p, (vd.wear + 0.1 * eps) * (-p))
    cost = np.where(valid, h[:, None] * (site_cost + vehicle_cost) / scale, np.inf)
    energy = np.where(valid, h[:, None] * np.where(p > 0.0, vd.eta_c * p, p / vd.eta_d), np.inf)
    middle = 0.5 * (p[:, 1:] + p[:, :-1])
    linked = (
        valid[:, 1:]
        & valid[:, :-1]
        & (((middle > 0.0) & (middle >= c_min)) | ((middle < 0.0) & (middle <= -d_min)))
    )
    zero = np.argmin(np.where(valid, np.abs(p), np.inf), axis=1).astype(np.int64)
    return Curves(
        energy_kwh=energy,
        cost=cost,
        power_kw=p,
        count=count,
        linked=linked,
        zero=zero,
        scale=scale,
    )


def _allowed(candidates: FloatArray, c_min: float, d_min: float) -> FloatArray:
    """NaN for powers the charger cannot run at (between 0 and a minimum power)."""
    candidates = np.where(np.abs(candidates) < 1e-12, 0.0, candidates)
    ok = (
        (candidates == 0.0)
        | ((candidates > 0.0) & (candidates >= c_min - 1e-12))
        | ((candidates < 0.0) & (candidates <= -d_min + 1e-12))
    )
    return np.where(ok, candidates, np.nan)


def _broadcast(
    limits: tuple[FloatArray, float, FloatArray], prices: tuple[FloatArray, ...]
) -> tuple[tuple[FloatArray, float, FloatArray], tuple[FloatArray, ...]]:
    g_max, x_max, solar = limits
    p_imp, p_exp, eps_u = prices
    return (g_max[:, None], x_max, solar[:, None]), (p_imp[:, None], p_exp[:, None], eps_u)


def _mode_switches(
    candidates: FloatArray,
    net: FloatArray,
    limits: tuple[FloatArray, float, FloatArray],
    prices: tuple[FloatArray, ...],
) -> FloatArray:
    """Powers strictly between neighbouring candidates where import and export mode cost the same.

    Both modes are linear between neighbours; a sign change of their difference means the cheaper
    mode switches inside. With a non-negative import price (plus the curtailing epsilon) export
    mode is never dearer where both are possible, so this is needed only with negative prices.
    """
    points = np.sort(candidates, axis=1)
    imp, exp, _, _ = _site(net[:, None] + np.nan_to_num(points), *_broadcast(limits, prices))
    difference = imp - exp
    left, right = difference[:, :-1], difference[:, 1:]
    with np.errstate(invalid="ignore"):
        switch = np.isfinite(left) & np.isfinite(right) & (left * right < 0.0)
        share = np.where(switch, left / np.where(switch, left - right, 1.0), 0.0)
    at = points[:, :-1] + share * (points[:, 1:] - points[:, :-1])
    return np.where(switch, at, np.nan)
