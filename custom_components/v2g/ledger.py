"""Realized money and battery use of each EV, counted update by update (not projections).

Between two updates the charger's energy counters moved by `charged_kwh` and `discharged_kwh`;
that energy is valued at the prices in force then:

- charging costs the import price, except the share that came from solar surplus (the site was
  exporting, or would have been), which costs the feed-in price it forwent;
- discharging earns the price it displaced: the import price for what the house used, the
  feed-in price for what went out to the grid;
- wear costs the site's wear cost per kWh on all energy through the battery (both directions);
- throughput counts in equivalent full cycles: (charged + discharged) / 2 / capacity.

Realized savings compare each plug-in session with what a plain charger would have done:
charging at full power from arrival until the battery held the same energy, at the import
prices known at arrival. Savings are cash (wear is its own sensor).

`Ledger` is plain data with `to_json`/`from_json`; `LedgerStore` keeps one per charger in Home
Assistant's storage so the totals survive restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import math
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN

STORAGE_VERSION = 1
SAVE_DELAY_S = 60.0
"""Totals are written at most once a minute (and when the site unloads)."""


@dataclass(frozen=True, slots=True)
class Prices:
    """What energy is worth now, and which part of it is solar or export (0 to 1)."""

    import_per_kwh: float
    export_per_kwh: float
    solar_share: float = 0.0
    """Of what the EVs charge now: the part solar surplus covers."""
    export_share: float = 0.0
    """Of what the EVs discharge now: the part that goes out to the grid."""


@dataclass(slots=True)
class Session:
    """One plug-in: what it cost, and what a plain charger would have paid."""

    max_power_w: float
    arrival_prices: list[tuple[float, float]]
    """(hours, import price) of each slot from arrival on, as known at arrival."""
    charge_efficiency: float
    discharge_efficiency: float
    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    cost: float = 0.0
    earnings: float = 0.0

    def baseline_cost(self) -> float:
        """Charging at full power from arrival until the battery holds what it holds now."""
        gained_kwh = self.charged_kwh * self.charge_efficiency - (
            self.discharged_kwh / self.discharge_efficiency
        )
        remaining_kwh = max(0.0, gained_kwh / self.charge_efficiency)
        cost = 0.0
        for hours, price in self.arrival_prices:
            if remaining_kwh <= 0:
                break
            energy_kwh = min(remaining_kwh, self.max_power_w / 1000.0 * hours)
            cost += energy_kwh * price
            remaining_kwh -= energy_kwh
        if remaining_kwh > 0 and self.arrival_prices:  # longer than the prices known at arrival
            cost += remaining_kwh * self.arrival_prices[-1][1]
        return cost

    @property
    def savings(self) -> float:
        """What this session saved against the plain charger, so far."""
        return self.baseline_cost() - (self.cost - self.earnings)


@dataclass(slots=True)
class Ledger:
    """One EV's realized totals."""

    charging_cost: float = 0.0
    discharging_earnings: float = 0.0
    wear_cost: float = 0.0
    throughput_kwh: float = 0.0
    closed_savings: float = 0.0
    """Savings of the sessions that ended."""
    session: Session | None = None
    last_charged_kwh: float | None = None
    last_discharged_kwh: float | None = None
    capacity_kwh: float = field(default=60.0)

    @property
    def savings(self) -> float:
        """Realized savings: ended sessions plus the one under way."""
        return self.closed_savings + (self.session.savings if self.session else 0.0)

    @property
    def cycles(self) -> float:
        """Battery throughput in equivalent full cycles."""
        return self.throughput_kwh / 2.0 / self.capacity_kwh

    def plug_in(
        self,
        *,
        max_power_w: float,
        arrival_prices: list[tuple[float, float]],
        charge_efficiency: float,
        discharge_efficiency: float,
    ) -> None:
        """An EV arrived: a new session starts (nothing happens if one is under way)."""
        if self.session is None:
            self.session = Session(
                max_power_w=max_power_w,
                arrival_prices=arrival_prices,
                charge_efficiency=charge_efficiency,
                discharge_efficiency=discharge_efficiency,
            )

    def unplug(self) -> None:
        """The EV left: its session's savings are kept."""
        if self.session is not None:
            self.closed_savings += self.session.savings
            self.session = None

    def record(
        self,
        charged_total_kwh: float,
        discharged_total_kwh: float,
        prices: Prices,
        wear_cost_per_kwh: float,
    ) -> None:
        """Count the energy the charger's counters moved since the last call.

        A counter that went backwards (a charger reset or replaced) starts again from its new
        value: that interval counts nothing rather than something invented.
        """
        charged = counter_delta(self.last_charged_kwh, charged_total_kwh)
        discharged = counter_delta(self.last_discharged_kwh, discharged_total_kwh)
        self.last_charged_kwh = charged_total_kwh
        self.last_discharged_kwh = discharged_total_kwh
        if charged == 0.0 and discharged == 0.0:
            return
        solar = _share(prices.solar_share)
        exported = _share(prices.export_share)
        cost = charged * (solar * prices.export_per_kwh + (1.0 - solar) * prices.import_per_kwh)
        earnings = discharged * (
            exported * prices.export_per_kwh + (1.0 - exported) * prices.import_per_kwh
        )
        self.charging_cost += cost
        self.discharging_earnings += earnings
        self.wear_cost += (charged + discharged) * wear_cost_per_kwh
        self.throughput_kwh += charged + discharged
        if (session := self.session) is not None:
            session.charged_kwh += charged
            session.discharged_kwh += discharged
            session.cost += cost
            session.earnings += earnings

    def to_json(self) -> dict[str, Any]:
        """For the store."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, capacity_kwh: float) -> Ledger:
        """What the store held (a fresh ledger when nothing usable)."""
        ledger = cls(capacity_kwh=capacity_kwh)
        if not data:
            return ledger
        try:
            session = data.get("session")
            return cls(
                charging_cost=float(data["charging_cost"]),
                discharging_earnings=float(data["discharging_earnings"]),
                wear_cost=float(data["wear_cost"]),
                throughput_kwh=float(data["throughput_kwh"]),
                closed_savings=float(data["closed_savings"]),
                session=(
                    Session(
                        **{
                            **session,
                            "arrival_prices": [tuple(p) for p in session["arrival_prices"]],
                        }
                    )
                    if session
                    else None
                ),
                last_charged_kwh=data.get("last_charged_kwh"),
                last_discharged_kwh=data.get("last_discharged_kwh"),
                capacity_kwh=capacity_kwh,
            )
        except (KeyError, TypeError, ValueError):
            return ledger


def counter_delta(previous: float | None, current: float) -> float:
    """How far an energy counter moved (0 for the first reading or a counter that went back)."""
    if previous is None or not math.isfinite(current) or current < previous:
        return 0.0
    return current - previous


def _share(value: float) -> float:
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0


def site_shares(
    *,
    grid_power_w: float | None,
    charging_w: float,
    discharging_w: float,
    solar_w: float,
    load_w: float,
) -> tuple[float, float]:
    """Of the EVs' charging now, the solar part; of their discharging, the exported part.

    From the live grid meter when there is one (import positive, EVs included), else from the
    solar and house-load forecasts of the current slot.
    """
    if grid_power_w is not None:
        # Without the EVs the site would import (or export) this much.
        without_evs_w = grid_power_w - charging_w + discharging_w
    else:
        without_evs_w = load_w - solar_w
    surplus_w = max(0.0, -without_evs_w)
    solar = min(1.0, surplus_w / charging_w) if charging_w > 0 else 0.0
    house_w = max(0.0, without_evs_w)
    exported = max(0.0, discharging_w - house_w) / discharging_w if discharging_w > 0 else 0.0
    return solar, exported


class LedgerStore:
    """Loads and saves one charger's ledger."""

    def __init__(self, hass: HomeAssistant, key: str, capacity_kwh: float) -> None:
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{key}.ledger")
        self.ledger = Ledger(capacity_kwh=capacity_kwh)
        self._capacity_kwh = capacity_kwh

    async def async_load(self) -> Ledger:
        """Load the saved totals."""
        self.ledger = Ledger.from_json(await self._store.async_load(), self._capacity_kwh)
        return self.ledger

    def changed(self) -> None:
        """Schedule a save."""
        self._store.async_delay_save(self.ledger.to_json, SAVE_DELAY_S)

    async def async_flush(self) -> None:
        """Write now (unload)."""
        await self._store.async_save(self.ledger.to_json())

    async def async_remove(self) -> None:
        """Forget the totals (the charger is removed)."""
        await self._store.async_remove()
