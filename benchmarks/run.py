"""Benchmark: a simulated year of smart charging / V2G on real prices, EV sessions and PV.

Run from the repository root:

    .venv/bin/python benchmarks/run.py            # full: four price series, ~10 min
    .venv/bin/python benchmarks/run.py --quick    # four weeks of one series, < 1 min

Data come from ``../shared/data`` next to the repository (override with ``V2G_DATA_DIR``).
Results are printed and written to ``benchmarks/results/<full|quick>.json``. Assumptions are
listed in ``ASSUMPTIONS`` below and in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor, as_completed
import csv
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import json
import os
from pathlib import Path
import platform
import re
import sys
import time
from zoneinfo import ZoneInfo

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from custom_components.v2g.optimizer import (  # noqa: E402
    Plan,
    Problem,
    Site,
    SlotGrid,
    Tariff,
    Vehicle,
    cheapest_slots,
    solve,
)

SLOT_S = 900
SLOT_H = SLOT_S / 3600
PER_HOUR = 4
TZ = ZoneInfo("Europe/Copenhagen")  # CET/CEST: DK2, SE3, SE4 and Norway share it

ASSUMPTIONS: dict[str, object] = {
    "tariff": "import = spot + 0.10 EUR/kWh (grid fee and taxes, flat); export = spot",
    "vehicle": "60 kWh usable, 11 kW charge, 11 kW discharge (V2G strategies only), "
    "92 % efficiency each way, target 80 % at plug-out, reserve 20 %, V2G band 20-80 %, "
    "battery wear 0.02 EUR per kWh of throughput (both directions; ~0.04 EUR per kWh cycled)",
    "sessions": "one Norwegian residential user's plug-in/plug-out times and energies (the "
    "365-day window with most sessions), mapped onto the price year by ISO week and weekday, "
    "local clock time kept; overlapping or out-of-range sessions dropped",
    "state of charge": "first arrival = 80 % - session energy / 60 kWh; later arrivals = "
    "previous departure SoC - session energy / 60 kWh (energy driven = energy the user charged), "
    "floored at 5 %; the difference of stored energy between the first arrival and the last "
    "departure is valued at the mean import price",
    "departure": "the plug-out time is known to every strategy (the driver sets it)",
    "pv": "5 kWp: P = 5 kW * G(h) / 1000 * 0.85, PVGIS TMY 45N 8E by month/day/hour UTC",
    "house": "base load 250 W night, 450 W day, 800 W 07-09 local, 1100 W 17-21 local "
    "(about 4.6 MWh/year), the same every day",
    "site": "17 kW import limit (25 A, 3 phases), 17 kW export limit, no capacity price",
    "prices known": "day-ahead: at 13:00 local the next local day's prices become known; "
    "beyond the known prices the forecast is the price of the same hour on the last known day",
    "forecasts": "PV and house load are known exactly (the benchmark isolates price timing)",
    "rolling horizon": "re-plan every 15 min while plugged in, horizon = until plug-out "
    "(capped at 48 h), apply the first slot (MPC); charge-now and perfect foresight plan once "
    "per session",
    "cost": "EV cost = site energy bill with the EV minus the bill of the house and PV alone, "
    "plus battery wear; surplus exported only at positive export prices",
}

STRATEGIES = (
    "charge_now",
    "cheapest_slots",
    "smart",
    "smart_v2g",
    "perfect_foresight",
    "perfect_foresight_v2g",
)


def data_dir() -> Path:
    """Shared real data: ``$V2G_DATA_DIR`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("V2G_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


# --------------------------------------------------------------------------- data loading


def _epoch_s(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class PriceSeries:
    """Hourly spot prices on a UTC hour axis, EUR/kWh."""

    name: str
    start_s: int  # epoch seconds of the first hour
    eur_per_kwh: np.ndarray

    def quarter_prices(self, first_s: int, count: int) -> np.ndarray:
        """Prices of ``count`` quarter-hours from ``first_s`` (NaN where no data)."""
        q = (first_s - self.start_s) // SLOT_S + np.arange(count)
        hours = q // PER_HOUR
        out = np.full(count, np.nan)
        ok = (hours >= 0) & (hours < self.eur_per_kwh.size)
        out[ok] = self.eur_per_kwh[hours[ok]]
        return out


def load_prices(column: str, filename: str, name: str) -> PriceSeries:
    path = data_dir() / "prices" / filename
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    starts = [datetime.fromisoformat(r["utc_start"].replace("Z", "+00:00")) for r in rows]
    values = np.array([float(r[column]) / 1000.0 for r in rows])
    first = _epoch_s(starts[0])
    offsets = (np.array([_epoch_s(s) for s in starts]) - first) // 3600
    series = np.full(int(offsets[-1]) + 1, np.nan)
    series[offsets] = values
    if np.isnan(series).any():  # fill rare gaps with the previous hour
        for i in np.flatnonzero(np.isnan(series)):
            series[i] = series[i - 1]
    return PriceSeries(name, first, series)


def load_solar_g() -> dict[tuple[int, int, int], float]:
    """PVGIS TMY global horizontal irradiance by (month, day, hour UTC), W/m2."""
    path = data_dir() / "solar" / "pvlib_testdata_pvgis_tmy_45N_8E_2005_2023.csv"
    header: list[str] | None = None
    table: dict[tuple[int, int, int], float] = {}
    for line in path.read_text().splitlines():
        if line.startswith("time(UTC)"):
            header = line.split(",")
            continue
        if header and re.match(r"^\d{8}:\d{4},", line):
            parts = line.split(",")
            stamp = parts[0]
            g = float(parts[header.index("G(h)")])
            table[(int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]))] = max(0.0, g)
    return table


@dataclass
class Session:
    plugin_s: int
    plugout_s: int
    energy_kwh: float


type RawSession = tuple[datetime, datetime, float]
"""Plug-in and plug-out (local naive times) and the energy charged (kWh)."""


def load_all_sessions() -> dict[str, list[RawSession]]:
    """Every user's sessions of the Norwegian residential data set, sorted by plug-in."""
    path = (
        data_dir() / "ev_sessions" / "sorensen2024_norway_12loc_residential_ev_charging_reports.csv"
    )
    by_user: dict[str, list[RawSession]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            try:
                plug_in = datetime.strptime(row["plugin_time"], "%Y-%m-%d %H:%M:%S")
                plug_out = datetime.strptime(row["plugout_time"], "%Y-%m-%d %H:%M:%S")
                energy = float(row["energy_session"].replace(",", "."))
            except (ValueError, KeyError):
                continue
            if plug_out > plug_in and energy > 0:
                by_user.setdefault(row["user_id"], []).append((plug_in, plug_out, energy))
    for sessions in by_user.values():
        sessions.sort()
    return by_user


def best_window(sessions: list[RawSession]) -> tuple[int, int]:
    """The 365-day window with the most sessions (the earliest of equals): (count, first index)."""
    best = (0, 0)
    j = 0
    for i in range(len(sessions)):
        while sessions[i][0] - sessions[j][0] > timedelta(days=365):
            j += 1
        if i - j + 1 > best[0]:
            best = (i - j + 1, j)
    return best


def load_sessions(user: str | None) -> tuple[str, list[RawSession]]:
    """One user's sessions (local naive times) from the 365-day window with the most sessions."""
    by_user = load_all_sessions()
    best: tuple[int, str, int] = (0, "", 0)
    for name, sessions in by_user.items():
        if user is not None and name != user:
            continue
        count, first = best_window(sessions)
        if count > best[0]:
            best = (count, name, first)
    count, name, first = best
    return name, by_user[name][first : first + count]


def map_sessions(raw: list[RawSession], year_start: date, year_end: date) -> list[Session]:
    """Move sessions onto the price year: same ISO week and weekday, same local clock time."""
    mapped: list[Session] = []
    for plug_in, plug_out, energy in raw:
        _, week, weekday = plug_in.isocalendar()
        day = None
        # The same ISO week in whichever of the two calendar years puts it in the window;
        # week 53 falls back to week 52 in years without one.
        for w in (week, 52):
            for year in (year_start.year, year_start.year + 1):
                try:
                    candidate = date.fromisocalendar(year, w, weekday)
                except ValueError:
                    continue
                if year_start <= candidate < year_end:
                    day = candidate
                    break
            if day:
                break
        if day is None:
            continue
        start = datetime.combine(day, plug_in.time(), tzinfo=TZ)
        end = start + (plug_out - plug_in)
        mapped.append(Session(_epoch_s(start), _epoch_s(end), energy))
    mapped.sort(key=lambda s: s.plugin_s)
    kept: list[Session] = []
    for s in mapped:
        if kept and s.plugin_s < kept[-1].plugout_s:
            continue
        kept.append(s)
    return kept


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """Everything on one 15-minute UTC axis covering the simulated period plus margins."""

    name: str
    start_s: int
    spot: np.ndarray  # EUR/kWh per quarter
    known_until: np.ndarray  # per quarter: first quarter index whose price is not yet known
    solar_w: np.ndarray
    load_w: np.ndarray
    import_price: np.ndarray = field(init=False)
    export_price: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        tariff = Tariff(import_fee_per_kwh=0.10)
        self.import_price = tariff.import_price(self.spot)
        self.export_price = tariff.export_price(self.spot)

    def index(self, epoch_s: int) -> int:
        return (epoch_s - self.start_s) // SLOT_S

    def forecast_spot(self, now: int, stop: int) -> np.ndarray:
        """Spot prices for quarters now..stop-1 as known at quarter ``now``."""
        known = int(self.known_until[now])
        idx = np.arange(now, stop)
        day = 24 * PER_HOUR
        # Unknown: the same quarter on the last known day (step back whole days).
        back = np.where(idx >= known, (idx - known) // day + 1, 0)
        return self.spot[idx - back * day]


def build_world(
    prices: PriceSeries, g_table: dict[tuple[int, int, int], float], first: date, last: date
) -> World:
    start = datetime.combine(first - timedelta(days=2), datetime.min.time(), tzinfo=TZ)
    end = datetime.combine(last + timedelta(days=4), datetime.min.time(), tzinfo=TZ)
    start_s, end_s = _epoch_s(start), _epoch_s(end)
    count = (end_s - start_s) // SLOT_S
    spot = prices.quarter_prices(start_s, count)
    # Day-ahead publication: at 13:00 local on day D, prices up to the end of D+1 are known.
    known_until = np.zeros(count, dtype=np.int64)
    day = start.date()
    while True:
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=TZ)
        if _epoch_s(midnight) >= end_s:
            break
        noon13 = _epoch_s(midnight.replace(hour=13))
        next_midnight = _epoch_s(
            datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=TZ)
        )
        after = _epoch_s(datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=TZ))
        a = max(0, (_epoch_s(midnight) - start_s) // SLOT_S)
        b = min(count, (noon13 - start_s) // SLOT_S)
        c = min(count, (next_midnight - start_s) // SLOT_S)
        known_until[a:b] = (next_midnight - start_s) // SLOT_S
        known_until[b:c] = (after - start_s) // SLOT_S
        day += timedelta(days=1)
    np.minimum(known_until, count, out=known_until)
    # PV from the TMY by (month, day, hour UTC); 29 February uses 28 February.
    solar = np.zeros(count)
    local_hours = np.zeros(count, dtype=np.int64)
    for i in range(0, count, PER_HOUR):
        moment = datetime.fromtimestamp(start_s + i * SLOT_S, UTC)
        day_of_month = 28 if (moment.month, moment.day) == (2, 29) else moment.day
        g = g_table.get((moment.month, day_of_month, moment.hour), 0.0)
        solar[i : i + PER_HOUR] = 5000.0 * g / 1000.0 * 0.85
        local_hours[i : i + PER_HOUR] = moment.astimezone(TZ).hour
    load = np.where(local_hours < 6, 250.0, 450.0)
    load = np.where((local_hours >= 7) & (local_hours < 9), 800.0, load)
    load = np.where((local_hours >= 17) & (local_hours < 21), 1100.0, load)
    return World(prices.name, start_s, spot, known_until, solar, load)


SITE = Site(import_limit_w=17_000.0, export_limit_w=17_000.0)
CAPACITY_KWH = 60.0
TARGET_PCT = 80.0


CARE_PCT = 80.0
"""Battery care: hours above this SoC are counted (and costed by the care variants)."""
CARE_TARGET_PCT = 90.0
"""The care comparison's departure target: above the care level, or there is nothing to care for."""
CARE_VARIANTS: dict[str, dict[str, object]] = {
    "today": {},
    "late": {"charge_late": True},
    "margin": {"charge_late": True, "finish_margin_s": 900.0},
    "care": {"care_cost_per_kwh_h": 0.001},
    "care_late": {"charge_late": True, "care_cost_per_kwh_h": 0.001},
}
"""Battery care settings compared: today's plan (ties charge early); ties charge late; late and
finishing 15 min before departure; a care cost of 0.001 EUR per kWh held above 80 % per hour
(ties early); and the care cost with late ties."""


def vehicle(
    soc_pct: float,
    departure: datetime,
    v2g: bool,
    target_pct: float = TARGET_PCT,
    care: dict[str, object] | None = None,
) -> Vehicle:
    return Vehicle(
        capacity_kwh=CAPACITY_KWH,
        soc_pct=soc_pct,
        target_soc_pct=target_pct,
        departure=departure,
        min_soc_pct=20.0,
        max_soc_pct=max(80.0, target_pct),
        max_charge_power_w=11_000.0,
        max_discharge_power_w=11_000.0 if v2g else 0.0,
        charge_efficiency=0.92,
        discharge_efficiency=0.92,
        wear_cost_per_kwh=0.02,
        v2g_allowed=v2g,
        care_soc_pct=CARE_PCT,
        **(care or {}),  # type: ignore[arg-type]
    )


def slot_grid(world: World, first: int, count: int) -> SlotGrid:
    starts = (world.start_s + (first + np.arange(count)) * SLOT_S).astype("datetime64[s]")
    return SlotGrid(starts, np.full(count, SLOT_S, dtype=np.int64))


def make_problem(
    world: World,
    first: int,
    stop: int,
    *,
    soc_pct: float,
    departure_s: int,
    v2g: bool,
    realised: bool,
    target_pct: float = TARGET_PCT,
    care: dict[str, object] | None = None,
) -> Problem:
    spot = world.spot[first:stop] if realised else world.forecast_spot(first, stop)
    tariff = Tariff(import_fee_per_kwh=0.10)
    return Problem(
        grid=slot_grid(world, first, stop - first),
        import_price_per_kwh=tariff.import_price(spot),
        export_price_per_kwh=tariff.export_price(spot),
        vehicles=(
            vehicle(soc_pct, datetime.fromtimestamp(departure_s, UTC), v2g, target_pct, care),
        ),
        solar_power_w=world.solar_w[first:stop],
        base_load_power_w=world.load_w[first:stop],
        site=SITE,
    )


# --------------------------------------------------------------------------- simulation


@dataclass
class Tally:
    cost_eur: float = 0.0
    energy_bill_eur: float = 0.0
    wear_eur: float = 0.0
    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    sessions: int = 0
    missed: int = 0
    missed_reachable: int = 0
    missed_unreachable: int = 0
    topped_up_kwh: float = 0.0
    solve_times_s: list[float] = field(default_factory=list)
    mip_solves: int = 0
    non_optimal: int = 0
    hours_above_care: float = 0.0


def site_bill(world: World, idx: np.ndarray, ev_w: np.ndarray) -> float:
    """Energy bill (EUR) of the site over the quarters ``idx`` with EV power ``ev_w`` (signed)."""
    net_kw = (world.load_w[idx] - world.solar_w[idx] + ev_w) / 1000.0
    imp = np.clip(net_kw, 0.0, None)
    surplus = np.clip(-net_kw, 0.0, None)
    price_exp = world.export_price[idx]
    exported = np.where(price_exp > 0, np.minimum(surplus, SITE.export_limit_w / 1000.0), 0.0)
    # Surplus from V2G beyond what PV could curtail is exported regardless of price.
    forced = np.clip(surplus - exported - world.solar_w[idx] / 1000.0, 0.0, None)
    exported = exported + forced
    return float(np.sum(SLOT_H * (world.import_price[idx] * imp - price_exp * exported)))


def step_soc(soc_kwh: float, c_w: float, d_w: float) -> float:
    return soc_kwh + SLOT_H * (0.92 * c_w - d_w / 0.92) / 1000.0


def simulate(  # noqa: PLR0912
    world: World,
    sessions: list[Session],
    strategy: str,
    target_pct: float = TARGET_PCT,
    care: dict[str, object] | None = None,
) -> Tally:
    tally = Tally()
    above_kwh = CARE_PCT / 100 * CAPACITY_KWH + 1e-3
    v2g = strategy.endswith("v2g")
    soc_kwh: float | None = None
    first_arrival_kwh = 0.0
    for s in sessions:
        a = -(-(s.plugin_s - world.start_s) // SLOT_S)  # first whole quarter plugged in
        b = (s.plugout_s - world.start_s) // SLOT_S  # quarters before plug-out
        if b <= a:
            continue
        arrival = (target_pct / 100 * CAPACITY_KWH if soc_kwh is None else soc_kwh) - s.energy_kwh
        floor = 0.05 * CAPACITY_KWH
        if arrival < floor:
            tally.topped_up_kwh += floor - arrival
            arrival = floor
        if soc_kwh is None:
            first_arrival_kwh = arrival
        soc = arrival
        departure_s = world.start_s + b * SLOT_S
        idx = np.arange(a, b)
        charge = np.zeros(b - a)
        discharge = np.zeros(b - a)
        # Reachable: charging at full power from arrival (within the site limit) gets there.
        headroom = np.clip(SITE.import_limit_w - world.load_w[idx] + world.solar_w[idx], 0, 11e3)
        reachable = arrival + float(np.sum(headroom)) * SLOT_H * 0.92 / 1000 >= (
            target_pct / 100 * CAPACITY_KWH - 1e-3
        )
        if strategy in {"charge_now", "perfect_foresight", "perfect_foresight_v2g"}:
            problem = make_problem(
                world,
                a,
                b,
                soc_pct=soc / CAPACITY_KWH * 100,
                departure_s=departure_s,
                v2g=v2g,
                realised=True,
                target_pct=target_pct,
                care=care,
            )
            if strategy == "charge_now":
                from custom_components.v2g.optimizer import charge_now  # noqa: PLC0415

                plan: Plan = charge_now(problem)
            else:
                plan = solve(problem)
                tally.solve_times_s.append(plan.solve_time_s)
                tally.mip_solves += plan.mip
                tally.non_optimal += not plan.ok
            charge = plan.charge_power_w.copy()
            discharge = plan.discharge_power_w.copy()
            for k in range(b - a):
                soc = step_soc(soc, charge[k], discharge[k])
                tally.hours_above_care += SLOT_H * (soc > above_kwh)
        else:
            for k in range(b - a):
                now = a + k
                stop = min(b, now + 192)
                problem = make_problem(
                    world,
                    now,
                    stop,
                    soc_pct=soc / CAPACITY_KWH * 100,
                    departure_s=departure_s,
                    v2g=v2g,
                    realised=False,
                    target_pct=target_pct,
                    care=care,
                )
                if strategy == "cheapest_slots":
                    plan = cheapest_slots(problem)
                else:
                    plan = solve(problem)
                    tally.solve_times_s.append(plan.solve_time_s)
                    tally.mip_solves += plan.mip
                    tally.non_optimal += not plan.ok
                charge[k] = plan.charge_power_w[0]
                discharge[k] = plan.discharge_power_w[0]
                soc = step_soc(soc, charge[k], discharge[k])
                tally.hours_above_care += SLOT_H * (soc > above_kwh)
        ev_w = charge - discharge
        bill = site_bill(world, idx, ev_w) - site_bill(world, idx, np.zeros(b - a))
        wear = float(np.sum(SLOT_H * 0.02 * (charge + discharge) / 1000.0))
        tally.energy_bill_eur += bill
        tally.wear_eur += wear
        tally.charged_kwh += float(np.sum(charge)) * SLOT_H / 1000
        tally.discharged_kwh += float(np.sum(discharge)) * SLOT_H / 1000
        tally.sessions += 1
        if soc < (target_pct - 0.5) / 100 * CAPACITY_KWH:  # missed by more than 0.5 points
            tally.missed += 1
            if reachable:
                tally.missed_reachable += 1
            else:
                tally.missed_unreachable += 1
        soc_kwh = soc
    mean_import = float(np.nanmean(world.import_price))
    end_adjust = (first_arrival_kwh - (soc_kwh or 0.0)) * mean_import
    tally.cost_eur = tally.energy_bill_eur + tally.wear_eur + end_adjust
    return tally


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    arr = np.asarray(values) * 1000
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
        "p99": round(float(np.percentile(arr, 99)), 2),
        "max": round(float(arr.max()), 2),
        "count": len(values),
    }


# --------------------------------------------------------------------------- speed section


def speed_single(world: World, solves: int, seed: int = 1) -> dict[str, object]:
    """One V2G vehicle, 192 quarter-hour slots, varied real prices, SoC and departure."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    cpu_times: list[float] = []
    mip = 0
    span = world.spot.size - 200
    for _ in range(solves):
        first = int(rng.integers(0, span))
        departure = world.start_s + (first + int(rng.integers(24, 192))) * SLOT_S
        soc = float(rng.uniform(20, 70))
        problem = make_problem(
            world, first, first + 192, soc_pct=soc, departure_s=departure, v2g=True, realised=True
        )
        started, cpu = time.perf_counter(), time.process_time()
        plan = solve(problem)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        mip += plan.mip
    cpu_stats = percentiles_ms(cpu_times)
    return {
        "slots": 192,
        "vehicles": 1,
        **percentiles_ms(times),
        "cpu_p50": cpu_stats["p50"],
        "cpu_p99": cpu_stats["p99"],
        "mip_share": mip / solves,
    }


def speed_fleet(world: World, repeats: int, seed: int = 2) -> dict[str, object]:
    """50 vans on one 200 kW connection, 96 quarter-hour slots, solved jointly."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    cpu_times: list[float] = []
    statuses: list[str] = []
    for _ in range(repeats):
        first = int(rng.integers(0, world.spot.size - 100))
        grid = slot_grid(world, first, 96)
        tariff = Tariff(import_fee_per_kwh=0.10)
        spot = world.spot[first : first + 96]
        vans = []
        for i in range(50):
            arrive = int(rng.integers(0, 40))
            leave = int(rng.integers(arrive + 16, 96))
            available = np.zeros(96, dtype=bool)
            available[arrive:leave] = True
            vans.append(
                replace(
                    vehicle(
                        float(rng.uniform(15, 60)),
                        datetime.fromtimestamp(world.start_s + (first + leave) * SLOT_S, UTC),
                        bool(i % 2),
                    ),
                    available=available,
                    name=f"van{i}",
                )
            )
        problem = Problem(
            grid=grid,
            import_price_per_kwh=tariff.import_price(spot),
            export_price_per_kwh=tariff.export_price(spot),
            vehicles=tuple(vans),
            base_load_power_w=np.full(96, 20_000.0),
            solar_power_w=world.solar_w[first : first + 96] * 10,
            site=Site(import_limit_w=200_000.0, export_limit_w=100_000.0),
        )
        started, cpu = time.perf_counter(), time.process_time()
        plan = solve(problem)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        statuses.append(plan.status)
    return {
        "slots": 96,
        "vehicles": 50,
        **percentiles_ms(times),
        "cpu_p50": percentiles_ms(cpu_times)["p50"],
        "all_optimal": all(s == "optimal" for s in statuses),
    }


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class SeriesSpec:
    name: str
    column: str
    filename: str
    first: date
    last: date  # exclusive


FULL = (
    SeriesSpec(
        "DK2 2019",
        "DK2_EUR_per_MWh",
        "eds_dayahead_2017-2022_DK2_hourly_wide.csv",
        date(2019, 1, 1),
        date(2020, 1, 1),
    ),
    SeriesSpec(
        "DK2 2021-22 (crisis)",
        "DK2_EUR_per_MWh",
        "eds_dayahead_2017-2022_DK2_hourly_wide.csv",
        date(2021, 10, 14),
        date(2022, 10, 13),
    ),
    SeriesSpec(
        "SE3 2023",
        "SE3_EUR_per_MWh",
        "eds_dayahead_2023_SE3_SE4_hourly_wide.csv",
        date(2023, 1, 1),
        date(2023, 12, 27),
    ),
    SeriesSpec(
        "SE4 2023",
        "SE4_EUR_per_MWh",
        "eds_dayahead_2023_SE3_SE4_hourly_wide.csv",
        date(2023, 1, 1),
        date(2023, 12, 27),
    ),
)
QUICK = (
    SeriesSpec(
        "DK2 2019 (4 weeks, March)",
        "DK2_EUR_per_MWh",
        "eds_dayahead_2017-2022_DK2_hourly_wide.csv",
        date(2019, 3, 4),
        date(2019, 4, 1),
    ),
)


_CACHE: dict[str, object] = {}


def _world_and_sessions(spec: SeriesSpec, user: str) -> tuple[World, list[Session], str]:
    """Load (once per process) the world and the mapped sessions of one price series."""
    key = f"{spec.name}|{user}"
    if key not in _CACHE:
        if "g" not in _CACHE:
            _CACHE["g"] = load_solar_g()
        prices_key = f"prices|{spec.column}|{spec.filename}"
        if prices_key not in _CACHE:
            _CACHE[prices_key] = load_prices(spec.column, spec.filename, spec.name)
        if f"user|{user}" not in _CACHE:
            _CACHE[f"user|{user}"] = load_sessions(user)
        name, raw = _CACHE[f"user|{user}"]  # type: ignore[misc]
        world = build_world(_CACHE[prices_key], _CACHE["g"], spec.first, spec.last)  # type: ignore[arg-type]
        _CACHE[key] = (world, map_sessions(raw, spec.first, spec.last), name)
    return _CACHE[key]  # type: ignore[return-value]


def _job(spec: SeriesSpec, strategy: str, user: str) -> tuple[str, str, Tally, float]:
    world, sessions, _ = _world_and_sessions(spec, user)
    started = time.perf_counter()
    tally = simulate(world, sessions, strategy)
    return spec.name, strategy, tally, time.perf_counter() - started


def _care_job(
    spec: SeriesSpec, strategy: str, variant: str, user: str
) -> tuple[str, str, str, Tally]:
    world, sessions, _ = _world_and_sessions(spec, user)
    care = CARE_VARIANTS[variant]
    return spec.name, strategy, variant, simulate(world, sessions, strategy, CARE_TARGET_PCT, care)


def care_main(specs: tuple[SeriesSpec, ...], mode: str, user: str, workers: int) -> int:
    """Battery care: hours above 80 % SoC and annual cost of today's plan against late charging
    and a care cost, with a 90 % departure target (at 80 % there is nothing above it)."""
    jobs = [
        (spec, strategy, variant)
        for spec in specs
        for strategy in ("smart", "smart_v2g")
        for variant in CARE_VARIANTS
    ]
    tallies: dict[tuple[str, str, str], Tally] = {}
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_care_job, spec, st, variant, user) for spec, st, variant in jobs]
        for future in as_completed(futures):
            name, strategy, variant, tally = future.result()
            tallies[(name, strategy, variant)] = tally
            print(f"  done: {name} / {strategy} / {variant}", flush=True)
    out_series: dict[str, object] = {}
    verdicts: list[str] = []
    for spec in specs:
        print(f"\n== battery care, {spec.name}: target {CARE_TARGET_PCT:.0f} % ==")
        print(f"{'strategy':<12}{'variant':<8}{'cost EUR':>10}{'h > 80 %':>10}{'missed':>8}")
        rows: dict[str, object] = {}
        for strategy in ("smart", "smart_v2g"):
            today = tallies[(spec.name, strategy, "today")]
            for variant in CARE_VARIANTS:
                tally = tallies[(spec.name, strategy, variant)]
                rows[f"{strategy}/{variant}"] = {
                    "annual_cost_eur": round(tally.cost_eur, 2),
                    "hours_above_80_pct": round(tally.hours_above_care, 1),
                    "missed_reachable": tally.missed_reachable,
                    "sessions": tally.sessions,
                }
                print(
                    f"{strategy:<12}{variant:<8}{tally.cost_eur:>10.2f}"
                    f"{tally.hours_above_care:>10.1f}{tally.missed_reachable:>8}"
                )
                if variant == "today":
                    continue
                extra = (tally.cost_eur - today.cost_eur) / abs(today.cost_eur)
                ok = (
                    tally.hours_above_care < today.hours_above_care
                    and extra <= 0.005
                    and tally.missed_reachable == 0
                )
                verdicts.append(
                    f"{spec.name}: {strategy} {variant} {'PASS' if ok else 'FAIL'} "
                    f"(hours above 80 %: {tally.hours_above_care:.0f} vs "
                    f"{today.hours_above_care:.0f}; cost {extra:+.2%})"
                )
        out_series[spec.name] = rows
    print(
        "\n== acceptance: fewer hours above 80 %, cost within 0.5 %, no reachable target missed =="
    )
    for line in verdicts:
        print(line)
    results = {
        "mode": mode,
        "target_pct": CARE_TARGET_PCT,
        "variants": CARE_VARIANTS,
        "assumptions": ASSUMPTIONS,
        "series": out_series,
        "acceptance": verdicts,
    }
    out = Path(__file__).parent / "results" / f"care-{mode}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


def _speed_job(quick: bool) -> dict[str, object]:
    spec = FULL[0]
    prices = load_prices(spec.column, spec.filename, spec.name)
    world = build_world(prices, load_solar_g(), date(2019, 1, 1), date(2019, 12, 25))
    single = speed_single(world, 100 if quick else 500)
    fleet = speed_fleet(world, 2 if quick else 5)
    return {"single_vehicle": single, "fleet": fleet}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four weeks of one series")
    parser.add_argument("--user", default="ASK_Plass67", help="EV session user id")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--out", default=None, help="results file (default results/<mode>.json)")
    parser.add_argument(
        "--care", action="store_true", help="only the battery care comparison (target 90 %%)"
    )
    parser.add_argument("--only", default=None, help="only the series whose name has this")
    args = parser.parse_args(argv)
    specs = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    if args.only:
        specs = tuple(spec for spec in specs if args.only in spec.name)
        mode = f"{mode}-{args.only.replace(' ', '_')}"
    if args.care:
        return care_main(specs, mode, args.user, args.workers)
    wall = time.perf_counter()
    load_avg = os.getloadavg()

    # Simulations in parallel processes, longest first; the speed section runs alone at the end
    # so that it does not compete with the simulations for the two cores.
    jobs = [(spec, strategy) for strategy in STRATEGIES for spec in specs]
    order = {"smart": 0, "smart_v2g": 0, "cheapest_slots": 1}
    jobs.sort(key=lambda job: order.get(job[1], 2))
    tallies: dict[tuple[str, str], tuple[Tally, float]] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [pool.submit(_job, spec, strategy, args.user) for spec, strategy in jobs]
        for future in as_completed(futures):
            name, strategy, tally, seconds = future.result()
            tallies[(name, strategy)] = (tally, seconds)
            print(f"  done: {name} / {strategy} in {seconds:.0f} s", flush=True)

    _, sessions0, user = _world_and_sessions(specs[0], args.user)
    del sessions0
    results: dict[str, object] = {
        "mode": mode,
        "user": user,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average at start {load_avg[0]:.1f}",
        "assumptions": ASSUMPTIONS,
    }
    series_out: dict[str, object] = {}
    acceptance: list[str] = []
    for spec in specs:
        _, sessions, _ = _world_and_sessions(spec, args.user)
        print(f"\n== {spec.name}: {len(sessions)} sessions of user {user} ==")
        print(
            f"{'strategy':<24}{'cost EUR':>10}{'saving':>9}{'V2G kWh':>9}{'charged':>9}"
            f"{'missed':>8}{'(reach.)':>9}{'solve p50':>10}{'p95':>7}{'max ms':>8}"
        )
        rows: dict[str, dict[str, object]] = {}
        base_cost = tallies[(spec.name, "charge_now")][0].cost_eur
        for strategy in STRATEGIES:
            tally, seconds = tallies[(spec.name, strategy)]
            times = percentiles_ms(tally.solve_times_s)
            rows[strategy] = {
                "annual_cost_eur": round(tally.cost_eur, 2),
                "energy_bill_eur": round(tally.energy_bill_eur, 2),
                "wear_eur": round(tally.wear_eur, 2),
                "savings_vs_charge_now_eur": round(base_cost - tally.cost_eur, 2),
                "v2g_discharged_kwh": round(tally.discharged_kwh, 1),
                "charged_kwh": round(tally.charged_kwh, 1),
                "sessions": tally.sessions,
                "missed_targets": tally.missed,
                "missed_reachable": tally.missed_reachable,
                "missed_unreachable": tally.missed_unreachable,
                "topped_up_elsewhere_kwh": round(tally.topped_up_kwh, 1),
                "solve_ms": times,
                "mip_solves": tally.mip_solves,
                "non_optimal_solves": tally.non_optimal,
                "wall_s": round(seconds, 1),
            }
            print(
                f"{strategy:<24}{tally.cost_eur:>10.2f}{base_cost - tally.cost_eur:>9.2f}"
                f"{tally.discharged_kwh:>9.1f}{tally.charged_kwh:>9.1f}{tally.missed:>8}"
                f"{tally.missed_reachable:>9}{_fmt(times['p50']):>10}{_fmt(times['p95']):>7}"
                f"{_fmt(times['max']):>8}"
            )
        cheapest = tallies[(spec.name, "cheapest_slots")][0].cost_eur
        for smart in ("smart", "smart_v2g"):
            tally = tallies[(spec.name, smart)][0]
            ok = tally.cost_eur < cheapest and tally.missed_reachable == 0
            acceptance.append(
                f"{spec.name}: {smart} {'PASS' if ok else 'FAIL'} ({tally.cost_eur:.2f} vs "
                f"cheapest slots {cheapest:.2f} EUR; {tally.missed_reachable} reachable "
                f"targets missed, {tally.missed_unreachable} unreachable)"
            )
        series_out[spec.name] = {
            "period": [spec.first.isoformat(), spec.last.isoformat()],
            "sessions": len(sessions),
            "strategies": rows,
        }
    results["series"] = series_out

    speed = _speed_job(args.quick)
    results["speed"] = speed
    single: dict[str, object] = speed["single_vehicle"]  # type: ignore[assignment]
    fleet: dict[str, object] = speed["fleet"]  # type: ignore[assignment]
    print("\n== speed (build + solve; wall clock, and CPU time of the process) ==")
    print(
        f"1 vehicle x 192 slots: p50 {single['p50']} ms, p99 {single['p99']} ms, "
        f"max {single['max']} ms over {single['count']} solves; CPU p50 {single['cpu_p50']} ms, "
        f"p99 {single['cpu_p99']} ms (MILP share {single['mip_share']:.1%})"
    )
    print(
        f"50 vehicles x 96 slots, one connection: p50 {fleet['p50']} ms, max {fleet['max']} ms "
        f"over {fleet['count']} solves; CPU p50 {fleet['cpu_p50']} ms "
        f"(all optimal: {fleet['all_optimal']})"
    )
    print("\n== acceptance ==")
    for line in acceptance:
        print(line)
    results["acceptance"] = acceptance
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    print(f"\nwall time {results['wall_s']} s (load average at start {load_avg[0]:.1f})")
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"{mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"written {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
