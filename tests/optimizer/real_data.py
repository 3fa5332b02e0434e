"""Real-price problems for the optimizer tests, from the fixture excerpt (no ../shared needed).

`tests/fixtures/dk2_2019_spring_prices_and_irradiance.csv`: six weeks of DK2 day-ahead prices
(Energinet, CC BY 4.0) with the PVGIS typical-year irradiance of the same hours.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np

from custom_components.v2g.optimizer import Problem, Site, SlotGrid, Vehicle

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dk2_2019_spring_prices_and_irradiance.csv"
QUARTER_S = 900


@cache
def hourly() -> tuple[datetime, np.ndarray, np.ndarray]:
    """First hour (UTC), spot prices EUR/kWh and global horizontal irradiance W/m2 per hour."""
    with FIXTURE.open(newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    first = datetime.fromisoformat(rows[0]["utc_start"].replace("Z", "+00:00"))
    spot = np.array([float(r["DK2_EUR_per_MWh"]) / 1000.0 for r in rows])
    ghi = np.array([float(r["ghi_w_per_m2"]) for r in rows])
    return first.astimezone(UTC), spot, ghi


def real_problem(rng: np.random.Generator, slots: int, *, worn: bool = False) -> Problem:
    """A random single-EV problem on a window of real prices and irradiance (quarter-hours).

    Like the adversarial set of issue #12: random SoC, reserve 0-30 %, targets 50-100 %, minimum
    powers 0 or 1.38-4.14 kW, V2G on or off, house load, and one of three feed-in rules (spot,
    spot minus a 0.0435 fee, or a fixed tariff of 0.05-0.30 EUR/kWh, often above the import price).
    ``worn``: battery wear always 0.02 EUR/kWh (else 0 or 0.02).
    """
    first, spot_h, ghi_h = hourly()
    start = int(rng.integers(0, spot_h.size * 4 - slots))
    hour = (start + np.arange(slots)) // 4
    spot = spot_h[hour]
    solar = 5000.0 * ghi_h[hour] / 1000.0 * 0.85 * float(rng.choice([0.0, 1.0, 1.0]))
    load = rng.choice([250.0, 450.0, 800.0, 1100.0], size=slots // 4 + 1).repeat(4)[:slots]
    feed_in = int(rng.integers(0, 4))
    if feed_in == 0:
        export = spot - 0.0435
    elif feed_in == 1:
        export = np.full(slots, float(rng.uniform(0.05, 0.30)))
    else:
        export = spot.copy()
    at = first + timedelta(seconds=QUARTER_S * start)
    starts = np.datetime64(int(at.timestamp()), "s") + QUARTER_S * np.arange(slots)
    grid = SlotGrid(starts.astype("datetime64[s]"), np.full(slots, QUARTER_S, dtype=np.int64))
    v2g = bool(rng.integers(0, 2))
    reserve = float(rng.choice([0.0, 10.0, 20.0, 30.0]))
    vehicle = Vehicle(
        capacity_kwh=60.0,
        soc_pct=float(rng.uniform(5.0, 95.0)),
        target_soc_pct=float(rng.uniform(50.0, 100.0)),
        departure=at + timedelta(seconds=QUARTER_S * int(rng.integers(1, slots + 8))),
        min_soc_pct=reserve,
        max_soc_pct=float(rng.choice([80.0, 90.0, 100.0])),
        max_charge_power_w=11_000.0,
        max_discharge_power_w=11_000.0 if v2g else 0.0,
        min_charge_power_w=float(rng.choice([0.0, 1380.0, 4140.0])),
        min_discharge_power_w=float(rng.choice([0.0, 1380.0, 4140.0])) if v2g else 0.0,
        charge_efficiency=0.92,
        discharge_efficiency=0.92,
        wear_cost_per_kwh=0.02 if worn else float(rng.choice([0.0, 0.02])),
        v2g_allowed=v2g,
    )
    return Problem(
        grid=grid,
        import_price_per_kwh=spot + 0.10,
        export_price_per_kwh=export,
        vehicles=(vehicle,),
        solar_power_w=solar,
        base_load_power_w=load,
        site=Site(import_limit_w=17_000.0, export_limit_w=float(rng.choice([17_000.0, np.inf]))),
    )


def real_fleet(rng: np.random.Generator, vehicles: int, slots: int) -> Problem:
    """A random fleet on one connection over a window of real prices: vans of 75 kWh at 11 kW
    with 4.14 kW minimum powers (half of them V2G), each plugged in for part of the window."""
    first, spot_h, ghi_h = hourly()
    start = int(rng.integers(0, spot_h.size * 4 - slots))
    hour = (start + np.arange(slots)) // 4
    spot = spot_h[hour]
    at = first + timedelta(seconds=QUARTER_S * start)
    starts = np.datetime64(int(at.timestamp()), "s") + QUARTER_S * np.arange(slots)
    grid = SlotGrid(starts.astype("datetime64[s]"), np.full(slots, QUARTER_S, dtype=np.int64))
    vans = []
    for i in range(vehicles):
        arrive = int(rng.integers(0, slots // 2))
        leave = int(rng.integers(arrive + 4, slots + 8))
        available = np.zeros(slots, dtype=bool)
        available[arrive : min(leave, slots)] = True
        v2g = bool(i % 2)
        vans.append(
            Vehicle(
                name=f"van{i}",
                capacity_kwh=75.0,
                soc_pct=float(rng.uniform(10.0, 89.0)),
                target_soc_pct=90.0,
                departure=at + timedelta(seconds=QUARTER_S * leave),
                min_soc_pct=20.0,
                max_soc_pct=90.0,
                max_charge_power_w=11_000.0,
                max_discharge_power_w=11_000.0 if v2g else 0.0,
                min_charge_power_w=4_140.0,
                min_discharge_power_w=4_140.0 if v2g else 0.0,
                charge_efficiency=0.92,
                discharge_efficiency=0.92,
                wear_cost_per_kwh=0.02,
                v2g_allowed=v2g,
                available=available,
            )
        )
    return Problem(
        grid=grid,
        import_price_per_kwh=spot + 0.10,
        export_price_per_kwh=spot,
        vehicles=tuple(vans),
        solar_power_w=1000.0 * vehicles * ghi_h[hour] / 1000.0 * 0.85,
        base_load_power_w=np.full(slots, 400.0 * vehicles),
        site=Site(import_limit_w=4_000.0 * vehicles, export_limit_w=2_000.0 * vehicles),
    )
