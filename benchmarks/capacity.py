"""Benchmark: the year simulation of `run.py` with monthly capacity tariffs (Flanders, Norway).

Run from the repository root:

    .venv/bin/python benchmarks/capacity.py            # one price year (DK2 2019)
    .venv/bin/python benchmarks/capacity.py --quick    # four weeks of March 2019
    .venv/bin/python benchmarks/capacity.py --every 4 --care   # hourly MPC, battery care

The world (prices, PV, house load, EV sessions, day-ahead knowledge) is `run.py`'s, with a
charger whose minimum charging power is 4.14 kW (6 A x 3 phases) and charge only. Every quarter
of the year counts for the capacity charge (the house imports when the car is away too). Per
tariff, strategies (model-predictive control: re-plan every 15 minutes while plugged in):

- charge now; cheapest slots; smart (the optimizer without the tariff term);
- smart + tariff (the optimizer with the tariff and the month's peaks so far);
- perfect foresight + tariff (each session planned once with the realised prices).

Each is billed per month on the same terms: the site's energy bill (import - export, house and
PV included), battery wear, and the tariff's capacity charge of that month. Per strategy also:
solve times (wall clock and the process's CPU time), hours plugged in above 80 % SoC, missed
(reachable) targets. ``--care``: target 90 %
and the optimizer's strategies with battery care (late ties, care cost). Results are printed
and written to ``benchmarks/results/capacity[-quick][-care].json``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
import json
import os
from pathlib import Path
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from custom_components.v2g.optimizer import (
    CapacityTariff,
    Plan,
    Problem,
    billed_peaks_kw,
    charge_now,
    cheapest_slots,
    solve,
)

MIN_CHARGE_W = 4_140.0
TZ_NAME = "Europe/Copenhagen"  # the world's local time (CET/CEST, as Brussels and Oslo)
# Illustrative prices: Flanders about 48 EUR per kW and year (4 EUR per kW of a month's peak),
# Norway a step table like a large grid company's 2024 NOK table at about 11.5 NOK/EUR.
FLANDERS = CapacityTariff(window_minutes=15, price_per_kw=4.0, minimum_kw=2.5, timezone=TZ_NAME)
NORWAY = CapacityTariff(
    window_minutes=60,
    top_n=3,
    distinct_days=True,
    steps=((2.0, 11.0), (5.0, 18.0), (10.0, 29.0), (15.0, 43.0), (20.0, 56.0), (25.0, 70.0)),
    timezone=TZ_NAME,
)
TARIFFS = {"flanders": FLANDERS, "norway": NORWAY}
STRATEGIES = ("charge_now", "cheapest_slots", "smart", "smart_tariff", "perfect_foresight_tariff")
PLAN_ONCE = {"charge_now", "perfect_foresight_tariff"}
WITH_TARIFF = {"smart_tariff", "perfect_foresight_tariff"}


@dataclass
class Calendar:
    """Local month, day and hour of every quarter of the world."""

    month: np.ndarray  # year * 12 + month - 1
    day: np.ndarray  # days since the epoch, local
    month_start: np.ndarray  # per quarter: index of its month's first quarter
    hour_start: np.ndarray  # per quarter: index of its hour's first quarter


def calendar(world: run.World) -> Calendar:
    count = world.load_w.shape[0]
    month = np.zeros(count, dtype=np.int64)
    day = np.zeros(count, dtype=np.int64)
    for i in range(0, count, run.PER_HOUR):
        local = datetime.fromtimestamp(world.start_s + i * run.SLOT_S, UTC).astimezone(run.TZ)
        month[i : i + run.PER_HOUR] = local.year * 12 + local.month - 1
        day[i : i + run.PER_HOUR] = local.toordinal()
    changes = np.flatnonzero(np.diff(month)) + 1
    starts = np.concatenate([[0], changes])
    month_start = starts[np.searchsorted(starts, np.arange(count), side="right") - 1]
    hour_start = (np.arange(count) // run.PER_HOUR) * run.PER_HOUR
    return Calendar(month, day, month_start, hour_start)


def tariff_now(
    tariff: CapacityTariff, world: run.World, cal: Calendar, imp_kw: np.ndarray, now: int
) -> CapacityTariff:
    """The tariff with this month's measured peaks before quarter ``now`` (compressed)."""
    m0 = int(cal.month_start[now])
    history: list[tuple[datetime, float]] = []
    if tariff.window_minutes == 15:
        if now > m0:
            k = m0 + int(np.argmax(imp_kw[m0:now]))
            history.append((_moment(world, k), float(imp_kw[k])))
        return replace(tariff, history=tuple(history))
    h_now = int(cal.hour_start[now])
    if h_now > m0:
        hours = imp_kw[m0:h_now].reshape(-1, run.PER_HOUR).mean(axis=1)
        days = cal.day[m0 : h_now : run.PER_HOUR]
        for d in np.unique(days):
            sel = np.flatnonzero(days == d)
            best = int(sel[np.argmax(hours[sel])])
            history.append((_moment(world, m0 + best * run.PER_HOUR), float(hours[best])))
    current = float(np.sum(imp_kw[h_now:now]) * run.SLOT_H)
    return replace(tariff, history=tuple(history), current_window_kwh=current)


