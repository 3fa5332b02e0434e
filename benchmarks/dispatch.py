"""Benchmark: what a dispatch costs the optimizer (time) and the household (money), real prices.

Run from the repository root:

    .venv/bin/python benchmarks/dispatch.py            # 40 problems per variant
    .venv/bin/python benchmarks/dispatch.py --quick    # 10

Two V2G EVs (60 kWh, 11 kW, random SoC 30-70 %, target 80 %, reserve 20 %, departure 12-36 h
ahead) on one connection (17.25 kW), 192 quarter-hours of real DK2 2019 spot prices, solar and
house load (the loaders of ``run.py``). Variants: no dispatch; a site `must` export of 8 kW for
the 4 slots from the second hour; one EV `must` discharge 5 kW in those slots; a site `prefer`
export of 8 kW there. Printed and written to ``benchmarks/results/dispatch.json``: solve wall and
CPU time percentiles, how often the dispatch was met in full and the targets kept, and the extra
cost of the dispatch against the plan without it (money, terminal energy valued alike).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as data_source
from speed import SLOT_S, _stats, _with_vehicles, _world

from custom_components.v2g.optimizer import Plan, Problem, Site, solve

WINDOW = slice(4, 8)


def problems(world: data_source.World, count: int, seed: int = 7) -> list[Problem]:
    """Two-EV problems on random days of the year."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        first = int(rng.integers(0, world.spot.size - 200))
        departure = world.start_s + (first + int(rng.integers(48, 144))) * SLOT_S
        base = data_source.make_problem(
            world,
            first,
            first + 192,
            soc_pct=50.0,
            departure_s=departure,
            v2g=True,
            realised=True,
        )
        cars = tuple(
            dataclasses.replace(
                base.vehicles[0],
                name=f"ev{i}",
                capacity_kwh=60.0,
                soc_pct=float(rng.uniform(30, 70)),
                target_soc_pct=80.0,
                min_soc_pct=20.0,
                max_charge_power_w=11_000.0,
                max_discharge_power_w=11_000.0,
            )
            for i in range(2)
        )
        problem = _with_vehicles(base, cars)
        out.append(dataclasses.replace(problem, site=Site(import_limit_w=17_250.0)))
    return out


def variants(problem: Problem) -> dict[str, Problem]:
    """The problem with each kind of dispatch."""
    n = len(problem.grid)
    ceiling = np.full(n, np.inf)
    ceiling[WINDOW] = -8_000.0
    preferred = np.full(n, np.nan)
    preferred[WINDOW] = -8_000.0
    bound = np.full(n, np.inf)
    bound[WINDOW] = -5_000.0
    floor = np.full(n, -np.inf)
    floor[WINDOW] = -5_000.0
    one = dataclasses.replace(problem.vehicles[0], power_floor_w=floor, power_ceiling_w=bound)
    return {
        "none": problem,
        "site_must_export_8kw": dataclasses.replace(problem, grid_ceiling_w=ceiling),
        "ev_must_discharge_5kw": dataclasses.replace(
            problem, vehicles=(one, *problem.vehicles[1:])
        ),
        "site_prefer_export_8kw": dataclasses.replace(problem, grid_preferred_w=preferred),
    }


def _money(plan: Plan) -> float:
    return plan.cost.total_cost - plan.cost.terminal_value


def main() -> None:
    """Run the variants and write the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    world = _world()
    count = 10 if args.quick else 40
    results: dict[str, dict[str, object]] = {}
    timings: dict[str, tuple[list[float], list[float]]] = {}
    extra: dict[str, list[float]] = {}
    met: dict[str, int] = {}
    kept: dict[str, int] = {}
    for problem in problems(world, count):
        base_money = None
        for name, variant in variants(problem).items():
            wall, cpu = time.perf_counter(), time.process_time()
            plan = solve(variant)
            walls, cpus = timings.setdefault(name, ([], []))
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            if base_money is None:
                base_money = _money(plan)
            extra.setdefault(name, []).append(_money(plan) - base_money)
            met[name] = met.get(name, 0) + int(plan.dispatch_unmet_kwh <= 0.05)
            kept[name] = kept.get(name, 0) + int(all(v.target_reachable for v in plan.vehicles))
    for name, (walls, cpus) in timings.items():
        results[name] = {
            "wall_ms": _stats(walls),
            "cpu_ms": _stats(cpus),
            "dispatch_met": f"{met[name]}/{count}",
            "targets_kept": f"{kept[name]}/{count}",
            "extra_cost_eur_mean": round(float(np.mean(extra[name])), 4),
            "extra_cost_eur_max": round(float(np.max(extra[name])), 4),
        }
    print(json.dumps(results, indent=2))
    out = Path(__file__).resolve().parent / "results" / "dispatch.json"
    out.write_text(json.dumps({"problems": count, "variants": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
