"""Meter values and EV charging needs, as chargers send them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def _sample(value: float, measurand: str, multiplier: int = 0, **extra: str) -> dict[str, Any]:
    return {
        "value": value,
        "measurand": measurand,
        "unit_of_measure": {
            "unit": "W" if "Power" in measurand else "Wh",
            "multiplier": multiplier,
        },
        **extra,
    }


def test_implausible_values_are_dropped() -> None:
    reading = parse_meter_values(
        [
            {
                "sampled_value": [
                    _sample(7, "Power.Active.Import", 308),  # inf W
                    _sample(0, "Power.Active.Export"),
                    _sample(1e306, "Energy.Active.Import.Register"),
                    _sample(5, "Energy.Active.Export.Register", 400),  # 10^400: no overflow
                    _sample(2300, "Power.Active.Setpoint", 1),  # 23 kW: fine
                    {"value": 1e300, "measurand": "SoC"},
                    {"value": 16, "measurand": "Current.Import", "phase": "L1"},
                    {"value": float("inf"), "measurand": "Current.Import", "phase": "L2"},
                    {"value": 6, "measurand": "Current.Export"},
                ]
            }
        ]
    )
    assert reading.power_w is None  # import implausible: export alone would give the wrong sign
    assert reading.energy_import_kwh is None
    assert reading.energy_export_kwh is None
    assert reading.soc_pct is None
    assert reading.setpoint_w == 23_000.0
    assert reading.current_a is None  # one phase infinite: no current from this batch
    assert reading.rejected == [
        "Power.Active.Import with multiplier 308",
        "Energy.Active.Import.Register = 1e+306 Wh x 10^0",
        "Energy.Active.Export.Register with multiplier 400",
    ]  # the first three
    # 1.6 sends strings: "1e999" is a float too, an infinite one.
    assert parse_meter_values(
        [{"sampled_value": [{"value": "1e999", "measurand": "Power.Active.Import"}]}]
    ).rejected == ["Power.Active.Import = inf W x 10^0"]
    # A plausible batch after them is taken as usual.
    good = parse_meter_values([{"sampled_value": [_sample(7, "Power.Active.Import", 3)]}])
    assert good.power_w == 7000.0
    assert not good.rejected