def _moment(world: run.World, index: int) -> datetime:
    return datetime.fromtimestamp(world.start_s + index * run.SLOT_S, UTC)


def problem_at(
    world: run.World,
    first: int,
    stop: int,
    *,
    soc_pct: float,
    departure_s: int,
    realised: bool,
    tariff: CapacityTariff | None,
    care: Care | None = None,
) -> Problem:
    base = run.make_problem(
        world,
        first,
        stop,
        soc_pct=soc_pct,
        departure_s=departure_s,
        v2g=False,
        realised=realised,
        target_pct=care.target_pct if care else run.TARGET_PCT,
        care=care.settings if care else None,
    )
    vehicle = replace(base.vehicles[0], min_charge_power_w=MIN_CHARGE_W)
    site = replace(base.site, capacity_tariff=tariff)
    return replace(base, vehicles=(vehicle,), site=site)


@dataclass(frozen=True)
class Care:
    """Battery care for the optimizer's strategies, and the departure target of every strategy."""

    target_pct: float
    settings: dict[str, object]


CARE = Care(run.CARE_TARGET_PCT, run.CARE_VARIANTS["care_late"])
"""``--care``: run.py's care comparison (target 90 %, ties charge late, 0.001 EUR per kWh held
above 80 % per hour); charge now and cheapest slots get the same target, no care."""


@dataclass
class Outcome:
    ev_w: np.ndarray  # EV charging power per quarter of the world
    solve_ms: list[float]
    solve_cpu_ms: list[float] = field(default_factory=list)
    non_optimal: int = 0
    missed_reachable: int = 0
    missed: int = 0
    end_soc_kwh: float = 0.0
    first_arrival_kwh: float = 0.0
    hours_above_care: float = 0.0


