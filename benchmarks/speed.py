"""Benchmark: how fast the optimizer plans, on real prices, EV sessions and solar.

Run from the repository root:

    .venv/bin/python benchmarks/speed.py            # full, a few minutes
    .venv/bin/python benchmarks/speed.py --quick    # under a minute
    .venv/bin/python benchmarks/speed.py --quick --slow 100   # and which problems took > 100 ms

Data come from ``../shared/data`` next to the repository (override with ``V2G_DATA_DIR``), read
by the loaders of ``run.py``. Figures are printed and written to ``benchmarks/results/speed.json``
(``speed-quick.json`` in quick mode). Wall-clock and process CPU time are both measured; on a
shared machine the wall-clock tail is mostly other jobs. Nothing here is asserted.

Sections:

- ``single``: one EV (V2G, PV, house load) over 192 quarter-hours, with and without minimum
  powers (4.14 kW charging and discharging, the OCPP default of 6 A on three phases).
- ``sweep``: random problems like the adversarial set of issue #12 (random SoC, reserve 0-30 %,
  target 50-100 %, minimum powers 1.38-4.14 kW, V2G on or off, house load, export at spot, at
  spot minus a fee, or a fixed feed-in tariff of 0.05-0.30 EUR/kWh), horizons of 4-192
  quarter-hours. Target: none above 200 ms.
- ``fleet``: vans of 75 kWh at 11 kW with 4.14 kW minimum powers (half of them V2G), arrivals,
  plug-in durations and energies drawn from the real EV sessions, on one connection (4 kW per
  van, base load 0.4 kW per van, 1 kWp of PV per van): 50 x 96, 50 x 192 and 500 x 96 slots.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import csv
from datetime import UTC, date, datetime, timedelta
import json
import os
from pathlib import Path
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as data_source

from custom_components.v2g.optimizer import Plan, Problem, Site, Vehicle, solve

REPO = data_source.REPO
SLOT_S = 900
MINIMUM_W = 4_140.0


def _stats(values_s: list[float]) -> dict[str, float]:
    ms = np.asarray(values_s) * 1000.0
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "max": round(float(ms.max()), 2),
    }


def _timed(problem: Problem) -> tuple[Plan, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    plan = solve(problem)
    return plan, time.perf_counter() - wall, time.process_time() - cpu


def _describe(problem: Problem) -> str:
    """The random choices of a single-EV problem, to reproduce or study a slow one."""
    vehicle = problem.vehicles[0]
    export = problem.export_price_per_kwh
    difference = problem.import_price_per_kwh - export
    if float(np.ptp(export)) == 0.0:
        feed_in = f"fixed {float(export[0]):.3f}"
    elif float(np.ptp(difference)) < 1e-9:
        feed_in = f"import - {float(difference[0]):.4f}"
    else:
        feed_in = "varying"
    return (
        f"{len(problem.grid)} slots, SoC {vehicle.soc_pct:.0f} %, target "
        f"{vehicle.target_soc_pct:.0f} %, reserve {vehicle.min_soc_pct:.0f} %, V2G "
        f"{'on' if vehicle.v2g_allowed else 'off'}, minimum {vehicle.min_charge_power_w:.0f} / "
        f"{vehicle.min_discharge_power_w:.0f} W, feed-in {feed_in}, wear "
        f"{vehicle.wear_cost_per_kwh:.2f}"
    )


def _measure(problems: list[Problem], slow_ms: float | None = None) -> dict[str, object]:
    """Times and statuses of solving ``problems``; with ``slow_ms``, prints those slower (CPU)."""
    walls, cpus, mip, statuses = [], [], 0, {}
    for index, problem in enumerate(problems):
        plan, wall, cpu = _timed(problem)
        walls.append(wall)
        cpus.append(cpu)
        mip += plan.mip
        key = plan.status.split(":")[0]
        statuses[key] = statuses.get(key, 0) + 1
        if slow_ms is not None and cpu * 1000.0 > slow_ms:
            print(
                f"  slow #{index}: cpu {cpu * 1000.0:.1f} ms, {plan.status!r};",
                _describe(problem),
                flush=True,
            )
    return {
        "count": len(problems),
        "wall_ms": _stats(walls),
        "cpu_ms": _stats(cpus),
        "mip_share": round(mip / len(problems), 3),
        "statuses": statuses,
        "over_200_ms_wall": int(np.sum(np.asarray(walls) > 0.2)),
        "over_200_ms_cpu": int(np.sum(np.asarray(cpus) > 0.2)),
    }


def _world() -> data_source.World:
    spec = data_source.FULL[0]  # DK2 2019
    prices = data_source.load_prices(spec.column, spec.filename, spec.name)
    return data_source.build_world(
        prices, data_source.load_solar_g(), date(2019, 1, 1), date(2019, 12, 25)
    )


def single_problems(
    world: data_source.World, count: int, minimum_w: float, seed: int
) -> list[Problem]:
    """One V2G EV, 192 quarter-hours (like ``run.py``'s speed section), minimum powers given."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        first = int(rng.integers(0, world.spot.size - 200))
        departure = world.start_s + (first + int(rng.integers(24, 192))) * SLOT_S
        problem = data_source.make_problem(
            world,
            first,
            first + 192,
            soc_pct=float(rng.uniform(20, 70)),
            departure_s=departure,
            v2g=True,
            realised=True,
        )
        vehicle = problem.vehicles[0]
        vehicle = Vehicle(
            **{
                **{f: getattr(vehicle, f) for f in vehicle.__dataclass_fields__},
                "min_charge_power_w": minimum_w,
                "min_discharge_power_w": minimum_w,
            }
        )
        out.append(_with_vehicles(problem, (vehicle,)))
    return out


def _with_vehicles(problem: Problem, vehicles: tuple[Vehicle, ...]) -> Problem:
    return Problem(
        grid=problem.grid,
        import_price_per_kwh=problem.import_price_per_kwh,
        export_price_per_kwh=problem.export_price_per_kwh,
        vehicles=vehicles,
        solar_power_w=problem.solar_power_w,
        base_load_power_w=problem.base_load_power_w,
        site=problem.site,
        terminal_value_per_kwh=problem.terminal_value_per_kwh,
    )


def sweep_problems(world: data_source.World, count: int, seed: int) -> list[Problem]:
    """Random single-EV problems like the adversarial set of issue #12."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        slots = int(rng.integers(4, 193))
        first = int(rng.integers(0, world.spot.size - slots - 8))
        spot = world.spot[first : first + slots]
        feed_in = int(rng.integers(0, 3))
        if feed_in == 0:
            export = spot.copy()
        elif feed_in == 1:
            export = spot - 0.0435
        else:
            export = np.full(slots, float(rng.uniform(0.05, 0.30)))
        start = datetime.fromtimestamp(world.start_s + first * SLOT_S, UTC)
        v2g = bool(rng.integers(0, 2))
        vehicle = Vehicle(
            capacity_kwh=60.0,
            soc_pct=float(rng.uniform(5.0, 95.0)),
            target_soc_pct=float(rng.uniform(50.0, 100.0)),
            departure=start + timedelta(seconds=SLOT_S * int(rng.integers(1, slots + 16))),
            min_soc_pct=float(rng.uniform(0.0, 30.0)),
            max_soc_pct=float(rng.choice([80.0, 90.0, 100.0])),
            max_charge_power_w=11_000.0,
            max_discharge_power_w=11_000.0 if v2g else 0.0,
            min_charge_power_w=float(rng.uniform(1_380.0, 4_140.0)),
            min_discharge_power_w=float(rng.uniform(1_380.0, 4_140.0)) if v2g else 0.0,
            charge_efficiency=0.92,
            discharge_efficiency=0.92,
            wear_cost_per_kwh=float(rng.choice([0.0, 0.02, 0.04])),
            v2g_allowed=v2g,
        )
        out.append(
            Problem(
                grid=data_source.slot_grid(world, first, slots),
                import_price_per_kwh=spot + 0.10,
                export_price_per_kwh=export,
                vehicles=(vehicle,),
                solar_power_w=world.solar_w[first : first + slots],
                base_load_power_w=world.load_w[first : first + slots],
                site=data_source.SITE,
            )
        )
    return out


def _sessions() -> np.ndarray:
    """Real plug-in quarter of the day, plugged-in quarters and energy (kWh) per session."""
    path = (
        data_source.data_dir()
        / "ev_sessions"
        / "sorensen2024_norway_12loc_residential_ev_charging_reports.csv"
    )
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            try:
                plug_in = datetime.strptime(row["plugin_time"], "%Y-%m-%d %H:%M:%S")
                plug_out = datetime.strptime(row["plugout_time"], "%Y-%m-%d %H:%M:%S")
                energy = float(row["energy_session"].replace(",", "."))
            except (ValueError, KeyError):
                continue
            if plug_out > plug_in and energy > 0:
                quarters = (plug_out - plug_in).total_seconds() / SLOT_S
                rows.append((plug_in.hour * 4 + plug_in.minute // 15, quarters, energy))
    return np.asarray(rows)


def fleet_problem(
    world: data_source.World,
    sessions: np.ndarray,
    rng: np.random.Generator,
    vans: int,
    slots: int,
) -> Problem:
    """Vans on one connection; session arrivals, durations and energies from the real data."""
    first = int(rng.integers(0, world.spot.size - slots - 8))
    spot = world.spot[first : first + slots]
    start_s = world.start_s + first * SLOT_S
    fleet = []
    for i in range(vans):
        quarter, quarters, energy = sessions[int(rng.integers(0, sessions.shape[0]))]
        # The session's clock time on the window's first day (or the next, if already past).
        arrive = int((quarter - (start_s // SLOT_S) % 96) % 96)
        arrive = min(arrive, slots - 4)
        leave = arrive + max(4, round(quarters))
        available = np.zeros(slots, dtype=bool)
        available[arrive : min(leave, slots)] = True
        v2g = bool(i % 2)
        fleet.append(
            Vehicle(
                name=f"van{i}",
                capacity_kwh=75.0,
                soc_pct=max(5.0, 90.0 - energy / 75.0 * 100.0),
                target_soc_pct=90.0,
                departure=datetime.fromtimestamp(start_s + leave * SLOT_S, UTC),
                min_soc_pct=20.0,
                max_soc_pct=90.0,
                max_charge_power_w=11_000.0,
                max_discharge_power_w=11_000.0 if v2g else 0.0,
                min_charge_power_w=MINIMUM_W,
                min_discharge_power_w=MINIMUM_W if v2g else 0.0,
                charge_efficiency=0.92,
                discharge_efficiency=0.92,
                wear_cost_per_kwh=0.02,
                v2g_allowed=v2g,
                available=available,
            )
        )
    return Problem(
        grid=data_source.slot_grid(world, first, slots),
        import_price_per_kwh=spot + 0.10,
        export_price_per_kwh=spot,
        vehicles=tuple(fleet),
        solar_power_w=world.solar_w[first : first + slots] * vans / 5.0,
        base_load_power_w=np.full(slots, 400.0 * vans),
        site=Site(import_limit_w=4_000.0 * vans, export_limit_w=2_000.0 * vans),
    )


def fleet_section(
    world: data_source.World, vans: int, slots: int, repeats: int, seed: int
) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    sessions = _sessions()
    problems = [fleet_problem(world, sessions, rng, vans, slots) for _ in range(repeats)]
    walls, cpus, statuses = [], [], []
    for problem in problems:
        plan, wall, cpu = _timed(problem)
        walls.append(wall)
        cpus.append(cpu)
        statuses.append(plan.status)
    return {
        "vehicles": vans,
        "slots": slots,
        "count": repeats,
        "wall_ms": _stats(walls),
        "cpu_ms": _stats(cpus),
        "statuses": statuses,
    }


def _line(name: str, result: dict[str, object]) -> str:
    wall: dict[str, float] = result["wall_ms"]  # type: ignore[assignment]
    cpu: dict[str, float] = result["cpu_ms"]  # type: ignore[assignment]
    return (
        f"{name:<34} wall p50 {wall['p50']:>7.1f} p95 {wall['p95']:>7.1f} p99 {wall['p99']:>7.1f}"
        f" max {wall['max']:>7.1f} | cpu p50 {cpu['p50']:>7.1f} p99 {cpu['p99']:>7.1f}"
        f" max {cpu['max']:>7.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer problems, under a minute")
    parser.add_argument("--out", default=None, help="results file (default results/speed.json)")
    parser.add_argument(
        "--slow",
        type=float,
        default=None,
        metavar="MS",
        help="print the single-EV problems taking more CPU ms than this (index and parameters)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    load_avg = os.getloadavg()
    started = time.perf_counter()
    world = _world()

    results: dict[str, object] = {
        "mode": "quick" if quick else "full",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average at start {load_avg[0]:.1f}",
        "date": datetime.now(UTC).date().isoformat(),
    }
    sections: list[tuple[str, str, Callable[[], dict[str, object]]]] = [
        (
            "single_no_minimum",
            "1 EV x 192, no minimum powers",
            lambda: _measure(single_problems(world, 60 if quick else 500, 0.0, 1), args.slow),
        ),
        (
            "single_minimum",
            "1 EV x 192, 4.14 kW minimum powers",
            lambda: _measure(single_problems(world, 60 if quick else 500, MINIMUM_W, 1), args.slow),
        ),
        (
            "sweep",
            "sweep (adversarial, 4-192 slots)",
            lambda: _measure(sweep_problems(world, 150 if quick else 1000, 12), args.slow),
        ),
        (
            "fleet_50x96",
            "fleet 50 x 96",
            lambda: fleet_section(world, 50, 96, 2 if quick else 5, 2),
        ),
        (
            "fleet_50x192",
            "fleet 50 x 192",
            lambda: fleet_section(world, 50, 192, 2 if quick else 5, 3),
        ),
        (
            "fleet_500x96",
            "fleet 500 x 96",
            lambda: fleet_section(world, 500, 96, 1 if quick else 3, 4),
        ),
    ]
    for key, name, section in sections:
        result = section()
        results[key] = result
        line = _line(name, result)
        extra = result.get("mip_share")
        if extra is not None:
            line += f" | MILP share {extra:.0%}, >200 ms: {result['over_200_ms_wall']} wall"
        else:
            line += f" | {result['statuses']}"
        print(line, flush=True)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    default = "speed-quick.json" if quick else "speed.json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"wall time {results['wall_s']} s (load average {load_avg[0]:.1f}); written {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
