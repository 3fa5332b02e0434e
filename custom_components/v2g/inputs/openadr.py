"""OpenADR prices on the slot grid: the VTN's absolute prices replace the site's own.

A `PRICE` signal sets the import price, an `EXPORT_PRICE` signal the export price, of every slot
it covers; a slot it covers in part gets the time-weighted mix of both. Overlapping signals are
applied from the lowest event priority to the highest, so the highest priority holds. The prices
are final prices per kWh (fees and VAT of the site's own tariff are not added to them).

Currency: a signal without a currency is taken in the site's price currency; a signal in another
currency is not used (there is no exchange rate to apply): `apply_openadr_prices` returns those
currencies for the collector to log once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from ..openadr import SignalKind, VenSnapshot
from ..optimizer.model import Problem
from ..optimizer.slots import SlotGrid
from .flex import overlap_fraction
from .model import Interval


def apply_openadr_prices(
    grid: SlotGrid,
    snapshot: VenSnapshot,
    currency: str | None,
    prices: dict[SignalKind, npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], set[str]]:
    """Set the prices in place; returns (slots touched, slots fully set, foreign currencies).

    `prices` maps `SignalKind.IMPORT_PRICE` and `SignalKind.EXPORT_PRICE` to the arrays to change.
    """
    touched = np.zeros(len(grid), dtype=bool)
    full = np.zeros(len(grid), dtype=bool)
    foreign: set[str] = set()
    for kind, values in prices.items():
        for signal in snapshot.of(kind):
            if signal.currency and currency and signal.currency.upper() != currency.upper():
                foreign.add(signal.currency)
                continue
            share = overlap_fraction(grid, Interval(signal.start, signal.end, signal.value))
            values[:] = values * (1.0 - share) + share * signal.value
            touched |= share > 0
            full |= share >= 1.0
    return touched, full, foreign


def announced_limits(
    grid: SlotGrid, snapshot: VenSnapshot
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The site's net grid power bounds the capacity events set, per slot: (floor, ceiling) in W.

    An `IMPORT_CAPACITY_LIMIT` caps the import of every slot it touches (in part too: the plan
    keeps the limit for the whole slot rather than break it for a few minutes); an
    `EXPORT_CAPACITY_LIMIT` caps the export (a floor below zero). Slots without one: -inf, +inf.
    Events still to come are planned for here; the one in force is also applied live.
    """
    floor = np.full(len(grid), -np.inf)
    ceiling = np.full(len(grid), np.inf)
    for signal in snapshot.of(SignalKind.IMPORT_LIMIT):
        touched = overlap_fraction(grid, Interval(signal.start, signal.end, signal.value)) > 0
        ceiling[touched] = np.minimum(ceiling[touched], signal.value)
    for signal in snapshot.of(SignalKind.EXPORT_LIMIT):
        touched = overlap_fraction(grid, Interval(signal.start, signal.end, signal.value)) > 0
        floor[touched] = np.maximum(floor[touched], -signal.value)
    return floor, ceiling


def with_announced_limits(problem: Problem, snapshot: VenSnapshot) -> Problem:
    """The problem with the capacity events' bounds added to its own (the tighter one holds)."""
    floor, ceiling = announced_limits(problem.grid, snapshot)
    if not (np.isfinite(floor).any() or np.isfinite(ceiling).any()):
        return problem
    own_floor = problem.grid_floor_w if problem.grid_floor_w is not None else floor
    own_ceiling = problem.grid_ceiling_w if problem.grid_ceiling_w is not None else ceiling
    return replace(
        problem,
        grid_floor_w=np.maximum(own_floor, floor),
        grid_ceiling_w=np.minimum(own_ceiling, ceiling),
    )