def simulate(  # noqa: PLR0912
    world: run.World,
    sessions: list[run.Session],
    strategy: str,
    tariff: CapacityTariff | None,
    every: int = 1,
    *,
    care: Care | None = None,
) -> Outcome:
    """One strategy over the sessions; MPC strategies re-plan every ``every`` quarters."""
    cal = calendar(world)
    base_kw = (world.load_w - world.solar_w) / 1000.0
    imp_kw = np.clip(base_kw, 0.0, None)  # site import; the EV's part filled in as time passes
    ev_w = np.zeros_like(base_kw)
    out = Outcome(ev_w=ev_w, solve_ms=[])
    soc_kwh: float | None = None
    target_pct = care.target_pct if care else run.TARGET_PCT
    target_kwh = target_pct / 100 * run.CAPACITY_KWH
    above_kwh = run.CARE_PCT / 100 * run.CAPACITY_KWH + 1e-3
    # Battery care is the optimizer's setting: the baselines only get the target.
    cared = care if care and strategy not in {"charge_now", "cheapest_slots"} else None
    if care and not cared:
        cared = Care(care.target_pct, {})
    for s in sessions:
        a = -(-(s.plugin_s - world.start_s) // run.SLOT_S)
        b = (s.plugout_s - world.start_s) // run.SLOT_S
        if b <= a:
            continue
        arrival = (target_kwh if soc_kwh is None else soc_kwh) - s.energy_kwh
        arrival = max(arrival, 0.05 * run.CAPACITY_KWH)
        if soc_kwh is None:
            out.first_arrival_kwh = arrival
        soc = arrival
        departure_s = world.start_s + b * run.SLOT_S
        headroom = np.clip(17_000 - world.load_w[a:b] + world.solar_w[a:b], 0, 11e3)
        reachable = arrival + float(np.sum(headroom)) * run.SLOT_H * 0.92 / 1000 >= (
            target_kwh - 1e-3
        )
        # With the target at the top of the allowed SoC, less than one quarter-hour at the
        # minimum power cannot be charged at all (any charging overshoots).
        quantum_kwh = MIN_CHARGE_W / 1000 * run.SLOT_H * 0.92
        reachable &= not 0 < target_kwh - arrival < quantum_kwh
        if strategy in PLAN_ONCE:
            priced = tariff_now(tariff, world, cal, imp_kw, a) if tariff else None
            problem = problem_at(
                world,
                a,
                b,
                soc_pct=soc / run.CAPACITY_KWH * 100,
                departure_s=departure_s,
                realised=True,
                tariff=priced if strategy in WITH_TARIFF else None,
                care=cared,
            )
            cpu = time.process_time()
            plan: Plan = charge_now(problem) if strategy == "charge_now" else solve(problem)
            if strategy != "charge_now":
                out.solve_cpu_ms.append((time.process_time() - cpu) * 1000)
                out.solve_ms.append(plan.solve_time_s * 1000)
                out.non_optimal += not plan.ok
            for k in range(b - a):
                ev_w[a + k] = plan.charge_power_w[k]
                soc = run.step_soc(soc, ev_w[a + k], 0.0)
                out.hours_above_care += run.SLOT_H * (soc > above_kwh)
            imp_kw[a:b] = np.clip(base_kw[a:b] + ev_w[a:b] / 1000.0, 0.0, None)
        else:
            for now in range(a, b, every):
                stop = min(b, now + 192)
                priced = None
                if strategy in WITH_TARIFF and tariff is not None:
                    priced = tariff_now(tariff, world, cal, imp_kw, now)
                problem = problem_at(
                    world,
                    now,
                    stop,
                    soc_pct=soc / run.CAPACITY_KWH * 100,
                    departure_s=departure_s,
                    realised=False,
                    tariff=priced,
                    care=cared,
                )
                if strategy == "cheapest_slots":
                    plan = cheapest_slots(problem)
                else:
                    cpu = time.process_time()
                    plan = solve(problem)
                    out.solve_cpu_ms.append((time.process_time() - cpu) * 1000)
                    out.solve_ms.append(plan.solve_time_s * 1000)
                    out.non_optimal += not plan.ok
                for k in range(min(every, b - now)):  # the plan's first quarters, applied
                    ev_w[now + k] = plan.charge_power_w[k]
                    imp_kw[now + k] = max(0.0, base_kw[now + k] + ev_w[now + k] / 1000.0)
                    soc = run.step_soc(soc, ev_w[now + k], 0.0)
                    out.hours_above_care += run.SLOT_H * (soc > above_kwh)
        if soc < (target_pct - 0.5) / 100 * run.CAPACITY_KWH:
            out.missed += 1
            out.missed_reachable += int(reachable)
        soc_kwh = soc
    out.end_soc_kwh = soc_kwh or 0.0
    return out


def monthly_bill(
    world: run.World,
    cal: Calendar,
    ev_w: np.ndarray,
    tariff: CapacityTariff,
    *,
    first: int,
    stop: int,
) -> dict[str, dict[str, float]]:
    """Per local month in quarters [first, stop): energy bill, wear, billed peak, charge (EUR)."""
    net_kw = (world.load_w - world.solar_w + ev_w) / 1000.0
    imp = np.clip(net_kw, 0.0, None)
    out: dict[str, dict[str, float]] = {}
    for month in np.unique(cal.month[first:stop]):
        idx = np.flatnonzero(cal.month == month)
        idx = idx[(idx >= first) & (idx < stop)]
        energy = run.site_bill(world, idx, ev_w[idx])
        wear = float(np.sum(run.SLOT_H * 0.02 * ev_w[idx] / 1000.0))
        if tariff.window_minutes == 15:
            values = imp[idx]
            weights_day = None
        else:
            whole = idx[: (idx.shape[0] // run.PER_HOUR) * run.PER_HOUR]
            values = imp[whole].reshape(-1, run.PER_HOUR).mean(axis=1)
            weights_day = cal.day[whole][:: run.PER_HOUR]
        if tariff.distinct_days and weights_day is not None:
            values = np.array([values[weights_day == d].max() for d in np.unique(weights_day)])
        top = np.sort(values)[::-1][: tariff.top_n]
        billed = float(np.sum(top)) / tariff.top_n
        # The optimizer's own costing of the month gives the same billed peak.
        exact = billed_peaks_kw(
            tariff, run.slot_grid(world, int(idx[0]), idx.shape[0]), imp[idx] * 1000
        )
        assert abs(next(iter(exact.values())) - billed) < 1e-6, (exact, billed)
        charge = tariff.charge(billed)
        key = f"{int(month) // 12}-{int(month) % 12 + 1:02d}"
        out[key] = {
            "energy_eur": round(energy, 2),
            "wear_eur": round(wear, 2),
            "billed_peak_kw": round(billed, 3),
            "capacity_eur": round(charge, 2),
            "total_eur": round(energy + wear + charge, 2),
        }
    return out


SPECS = {
    "full": run.SeriesSpec(
        "DK2 2019",
        "DK2_EUR_per_MWh",
        "eds_dayahead_2017-2022_DK2_hourly_wide.csv",
        date(2019, 1, 1),
        date(2020, 1, 1),
    ),
    "quick": run.QUICK[0],
}


def _job(  # noqa: PLR0917
    mode: str,
    strategy: str,
    tariff_name: str | None,
    user: str,
    every: int,
    care: bool,
) -> tuple[object, ...]:
    spec = SPECS[mode]
    world, sessions, _ = run._world_and_sessions(spec, user)
    started = time.perf_counter()
    tariff = TARIFFS[tariff_name] if tariff_name else None
    outcome = simulate(
        world,
        sessions,
        strategy,
        tariff,
        every,
        care=CARE if care else None,
    )
    return strategy, tariff_name, outcome, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four weeks of March 2019")
    parser.add_argument("--user", default="ASK_Plass67")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--every", type=int, default=1, help="MPC: re-plan every N quarters (default 1)"
    )
    parser.add_argument(
        "--care",
        action="store_true",
        help="battery care: target 90 %%, late ties and a care cost above 80 %% (run.py --care)",
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    spec = SPECS[mode]
    wall = time.perf_counter()
    load_avg = os.getloadavg()
    jobs: list[tuple[str, str | None]] = [
        (s, t) for s in STRATEGIES if s in WITH_TARIFF for t in TARIFFS
    ] + [(s, None) for s in STRATEGIES if s not in WITH_TARIFF]
    jobs.sort(key=lambda job: job[0] != "smart_tariff")  # the slow ones first
    outcomes: dict[tuple[str, str | None], tuple[Outcome, float]] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [pool.submit(_job, mode, s, t, args.user, args.every, args.care) for s, t in jobs]
        for future in as_completed(futures):
            strategy, tariff_name, outcome, seconds = future.result()
            outcomes[(strategy, tariff_name)] = (outcome, seconds)  # type: ignore[index]
            print(f"  done: {strategy} / {tariff_name or '-'} in {seconds:.0f} s", flush=True)

    world, sessions, user = run._world_and_sessions(spec, args.user)
    cal = calendar(world)
    first = world.index(run._epoch_s(datetime.combine(spec.first, datetime.min.time(), run.TZ)))
    stop = world.index(run._epoch_s(datetime.combine(spec.last, datetime.min.time(), run.TZ)))
    mean_import = float(np.nanmean(world.import_price))
    results: dict[str, object] = {
        "mode": mode,
        "series": spec.name,
        "replan_every_minutes": 15 * args.every,
        "care": (
            f"target {CARE.target_pct:.0f} % for every strategy; the optimizer's strategies "
            f"with {CARE.settings}; hours above {run.CARE_PCT:.0f} % SoC counted"
            if args.care
            else f"none (target {run.TARGET_PCT:.0f} %); hours above {run.CARE_PCT:.0f} % SoC "
            "counted"
        ),
        "user": user,
        "sessions": len(sessions),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average at start {load_avg[0]:.1f}",
        "assumptions": {
            **run.ASSUMPTIONS,
            "charger": "minimum charging power 4.14 kW (6 A x 3 phases), charge only",
            "flanders": "15-minute peak of the month, 4 EUR per kW of it, 2.5 kW minimum",
            "norway": "mean of the 3 highest hourly averages on 3 different days; steps "
            "0-2, 2-5, 5-10, 10-15, 15-20, 20-25 kW at 11, 18, 29, 43, 56, 70 EUR a month",
            "bill": "per local month: site energy bill (house and PV included) + wear + "
            "capacity charge; the energy left in the battery at the end valued at the mean "
            "import price",
        },
    }
    acceptance: list[str] = []
    per_tariff: dict[str, object] = {}
    for name, tariff in TARIFFS.items():
        print(f"\n== {spec.name}, {name} capacity tariff: {len(sessions)} sessions of {user} ==")
        print(
            f"{'strategy':<26}{'total EUR':>11}{'capacity':>10}{'energy':>9}{'mean peak':>10}"
            f"{'missed':>8}{'(reach.)':>9}{'solve p50':>10}{'p95':>7}{'max ms':>8}"
            f"{'cpu p95':>8}{'max':>6}{'>200':>5}{'h>80%':>7}"
        )
        rows: dict[str, object] = {}
        months_of: dict[str, dict[str, dict[str, float]]] = {}
        for strategy in STRATEGIES:
            key = (strategy, name if strategy in WITH_TARIFF else None)
            outcome, seconds = outcomes[key]
            months = monthly_bill(world, cal, outcome.ev_w, tariff, first=first, stop=stop)
            months_of[strategy] = months
            end_adjust = (outcome.first_arrival_kwh - outcome.end_soc_kwh) * mean_import
            total = sum(m["total_eur"] for m in months.values()) + end_adjust
            capacity = sum(m["capacity_eur"] for m in months.values())
            energy = sum(m["energy_eur"] + m["wear_eur"] for m in months.values())
            mean_peak = float(np.mean([m["billed_peak_kw"] for m in months.values()]))
            times = run.percentiles_ms([t / 1000 for t in outcome.solve_ms])
            cpu_times = run.percentiles_ms([t / 1000 for t in outcome.solve_cpu_ms])
            rows[strategy] = {
                "annual_cost_eur": round(total, 2),
                "capacity_eur": round(capacity, 2),
                "energy_and_wear_eur": round(energy, 2),
                "mean_billed_peak_kw": round(mean_peak, 3),
                "missed_targets": outcome.missed,
                "missed_reachable": outcome.missed_reachable,
                "hours_above_80_pct": round(outcome.hours_above_care, 1),
                "solve_ms": times,
                "solve_cpu_ms": cpu_times,
                "solves_over_200_ms_cpu": sum(t > 200 for t in outcome.solve_cpu_ms),
                "non_optimal_solves": outcome.non_optimal,
                "wall_s": round(seconds, 1),
                "months": months,
            }
            print(
                f"{strategy:<26}{total:>11.2f}{capacity:>10.2f}{energy:>9.2f}{mean_peak:>10.2f}"
                f"{outcome.missed:>8}{outcome.missed_reachable:>9}{run._fmt(times['p50']):>10}"
                f"{run._fmt(times['p95']):>7}{run._fmt(times['max']):>8}"
                f"{run._fmt(cpu_times['p95']):>8}{run._fmt(cpu_times['max']):>6}"
                f"{sum(t > 200 for t in outcome.solve_cpu_ms):>5}{outcome.hours_above_care:>7.0f}"
            )
        print("billed peak kW per month (smart / smart + tariff / perfect foresight + tariff):")
        worse = []
        for month, with_term in months_of["smart_tariff"].items():
            without = months_of["smart"][month]
            pf = months_of["perfect_foresight_tariff"][month]
            diff = with_term["total_eur"] - without["total_eur"]
            print(
                f"  {month}: {without['billed_peak_kw']:6.2f} {with_term['billed_peak_kw']:6.2f} "
                f"{pf['billed_peak_kw']:6.2f} kW; billed total {without['total_eur']:8.2f} -> "
                f"{with_term['total_eur']:8.2f} EUR ({diff:+.2f})"
            )
            if diff > 0:
                worse.append(f"{month} ({diff:+.2f} EUR)")
        verdict = "PASS" if not worse else "FAIL"
        acceptance.append(
            f"{name}: smart + tariff billed total <= smart without the tariff term in every "
            f"month: {verdict}" + (f" (worse: {', '.join(worse)})" if worse else "")
        )
        per_tariff[name] = rows
    results["tariffs"] = per_tariff
    results["acceptance"] = acceptance
    print("\n== acceptance ==")
    for line in acceptance:
        print(line)
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    print(f"\nwall time {results['wall_s']} s (load average at start {load_avg[0]:.1f})")
    name = ("capacity-quick" if args.quick else "capacity") + ("-care" if args.care else "")
    name += ".json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"written {out.relative_to(run.REPO) if out.is_relative_to(run.REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
