"""The Energy dashboard accepts the charger as a home battery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data, validate
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: object, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant does (the energy validation reads it)."""


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_energy_dashboard_accepts_battery(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The Energy dashboard's own validation finds nothing wrong with our battery sensors."""
    # Let the recorder see the sensors for a few minutes and compile their statistics.
    start = datetime.fromisoformat("2026-01-15 17:30:00").replace(tzinfo=UTC)
    for _ in range(10):
        freezer.tick(timedelta(seconds=30))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    do_adhoc_statistics(hass, start=start)
    await async_wait_recording_done(hass)

    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "battery",
                    "stat_energy_from": "sensor.garage_energy_discharged",
                    "stat_energy_to": "sensor.garage_energy_charged",
                    "stat_rate": "sensor.garage_power",
                }
            ]
        }
    )
    result = await validate.async_validate(hass)
    assert result.as_dict()["energy_sources"] == [[]]
