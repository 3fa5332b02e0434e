"""Benchmark: 50 vans at one depot on real prices: uncoordinated, planned alone, planned jointly.

Run from the repository root:

    .venv/bin/python benchmarks/depot_year.py            # DK2 2019 and SE3 2023, 4 sample weeks
    .venv/bin/python benchmarks/depot_year.py --quick    # one week of DK2 2019, < 2 min

Each van is one user of the Norwegian residential data set (fleet.py), its sessions moved onto
the price year as run.py does (same ISO week and weekday, local clock time kept). The depot has
one 200 kW connection and nothing else on it. Every 15 minutes each strategy decides each
plugged-in van's power for the quarter hour (model predictive control, as the integration does):

- ``charge_now``: every van at 11 kW from arrival until 80 %, nothing limits the sum (the
  connection's overruns are counted);
- ``charge_now_balanced``: the same behind a plain load balancer that shares the 200 kW equally
  among the vans asking for power (up to 11 kW each);
- ``cheapest_slots``: each van's own charger charges in the cheapest quarter hours before its
  plug-out, just enough for 80 % (the evcc / EV Smart Charging heuristic, re-planned every 15
  min), knowing nothing of the other vans, behind the same load balancer;
- ``alone_share``: each van planned alone by the optimizer with its own fixed share of the
  connection (200 kW / 50 = 4 kW), so the sum can never exceed the limit;
- ``alone_overbooked``: each van planned alone with the whole 200 kW (each plan alone is
  feasible), behind the same load balancer when their sum is too high;
- ``joint``: the optimizer's multi-vehicle plan of all plugged-in vans under the 200 kW, as the
  integration's site coordinator plans them.

A full year of 15-minute re-plans for 50 vans takes hours on two cores, so the figures come from
four sample weeks per price series (mid-January, mid-April, mid-July, mid-October, each starting
on a Monday) and are scaled by 365 / 28 to a year. Results are printed and written to
``benchmarks/results/depot_year[_quick].json``; nothing is asserted on timing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
import json
import os
from pathlib import Path
import platform
import time

from fleet import IMPORT_LIMIT_W, TARGET_PCT, VAN_CAPACITY_KWH, VAN_POWER_W, fleet
import numpy as np
from run import (
    FULL,
    REPO,
    SLOT_H,
    SLOT_S,
    TZ,
    SeriesSpec,
    World,
    build_world,
    load_prices,
    load_solar_g,
    map_sessions,
    percentiles_ms,
    slot_grid,
)

from custom_components.v2g.optimizer import (
    Plan,
    Problem,
    Site,
    Tariff,
    Vehicle,
    cheapest_slots,
    solve,
)

VANS = 50
EFFICIENCY = 0.92
IMPORT_FEE_PER_KWH = 0.10
HORIZON_SLOTS = 192
TARGET_KWH = TARGET_PCT / 100.0 * VAN_CAPACITY_KWH
FLOOR_KWH = 0.05 * VAN_CAPACITY_KWH
SAMPLE_ISO_WEEKS = (3, 16, 29, 42)
STRATEGIES = (
    "charge_now",
    "charge_now_balanced",
    "cheapest_slots",
    "alone_share",
    "alone_overbooked",
    "joint",
)
BALANCED = ("charge_now_balanced", "cheapest_slots", "alone_overbooked")
"""The strategies behind the plain load balancer."""
SERIES = (FULL[0], FULL[2])  # DK2 2019, SE3 2023

ASSUMPTIONS: dict[str, str] = {
    "depot": f"{VANS} vans, one connection with a {IMPORT_LIMIT_W / 1000:.0f} kW import limit "
    "and nothing else on it (no building load, no PV)",
    "van": f"{VAN_CAPACITY_KWH:.0f} kWh usable, {VAN_POWER_W / 1000:.0f} kW charge only "
    f"(chargers modulate from 0 W), {EFFICIENCY:.0%} charging efficiency, target "
    f"{TARGET_PCT:.0f} % at plug-out, never charged above it",
    "sessions": "van i = the user with the i-th most sessions in a 365-day window of the "
    "Norwegian residential data set; that window's sessions mapped onto the price year by ISO "
    "week and weekday, local clock time kept (run.py's mapping); plug-out known to every "
    "strategy",
    "state of charge": "a van's first arrival in a sample week = 80 % - session energy; later "
    "arrivals = its previous departure SoC - the session's energy (energy driven = energy the "
    "user charged); floored at 5 %",
    "tariff": f"import = spot + {IMPORT_FEE_PER_KWH:.2f} EUR/kWh; no capacity (peak) price",
    "prices known": "as run.py: the next day's prices at 13:00 local; beyond them, the same "
    "quarter-hour on the last known day",
    "load balancer": "charge_now_balanced, cheapest_slots and alone_overbooked: when the vans "
    "ask for more than the limit, each gets an equal share (up to what it asks), recomputed "
    "every 15 min",
    "share": f"alone_share: each van's plan sees an import limit of "
    f"{IMPORT_LIMIT_W / VANS / 1000:.0f} kW (limit / {VANS})",
    "re-planning": "every 15 min for every plugged-in van still below its target, horizon to "
    f"its plug-out (joint: the last plug-out), at most {HORIZON_SLOTS} quarter hours; a van at "
    "its target is left out of the solve (its only plan is to stay idle)",
    "sample": "four weeks per price series starting on the Monday of ISO weeks 3, 16, 29 and "
    "42; sessions that arrive in a week are simulated to their plug-out; annual = sample x "
    "365 / 28",
    "reachable": "a target is reachable when the van's own charger at 11 kW from arrival "
    "reaches it; 'missed' = more than 0.5 points below the target at plug-out",
}


# --------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class Visit:
    van: int
    arrive: int
    """First whole quarter hour plugged in (index into the world's axis)."""
    leave: int
    """First quarter hour after plug-out."""
    energy_kwh: float


def visits(world: World, spec: SeriesSpec) -> list[list[Visit]]:
    """Each van's sessions on the world's quarter-hour axis."""
    vans = []
    for index, (_, raw) in enumerate(fleet(VANS)):
        own = []
        for session in map_sessions(raw, spec.first, spec.last):
            arrive = -(-(session.plugin_s - world.start_s) // SLOT_S)
            leave = (session.plugout_s - world.start_s) // SLOT_S
            if leave > arrive:
                own.append(Visit(index, arrive, leave, session.energy_kwh))
        vans.append(own)
    return vans


def sample_weeks(spec: SeriesSpec, quick: bool) -> list[date]:
    weeks = (10,) if quick else SAMPLE_ISO_WEEKS
    return [date.fromisocalendar(spec.first.year, week, 1) for week in weeks]


# --------------------------------------------------------------------------- one strategy


@dataclass
class Tally:
    cost_eur: float = 0.0
    energy_kwh: float = 0.0
    end_adjust_eur: float = 0.0
    sessions: int = 0
    missed_reachable: int = 0
    missed_unreachable: int = 0
    unreachable: int = 0
    peak_w: float = 0.0
    asked_peak_w: float = 0.0
    slots: int = 0
    slots_over_limit: int = 0
    max_excess_w: float = 0.0
    energy_over_limit_kwh: float = 0.0
    slots_balanced: int = 0
    solve_s: list[float] = field(default_factory=list)
    solve_cpu_s: list[float] = field(default_factory=list)
    vans_per_solve: list[int] = field(default_factory=list)
    non_optimal: int = 0
    wall_s: float = 0.0

    def add(self, other: Tally) -> None:
        for name in (
            "cost_eur",
            "energy_kwh",
            "end_adjust_eur",
            "sessions",
            "missed_reachable",
            "missed_unreachable",
            "unreachable",
            "slots",
            "slots_over_limit",
            "energy_over_limit_kwh",
            "slots_balanced",
            "non_optimal",
            "wall_s",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("peak_w", "asked_peak_w", "max_excess_w"):
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        self.solve_s += other.solve_s
        self.solve_cpu_s += other.solve_cpu_s
        self.vans_per_solve += other.vans_per_solve


def balance(asked_w: np.ndarray, limit_w: float) -> np.ndarray:
    """A plain load balancer: equal shares of the limit, no van gets more than it asks."""
    if asked_w.sum() <= limit_w:
        return asked_w
    given = np.zeros_like(asked_w)
    remaining = limit_w
    order = np.argsort(asked_w)
    for position, index in enumerate(order):
        share = remaining / (len(order) - position)
        given[index] = min(asked_w[index], share)
        remaining -= given[index]
    return given


def vehicle(name: str, soc_kwh: float, leave_s: int) -> Vehicle:
    return Vehicle(
        name=name,
        capacity_kwh=VAN_CAPACITY_KWH,
        soc_pct=soc_kwh / VAN_CAPACITY_KWH * 100.0,
        target_soc_pct=TARGET_PCT,
        departure=datetime.fromtimestamp(leave_s, UTC),
        max_soc_pct=TARGET_PCT,
        max_charge_power_w=VAN_POWER_W,
        charge_efficiency=EFFICIENCY,
    )


def plan_first_slot(  # noqa: PLR0917
    world: World,
    now: int,
    stop: int,
    vans: list[tuple[str, float, int]],
    limit_w: float,
    planner: Callable[[Problem], Plan] = solve,
) -> tuple[dict[str, float], float, float, bool]:
    """Solve for `vans` (name, SoC kWh, leave index) from `now`; each van's first-slot power."""
    spot = world.forecast_spot(now, stop)
    tariff = Tariff(import_fee_per_kwh=IMPORT_FEE_PER_KWH)
    problem = Problem(
        grid=slot_grid(world, now, stop - now),
        import_price_per_kwh=tariff.import_price(spot),
        export_price_per_kwh=tariff.export_price(spot),
        vehicles=tuple(
            vehicle(name, soc, world.start_s + leave * SLOT_S) for name, soc, leave in vans
        ),
        site=Site(import_limit_w=limit_w, export_limit_w=0.0, export_allowed=False),
    )
    cpu = time.process_time()
    plan = planner(problem)
    cpu = time.process_time() - cpu
    powers = {
        v.name: float(p.charge_power_w[0])
        for v, p in zip(problem.vehicles, plan.vehicles, strict=True)
    }
    return powers, plan.solve_time_s, cpu, plan.ok


def decide(  # noqa: PLR0917
    world: World,
    strategy: str,
    now: int,
    needing: list[int],
    soc: np.ndarray,
    plugged: dict[int, tuple[Visit, bool]],
    tally: Tally,
) -> np.ndarray:
    """The power each van asks for in this quarter hour (W), before any load balancer."""
    asked = np.zeros(VANS)
    if strategy.startswith("charge_now"):
        for i in needing:
            asked[i] = min(VAN_POWER_W, (TARGET_KWH - soc[i]) / EFFICIENCY / SLOT_H * 1000)
        return asked
    groups: list[list[int]]
    if strategy == "joint":
        groups = [needing] if needing else []
        limit = IMPORT_LIMIT_W
    else:
        groups = [[i] for i in needing]
        limit = IMPORT_LIMIT_W / VANS if strategy == "alone_share" else IMPORT_LIMIT_W
    planner = cheapest_slots if strategy == "cheapest_slots" else solve
    for group in groups:
        stop = min(max(plugged[i][0].leave for i in group), now + HORIZON_SLOTS)
        vans = [(str(i), float(soc[i]), plugged[i][0].leave) for i in group]
        powers, wall, cpu, ok = plan_first_slot(world, now, stop, vans, limit, planner)
        for i in group:
            asked[i] = powers[str(i)]
        tally.solve_s.append(wall)
        tally.solve_cpu_s.append(cpu)
        tally.vans_per_solve.append(len(group))
        tally.non_optimal += not ok
    return asked


def simulate(world: World, fleet_visits: list[list[Visit]], week: date, strategy: str) -> Tally:
    """One sample week: the sessions that arrive in it, each to its plug-out."""
    tally = Tally()
    started = time.perf_counter()
    first = world.index(int(datetime.combine(week, datetime.min.time(), tzinfo=TZ).timestamp()))
    last = first + 7 * 24 * 4
    chosen = [[v for v in own if first <= v.arrive < last] for own in fleet_visits]
    arriving: dict[int, list[Visit]] = {}
    for own in chosen:
        for v in own:
            arriving.setdefault(v.arrive, []).append(v)
    end = max((v.leave for own in chosen for v in own), default=first)
    soc = np.zeros(VANS)
    previous: dict[int, float] = {}
    first_arrival: dict[int, float] = {}
    plugged: dict[int, tuple[Visit, bool]] = {}
    """Van -> its visit, and whether charging at 11 kW from arrival reaches the target."""
    for now in range(first, end):
        for v in arriving.get(now, []):
            soc[v.van] = max(FLOOR_KWH, previous.get(v.van, TARGET_KWH) - v.energy_kwh)
            first_arrival.setdefault(v.van, float(soc[v.van]))
            full_power_kwh = VAN_POWER_W / 1000 * EFFICIENCY * SLOT_H * (v.leave - v.arrive)
            reachable = soc[v.van] + full_power_kwh >= TARGET_KWH - 1e-6
            plugged[v.van] = (v, reachable)
            tally.unreachable += not reachable
        needing = [i for i in plugged if soc[i] < TARGET_KWH - 1e-6]
        asked = decide(world, strategy, now, needing, soc, plugged, tally)
        given = asked
        if strategy in BALANCED:
            given = balance(asked, IMPORT_LIMIT_W)
            tally.slots_balanced += bool(asked.sum() > IMPORT_LIMIT_W + 1e-6)
        site_w = float(given.sum())
        excess_w = site_w - IMPORT_LIMIT_W
        if excess_w > 1e-6:
            tally.slots_over_limit += 1
            tally.max_excess_w = max(tally.max_excess_w, excess_w)
            tally.energy_over_limit_kwh += excess_w / 1000 * SLOT_H
        tally.peak_w = max(tally.peak_w, site_w)
        tally.asked_peak_w = max(tally.asked_peak_w, float(asked.sum()))
        tally.cost_eur += float(world.import_price[now]) * site_w / 1000 * SLOT_H
        tally.energy_kwh += site_w / 1000 * SLOT_H
        tally.slots += 1
        soc += given / 1000 * SLOT_H * EFFICIENCY
        np.minimum(soc, TARGET_KWH, out=soc)
        for i in [i for i, (v, _) in plugged.items() if v.leave == now + 1]:
            _, reachable = plugged.pop(i)
            tally.sessions += 1
            if soc[i] < TARGET_KWH - 0.005 * VAN_CAPACITY_KWH:  # missed by more than 0.5 points
                if reachable:
                    tally.missed_reachable += 1
                else:
                    tally.missed_unreachable += 1
            previous[i] = float(soc[i])
    # Energy a strategy leaves in the vans at the end, against what they came with, at the mean
    # import price (as run.py does).
    mean_import = float(np.nanmean(world.import_price))
    tally.end_adjust_eur = sum(
        (first_arrival[i] - previous.get(i, first_arrival[i])) * mean_import for i in first_arrival
    )
    tally.cost_eur += tally.end_adjust_eur
    tally.wall_s = time.perf_counter() - started
    return tally


# --------------------------------------------------------------------------- main

_CACHE: dict[str, tuple[World, list[list[Visit]]]] = {}


def _world(spec: SeriesSpec) -> tuple[World, list[list[Visit]]]:
    """The prices on the quarter-hour axis and the vans' visits (once per process)."""
    if spec.name not in _CACHE:
        prices = load_prices(spec.column, spec.filename, spec.name)
        world = build_world(prices, load_solar_g(), spec.first, spec.last)
        _CACHE[spec.name] = (world, visits(world, spec))
    return _CACHE[spec.name]


def _job(spec: SeriesSpec, week: date, strategy: str) -> tuple[str, date, str, Tally]:
    world, fleet_visits = _world(spec)
    return spec.name, week, strategy, simulate(world, fleet_visits, week, strategy)


def _row(tally: Tally, days: int, base_cost: float) -> dict[str, object]:
    scale = 365.0 / days
    solve_ms = percentiles_ms(tally.solve_s)
    cpu_ms = percentiles_ms(tally.solve_cpu_s)
    return {
        "sample_cost_eur": round(tally.cost_eur, 2),
        "annual_cost_eur": round(tally.cost_eur * scale, 0),
        "annual_saving_vs_charge_now_eur": round((base_cost - tally.cost_eur) * scale, 0),
        "eur_per_mwh": round(tally.cost_eur / tally.energy_kwh * 1000, 2),
        "energy_mwh_sample": round(tally.energy_kwh / 1000, 2),
        "peak_import_kw": round(tally.peak_w / 1000, 1),
        "asked_peak_kw": round(tally.asked_peak_w / 1000, 1),
        "slots_over_limit": tally.slots_over_limit,
        "share_of_slots_over_limit": round(tally.slots_over_limit / max(1, tally.slots), 4),
        "max_excess_kw": round(tally.max_excess_w / 1000, 1),
        "energy_over_limit_kwh": round(tally.energy_over_limit_kwh, 1),
        "slots_the_balancer_cut": tally.slots_balanced,
        "sessions": tally.sessions,
        "unreachable_sessions": tally.unreachable,
        "missed_reachable": tally.missed_reachable,
        "missed_unreachable": tally.missed_unreachable,
        "solves": len(tally.solve_s),
        "solve_ms": solve_ms,
        "solve_cpu_ms": cpu_ms,
        "vans_per_solve_p50": float(np.median(tally.vans_per_solve))
        if tally.vans_per_solve
        else None,
        "vans_per_solve_max": max(tally.vans_per_solve, default=0),
        "non_optimal_solves": tally.non_optimal,
        "simulation_wall_s": round(tally.wall_s, 1),
    }


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one week of DK2 2019")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--out", default=None, help="results file")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    specs = SERIES[:1] if args.quick else SERIES
    wall = time.perf_counter()
    cpu = time.process_time()
    load_avg = os.getloadavg()
    order = {"joint": 0, "alone_share": 1, "alone_overbooked": 1, "cheapest_slots": 1}
    jobs = [
        (spec, week, strategy)
        for strategy in STRATEGIES
        for spec in specs
        for week in sample_weeks(spec, args.quick)
    ]
    jobs.sort(key=lambda job: order.get(job[2], 2))
    tallies: dict[tuple[str, str], Tally] = {}
    child_cpu = 0.0
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [pool.submit(_job, *job) for job in jobs]
        for future in as_completed(futures):
            name, week, strategy, tally = future.result()
            tallies.setdefault((name, strategy), Tally()).add(tally)
            print(f"  done: {name} week of {week} / {strategy} in {tally.wall_s:.0f} s", flush=True)
    child_cpu = sum(os.times()[2:4])
    results: dict[str, object] = {
        "mode": mode,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average at start {load_avg[0]:.1f}",
        "assumptions": ASSUMPTIONS,
        "vans": [user for user, _ in fleet(VANS)],
    }
    series_out: dict[str, object] = {}
    for spec in specs:
        weeks = sample_weeks(spec, args.quick)
        days = 7 * len(weeks)
        base = tallies[(spec.name, "charge_now")].cost_eur
        print(
            f"\n== {spec.name}: {VANS} vans, {IMPORT_LIMIT_W / 1000:.0f} kW, "
            f"{len(weeks)} sample week(s) from {', '.join(str(w) for w in weeks)} =="
        )
        print(
            f"{'strategy':<21}{'EUR/year':>9}{'saving':>8}{'EUR/MWh':>8}{'peak kW':>8}"
            f"{'>limit':>7}{'max+kW':>7}{'kWh>lim':>8}{'missed':>7}{'unreach':>8}"
            f"{'solves':>7}{'p50':>7}{'p95':>7}{'max ms':>8}"
        )
        rows = {}
        for strategy in STRATEGIES:
            tally = tallies[(spec.name, strategy)]
            row = _row(tally, days, base)
            rows[strategy] = row
            solve_ms: dict[str, float | None] = row["solve_ms"]  # type: ignore[assignment]
            print(
                f"{strategy:<21}{row['annual_cost_eur']:>9.0f}"
                f"{row['annual_saving_vs_charge_now_eur']:>8.0f}{row['eur_per_mwh']:>8.1f}"
                f"{row['peak_import_kw']:>8.1f}{row['slots_over_limit']:>7}"
                f"{row['max_excess_kw']:>7.1f}{row['energy_over_limit_kwh']:>8.1f}"
                f"{row['missed_reachable']:>7}{row['missed_unreachable']:>8}{row['solves']:>7}"
                f"{_fmt(solve_ms['p50']):>7}{_fmt(solve_ms['p95']):>7}{_fmt(solve_ms['max']):>8}"
            )
        sessions = rows["joint"]["sessions"]
        print(
            f"{sessions} sessions, {rows['joint']['unreachable_sessions']} of them unreachable "
            f"(too short for the energy even at 11 kW); 'missed' = reachable targets missed"
        )
        series_out[spec.name] = {
            "sample_weeks": [w.isoformat() for w in weeks],
            "sample_days": days,
            "strategies": rows,
        }
    results["series"] = series_out
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    results["cpu_s"] = round(time.process_time() - cpu + child_cpu, 1)
    results["load_average_end"] = round(os.getloadavg()[0], 1)
    print(
        f"\nwall time {results['wall_s']} s, CPU {results['cpu_s']} s (load average at start "
        f"{load_avg[0]:.1f}, end {results['load_average_end']})"
    )
    suffix = "" if mode == "full" else "_quick"
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"depot_year{suffix}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"written {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
