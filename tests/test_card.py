"""The plan card: Home Assistant serves it and the frontend loads it on every page."""

from __future__ import annotations

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.v2g.card import CARD_URL


async def test_card_is_served_and_loaded_on_every_page(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """The frontend imports the card on every page, from a URL that changes with the file."""
    urls = [url for url in hass.data[DATA_EXTRA_MODULE_URL].urls if url.startswith(CARD_URL)]
    assert len(urls) == 1
    assert urls[0].startswith(f"{CARD_URL}?v=")
    client = await hass_client()
    response = await client.get(urls[0])
    assert response.status == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "window.customElements.define(CARD_TYPE" in await response.text()
