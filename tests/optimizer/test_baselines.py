"""Baselines: same Problem in, same Plan out, costed like the optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.v2g.optimizer import (
    STRATEGIES,
    Site,
    Tariff,
    charge_now,
    cheapest_slots,
    perfect_foresight,
    solve,
)

from .common import ev, hours, kw, problem


def test_charge_now_full_power_until_target() -> None:
    """25 kWh at 10 kW: 10, 10, 5, then nothing, whatever the prices."""
    vehicle = ev(soc_pct=25.0, departure=hours(5), v2g_allowed=False)
    plan = charge_now(problem([0.5, 0.4, 0.3, 0.2, 0.1], vehicles=(vehicle,)))
    assert kw(plan.charge_power_w) == [10.0, 10.0, 5.0, 0.0, 0.0]
    assert plan.strategy == "charge_now"
    assert plan.departure_soc_pct == pytest.approx(50.0)
    assert plan.cost.import_cost == pytest.approx(5.0 + 4.0 + 1.5)
    assert (plan.discharge_power_w == 0).all()


def test_cheapest_slots_before_departure() -> None:
    """25 kWh: the two cheapest hours before departure at full power, the third-cheapest half."""
    vehicle = ev(soc_pct=25.0, departure=hours(4), v2g_allowed=False)
    prices = [0.5, 0.1, 0.3, 0.2, 0.0]  # the free last hour is after departure
    plan = cheapest_slots(problem(prices, vehicles=(vehicle,)))
    assert kw(plan.charge_power_w) == [0.0, 10.0, 5.0, 10.0, 0.0]
    assert plan.target_reachable
    assert plan.cost.import_cost == pytest.approx(1.0 + 1.5 + 2.0)


def test_cheapest_slots_ties_prefer_early() -> None:
    vehicle = ev(soc_pct=40.0, departure=hours(3), v2g_allowed=False)
    plan = cheapest_slots(problem([0.2, 0.2, 0.2], vehicles=(vehicle,)))
    assert kw(plan.charge_power_w) == [10.0, 0.0, 0.0]


def test_baselines_respect_minimum_power_and_site_limit() -> None:
    vehicle = ev(soc_pct=49.0, departure=hours(3), min_charge_power_w=4_200.0, v2g_allowed=False)
    prob = problem(
        [0.3, 0.1, 0.2],
        vehicles=(vehicle,),
        site=Site(import_limit_w=6_000.0),
        load_w=[3_000.0, 0.0, 0.0],
    )
    now = charge_now(prob)
    # Slot 0 has only 3 kW headroom (< 4.2 kW minimum): the car waits for slot 1.
    assert kw(now.charge_power_w) == [0.0, 4.2, 0.0]
    cheap = cheapest_slots(prob)
    assert kw(cheap.charge_power_w) == [0.0, 4.2, 0.0]


def test_minimum_power_never_overfills() -> None:
    vehicle = ev(soc_pct=99.5, target_soc_pct=100.0, departure=hours(1), min_charge_power_w=4_200.0)
    plan = charge_now(problem([0.3], vehicles=(vehicle,)))
    assert kw(plan.charge_power_w) == [0.0]


def test_minimum_power_takes_the_remainder_from_the_slot_before() -> None:
    # 11 kWh to a full battery at 10 kW, 4.2 kW minimum: 10 + 1 cannot be (1 < 4.2) and 10 + 4.2
    # overfills, so the first slot gives up 3.2: 6.8 + 4.2.
    vehicle = ev(
        soc_pct=89.0,
        target_soc_pct=100.0,
        departure=hours(3),
        min_charge_power_w=4_200.0,
        v2g_allowed=False,
    )
    prob = problem([0.3, 0.2, 0.1], vehicles=(vehicle,))
    assert kw(charge_now(prob).charge_power_w) == [6.8, 4.2, 0.0]
    assert kw(cheapest_slots(prob).charge_power_w) == [0.0, 4.2, 6.8]
    assert charge_now(prob).departure_soc_pct == pytest.approx(100.0)


def test_fleet_baselines_share_the_limit() -> None:
    vehicles = tuple(
        ev(name=f"ev{i}", soc_pct=40.0, departure=hours(2), v2g_allowed=False) for i in range(2)
    )
    plan = charge_now(problem([0.3, 0.2], vehicles=vehicles, site=Site(import_limit_w=12_000.0)))
    total = sum(v.charge_power_w for v in plan.vehicles)
    assert kw(total) == [12.0, 8.0]


def test_optimizer_beats_the_baselines() -> None:
    vehicle = ev(soc_pct=25.0, departure=hours(4), v2g_allowed=False)
    prob = problem([0.5, 0.1, 0.3, 0.2], vehicles=(vehicle,))
    costs = {name: fn(prob).cost.objective for name, fn in STRATEGIES.items()}
    assert costs["optimal"] <= costs["cheapest_slots"] + 1e-9 <= costs["charge_now"] + 1e-9
    assert costs["optimal"] < costs["charge_now"]


def test_perfect_foresight_uses_the_realised_series() -> None:
    vehicle = ev(soc_pct=40.0, departure=hours(2), v2g_allowed=False)
    forecast = problem([0.1, 0.3], vehicles=(vehicle,))
    realised = np.array([0.3, 0.1])
    plan = perfect_foresight(
        forecast,
        import_price_per_kwh=realised,
        export_price_per_kwh=realised,
        solar_power_w=np.zeros(2),
        base_load_power_w=np.zeros(2),
    )
    assert plan.strategy == "perfect_foresight"
    assert kw(plan.charge_power_w) == [0.0, 10.0]
    assert kw(solve(forecast).charge_power_w) == [10.0, 0.0]


def test_tariff() -> None:
    tariff = Tariff(import_fee_per_kwh=0.10, vat=0.25, export_fee_per_kwh=0.01)
    np.testing.assert_allclose(tariff.import_price([0.0, 0.2]), [0.125, 0.375])
    np.testing.assert_allclose(tariff.export_price([0.0, 0.2]), [-0.01, 0.19])


def test_charge_now_never_above_the_charger_when_the_target_is_beyond_the_cap() -> None:
    """A target above the cycling cap without a minimum power: the baselines stop at the cap and
    never ask more than the charger's maximum (found by the dispatch property test)."""
    car = ev(
        soc_pct=28,
        target_soc_pct=84,
        min_soc_pct=20,
        max_soc_pct=90,
        departure=hours(8),
        charge_efficiency=0.9,
        discharge_efficiency=0.9,
        power_floor_w=[-np.inf] * 7 + [-6_000.0],
        power_ceiling_w=[np.inf] * 7 + [-6_000.0],
    )
    p = problem([0.0] * 8, vehicles=(car,), site=Site(import_limit_w=14_000), load_w=[800.0] * 8)
    for plan in (charge_now(p), cheapest_slots(p)):
        assert plan.vehicles[0].charge_power_w.max() <= 10_000 + 1e-3
        assert plan.grid_import_w.max() <= 14_000 + 1e-3
