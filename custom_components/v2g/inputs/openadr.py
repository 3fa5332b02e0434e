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

import numpy as np
import numpy.typing as npt

from ..openadr import SignalKind, VenSnapshot
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
