"""Realized money over a simulated evening and night, against totals computed by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.const import DEFAULT_OPTIONS
from tests.conftest import only_charger

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

# Expensive evening, cheap night, 0.30 otherwise; 40 % -> 80 % of 60 kWh at 92 %: 26.09 kWh.
NEEDED_KWH = 24 / 0.92


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A time-of-use tariff and no feed-in (the EV only charges)."""
    return {
        **DEFAULT_OPTIONS,
        "price_source": "schedule",
        "price_schedule": "17:00-21:00=0.45; 00:30-04:30=0.10",
        "price_schedule_default_per_kwh": 0.30,
        "export_price_source": "fixed",
        "export_price_fixed_per_kwh": 0.0,
        "wear_cost_per_kwh": 0.02,
    }


async def _run(hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: float) -> None:
    for _ in range(int(hours * 12)):  # one update every 5 minutes
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


def _value(hass: HomeAssistant, entity_id: str) -> float:
    return float(hass.states.get(entity_id).state)


async def test_charge_now_pays_the_evening_price(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "charge_now"},
        blocking=True,
    )
    await _run(hass, freezer, 4)
    # 11 kW from 18:30 for 2.37 h: all of it before 21:00, at 0.45 (the charger's own counter
    # says how much: it stops within one update of the target).
    charged = _value(hass, "sensor.garage_energy_charged")
    assert charged == pytest.approx(NEEDED_KWH, rel=0.03)
    assert _value(hass, "sensor.garage_charging_cost") == pytest.approx(charged * 0.45, rel=0.001)
    assert _value(hass, "sensor.garage_realized_savings") == pytest.approx(0.0, abs=0.15)
    assert _value(hass, "sensor.garage_ev_battery_wear_cost") == pytest.approx(
        charged * 0.02, abs=0.005
    )
    assert _value(hass, "sensor.garage_ev_battery_cycles") == pytest.approx(
        charged / 2 / 60, abs=0.0001
    )
    assert _value(hass, "sensor.home_charging_cost") == _value(hass, "sensor.garage_charging_cost")
    assert hass.states.get("sensor.garage_charging_cost").attributes["state_class"] == "total"
    assert hass.states.get("sensor.garage_charging_cost").attributes["unit_of_measurement"] == (
        "EUR"
    )


async def test_smart_waits_for_the_night_and_the_savings_are_real(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    plan = hass.states.get("sensor.garage_plan")
    assert plan.state == "waiting"
    assert plan.attributes["reason"] == (
        "Waiting: 00:30\u201303:00 costs 0.10 EUR/kWh, 0.35 less than now."
    )
    assert hass.states.get("sensor.home_import_price").state == "0.45"
    assert hass.states.get("sensor.home_import_price").attributes["unit_of_measurement"] == (
        "EUR/kWh"
    )
    prices = hass.states.get("sensor.home_import_price").attributes["prices"]
    assert prices[0]["start"] == "2026-01-15T18:30:00+01:00"
    assert {p["import_price"] for p in prices} == {0.45, 0.30, 0.10}
    await _run(hass, freezer, 10)
    assert _value(hass, "sensor.garage_ev_state_of_charge") == pytest.approx(80, abs=0.6)
    charged = _value(hass, "sensor.garage_energy_charged")
    cost = _value(hass, "sensor.garage_charging_cost")
    assert cost == pytest.approx(charged * 0.10, rel=0.001)
    # A plain charger would have charged the same energy at 0.45 from 18:30.
    # (What the battery holds decides what a plain charger would have drawn.)
    assert _value(hass, "sensor.garage_realized_savings") == pytest.approx(
        charged * 0.45 - cost, rel=0.01
    )
    assert _value(hass, "sensor.garage_discharging_earnings") == 0.0

    # The totals survive a restart (the store is written when the site unloads).
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert _value(hass, "sensor.garage_charging_cost") == pytest.approx(cost, abs=0.01)
    key = f"v2g.{init_integration.entry_id}.{only_charger(init_integration).subentry_id}.ledger"
    assert hass_storage[key]["data"]["charging_cost"] == pytest.approx(cost, abs=0.01)
