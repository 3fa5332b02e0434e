"""Meter values and EV charging needs, as chargers send them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.v2g.chargers.ocpp.readings import parse_ev_needs, parse_meter_values


def test_phases_units_and_multipliers() -> None:
    reading = parse_meter_values(
        [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampled_value": [
                    {"value": "2300", "measurand": "Power.Active.Import", "phase": "L1"},
                    {"value": "2300", "measurand": "Power.Active.Import", "phase": "L2"},
                    {
                        "value": "2.3",
                        "measurand": "Power.Active.Import",
                        "phase": "L3",
                        "unit": "kW",
                    },
                    {"value": "not a number", "measurand": "SoC"},
                    {"value": "1", "measurand": "Power.Active.Import", "unit": "kvar"},
                    {"value": "40", "measurand": "Voltage", "location": "Body"},
                    {"value": 7, "measurand": "Current.Export"},
                ],
            },
            "garbage",
            {
                "timestamp": "bad",
                "sampled_value": [
                    {"value": 12.5, "unit_of_measure": {"unit": "kWh", "multiplier": 1}}
                ],
            },
        ]
    )
    assert reading.power_w == pytest.approx(6900.0)
    assert reading.soc_pct is None
    assert reading.voltage_v is None
    assert reading.current_a == -7.0
    assert reading.energy_import_kwh == pytest.approx(125.0)  # default measurand, 10^1 kWh
    assert reading.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    empty = parse_meter_values([])
    assert empty.power_w is None
    assert not empty.has_power


def test_ev_needs_dc_without_v2x() -> None:
    needs = parse_ev_needs(
        1,
        {
            "requested_energy_transfer": "DC",
            "dc_charging_parameters": {
                "ev_max_current": 200,
                "ev_max_voltage": 400,
                "ev_max_power": 50_000,
                "state_of_charge": 35,
                "ev_energy_capacity": 77_000,
                "energy_amount": 30_000,
            },
        },
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert needs.soc_pct == 35
    assert needs.capacity_kwh == 77.0
    assert needs.requested_energy_kwh == 30.0
    assert needs.max_charge_power_w == 50_000
    assert needs.departure_time is None
    assert not needs.supports_v2x
