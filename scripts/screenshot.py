"""Take PNG screenshots of the development Home Assistant's V2G pages with a headless Chromium.

Start `./scripts/develop` first (in another terminal), then:

    .venv/bin/python scripts/screenshot.py [--out DIR] [--wait SECONDS] [PATH ...]

Without PATHs it shoots the integration page, the charger's and the EV's device pages and the
entity list filtered to the integration. The browser is logged in as the development user by
putting `hassTokens` into localStorage, driven over the Chrome DevTools protocol (aiohttp only).
Needs a `chromium` (or `google-chrome`) on PATH; screenshots go to a temporary directory unless
--out says otherwise. Never commit them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
from pathlib import Path
import shutil
import socket
import sys
import tempfile
import time
from typing import Any

import aiohttp
from dev_onboard import CLIENT_ID, DOMAIN, URL, Client, OnboardError

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_browser() -> str:
    """The first Chromium-like browser on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no chromium on PATH (Debian: apt-get install chromium)")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Page:
    """One browser tab, driven over its DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and wait for its answer (events in between are dropped)."""
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json(timeout=60)
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value."""
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return answer.get("result", {}).get("value")

    async def goto(self, url: str, wait_s: float) -> None:
        """Navigate and give the frontend time to render."""
        await self.send("Page.navigate", url=url)
        await asyncio.sleep(wait_s)

    async def screenshot(self, path: Path) -> None:
        """Save the viewport as PNG."""
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


async def device_pages(client: Client) -> list[tuple[str, str]]:
    """(name, path) of the integration's pages worth looking at."""
    devices = await client.websocket({"type": "config/device_registry/list"})
    pages = [("integration", f"/config/integrations/integration/{DOMAIN}")]
    for device in devices:
        if any(identifier[0] == DOMAIN for identifier in device["identifiers"]):
            slug = (device["name_by_user"] or device["name"]).lower().replace(" ", "_")
            pages.append((f"device_{slug}", f"/config/devices/device/{device['id']}"))
    pages.append(("entities", f"/config/entities?domain={DOMAIN}"))
    return pages


async def shoot(paths: list[str], out: Path, wait_s: float, width: int, height: int) -> None:
    """Log in, open each page and save a screenshot of it (into an existing directory)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        client = Client(session)
        tokens = await client.login()
        pages = [(Path(p).name or "page", p) for p in paths] or await device_pages(client)
        hass_tokens = {
            **tokens,
            "hassUrl": URL,
            "clientId": CLIENT_ID,
            "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
        }

        port = free_port()
        with tempfile.TemporaryDirectory(prefix="v2g-chromium-") as profile:
            browser = await asyncio.create_subprocess_exec(
                find_browser(),
                *BROWSER_FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                f"--window-size={width},{height}",
                "about:blank",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                targets: list[dict[str, Any]] = []
                for _ in range(60):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                            targets = [t for t in await answer.json() if t["type"] == "page"]
                    if targets:
                        break
                    await asyncio.sleep(0.5)
                if not targets:
                    raise SystemExit("chromium did not open its DevTools port")
                async with session.ws_connect(
                    targets[0]["webSocketDebuggerUrl"], max_msg_size=0
                ) as ws:
                    page = Page(ws)
                    await page.send(
                        "Emulation.setDeviceMetricsOverride",
                        width=width,
                        height=height,
                        deviceScaleFactor=1,
                        mobile=False,
                    )
                    # Same origin first, so that localStorage belongs to Home Assistant's origin.
                    await page.goto(f"{URL}/auth/providers", wait_s=1)
                    await page.evaluate(
                        f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(hass_tokens))})"
                    )
                    for index, (name, path) in enumerate(pages):
                        await page.goto(f"{URL}{path}", wait_s=wait_s * (2 if index == 0 else 1))
                        target = out / f"{index:02d}_{name}.png"
                        await page.screenshot(target)
                        print(f"{target}  <- {path}", flush=True)
            finally:
                browser.terminate()
                try:
                    await asyncio.wait_for(browser.wait(), timeout=10)
                except TimeoutError:
                    browser.kill()
                    await browser.wait()


def main() -> int:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="frontend paths, e.g. /config/entities")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "v2g-screenshots",
        help="directory for the PNG files",
    )
    parser.add_argument("--wait", type=float, default=6, help="seconds to let each page render")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(shoot(args.paths, args.out, args.wait, args.width, args.height))
    except (OnboardError, aiohttp.ClientError) as err:
        print(f"is ./scripts/develop running? {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
