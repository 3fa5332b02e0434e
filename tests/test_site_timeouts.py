"""A charger that does not answer holds up nobody but itself (real time: timeouts run)."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g import charger as charger_module
from custom_components.v2g.chargers.simulated import SimulatedCharger
from tests.test_site import FUSE_W, _backends, _ev_power_w, site

__all__ = ["site"]


async def test_a_charger_offline_does_not_stop_the_other(
    hass: HomeAssistant,
    site: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    garage, _ = _backends(site)
    original = SimulatedCharger.async_read_state

    async def hang(self: SimulatedCharger) -> Any:
        if self is garage:
            await asyncio.sleep(3600)  # never answers
        return await original(self)

    monkeypatch.setattr(charger_module, "READ_TIMEOUT_S", 0.05)
    monkeypatch.setattr(SimulatedCharger, "async_read_state", hang)
    coordinator = site.runtime_data.coordinator
    await coordinator.async_refresh()
    assert hass.states.get("sensor.garage_power").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.garage_plan").state == STATE_UNAVAILABLE
    # The carport is planned alone now: it gets its full power under the fuse.
    assert hass.states.get("sensor.carport_power").state == "11000.0"
    assert coordinator.last_update_success
    monkeypatch.setattr(SimulatedCharger, "async_read_state", original)
    await coordinator.async_refresh()
    assert hass.states.get("sensor.garage_power").state != STATE_UNAVAILABLE
    assert _ev_power_w(site) == pytest.approx(FUSE_W - 400, abs=1)
    assert garage.setpoint_w > 0  # sharing the fuse again
