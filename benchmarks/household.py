"""Benchmark: a PV household's year of smart charging, V2H and V2G with a *forecast* house load.

Run from the repository root (benchmark-only dependency: ``pip install -r
benchmarks/requirements.txt``, i.e. ``richardsonpy``):

    .venv/bin/python benchmarks/household.py            # DK2 2019, the whole year
    .venv/bin/python benchmarks/household.py --quick    # four weeks of March 2019
    .venv/bin/python benchmarks/household.py --estimators --modes v2g   # load estimators
    .venv/bin/python benchmarks/household.py --live before \
        --out benchmarks/results/household-before.json   # the live rule before

The world is `run.py`'s (DK2 2019 day-ahead prices known from 13:00 the day before, one real
user's EV sessions, 5 kWp PV from a TMY, import = spot + 0.10 EUR/kWh, export = spot, 17 kW
fuse) except the house load, which `run.py` draws as a fixed step profile known exactly:

- **House load (the truth):** a stochastic 1-minute profile of a 3-person single-family house
  from the Richardson et al. model (PyPI ``richardsonpy``: Markov-chain active occupancy,
  appliance switch-on probabilities by activity, lighting against outdoor irradiance, here the
  TMY's G(h)), normalised to 4,000 kWh a year, seeded (``random`` and ``numpy``). The model
  yields 365 days starting on a Monday; day *d* of the simulation uses profile day
  ``(d - the Monday on or before 1 January) mod 364`` (52 whole weeks, so weekdays stay right;
  for 2019 the four weeks of history before the first day are the profile's last December
  weeks).
  The 1-minute values are averaged to the 15-minute slots; hourly means are what Home
  Assistant's recorder keeps (long-term statistics) and what the estimators see.
- **House load (the plan's forecast):** an estimator over the completed hours before now (see
  ``ESTIMATORS``; ``weekday`` is the integration's today), or the truth (``perfect``). PV is
  known exactly (the study is about the house load).
- **The setpoint and the live meter:** the plan's first slot is applied (MPC: re-planned every
  15 minutes while plugged in, horizon until plug-out capped at 48 h), corrected each minute
  by the integration's own live rule (`decision.limit_site_to_grid`) with the meter showing
  the true house load less the PV. ``--live follow`` (default, the integration now): discharging
  exports no more than the plan's export of the slot (V2H only: nothing), and where the plan
  imports nothing now the EV follows the real load (`decision.follow_meter`: charging from the
  solar surplus takes what the forecast missed and gives way before importing as far as later
  slots can make it up; V2H discharging covers the real house load). ``--live before``: the
  rule before this benchmark (the export cap with a 100 W margin, nothing else); ``cap``: the
  export cap without the margin; ``none``: the plan as is.
- **The EV:** `run.py`'s (60 kWh, 11 kW both ways, 92 % each way, target 80 %, reserve 20 %,
  wear 0.02 EUR/kWh) with the integration's default cycling cap of 90 % (solar surplus may be
  stored above the target).
- **Strategies:** charge now; smart charge-only (``smart``), smart V2H only (``smart_v2h``: the
  car may discharge to cover the house's forecast net load, never to export: a per-slot floor
  on its signed power), smart V2G (``smart_v2g``); perfect foresight of each (every session
  planned once with the realised prices and the true load, the plan applied as is).
- **Figures:** annual EV cost (the site's bill with the EV minus the bill without it, plus
  battery wear, plus the stored energy difference between the first arrival and the last
  departure at the mean import price: `run.simulate`'s accounting); the saving against charge
  now; the share of the perfect-foresight saving of the same mode the MPC captures; kWh left
  above the target at the departures; reachable targets missed (must be 0).

Results are printed and written to ``benchmarks/results/household-<mode>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import json
import os
from pathlib import Path
import platform
import random
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from custom_components.v2g import decision
from custom_components.v2g.decision import GridShare, limit_site_to_grid
from custom_components.v2g.optimizer import Plan, Problem, Tariff, charge_now, solve

SLOT_H = run.SLOT_H
PER_HOUR = run.PER_HOUR
CAPACITY_KWH = run.CAPACITY_KWH
TARGET_PCT = run.TARGET_PCT
OCCUPANTS = 3
ANNUAL_KWH = 4000.0
LOAD_SEED = 2019
HISTORY_DAYS = 28
"""Days of simulated house load before the first simulated day (the estimators' history)."""
HORIZON = 192
MAX_SOC_PCT = 90.0
"""The integration's default cycling cap (`max_v2g_soc_pct`): solar surplus (and V2H energy)
may be stored above the 80 % target; `run.py` caps at the target."""
CAP_KWH = MAX_SOC_PCT / 100 * CAPACITY_KWH
RESERVE_KWH = 0.20 * CAPACITY_KWH

MODES = ("charge", "v2h", "v2g")


# --------------------------------------------------------------------------- house load


def generate_minutes(seed: int = LOAD_SEED, g_table: dict | None = None) -> np.ndarray:
    """365 days x 1440 minutes of house power (W), day 0 a Monday (richardsonpy)."""
    try:
        import richardsonpy.classes.electric_load as el  # noqa: PLC0415
        import richardsonpy.classes.occupancy as occ  # noqa: PLC0415
    except ImportError:
        sys.exit(
            "benchmarks/household.py needs richardsonpy (benchmark-only): "
            ".venv/bin/pip install -r benchmarks/requirements.txt"
        )
    random.seed(seed)
    np.random.seed(seed)
    occupancy = occ.Occupancy(number_occupants=OCCUPANTS, initial_day=1, nb_days=365)
    # Outdoor irradiance for the lighting model: the TMY's G(h), W/m2, one value a minute
    # (local standard time = UTC + 1 h).
    table = g_table if g_table is not None else run.load_solar_g()
    hourly = np.zeros(8760)
    moment = datetime(2019, 1, 1, tzinfo=UTC)
    for h in range(8760):
        utc = moment + timedelta(hours=h - 1)
        hourly[h] = table.get((utc.month, utc.day, utc.hour), 0.0)
    q_direct = np.repeat(hourly, 60)
    load = el.ElectricLoad(
        occ_profile=occupancy.occupancy,
        total_nb_occ=OCCUPANTS,
        q_direct=q_direct,
        q_diffuse=np.zeros_like(q_direct),
        annual_demand=ANNUAL_KWH,
        is_sfh=True,
        prev_heat_dev=True,
        timestep=60,
        initial_day=1,
        do_normalization=True,
    )
    minutes = np.asarray(load.loadcurve, dtype=np.float64)
    return minutes[: 365 * 1440]


def cached_minutes(seed: int, g_table: dict) -> np.ndarray:
    """`generate_minutes`, kept in ``benchmarks/.cache`` (git-ignored; about 20 s to make)."""
    path = (
        Path(__file__).parent / ".cache" / f"household-load-{seed}-{OCCUPANTS}-{ANNUAL_KWH:.0f}.npy"
    )
    if path.exists():
        return np.load(path)
    minutes = generate_minutes(seed, g_table)
    path.parent.mkdir(exist_ok=True)
    np.save(path, minutes)
    return minutes


@dataclass
class House:
    """The true load on the world's quarter axis, with its minutes and hourly statistics."""

    quarter_w: np.ndarray  # (quarters,)
    minute_w: np.ndarray  # (quarters, 15)
    hourly_w: np.ndarray  # (hours,) on the UTC hour axis of the world
    weekday_key: np.ndarray  # per UTC hour: local weekday * 24 + local hour
    hour_key: np.ndarray  # per UTC hour: local hour
    history_start_h: int = 0  # the first hour the estimators may see (the installation)


def house_on_world(world: run.World, minutes: np.ndarray, first: date) -> House:
    count = world.spot.size
    # Profile day 0 is the Monday on or before 1 January of the first day's year (the model's
    # lighting follows the TMY's irradiance of that calendar day).
    new_year = date(first.year, 1, 1)
    ref = new_year - timedelta(days=new_year.weekday())
    per_day = minutes.reshape(365, 1440)
    minute_w = np.zeros((count, 15))
    for i in range(count):
        local = datetime.fromtimestamp(world.start_s + i * run.SLOT_S, run.TZ)
        day = (local.date() - ref).days % 364
        m = local.hour * 60 + local.minute
        minute_w[i] = per_day[day, m : m + 15]
    hours = count // PER_HOUR
    weekday_key = np.zeros(hours, dtype=np.int64)
    hour_key = np.zeros(hours, dtype=np.int64)
    for h in range(hours):
        local = datetime.fromtimestamp(world.start_s + h * 3600, run.TZ)
        weekday_key[h] = local.weekday() * 24 + local.hour
        hour_key[h] = local.hour
    quarter_w = minute_w.mean(axis=1)
    hourly_w = quarter_w[: hours * PER_HOUR].reshape(hours, PER_HOUR).mean(axis=1)
    return House(quarter_w, minute_w, hourly_w, weekday_key, hour_key)


# --------------------------------------------------------------------------- estimators

type Estimator = Callable[[House, int, int], np.ndarray]
"""(house, quarter now, hours wanted) -> forecast W for the hours from now's hour on."""


def _profile(house: House, now_h: int, weeks: int) -> tuple[np.ndarray, ...]:
    lo = max(house.history_start_h, now_h - weeks * 168)
    hist = house.hourly_w[lo:now_h]
    kw = house.weekday_key[lo:now_h]
    kh = house.hour_key[lo:now_h]
    return (
        np.bincount(kw, hist, 168),
        np.bincount(kw, minlength=168).astype(float),
        np.bincount(kh, hist, 24),
        np.bincount(kh, minlength=24).astype(float),
        float(hist.mean()) if hist.size else 0.0,
    )


def _weekday_values(
    house: House, hours: np.ndarray, profile: tuple[np.ndarray, ...], min_samples: int = 2
) -> np.ndarray:
    s168, c168, s24, c24, mean = profile
    kw = house.weekday_key[hours]
    kh = house.hour_key[hours]
    by_hour = np.where(c24[kh] > 0, s24[kh] / np.maximum(c24[kh], 1), mean)
    return np.where(c168[kw] >= min_samples, s168[kw] / np.maximum(c168[kw], 1), by_hour)


def weekday(house: House, now: int, n: int, weeks: int = 4) -> np.ndarray:
    """Today's `LoadProfile`: the mean of the same local weekday and hour over the last weeks
    (at least 2 samples), else of the same hour over all days, else of all hours."""
    now_h = now // PER_HOUR
    if now_h - house.history_start_h < 24:  # LOAD_HISTORY_MISSING: the constant load
        return np.full(n, CONSTANT_LOAD_W)
    return _weekday_values(house, np.arange(now_h, now_h + n), _profile(house, now_h, weeks))


CONSTANT_LOAD_W = 400.0
"""The integration's default constant load (`load_constant_w`), its fallback without history."""
SLP_DAYS = 14
"""Below this many days of history the standard profile estimator uses the standard shape."""
_SLP: dict[str, np.ndarray] = {}


def standard_shape(g_table: dict | None = None) -> np.ndarray:
    """A standard load profile's shape: (2 day types: weekday, weekend) x 24 local hours,
    mean 1: the mean day of another synthetic household (richardsonpy, seed 1; BDEW's H0 from
    demandlib does not run on pandas 3)."""
    if "shape" not in _SLP:
        days = cached_minutes(1, g_table or run.load_solar_g()).reshape(365, 24, 60).mean(axis=2)
        weekend = (np.arange(365) % 7) >= 5
        shape = np.stack([days[~weekend].mean(axis=0), days[weekend].mean(axis=0)])
        _SLP["shape"] = shape / shape.mean()
    return _SLP["shape"]


def slp_fallback(house: House, now: int, n: int) -> np.ndarray:
    """Today's estimator, but with less than `SLP_DAYS` of history a standard profile's shape
    scaled to the history's mean (the constant load without a day of history)."""
    now_h = now // PER_HOUR
    hours = now_h - house.history_start_h
    if hours >= SLP_DAYS * 24:
        return weekday(house, now, n)
    scale = CONSTANT_LOAD_W if hours < 24 else float(house.hourly_w[now_h - hours : now_h].mean())
    target = np.arange(now_h, now_h + n)
    day_type = (house.weekday_key[target] // 24 >= 5).astype(int)
    return scale * standard_shape()[day_type, house.hour_key[target]]


def hour_days(house: House, now: int, n: int, days: int = 7) -> np.ndarray:
    """The mean of the same local hour over the last `days` days (weekdays not told apart)."""
    now_h = now // PER_HOUR
    lo = max(house.history_start_h, now_h - days * 24)
    kh = house.hour_key[lo:now_h]
    s = np.bincount(kh, house.hourly_w[lo:now_h], 24)
    c = np.bincount(kh, minlength=24)
    target = house.hour_key[now_h : now_h + n]
    return s[target] / np.maximum(c[target], 1)


def ewma_hour(house: House, now: int, n: int, decay: float = 0.8, days: int = 28) -> np.ndarray:
    """Exponentially weighted mean of the same local hour: weight ``decay ** age in days``."""
    now_h = now // PER_HOUR
    lo = max(house.history_start_h, now_h - days * 24)
    idx = np.arange(lo, now_h)
    weights = decay ** ((now_h - 1 - idx) // 24)
    kh = house.hour_key[lo:now_h]
    s = np.bincount(kh, weights * house.hourly_w[lo:now_h], 24)
    c = np.bincount(kh, weights, 24)
    target = house.hour_key[now_h : now_h + n]
    return s[target] / np.maximum(c[target], 1e-9)


def blend_last_hours(
    house: House, now: int, n: int, last: int = 2, tau_h: float = 2.0
) -> np.ndarray:
    """Today's profile plus the mean error of the last completed hours, fading with the lead
    time (``exp(-lead / tau_h)``); the error is measured against the profile without the hour
    itself."""
    now_h = now // PER_HOUR
    profile = _profile(house, now_h, 4)
    base = _weekday_values(house, np.arange(now_h, now_h + n), profile)
    s168, c168 = profile[0], profile[1]
    errors = []
    for h in range(max(0, now_h - last), now_h):
        k = house.weekday_key[h]
        if c168[k] >= 3:
            errors.append(house.hourly_w[h] - (s168[k] - house.hourly_w[h]) / (c168[k] - 1))
    if not errors:
        return base
    lead = np.arange(n) + 1.0
    return np.maximum(0.0, base + float(np.mean(errors)) * np.exp(-lead / tau_h))


def hour_median(house: House, now: int, n: int, days: int = 14) -> np.ndarray:
    """The median of the same local hour over the last `days` days: a spiky load's typical hour
    (below its mean), which is what decides whether the sun's surplus is there."""
    now_h = now // PER_HOUR
    lo = max(house.history_start_h, now_h - days * 24)
    hist = house.hourly_w[lo:now_h]
    kh = house.hour_key[lo:now_h]
    medians = np.array(
        [
            float(np.median(hist[kh == h])) if np.any(kh == h) else float(hist.mean())
            for h in range(24)
        ]
    )
    return medians[house.hour_key[now_h : now_h + n]]


def weekday_median(house: House, now: int, n: int, weeks: int = 4) -> np.ndarray:
    """The median of the same local weekday and hour over the last `weeks` weeks (at least 2
    samples), else `hour_median` of the last 14 days."""
    now_h = now // PER_HOUR
    lo = max(house.history_start_h, now_h - weeks * 168)
    hist = house.hourly_w[lo:now_h]
    kw = house.weekday_key[lo:now_h]
    fallback = hour_median(house, now, n)
    out = np.empty(n)
    for i, key in enumerate(house.weekday_key[now_h : now_h + n]):
        same = hist[kw == key]
        out[i] = float(np.median(same)) if same.size >= 2 else fallback[i]
    return out


ESTIMATORS: dict[str, Estimator] = {
    "weekday": weekday,
    "weekday_8w": lambda h, now, n: weekday(h, now, n, weeks=8),
    "hour_7d": hour_days,
    "hour_14d": lambda h, now, n: hour_days(h, now, n, days=14),
    "ewma_hour": ewma_hour,
    "blend_last_hours": blend_last_hours,
    "hour_median_14d": hour_median,
    "weekday_median": weekday_median,
}
FRESH_ESTIMATORS: dict[str, Estimator] = {"weekday": weekday, "slp_fallback": slp_fallback}
"""Compared with ``--fresh`` (the integration installed on the first simulated day)."""
"""The load estimators compared (all from hourly statistics of completed hours)."""


def perfect(house: House, now: int, n: int) -> np.ndarray:
    now_h = now // PER_HOUR
    return house.hourly_w[now_h : now_h + n]


# --------------------------------------------------------------------------- simulation


@dataclass
class Result:
    cost_eur: float = 0.0
    energy_bill_eur: float = 0.0
    wear_eur: float = 0.0
    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    meter_cut_kwh: float = 0.0
    follow_kwh: float = 0.0
    above_target_kwh: float = 0.0
    sessions: int = 0
    missed_reachable: int = 0
    missed_unreachable: int = 0
    solves: int = 0
    non_optimal: int = 0
    forecast_mae_w: list[float] = field(default_factory=list)


def problem_for(
    world: run.World,
    first: int,
    stop: int,
    *,
    soc_kwh: float,
    departure_s: int,
    mode: str,
    load_w: np.ndarray,
    realised: bool,
) -> Problem:
    spot = world.spot[first:stop] if realised else world.forecast_spot(first, stop)
    tariff = Tariff(import_fee_per_kwh=0.10)
    ev = run.vehicle(
        soc_kwh / CAPACITY_KWH * 100, datetime.fromtimestamp(departure_s, UTC), mode != "charge"
    )
    ev = replace(ev, max_soc_pct=MAX_SOC_PCT)
    if mode == "v2h":
        # V2H only: discharge no more than the house's (forecast) net load, never for export.
        net = np.clip(load_w - world.solar_w[first:stop], 0.0, None)
        ev = replace(ev, power_floor_w=-net)
    return Problem(
        grid=run.slot_grid(world, first, stop - first),
        import_price_per_kwh=tariff.import_price(spot),
        export_price_per_kwh=tariff.export_price(spot),
        vehicles=(ev,),
        solar_power_w=world.solar_w[first:stop],
        base_load_power_w=load_w,
        site=run.SITE,
    )


NOW_MARGIN_W = decision.UNPLANNED_EXPORT_W
BEFORE_MARGIN_W = 100.0
"""`decision.UNPLANNED_EXPORT_W` before this benchmark (``live="before"``)."""


def apply_meter(  # noqa: PLR0917
    house: House,
    world: run.World,
    q: int,
    plan: Plan,
    mode: str,
    live: str,
) -> tuple[float, float]:
    """(charge, discharge) mean W in quarter ``q`` after the live meter correction.

    Each minute, the integration's own rule (`decision.limit_site_to_grid`) with the meter
    showing the true house load less the PV (the EV's own power is taken out, as there).
    ``live``: ``none`` the plan's first slot as is; ``before`` the rule as it was (discharging
    exports no more than the plan's export of the slot + 100 W; V2H only: the car exports
    nothing); ``cap`` the same without the 100 W; ``follow`` the rule with the plan's import too
    (`decision.follow_meter`: where the plan imports nothing now, charging follows the real
    solar surplus and V2H discharging the real house load; the integration now).
    """
    c0 = float(plan.charge_power_w[0])
    d0 = float(plan.discharge_power_w[0])
    if (c0 <= 0 and d0 <= 0) or live == "none":
        return c0, d0
    decision.UNPLANNED_EXPORT_W = BEFORE_MARGIN_W if live == "before" else NOW_MARGIN_W
    share = GridShare(
        setpoint_w=c0 - d0,
        power_w=0.0,
        max_charge_power_w=11_000.0,
        max_discharge_power_w=11_000.0 if mode != "charge" else None,
        max_cut_w=decision.makeup_w(plan.vehicles[0], 11_000.0, plan.grid.durations_h),
    )
    net_house = house.minute_w[q] - world.solar_w[q]
    follow = live == "follow"
    powers = np.array(
        [
            limit_site_to_grid(
                [share],
                grid_power_w=float(w),
                import_limit_w=run.SITE.import_limit_w,
                export_limit_w=run.SITE.export_limit_w,
                export_allowed=mode != "v2h",
                planned_export_w=float(plan.grid_export_w[0]),
                planned_import_w=float(plan.grid_import_w[0]) if follow else None,
            )[0]
            for w in net_house
        ]
    )
    return float(np.clip(powers, 0, None).mean()), float(np.clip(-powers, 0, None).mean())


def simulate(  # noqa: PLR0912
    world: run.World,
    house: House,
    sessions: list[run.Session],
    mode: str,
    *,
    estimator: Estimator | None,
    foresight: bool = False,
    now_only: bool = False,
    live: str = "follow",
) -> Result:
    """One strategy over the sessions; ``estimator`` None = the true load."""
    res = Result()
    target_kwh = TARGET_PCT / 100 * CAPACITY_KWH
    soc_kwh: float | None = None
    first_arrival = 0.0
    true_world_load = house.quarter_w
    for s in sessions:
        a = -(-(s.plugin_s - world.start_s) // run.SLOT_S)
        b = (s.plugout_s - world.start_s) // run.SLOT_S
        if b <= a:
            continue
        arrival = (target_kwh if soc_kwh is None else soc_kwh) - s.energy_kwh
        arrival = max(arrival, 0.05 * CAPACITY_KWH)
        if soc_kwh is None:
            first_arrival = arrival
        soc = arrival
        departure_s = world.start_s + b * run.SLOT_S
        idx = np.arange(a, b)
        charge = np.zeros(b - a)
        discharge = np.zeros(b - a)
        headroom = np.clip(
            run.SITE.import_limit_w - true_world_load[idx] + world.solar_w[idx], 0, 11e3
        )
        reachable = arrival + float(np.sum(headroom)) * SLOT_H * 0.92 / 1000 >= target_kwh - 1e-3
        if now_only or foresight:
            problem = problem_for(
                world,
                a,
                b,
                soc_kwh=soc,
                departure_s=departure_s,
                mode=mode,
                load_w=true_world_load[a:b],
                realised=True,
            )
            plan: Plan = charge_now(problem) if now_only else solve(problem)
            if not now_only:
                res.solves += 1
                res.non_optimal += not plan.ok
            charge = plan.charge_power_w.copy()
            discharge = plan.discharge_power_w.copy()
            for k in range(b - a):
                soc = run.step_soc(soc, charge[k], discharge[k])
        else:
            cached_h = -1
            hourly_fc = np.zeros(0)
            for k in range(b - a):
                now = a + k
                stop = min(b, now + HORIZON)
                now_h = now // PER_HOUR
                n_h = (stop - 1) // PER_HOUR - now_h + 1
                if estimator is None:
                    load_fc = true_world_load[now:stop]
                else:
                    if cached_h != now_h:  # statistics change once an hour
                        hourly_fc = estimator(house, now, HORIZON // PER_HOUR + 1)
                        cached_h = now_h
                    load_fc = np.repeat(hourly_fc[:n_h], PER_HOUR)[now % PER_HOUR :][: stop - now]
                    res.forecast_mae_w.append(abs(float(load_fc[0] - true_world_load[now])))
                problem = problem_for(
                    world,
                    now,
                    stop,
                    soc_kwh=soc,
                    departure_s=departure_s,
                    mode=mode,
                    load_w=load_fc,
                    realised=False,
                )
                plan = solve(problem)
                res.solves += 1
                res.non_optimal += not plan.ok
                c, d = apply_meter(house, world, now, plan, mode, live)
                # The battery's own limits (the car stops at them whatever the setpoint).
                room_w = (CAP_KWH - soc) / 0.92 / SLOT_H * 1000
                above_w = (soc - RESERVE_KWH) * 0.92 / SLOT_H * 1000
                charge[k] = min(c, max(room_w, float(plan.charge_power_w[0])))
                discharge[k] = min(d, max(above_w, float(plan.discharge_power_w[0])))
                res.meter_cut_kwh += (plan.discharge_power_w[0] - discharge[k]) * SLOT_H / 1000
                res.follow_kwh += (charge[k] - plan.charge_power_w[0]) * SLOT_H / 1000
                soc = run.step_soc(soc, charge[k], discharge[k])
        ev_w = charge - discharge
        bill = _bill(world, house, idx, ev_w) - _bill(world, house, idx, np.zeros(b - a))
        res.energy_bill_eur += bill
        res.wear_eur += float(np.sum(SLOT_H * 0.02 * (charge + discharge) / 1000.0))
        res.charged_kwh += float(np.sum(charge)) * SLOT_H / 1000
        res.discharged_kwh += float(np.sum(discharge)) * SLOT_H / 1000
        res.above_target_kwh += max(0.0, soc - target_kwh)
        res.sessions += 1
        if soc < (TARGET_PCT - 0.5) / 100 * CAPACITY_KWH:
            if reachable:
                res.missed_reachable += 1
            else:
                res.missed_unreachable += 1
        soc_kwh = soc
    mean_import = float(np.nanmean(world.import_price))
    res.cost_eur = (
        res.energy_bill_eur + res.wear_eur + (first_arrival - (soc_kwh or 0.0)) * mean_import
    )
    return res


def _bill(world: run.World, house: House, idx: np.ndarray, ev_w: np.ndarray) -> float:
    """`run.site_bill` with the true (generated) house load."""
    assert world.load_w is house.quarter_w
    return run.site_bill(world, idx, ev_w)


# --------------------------------------------------------------------------- main

SPEC_FULL = (date(2019, 1, 1), date(2020, 1, 1), "DK2 2019")
SPEC_QUICK = (date(2019, 3, 4), date(2019, 4, 1), "DK2 2019 (4 weeks, March)")
SPEC_CRISIS = (date(2021, 10, 14), date(2022, 10, 13), "DK2 2021-22 (crisis)")


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), run.TZ)


def setup(
    first: date, last: date, user: str, seed: int = LOAD_SEED
) -> tuple[run.World, House, list[run.Session], str]:
    prices = run.load_prices("DK2_EUR_per_MWh", "eds_dayahead_2017-2022_DK2_hourly_wide.csv", "DK2")
    g = run.load_solar_g()
    world = run.build_world(prices, g, first - timedelta(days=HISTORY_DAYS), last)
    house = house_on_world(world, cached_minutes(seed, g), first)
    world.load_w = house.quarter_w  # what the bill and the perfect-foresight plans see
    name, raw = run.load_sessions(user)
    return world, house, run.map_sessions(raw, first, last), name


def row(res: Result, base: float, best: float | None, seconds: float) -> dict[str, object]:
    saving = base - res.cost_eur
    out: dict[str, object] = {
        "annual_cost_eur": round(res.cost_eur, 2),
        "energy_bill_eur": round(res.energy_bill_eur, 2),
        "wear_eur": round(res.wear_eur, 2),
        "savings_vs_charge_now_eur": round(saving, 2),
        "charged_kwh": round(res.charged_kwh, 1),
        "discharged_kwh": round(res.discharged_kwh, 1),
        "discharge_cut_by_meter_kwh": round(res.meter_cut_kwh, 1),
        "charge_added_by_meter_kwh": round(res.follow_kwh, 1),
        "above_target_at_departure_kwh": round(res.above_target_kwh, 1),
        "sessions": res.sessions,
        "missed_reachable": res.missed_reachable,
        "missed_unreachable": res.missed_unreachable,
        "non_optimal_solves": res.non_optimal,
        "wall_s": round(seconds, 1),
    }
    if best is not None and best > 0:
        out["share_of_perfect_foresight_savings"] = round(saving / best, 4)
    if res.forecast_mae_w:
        out["load_forecast_mae_w"] = round(float(np.mean(res.forecast_mae_w)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four weeks of March 2019")
    parser.add_argument("--estimators", action="store_true", help="the load estimator study")
    parser.add_argument("--modes", default=",".join(MODES), help="modes (charge,v2h,v2g)")
    parser.add_argument("--estimator", default="weekday", help="the smart strategies' estimator")
    parser.add_argument(
        "--live",
        default="follow",
        choices=("none", "before", "cap", "follow"),
        help="live meter rule",
    )
    parser.add_argument(
        "--every", type=int, default=1, help="only the sessions of every n-th week (a sample)"
    )
    parser.add_argument("--crisis", action="store_true", help="DK2 2021-22 instead of 2019")
    parser.add_argument("--seed", type=int, default=LOAD_SEED, help="the house load's seed")
    parser.add_argument("--only-estimators", default=None, help="comma-separated names")
    parser.add_argument(
        "--fresh", action="store_true", help="no load history before the first day (estimators)"
    )
    parser.add_argument("--user", default="ASK_Plass67", help="EV session user id")
    parser.add_argument("--out", default=None, help="results file")
    args = parser.parse_args(argv)
    first, last, label = SPEC_QUICK if args.quick else SPEC_CRISIS if args.crisis else SPEC_FULL
    modes = tuple(m for m in args.modes.split(",") if m)
    wall = time.perf_counter()
    load_avg = os.getloadavg()
    world, house, sessions, user = setup(first, last, args.user, args.seed)
    if args.fresh:
        house.history_start_h = world.index(run._epoch_s(day_start(first))) // PER_HOUR
    if args.every > 1:
        sessions = [
            s for s in sessions if ((s.plugin_s - world.start_s) // 604_800) % args.every == 0
        ]
    sim_q = np.arange(
        world.index(run._epoch_s(datetime.combine(first, datetime.min.time(), run.TZ))),
        world.index(run._epoch_s(datetime.combine(last, datetime.min.time(), run.TZ))),
    )
    load_kwh = float(house.quarter_w[sim_q].sum()) * SLOT_H / 1000
    pv_kwh = float(world.solar_w[sim_q].sum()) * SLOT_H / 1000
    print(
        f"== {label}: {len(sessions)} sessions of {user}; house {load_kwh:.0f} kWh, "
        f"PV {pv_kwh:.0f} kWh ==",
        flush=True,
    )

    def timed(name: str, **kwargs: object) -> tuple[Result, float]:
        started = time.perf_counter()
        res = simulate(world, house, sessions, **kwargs)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        print(f"  done: {name} in {seconds:.0f} s: {res.cost_eur:.2f} EUR", flush=True)
        return res, seconds

    results: dict[str, object] = {
        "mode": ("quick" if args.quick else "full")
        + ("-estimators" if args.estimators else "")
        + ("-fresh" if args.fresh else ""),
        "period": [first.isoformat(), last.isoformat()],
        "series": label,
        "user": user,
        "sessions": len(sessions),
        "every_nth_week": args.every,
        "house_kwh": round(load_kwh, 1),
        "pv_kwh": round(pv_kwh, 1),
        "house_model": f"richardsonpy, {OCCUPANTS} occupants, single-family house, "
        f"{ANNUAL_KWH:.0f} kWh/year, seed {args.seed}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average at start {load_avg[0]:.1f}",
    }
    base, base_s = timed("charge_now", mode="charge", estimator=None, now_only=True)
    strategies: dict[str, object] = {"charge_now": row(base, base.cost_eur, None, base_s)}
    if args.estimators:
        table: dict[str, object] = {}
        for mode in modes:
            pf, pf_s = timed(f"perfect_foresight_{mode}", mode=mode, estimator=None, foresight=True)
            best = base.cost_eur - pf.cost_eur
            table[f"{mode}/perfect_foresight"] = row(pf, base.cost_eur, best, pf_s)
            ref, ref_s = timed(f"{mode}/perfect_load", mode=mode, estimator=None, live=args.live)
            table[f"{mode}/perfect_load"] = row(ref, base.cost_eur, best, ref_s)
            chosen = FRESH_ESTIMATORS if args.fresh else ESTIMATORS
            if args.only_estimators:
                chosen = {k: v for k, v in chosen.items() if k in args.only_estimators.split(",")}
            for name, est in chosen.items():
                res, seconds = timed(f"{mode}/{name}", mode=mode, estimator=est, live=args.live)
                entry = row(res, base.cost_eur, best, seconds)
                entry["lost_vs_perfect_load_eur"] = round(res.cost_eur - ref.cost_eur, 2)
                table[f"{mode}/{name}"] = entry
        results["estimators"] = table
        results["live"] = args.live
        print(
            f"\n{'mode/estimator':<30}{'cost EUR':>10}{'lost':>8}{'share':>8}{'MAE W':>8}"
            f"{'above kWh':>10}"
        )
        for key, entry in table.items():
            e: dict = entry  # type: ignore[assignment]
            print(
                f"{key:<30}{e['annual_cost_eur']:>10.2f}"
                f"{e.get('lost_vs_perfect_load_eur', 0):>8.2f}"
                f"{e.get('share_of_perfect_foresight_savings', 0):>8.1%}"
                f"{e.get('load_forecast_mae_w', 0):>8.0f}"
                f"{e['above_target_at_departure_kwh']:>10.1f}"
            )
    else:
        est = None if args.estimator == "perfect" else ESTIMATORS[args.estimator]
        results["estimator"] = args.estimator
        results["live"] = args.live
        for mode in modes:
            pf, pf_s = timed(f"perfect_foresight_{mode}", mode=mode, estimator=None, foresight=True)
            best = base.cost_eur - pf.cost_eur
            smart, smart_s = timed(f"smart_{mode}", mode=mode, estimator=est, live=args.live)
            strategies[f"smart_{mode}"] = row(smart, base.cost_eur, best, smart_s)
            strategies[f"perfect_foresight_{mode}"] = row(pf, base.cost_eur, best, pf_s)
        print(
            f"\n{'strategy':<28}{'cost EUR':>10}{'saving':>9}{'share':>8}{'disch.':>8}"
            f"{'cut':>7}{'above':>7}{'missed':>7}"
        )
        for key, entry in strategies.items():
            e = entry  # type: ignore[assignment]
            share = e.get("share_of_perfect_foresight_savings")
            print(
                f"{key:<28}{e['annual_cost_eur']:>10.2f}{e['savings_vs_charge_now_eur']:>9.2f}"
                f"{'' if share is None else f'{share:.1%}':>8}{e['discharged_kwh']:>8.1f}"
                f"{e['discharge_cut_by_meter_kwh']:>7.1f}{e['above_target_at_departure_kwh']:>7.1f}"
                f"{e['missed_reachable']:>7}"
            )
        costs = {m: float(strategies[f"smart_{m}"]["annual_cost_eur"]) for m in modes}  # type: ignore[index]
        if {"charge", "v2h", "v2g"} <= set(modes):
            ok = costs["v2g"] <= costs["v2h"] <= costs["charge"]
            results["ordering_v2g_le_v2h_le_charge"] = bool(ok)
            print(f"\nordering V2G <= V2H <= charge-only: {'PASS' if ok else 'FAIL'} {costs}")
    results["strategies"] = strategies
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    suffix = results["mode"]
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"household-{suffix}.json"
    )
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(run.REPO) if out.is_relative_to(run.REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
