"""Realized money: energy valued at the prices in force, and savings against a plain charger."""

from __future__ import annotations

import pytest

from custom_components.v2g.ledger import Ledger, Prices, site_shares


def test_a_session_by_hand() -> None:
    ledger = Ledger(capacity_kwh=60.0)
    ledger.plug_in(
        max_power_w=10_000,
        arrival_prices=[(1.0, 0.40), (1.0, 0.30), (1.0, 0.10), (1.0, 0.10)],
        charge_efficiency=0.9,
        discharge_efficiency=0.9,
    )
    ledger.record(100.0, 50.0, Prices(import_per_kwh=0.1, export_per_kwh=0.05), 0.02)
    assert ledger.charging_cost == 0.0  # the first reading only sets the counters' base
    # 10 kWh from the grid at 0.10.
    ledger.record(110.0, 50.0, Prices(import_per_kwh=0.10, export_per_kwh=0.05), 0.02)
    # 5 kWh, 40 % of it solar surplus that would have earned 0.05.
    ledger.record(
        115.0, 50.0, Prices(import_per_kwh=0.20, export_per_kwh=0.05, solar_share=0.4), 0.02
    )
    # 3 kWh out: a third exported at 0.30, the rest served the house instead of imports at 0.50.
    ledger.record(
        115.0, 53.0, Prices(import_per_kwh=0.50, export_per_kwh=0.30, export_share=1 / 3), 0.02
    )
    assert ledger.charging_cost == pytest.approx(10 * 0.10 + 5 * (0.4 * 0.05 + 0.6 * 0.20))
    assert ledger.discharging_earnings == pytest.approx(1 / 3 * 3 * 0.30 + 2 / 3 * 3 * 0.50)
    assert ledger.throughput_kwh == pytest.approx(18.0)
    assert ledger.wear_cost == pytest.approx(18 * 0.02)
    assert ledger.cycles == pytest.approx(18 / 2 / 60)
    # The battery gained 15 x 0.9 - 3 / 0.9 kWh; a plain charger would have drawn that / 0.9
    # from arrival at 10 kW: 10 kWh at 0.40, the rest at 0.30.
    drawn = (15 * 0.9 - 3 / 0.9) / 0.9
    baseline = 10 * 0.40 + (drawn - 10) * 0.30
    assert ledger.savings == pytest.approx(baseline - (1.7 - 1.3))

    # A counter that goes backwards (a replaced charger) counts nothing for that interval.
    ledger.record(2.0, 0.0, Prices(import_per_kwh=9.0, export_per_kwh=9.0), 0.02)
    assert ledger.charging_cost == pytest.approx(1.7)
    ledger.record(3.0, 0.0, Prices(import_per_kwh=0.1, export_per_kwh=0.0), 0.02)
    assert ledger.charging_cost == pytest.approx(1.8)

    # Unplugging keeps the session's savings; the next session starts from zero.
    saved = ledger.savings
    ledger.unplug()
    assert ledger.session is None
    assert ledger.savings == pytest.approx(saved)
    ledger.plug_in(
        max_power_w=10_000,
        arrival_prices=[(1.0, 0.2)],
        charge_efficiency=0.9,
        discharge_efficiency=0.9,
    )
    assert ledger.savings == pytest.approx(saved)

    # Everything survives the store.
    again = Ledger.from_json(ledger.to_json(), 60.0)
    assert again.to_json() == ledger.to_json()
    assert Ledger.from_json({"charging_cost": "x"}, 60.0).charging_cost == 0.0
    assert Ledger.from_json(None, 40.0).capacity_kwh == 40.0


def test_a_session_beyond_the_known_prices() -> None:
    ledger = Ledger()
    ledger.plug_in(
        max_power_w=1_000, arrival_prices=[(1.0, 0.5)], charge_efficiency=1, discharge_efficiency=1
    )
    ledger.record(0.0, 0.0, Prices(import_per_kwh=0.1, export_per_kwh=0.0), 0.0)
    ledger.record(3.0, 0.0, Prices(import_per_kwh=0.1, export_per_kwh=0.0), 0.0)
    # 1 kWh at 0.5 in the known hour, then the last known price.
    assert ledger.savings == pytest.approx(3 * 0.5 - 0.3)


def test_site_shares() -> None:
    # The meter shows 2 kW export while the EVs draw 3 kW: 5 kW surplus covers all of it.
    assert site_shares(
        grid_power_w=-2_000, charging_w=3_000, discharging_w=0, solar_w=0, load_w=0
    ) == (1.0, 0.0)
    # 1 kW import with 4 kW charging: 3 kW of it is solar.
    assert site_shares(
        grid_power_w=1_000, charging_w=4_000, discharging_w=0, solar_w=0, load_w=0
    ) == pytest.approx((0.75, 0.0))
    # 4 kW discharging, house 1 kW: 3 kW exported.
    assert site_shares(
        grid_power_w=-3_000, charging_w=0, discharging_w=4_000, solar_w=0, load_w=0
    ) == pytest.approx((0.0, 0.75))
    # Without a meter: the forecasts of the current slot.
    assert site_shares(
        grid_power_w=None, charging_w=2_000, discharging_w=0, solar_w=1_500, load_w=500
    ) == pytest.approx((0.5, 0.0))
    assert site_shares(
        grid_power_w=None, charging_w=0, discharging_w=2_000, solar_w=0, load_w=500
    ) == pytest.approx((0.0, 0.75))
