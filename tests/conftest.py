"""Fixtures shared by the integration's tests."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

# Import the integration before `hass` exists, so the loader finds it
# (not phacc's own testing_config).
import custom_components.v2g  # noqa: F401
from custom_components.v2g.charger import Charger
from custom_components.v2g.const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from custom_components.v2g.coordinator import ChargerData

SITE_ENTRY_ID = "01JV2GTESTENTRY0000000000"
CHARGER_ID = "01JV2GTESTCHARGER00000000"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/v2g in every test."""


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable every entity, including those disabled by default (phacc lacks this fixture)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
    ):
        yield


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The entry's options (test modules override this fixture)."""
    return dict(DEFAULT_OPTIONS)


@pytest.fixture
def mock_config_entry(entry_options: dict[str, Any]) -> MockConfigEntry:
    """A site with one simulated charger, as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        version=2,
        minor_version=1,
        data={},
        options=entry_options,
        entry_id=SITE_ENTRY_ID,
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_CHARGER_KIND: "simulated",
                    "name": "Garage",
                    CONF_MAX_CHARGE_POWER_W: 11_000.0,
                    CONF_MAX_DISCHARGE_POWER_W: 11_000.0,
                    CONF_CAPACITY_KWH: 60.0,
                },
                subentry_id=CHARGER_ID,
                subentry_type=SUBENTRY_CHARGER,
                title="Garage",
                unique_id="simulated_garage",
            )
        ],
    )


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to set up (all by default; platform tests narrow it)."""
    from custom_components.v2g import PLATFORMS

    return PLATFORMS


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, platforms: list[Platform]
) -> MockConfigEntry:
    """Set up the integration with the simulated charger."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.v2g.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    return mock_config_entry


def only_charger(entry: MockConfigEntry) -> Charger:
    """The site's one charger."""
    chargers = list(entry.runtime_data.chargers.values())
    assert len(chargers) == 1
    return chargers[0]


def only_backend(entry: MockConfigEntry) -> Any:
    """The backend of the site's one charger."""
    return only_charger(entry).backend


def charger_data(entry: MockConfigEntry) -> ChargerData:
    """The last update's part of the site's one charger."""
    return entry.runtime_data.coordinator.data.chargers[only_charger(entry).subentry_id]
