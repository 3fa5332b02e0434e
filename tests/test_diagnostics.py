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
    assert diagnostics["entry"]["unique_id"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["charger_kind"] == "simulated"
    assert diagnostics["settings"]["mode"] == "smart"
    assert diagnostics["settings"]["departure_time"] == "07:30:00"
    assert diagnostics["capabilities"] == {
        "bidirectional": True,
        "reports_soc": True,
        "min_charge_power_w": 1400.0,
        "min_discharge_power_w": 0.0,
    }
    assert diagnostics["last_update_success"] is True
    assert diagnostics["state"]["power_w"] == 11000.0
    # A flat price: the plan charges at once (equal cost, earlier is safer).
    assert diagnostics["decision"] == {
        "setpoint_w": 11000.0,
        "reason": "charging",
        "limited_by_grid": False,
    }
    assert diagnostics["plan"]["status"] == "optimal"
