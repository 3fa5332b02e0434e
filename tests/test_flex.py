"""Flexibility events (Octopus power-down and power-up) change the plan through its prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.const import DEFAULT_OPTIONS
from custom_components.v2g.inputs.flex import FlexKind, apply_flex, parse_flex_events
from custom_components.v2g.optimizer import make_grid
from tests.conftest import charger_data

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+00:00")

POWER_DOWN = "event.octopus_energy_a_12345678_octoplus_power_down_events"
POWER_UP = "event.octopus_energy_a_12345678_octoplus_power_up_events"


def _session(start: str, end: str, points: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"id": 1, "start": start, "end": end, "duration_in_minutes": 60}
    if points is not None:
        event["octopoints_per_kwh"] = points
    return event


def test_parse_and_apply() -> None:
    attributes = {
        "event_type": "octopus_energy_all_octoplus_power_down_sessions",
        "available_events": [_session("2026-01-15T21:00:00+00:00", "2026-01-15T22:00:00+00:00")],
        "joined_events": [
            _session("2026-01-15T19:00:00+00:00", "2026-01-15T19:30:00+00:00", 1600),
            {"start": "not a time", "end": None},
            "garbage",
        ],
    }
    [window] = parse_flex_events(POWER_DOWN, attributes, 800)
    assert window.kind is FlexKind.POWER_DOWN
    assert window.reward_per_kwh == 2.0  # 1600 points at 800 a pound
    up = parse_flex_events(
        POWER_UP,
        {"available_events": [_session("2026-01-15T20:00:00+00:00", "2026-01-15T20:30:00+00:00")]},
        800,
    )
    assert [w.kind for w in up] == [FlexKind.POWER_UP]

    grid = make_grid(
        datetime(2026, 1, 15, 18, 30, tzinfo=UTC), datetime(2026, 1, 15, 21, tzinfo=UTC)
    )
    imp = np.full(len(grid), 0.3)
    exp = np.full(len(grid), 0.1)
    touched = apply_flex(grid, [window, *up], imp, exp)
    # 19:00-19:30: every kWh not imported earns 2.00 more; 20:00-20:30 is free.
    assert imp.tolist() == pytest.approx([0.3, 0.3, 2.3, 2.3, 0.3, 0.3, 0.0, 0.0, 0.3, 0.3])
    assert exp.tolist() == pytest.approx([0.1, 0.1, 2.1, 2.1] + [0.1] * 6)
    assert touched.sum() == 4


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A flat price, a feed-in, V2G allowed, and both Octopus event entities."""
    return {
        **DEFAULT_OPTIONS,
        "price_source": "fixed",
        "price_fixed_per_kwh": 0.25,
        "export_price_source": "fixed",
        "export_price_fixed_per_kwh": 0.05,
        "flex_event_entities": [POWER_DOWN, POWER_UP],
    }


async def test_power_down_discharges_and_power_up_charges(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    now = datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
    hass.states.async_set(
        POWER_DOWN,
        "2026-01-15T18:00:00.000+00:00",
        {
            "event_type": "octopus_energy_all_octoplus_power_down_sessions",
            "joined_events": [
                _session(now.isoformat(), (now + timedelta(hours=1)).isoformat(), 2400)
            ],
        },
    )
    hass.states.async_set(
        POWER_UP,
        "2026-01-15T18:00:00.000+00:00",
        {
            "available_events": [
                _session(
                    (now + timedelta(hours=2)).isoformat(), (now + timedelta(hours=4)).isoformat()
                )
            ]
        },
    )
    await hass.config.async_set_time_zone("UTC")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    inputs = mock_config_entry.runtime_data.coordinator.data.inputs
    assert inputs is not None
    assert [w.kind for w in inputs.flex_windows] == [FlexKind.POWER_DOWN, FlexKind.POWER_UP]
    assert inputs.import_price_per_kwh[0] == pytest.approx(0.25 + 3.0)
    # Each kWh out now earns the 3.00 reward: the EV discharges in the power-down session...
    assert charger_data(mock_config_entry).decision.reason == "discharging"
    schedule = hass.states.get("sensor.garage_plan").attributes["schedule"]
    # ...and charges back in the free power-up session.
    free = [p for p in schedule if "2026-01-15T20:30" <= p["start"][:16] < "2026-01-15T22:30"]
    assert all(p["import_price"] == 0.0 for p in free)
    assert sum(p["power_w"] for p in free) > 0
    assert "Discharging" in hass.states.get("sensor.garage_plan").attributes["reason"]
