"""Which slots need integrality: the rules a pure LP may break, per slot and vehicle.

The full formulation (`formulation`) is an LP; four rules need integer variables: no charging and
discharging at once (direction binaries), no importing and exporting at once (meter binaries), and
the minimum charging and discharging powers (semi-continuous variables). `Rules` holds one mask
per rule (per vehicle where it is a vehicle's rule); `violations` finds the slots an LP answer
breaks, `impose` adds the integrality for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds import VehicleData
from .formulation import Model, add_direction_binaries, add_grid_binaries, set_semicontinuous
from .model import BoolArray, FloatArray

__all__ = ["Rules", "any_broken", "candidates", "impose", "restrict", "violations"]

_TOL_KW = 1e-6
"""Powers below this (kW, i.e. 1 mW) count as zero when checking the LP answer."""


@dataclass(slots=True)
class Rules:
    """Which slots already carry integrality, per rule (vehicle rules: one mask per vehicle)."""

    direction: list[BoolArray]
    charge_min: list[BoolArray]
    discharge_min: list[BoolArray]
    grid: BoolArray


def candidates(data: list[VehicleData], g_max: FloatArray, x_max: FloatArray) -> Rules:
    """Slots where each rule can bite at all."""
    return Rules(
        direction=[(vd.charge_max_kw > 0) & (vd.discharge_max_kw > 0) for vd in data],
        charge_min=[(vd.charge_max_kw >= vd.charge_min_kw) & (vd.charge_min_kw > 0) for vd in data],
        discharge_min=[
            (vd.discharge_max_kw >= vd.discharge_min_kw) & (vd.discharge_min_kw > 0) for vd in data
        ],
        grid=(g_max > 0) & (x_max > 0),
    )


def violations(x: FloatArray, data: list[VehicleData], n: int) -> Rules:
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
    return Rules(direction, charge_min, discharge_min, grid)


def any_broken(rules: Rules) -> bool:
    """Whether any slot breaks any rule."""
    masks = [*rules.direction, *rules.charge_min, *rules.discharge_min, rules.grid]
    return any(bool(mask.any()) for mask in masks)


def impose(
    model: Model,
    data: list[VehicleData],
    n: int,
    have: Rules,
    want: Rules,
    *,
    limits: tuple[FloatArray, FloatArray],
    net_kw: FloatArray,
) -> None:
    """Add integrality for the slots in ``want`` not yet in ``have`` (and record them)."""
    for i, vd in enumerate(data):
        new = np.flatnonzero(want.direction[i] & ~have.direction[i]).astype(np.int64)
        add_direction_binaries(
            model, vd.c, vd.d(n), new, vd.charge_max_kw[new], vd.discharge_max_kw[new]
        )
        have.direction[i] |= want.direction[i]
        new = np.flatnonzero(want.charge_min[i] & ~have.charge_min[i]).astype(np.int64)
        set_semicontinuous(model, vd.c, new, vd.charge_min_kw)
        have.charge_min[i] |= want.charge_min[i]
        new = np.flatnonzero(want.discharge_min[i] & ~have.discharge_min[i]).astype(np.int64)
        set_semicontinuous(model, vd.d(n), new, vd.discharge_min_kw)
        have.discharge_min[i] |= want.discharge_min[i]
    new = np.flatnonzero(want.grid & ~have.grid).astype(np.int64)
    add_grid_binaries(model, data, n, new, limits=limits, net_kw=net_kw)
    have.grid |= want.grid


def restrict(want: Rules, allowed: Rules) -> Rules:
    """The slots of ``want`` that are also in ``allowed``."""
    return Rules(
        direction=[w & a for w, a in zip(want.direction, allowed.direction, strict=True)],
        charge_min=[w & a for w, a in zip(want.charge_min, allowed.charge_min, strict=True)],
        discharge_min=[
            w & a for w, a in zip(want.discharge_min, allowed.discharge_min, strict=True)
        ],
        grid=want.grid & allowed.grid,
    )
