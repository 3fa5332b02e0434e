"""The plan card: serve `frontend/v2g-plan-card.js` and load it on every dashboard.

The card is a plain JavaScript module (no build step). Home Assistant serves it from
`CARD_URL`, and the frontend imports it on every page load (an "extra module"), so users add
"V2G plan" from the card picker without adding a dashboard resource. The URL carries a hash of
the file, so browsers fetch the card again whenever it changes (an update, a HACS download).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

CARD_FILE: Final = Path(__file__).parent / "frontend" / "v2g-plan-card.js"
CARD_URL: Final = "/v2g/frontend/v2g-plan-card.js"


def _version(path: Path) -> str:
    """A short hash of the card's source, for cache busting (reads the file: executor only)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


async def async_register_card(hass: HomeAssistant) -> str:
    """Serve the card and add it to the modules the frontend loads; returns its versioned URL."""
    version = await hass.async_add_executor_job(_version, CARD_FILE)
    # The URL changes with the content: the file may be cached for as long as the browser likes.
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    url = f"{CARD_URL}?v={version}"
    add_extra_js_url(hass, url)
    return url
