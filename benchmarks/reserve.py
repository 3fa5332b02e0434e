"""Benchmark: a frequency reserve offer in the plan, on real prices, EV sessions and solar.

Run from the repository root:

    .venv/bin/python benchmarks/reserve.py            # full, a few minutes
    .venv/bin/python benchmarks/reserve.py --quick    # under a minute

One V2G EV (60 kWh, 11 kW, 4.14 kW minimum powers both ways, reserve 20 %) over 192
quarter-hours of DK2 2019 with PV and house load (``speed.single_problems``), offering 3 kW of
frequency response both ways, sustained for 15 minutes. Figures are printed and written to
``benchmarks/results/reserve.json`` (``reserve-quick.json``); nothing is asserted.

- ``speed``: CPU time of a plan with the offer (the LP decides the reserve, the exact
  single-vehicle search plans within it) against the full MILP with the offer in it, and how
  far the plan's objective is above the MILP's (a subset: the MILP takes seconds).
- ``money``: what keeping the offer always costs in energy money, and with a flat capacity price
  per kW and hour (no capacity market prices are in the shared data: flat prices stand in for
  one) how many of the plugged-in hours the optimizer offers, the capacity revenue and the net
  gain against no offer, which cannot be negative (offering nothing is always allowed).
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import date
import json
from pathlib import Path
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as data_source
import speed

from custom_components.v2g.optimizer import (
    Plan,
    Problem,
    ReserveOffer,
    SolveOptions,
    reserve_keep_value_per_kw_h,
    solve,
)

SLOT_S = 900
OFFER_W = 3_000.0
DURATION_H = 0.25
MINIMUM_W = 4_140.0
PRICES_PER_KW_H = (0.002, 0.005, 0.01, 0.02)
"""Flat capacity prices, EUR per kW and hour (FCR prices in Europe range about this wide)."""


def _offered(problem: Problem, price: float | None) -> Problem:
    n = len(problem.grid)
    value = reserve_keep_value_per_kw_h(problem) if price is None else price
    return dataclasses.replace(
        problem,
        reserve_offer=ReserveOffer(
            up_w=np.full(n, OFFER_W),
            down_w=np.full(n, OFFER_W),
            price_per_kw_h=np.full(n, value),
            duration_h=DURATION_H,
            priced=price is not None,
        ),
    )


def _timed(problem: Problem, options: SolveOptions | None = None) -> tuple[Plan, float]:
    cpu = time.process_time()
    plan = solve(problem, options)
    return plan, time.process_time() - cpu


def _ms(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000.0
    return {
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p95": round(float(np.percentile(ms, 95)), 1),
        "max": round(float(ms.max()), 1),
    }


def _plugged_hours(problem: Problem) -> float:
    vehicle = problem.vehicles[0]
    assert vehicle.departure is not None
    return problem.grid.slots_ending_by(vehicle.departure) * SLOT_S / 3600


def timing(problems: list[Problem], reference_count: int) -> dict[str, object]:
    """CPU time with the offer (both kinds), and the gap to the full MILP on a subset."""
    times: dict[str, list[float]] = {"unpriced": [], "priced": []}
    gaps: list[float] = []
    reference_times: list[float] = []
    statuses: dict[str, int] = {}
    for index, problem in enumerate(problems):
        for kind, price in (("unpriced", None), ("priced", 0.01)):
            offered = _offered(problem, price)
            plan, seconds = _timed(offered)
            times[kind].append(seconds)
            key = plan.status.split(":")[0]
            statuses[key] = statuses.get(key, 0) + 1
            if index < reference_count and kind == "priced":
                reference, ref_seconds = _timed(
                    offered, SolveOptions(reference=True, time_limit_s=20)
                )
                reference_times.append(ref_seconds)
                gaps.append(plan.cost.objective - reference.cost.objective)
    gap = np.asarray(gaps)
    return {
        "count": len(problems),
        "cpu_ms_unpriced": _ms(times["unpriced"]),
        "cpu_ms_priced": _ms(times["priced"]),
        "statuses": statuses,
        "over_200_ms": int(sum(t > 0.2 for t in times["unpriced"] + times["priced"])),
        "reference": {
            "count": len(gaps),
            "cpu_ms": _ms(reference_times) if reference_times else None,
            "gap_eur": {
                "within_1_cent": int(np.sum(gap <= 0.01)),
                "p50": round(float(np.median(gap)), 4) if gaps else None,
                "max": round(float(gap.max()), 4) if gaps else None,
            },
        },
    }


def money(problems: list[Problem]) -> dict[str, object]:
    """Energy money of keeping the offer always, and the optimizer's choice at flat prices."""
    free_cash = []
    always_cash = []
    priced: dict[str, dict[str, float]] = {}
    plugged = sum(_plugged_hours(p) for p in problems)
    free_plans = [solve(p) for p in problems]
    free_cash = [p.cost.total_cost - p.cost.terminal_value for p in free_plans]
    for problem in problems:
        plan = solve(_offered(problem, None))
        always_cash.append(plan.cost.total_cost - plan.cost.terminal_value)
    for price in PRICES_PER_KW_H:
        revenue = offered_h = gain = 0.0
        for problem, free in zip(problems, free_cash, strict=True):
            plan = solve(_offered(problem, price))
            assert plan.reserve_up_w is not None
            hours = problem.grid.durations_h
            offered_h += float(np.sum(hours * (plan.reserve_up_w > 0)))
            revenue += plan.cost.reserve_value
            cash = plan.cost.total_cost - plan.cost.terminal_value
            gain += free - (cash - plan.cost.reserve_value)
        priced[f"{price:g}"] = {
            "offered_share_of_plugged_hours": round(offered_h / plugged, 3),
            "revenue_eur": round(revenue, 2),
            "net_gain_eur": round(gain, 2),
        }
    return {
        "problems": len(problems),
        "plugged_hours": round(plugged, 1),
        "energy_cost_eur_no_offer": round(sum(free_cash), 2),
        "energy_cost_eur_always_offered": round(sum(always_cash), 2),
        "flat_capacity_price": priced,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer problems")
    args = parser.parse_args(argv)
    count, reference = (20, 5) if args.quick else (200, 24)
    spec = data_source.FULL[0]  # DK2 2019
    prices = data_source.load_prices(spec.column, spec.filename, spec.name)
    world = data_source.build_world(
        prices, data_source.load_solar_g(), date(2019, 1, 1), date(2019, 12, 25)
    )
    problems = speed.single_problems(world, count, MINIMUM_W, seed=11)
    started = time.perf_counter()
    result = {
        "mode": "quick" if args.quick else "full",
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "offer": {"power_w": OFFER_W, "duration_h": DURATION_H, "minimum_w": MINIMUM_W},
        "speed": timing(problems, reference),
        "money": money(problems[: count // 2]),
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))
    out = data_source.REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "reserve-quick.json" if args.quick else "reserve.json"
    (out / name).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
