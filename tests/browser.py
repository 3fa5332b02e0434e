"""What the browser tests share: Debian's Chromium and a logged-in Home Assistant frontend.

Playwright drives the Chromium that scripts/setup installs (it never downloads a browser here);
the user is logged in by the tokens the frontend keeps in localStorage.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockUser

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

# Debian's Chromium, which scripts/setup installs; Playwright never downloads a browser here.
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def onboarded() -> dict[str, Any]:
    """Stored onboarding, all done, so that the frontend opens the page asked for."""
    return {
        "version": 4,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": ["user", "core_config", "analytics", "integration"]},
    }


async def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless."""
    assert CHROMIUM, "no chromium on PATH: run ./scripts/setup (it installs Debian's chromium)"
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
    )


async def login_tokens(hass: HomeAssistant, user: MockUser, base: str) -> dict[str, Any]:
    """The tokens the frontend stores in localStorage after a login at `base`."""
    refresh = await hass.auth.async_create_refresh_token(user, f"{base}/")
    return {
        "access_token": hass.auth.async_create_access_token(refresh),
        "token_type": "Bearer",
        "expires_in": 1800,
        "refresh_token": refresh.token,
        "hassUrl": base,
        "clientId": f"{base}/",
        "expires": int(time.time() * 1000) + 1_800_000,
    }


async def log_in(context: BrowserContext, tokens: dict[str, Any]) -> None:
    """Logged in before the first script of Home Assistant's origin runs."""
    await context.add_init_script(
        f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"
    )


async def logged_in_page(
    browser: Browser, tokens: dict[str, Any], errors: list[str], **context: Any
) -> Page:
    """A page of a new browser context (`context`: its options), logged in, whose script errors
    are collected in `errors`."""
    browser_context = await browser.new_context(
        device_scale_factor=1, locale="en-GB", color_scheme="light", **context
    )
    await log_in(browser_context, tokens)
    page = await browser_context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{error.message} {error.stack}"))
    return page
