"""Diagnostics show the entry, settings and last update, with identifiers redacted."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, init_integration: MockConfigEntry
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["entry"]["title"] == "**REDACTED**"
    assert diagnostics["last_update_success"] is True
    assert diagnostics["plan"]["status"] == "optimal"
    assert diagnostics["plan"]["vehicles"] == 1
    [charger] = diagnostics["chargers"]
    assert charger["unique_id"] == "**REDACTED**"
    assert charger["kind"] == "simulated"
    assert charger["data"]["charger_kind"] == "simulated"
    assert charger["settings"]["mode"] == "smart"
    assert charger["settings"]["departure_time"] == "07:30:00"
    assert charger["capabilities"] == {
        "bidirectional": True,
        "reports_soc": True,
        "min_charge_power_w": 1400.0,
        "min_discharge_power_w": 0.0,
    }
    assert charger["state"]["power_w"] == 11000.0
    # A flat price: the plan charges at once (equal cost, earlier is safer).
    assert charger["decision"] == {
        "setpoint_w": 11000.0,
        "reason": "charging",
        "limited_by_grid": False,
        "limited_by_operator": False,
        "frequency_response_w": 0.0,
    }
    assert charger["backend"]["config"]["capacity_kwh"] == 60.0
