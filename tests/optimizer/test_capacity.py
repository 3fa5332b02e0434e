"""Monthly capacity tariffs: exact costing on hand-computed cases, plans, and invariants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    CapacityTariff,
    Plan,
    Problem,
    Site,
    SolveOptions,
    Vehicle,
    billed_peaks_kw,
    charge_now,
    evaluate,
    horizon_charge,
    make_grid,
    solve as _solve,
)

# With a capacity tariff `solve` stops proving optimality after ``search_time_s`` and keeps
# the best plan found ("time limit"): the plans here are checked for being optimal, so they get
# time enough on a busy machine (the benchmark measures the default).
EXACT = SolveOptions(search_time_s=30.0, time_limit_s=60.0)


def solve(problem: Problem, options: SolveOptions = EXACT) -> Plan:
    return _solve(problem, options)


# A Wednesday in December (winter, weekday), midnight UTC.
T0 = datetime(2026, 12, 2, tzinfo=UTC)
NORWAY_STEPS = (
    (2.0, 100.0),
    (5.0, 200.0),
    (10.0, 300.0),
    (15.0, 400.0),
    (20.0, 500.0),
    (25.0, 600.0),
)


def flanders(**kwargs: object) -> CapacityTariff:
    return CapacityTariff(window_minutes=15, price_per_kw=4.0, minimum_kw=2.5, **kwargs)  # type: ignore[arg-type]


def norway(**kwargs: object) -> CapacityTariff:
    return CapacityTariff(
        window_minutes=60,
        top_n=3,
        distinct_days=True,
        steps=NORWAY_STEPS,
        **kwargs,  # type: ignore[arg-type]
    )


def quarter_grid(n: int, start: datetime = T0):  # type: ignore[no-untyped-def]
    return make_grid(start, start + timedelta(minutes=15 * n), 900)


def kw(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# --- exact costing on hand-computable cases ---


def test_flanders_pays_only_for_raising_the_month_peak() -> None:
    grid = quarter_grid(4)
    history = ((datetime(2026, 12, 1, 18, tzinfo=UTC), 5.0),)
    tariff = flanders(history=history)
    # Quarter-hour averages 2, 4, 6, 2 kW: the month's peak goes from 5 to 6 kW: 4 EUR more.
    assert horizon_charge(tariff, grid, kw([2, 4, 6, 2])) == pytest.approx(4.0)
    assert billed_peaks_kw(tariff, grid, kw([2, 4, 6, 2]) * 1000) == {(2026, 12): 6.0}
    # Below the peak so far: nothing more to pay.
    assert horizon_charge(tariff, grid, kw([2, 4, 4.9, 2])) == pytest.approx(0.0)
    assert billed_peaks_kw(tariff, grid) == {(2026, 12): 5.0}


def test_flanders_minimum_billed_peak() -> None:
    grid = quarter_grid(4)
    tariff = flanders()  # nothing imported yet this month: 2.5 kW are billed anyway
    assert horizon_charge(tariff, grid, kw([1, 2, 2.5, 1])) == pytest.approx(0.0)
    assert horizon_charge(tariff, grid, kw([1, 2, 3.5, 1])) == pytest.approx(4.0)


def test_hourly_window_averages_the_quarter_hours() -> None:
    grid = quarter_grid(8)
    tariff = CapacityTariff(window_minutes=60, price_per_kw=10.0)
    # Hour 1: (8 + 0 + 0 + 0) / 4 = 2 kW; hour 2: 3 kW flat.
    assert horizon_charge(tariff, grid, kw([8, 0, 0, 0, 3, 3, 3, 3])) == pytest.approx(30.0)


def test_current_window_energy_counts() -> None:
    # The plan starts 30 minutes into an hour in which 2 kWh were already imported.
    start = T0 + timedelta(minutes=30)
    grid = make_grid(start, start + timedelta(hours=1, minutes=30), 900)
    tariff = CapacityTariff(window_minutes=60, price_per_kw=1.0, current_window_kwh=2.0)
    # First hour: 2 kWh + 0.25 h * (4 + 4) kW = 4 kWh -> 4 kW; second hour: 1 kW.
    assert horizon_charge(tariff, grid, kw([4, 4, 1, 1, 1, 1])) == pytest.approx(4.0)


def test_norway_three_highest_hours_on_three_different_days() -> None:
    grid = quarter_grid(96)  # Wednesday 2 December, local Oslo time 01:00 to 01:00
    history = (
        (datetime(2026, 12, 1, 17, tzinfo=UTC), 6.0),
        (datetime(2026, 12, 1, 18, tzinfo=UTC), 5.5),  # same day: only the 6 counts
        (datetime(2026, 11, 30, 22, tzinfo=UTC), 4.0),  # 23:00 local on 30 Nov: November
    )
    tariff = norway(history=history, timezone="Europe/Oslo")
    # Known: 1 Dec 6 kW. The plan adds 2 Dec with a 4 kW hour (and 3 Dec with 1 kW):
    # (6 + 4 + 1) / 3 = 3.67 kW, step 2-5 kW, 200 a month; before: 6 / 3 = 2 kW, step 0-2.
    imp = np.full(96, 1.0)
    imp[40:44] = 4.0
    assert billed_peaks_kw(tariff, grid, imp * 1000) == {(2026, 12): pytest.approx(11 / 3)}
    assert horizon_charge(tariff, grid, imp) == pytest.approx(100.0)
    # Several high hours on one day count once: 9 kW for 4 hours of that day -> (6 + 9 + 1) / 3.
    imp[60:76] = 9.0
    assert billed_peaks_kw(tariff, grid, imp * 1000)[(2026, 12)] == pytest.approx(16 / 3)
    assert horizon_charge(tariff, grid, imp) == pytest.approx(200.0)


def test_norway_step_boundaries_are_inclusive() -> None:
    tariff = norway()
    assert tariff.charge(0.0) == 100.0
    assert tariff.charge(2.0) == 100.0
    assert tariff.charge(2.01) == 200.0
    assert tariff.charge(99.0) == 600.0  # above the table: the last step


def test_sweden_winter_weekday_window_and_night_weight() -> None:
    tariff = CapacityTariff(
        window_minutes=60,
        top_n=2,
        price_per_kw=10.0,
        months=(11, 12, 1, 2, 3),
        weekdays_only=True,
        hours=(6, 22),
        night_hours=(20, 6),
        night_weight=0.5,
        timezone="Europe/Stockholm",
    )
    wednesday = datetime(2026, 12, 2, 9, tzinfo=UTC)  # 10:00 local
    assert tariff.weight(wednesday) == 1.0
    assert tariff.weight(wednesday.replace(hour=20)) == 0.5  # 21:00 local: night hours
    assert tariff.weight(wednesday.replace(hour=22)) == 0.0  # 23:00 local: outside the window
    assert tariff.weight(datetime(2026, 12, 5, 9, tzinfo=UTC)) == 0.0  # Saturday
    assert tariff.weight(datetime(2026, 6, 3, 9, tzinfo=UTC)) == 0.0  # June
    grid = make_grid(wednesday, wednesday + timedelta(hours=12), 3600)
    imp = np.array([3.0, 5.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 12.0])
    # The 12 kW hour is 21:00 local: weighted 6 kW; the two highest: (6 + 5) / 2 = 5.5 kW.
    assert billed_peaks_kw(tariff, grid, imp * 1000) == {(2026, 12): pytest.approx(5.5)}
    assert horizon_charge(tariff, grid, imp) == pytest.approx(55.0)


def test_month_change_inside_the_horizon_starts_a_new_month() -> None:
    start = datetime(2026, 12, 31, 23, tzinfo=UTC)
    grid = make_grid(start, start + timedelta(hours=2), 3600)
    tariff = CapacityTariff(
        window_minutes=60,
        price_per_kw=1.0,
        history=((datetime(2026, 12, 15, 12, tzinfo=UTC), 8.0),),
    )
    # December's peak stays 8 (the plan's 6 kW hour is below it); January starts at 7 kW.
    assert horizon_charge(tariff, grid, kw([6, 7])) == pytest.approx(7.0)
    assert billed_peaks_kw(tariff, grid, kw([6, 7]) * 1000) == {(2026, 12): 8.0, (2027, 1): 7.0}


def test_tariff_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        CapacityTariff(window_minutes=25)
    with pytest.raises(ValueError, match="top_n"):
        CapacityTariff(top_n=0)
    with pytest.raises(ValueError, match="increasing"):
        CapacityTariff(steps=((5.0, 1.0), (2.0, 2.0)))
    with pytest.raises(ValueError, match="finite"):
        CapacityTariff(price_per_kw=-1.0)


# --- plans ---


def _ev(**kwargs: object) -> Vehicle:
    defaults: dict[str, object] = {
        "capacity_kwh": 60.0,
        "soc_pct": 50.0,
        "target_soc_pct": 50.0 + 800.0 / 60.0,  # 8 kWh more
        "departure": T0 + timedelta(hours=4),
        "charge_efficiency": 1.0,
        "max_charge_power_w": 11_000.0,
    }
    defaults.update(kwargs)
    return Vehicle(**defaults)  # type: ignore[arg-type]


def _problem(tariff: CapacityTariff | None, n: int = 16, **ev: object) -> Problem:
    grid = quarter_grid(n)
    return Problem(
        grid=grid,
        import_price_per_kwh=np.full(n, 0.25),
        export_price_per_kwh=np.full(n, 0.05),
        base_load_power_w=np.full(n, 1000.0),
        vehicles=(_ev(**ev),),
        site=Site(import_limit_w=17_000, capacity_tariff=tariff),
    )


def test_flat_prices_spread_charging_to_the_lowest_peak() -> None:
    without = solve(_problem(None))
    assert without.peak_import_w == pytest.approx(12_000)  # charges at once, at full power
    tariff = CapacityTariff(window_minutes=15, price_per_kw=10.0)
    plan = solve(_problem(tariff))
    assert plan.ok
    # 8 kWh in 4 hours beside a 1 kW house: 3 kW flat is the lowest peak.
    assert plan.peak_import_w == pytest.approx(3_000, abs=1)
    assert plan.departure_soc_pct == pytest.approx(50.0 + 800.0 / 60.0)
    assert plan.cost.peak_cost == pytest.approx(30.0, abs=0.01)
    assert plan.cost.import_cost == pytest.approx(without.cost.import_cost)


def test_minimum_power_with_an_hourly_window() -> None:
    # 4.14 kW minimum: 2 kW flat is impossible, but an hour's average can still be 2 kW.
    tariff = CapacityTariff(window_minutes=60, price_per_kw=10.0)
    plan = solve(_problem(tariff, min_charge_power_w=4_140.0))
    assert plan.ok
    power = plan.charge_power_w
    assert np.all((power < 1e-6) | (power >= 4_140 - 1e-6))
    assert billed_peaks_kw(tariff, plan.grid, plan.grid_import_w) == {
        (2026, 12): pytest.approx(3.0, abs=1e-3)
    }
    assert plan.departure_soc_pct == pytest.approx(50.0 + 800.0 / 60.0)


def test_peak_so_far_is_free_to_use() -> None:
    history = ((datetime(2026, 12, 1, 18, tzinfo=UTC), 9.0),)
    plan = solve(_problem(CapacityTariff(window_minutes=15, price_per_kw=10.0, history=history)))
    assert plan.ok
    assert plan.peak_import_w <= 9_000 + 1
    assert plan.cost.peak_cost == pytest.approx(0.0, abs=1e-6)


def test_norway_plan_stays_in_the_lower_step() -> None:
    # 1 December peaked at 7 kW: 7 / 3 = 2.33 kW, step 2-5 kW already. Today needs 8 kWh in
    # 4 hours beside a 1 kW house; any hour up to 8 kW keeps the mean at 5 kW at most.
    tariff = norway(history=((datetime(2026, 12, 1, 17, tzinfo=UTC), 7.0),))
    plan = solve(_problem(tariff))
    assert plan.ok
    billed = billed_peaks_kw(tariff, plan.grid, plan.grid_import_w)[(2026, 12)]
    assert billed <= 5.0 + 1e-6
    assert plan.cost.peak_cost == pytest.approx(0.0, abs=1e-9)
    assert plan.departure_soc_pct == pytest.approx(50.0 + 800.0 / 60.0)
    # Without the tariff term the plan charges at 11 kW at once: its first hour averages 9 kW,
    # (7 + 9) / 3 = 5.33 kW, one step up (100 more a month).
    without = solve(_problem(None))
    assert billed_peaks_kw(tariff, plan.grid, without.grid_import_w)[(2026, 12)] == pytest.approx(
        16 / 3
    )
    assert horizon_charge(tariff, plan.grid, without.grid_import_w / 1000) == pytest.approx(100.0)


# --- invariants ---

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@st.composite
def tariffs(draw: st.DrawFn) -> CapacityTariff:
    kind = draw(st.sampled_from(["flanders", "norway", "sweden"]))
    past = draw(st.floats(0.0, 12.0).map(lambda v: round(v, 2)))
    history = ((datetime(2026, 12, 1, 17, tzinfo=UTC), past),)
    if kind == "flanders":
        return flanders(history=history)
    if kind == "norway":
        return norway(history=history, timezone="Europe/Oslo")
    return CapacityTariff(
        window_minutes=60,
        top_n=draw(st.integers(1, 3)),
        price_per_kw=draw(st.sampled_from([2.0, 8.0])),
        hours=(7, 19),
        night_hours=draw(st.sampled_from([None, (22, 6)])),
        night_weight=0.5,
        timezone="Europe/Stockholm",
        history=history,
    )


@st.composite
def problems(draw: st.DrawFn) -> tuple[Problem, Problem]:
    n = draw(st.integers(4, 24))
    start = T0 + timedelta(hours=draw(st.integers(0, 23)))
    grid = quarter_grid(n, start)
    prices = np.array(draw(st.lists(st.floats(0.05, 0.5), min_size=n, max_size=n)))
    load = np.array(
        draw(st.lists(st.sampled_from([300.0, 1000.0, 4000.0]), min_size=n, max_size=n))
    )
    v2g = draw(st.booleans())
    vehicle = Vehicle(
        capacity_kwh=40.0,
        soc_pct=draw(st.floats(10.0, 90.0)),
        target_soc_pct=draw(st.floats(10.0, 100.0)),
        departure=start + timedelta(minutes=15 * draw(st.integers(1, n))),
        max_charge_power_w=draw(st.sampled_from([7_400.0, 11_000.0])),
        min_charge_power_w=draw(st.sampled_from([0.0, 4_140.0])),
        max_discharge_power_w=7_400.0 if v2g else 0.0,
        min_discharge_power_w=draw(st.sampled_from([0.0, 4_140.0])) if v2g else 0.0,
        v2g_allowed=v2g,
        wear_cost_per_kwh=0.02,
    )
    site = Site(import_limit_w=draw(st.sampled_from([9_000.0, 17_000.0])), export_allowed=v2g)
    base = Problem(
        grid=grid,
        import_price_per_kwh=prices,
        export_price_per_kwh=prices - 0.1,
        base_load_power_w=load,
        vehicles=(vehicle,),
        site=site,
    )
    tariff = draw(tariffs())
    return base, dataclasses.replace(base, site=dataclasses.replace(site, capacity_tariff=tariff))


def _under(problem: Problem, plan: object) -> float:
    """The objective of another plan's schedule costed under ``problem``'s tariff."""
    assert hasattr(plan, "vehicles")
    costed = evaluate(
        problem,
        [v.charge_power_w for v in plan.vehicles],
        [v.discharge_power_w for v in plan.vehicles],
        strategy="other",
        grid_import_w=plan.grid_import_w,  # type: ignore[attr-defined]
        grid_export_w=plan.grid_export_w,  # type: ignore[attr-defined]
    )
    return costed.cost.objective


@SETTINGS
@given(problems())
def test_tariff_plans_keep_the_limits_and_never_cost_more(pair: tuple[Problem, Problem]) -> None:
    base, priced = pair
    plan = solve(priced)
    assert plan.ok, plan.status
    limit_w = np.maximum(priced.site.import_limit_w, priced.load - priced.solar)
    assert np.all(plan.grid_import_w <= limit_w + 1e-3)  # never above the fuse
    vehicle = priced.vehicles[0]
    power = plan.charge_power_w
    assert np.all((power < 1e-6) | (power >= vehicle.min_charge_power_w - 1e-3))
    # The plan's own costing is the exact tariff: what it says the capacity charge is, it is.
    tariff = priced.site.capacity_tariff
    assert tariff is not None
    assert plan.cost.peak_cost == pytest.approx(
        horizon_charge(tariff, priced.grid, plan.grid_import_w / 1000), abs=1e-6
    )
    # Priced under the tariff, neither the plan without the tariff term nor charge-now beats it.
    scale = 1e-6 * max(1.0, abs(plan.cost.objective))
    without = solve(base)
    assert plan.cost.objective <= _under(priced, without) + scale + 1e-4
    assert plan.cost.objective <= _under(priced, charge_now(priced)) + scale + 1e-4
    # When both deliver the same energy, the tariff plan never bills more capacity.
    same_energy = abs(float(plan.soc_pct[-1] - without.soc_pct[-1])) < 1e-6
    if same_energy and not vehicle.v2g_allowed:
        billed_with = horizon_charge(tariff, priced.grid, plan.grid_import_w / 1000)
        billed_without = horizon_charge(tariff, priced.grid, without.grid_import_w / 1000)
        assert billed_with <= billed_without + 1e-6 + (
            # ... unless it buys the same energy cheaper by more than the capacity difference.
            _energy_cost(without) - _energy_cost(plan)
        )


def _energy_cost(plan: object) -> float:
    cost = plan.cost  # type: ignore[attr-defined]
    return float(cost.import_cost - cost.export_revenue + cost.wear_cost)


@SETTINGS
@given(tariffs(), st.lists(st.floats(0.0, 15.0), min_size=8, max_size=8), st.integers(0, 7))
def test_more_import_never_costs_less_capacity(
    tariff: CapacityTariff, imports: list[float], slot: int
) -> None:
    grid = quarter_grid(8, T0 + timedelta(hours=9))
    base = np.array(imports)
    more = base.copy()
    more[slot] += 2.0
    assert horizon_charge(tariff, grid, base) >= -1e-9
    assert horizon_charge(tariff, grid, more) >= horizon_charge(tariff, grid, base) - 1e-9


def test_v2h_shaves_the_house_peak_when_that_pays() -> None:
    # A 6 kW house hour, flat prices, an EV with V2G and energy to spare: at 10 EUR per kW the
    # plan discharges for the house and keeps the month's 15-minute peak at 2 kW or below.
    n = 8
    load = np.full(n, 2000.0)
    load[4:8] = 6000.0
    tariff = CapacityTariff(window_minutes=15, price_per_kw=10.0)
    problem = Problem(
        grid=quarter_grid(n),
        import_price_per_kwh=np.full(n, 0.25),
        export_price_per_kwh=np.full(n, 0.05),
        base_load_power_w=load,
        vehicles=(
            Vehicle(
                capacity_kwh=60.0,
                soc_pct=70.0,
                target_soc_pct=60.0,
                departure=T0 + timedelta(hours=3),
                max_charge_power_w=11_000.0,
                max_discharge_power_w=11_000.0,
                min_discharge_power_w=1_380.0,
                v2g_allowed=True,
                wear_cost_per_kwh=0.02,
            ),
        ),
        site=Site(import_limit_w=17_000, capacity_tariff=tariff),
    )
    plan = solve(problem)
    assert plan.ok
    assert plan.peak_import_w <= 2_000 + 1
    assert np.all(plan.discharge_power_w[4:8] >= 4_000 - 1)
    assert plan.cost.peak_cost == pytest.approx(10.0 * plan.peak_import_w / 1000, abs=1e-6)
    without = solve(dataclasses.replace(problem, site=Site(import_limit_w=17_000)))
    assert without.peak_import_w == pytest.approx(6_000, abs=1)


@SETTINGS
@given(
    tariffs(),
    st.lists(st.tuples(st.integers(0, 24 * 4 * 3), st.floats(0.0, 12.0)), max_size=30),
    st.lists(st.floats(0.0, 15.0), min_size=8, max_size=8),
)
def test_compact_history_bills_the_same(
    tariff: CapacityTariff, past: list[tuple[int, float]], imports: list[float]
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    history = tuple((start + timedelta(minutes=15 * q), kw) for q, kw in past)
    full = dataclasses.replace(tariff, history=history)
    grid = quarter_grid(8, T0 + timedelta(days=2, hours=9))
    imp = np.array(imports)
    compact = full.compact()
    assert len(compact.history) <= len(history)
    assert horizon_charge(compact, grid, imp) == pytest.approx(horizon_charge(full, grid, imp))
    assert billed_peaks_kw(compact, grid) == pytest.approx(billed_peaks_kw(full, grid))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(problems())
def test_tariff_plan_matches_the_reference_milp(pair: tuple[Problem, Problem]) -> None:
    # With a tariff `solve` adds semi-continuous columns up front and meter / direction binaries
    # only where needed, starting from a rounded LP; given the time, it is as good as the full
    # MILP with every rule's integrality.
    _, priced = pair
    plan = solve(priced)
    reference = solve(priced, dataclasses.replace(EXACT, reference=True))
    assert plan.ok, plan.status
    assert plan.cost.objective == pytest.approx(reference.cost.objective, rel=1e-5, abs=1e-4)


def test_a_plan_stopped_at_the_time_limit_keeps_the_rules() -> None:
    # No time to prove anything: the plan is still the rounded LP or better, with every minimum
    # power kept, the target reached and the capacity charge costed exactly.
    n = 48
    prices = 0.2 + 0.1 * np.sin(np.arange(n) / 5.0)
    problem = dataclasses.replace(
        _problem(
            flanders(history=((T0, 3.0),)),
            n=n,
            min_charge_power_w=4_140.0,
            departure=T0 + timedelta(hours=12),
        ),
        import_price_per_kwh=prices,
        export_price_per_kwh=prices - 0.1,
    )
    plan = solve(problem, SolveOptions(search_time_s=0.0))
    assert plan.ok or plan.status.startswith("time limit"), plan.status
    power = plan.charge_power_w
    assert np.all((power < 1e-6) | (power >= 4_140 - 1e-3))
    assert plan.departure_soc_pct is not None
    assert plan.departure_soc_pct >= 50.0 + 800.0 / 60.0 - 1e-6
    tariff = problem.site.capacity_tariff
    assert tariff is not None
    assert plan.cost.peak_cost == pytest.approx(
        horizon_charge(tariff, problem.grid, plan.grid_import_w / 1000), abs=1e-6
    )
    assert plan.cost.objective <= _under(problem, charge_now(problem)) + 1e-6
