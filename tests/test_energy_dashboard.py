"""The Energy dashboard set up as the README says, seen in a real browser.

The EV is a battery system: energy in = *Energy charged*, energy out = *Energy discharged*, power =
the EV's *Battery power* (type *Standard*: positive while the EV gives energy back, as Home
Assistant expects of a battery). A simulated charger charges the EV for an hour while the recorder
compiles its statistics; the preferences are saved through the frontend's own websocket call
(`energy/save_prefs`, what the battery dialog sends), and Debian's Chromium opens the Energy
dashboard. What a user sees is read from the page: on *Now* the power flow shows the EV as a
battery being charged from the grid, and on *Electricity* today's energy went into the battery,
none out of it.

`V2G_ENERGY_SCREENSHOT=docs/energy-dashboard.png .venv/bin/python -m pytest
tests/test_energy_dashboard.py` also saves the *Now* view for the README (and the *Electricity*
view next to it, `-today` added to the name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from freezegun import freeze_time
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from playwright.async_api import Page, async_playwright
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.v2g.const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_CHARGER,
)

from .browser import launch, logged_in_page, login_tokens, onboarded
from .conftest import SITE_ENTRY_ID

# The house's own use, and the EV's charger (a big battery, so that it charges all along).
HOUSE_W = 400.0
CHARGE_W = 11_000.0
CAPACITY_KWH = 100.0
# The charging hour begins at noon local time, in a time zone chosen for it (see _time_zone).
LOCAL_START_HOUR = 12
# How long the page may take to draw (a wait, not a timed assert).
PAGE_TIMEOUT_MS = 90_000

# The parts of the page the README shows (the tabs and the cards, not the empty page below).
NOW_CLIP = {"x": 0, "y": 0, "width": 1280, "height": 560}
TODAY_CLIP = {"x": 0, "y": 0, "width": 1280, "height": 870}

# The README's steps, as the frontend's dialogs save them.
EV_BATTERY = {
    "type": "battery",
    "stat_energy_to": "sensor.garage_energy_charged",
    "stat_energy_from": "sensor.garage_energy_discharged",
    "power_config": {"stat_rate": "sensor.garage_ev_battery_power"},  # type "Standard"
}
GRID = {
    "type": "grid",
    "flow_from": [
        {
            "stat_energy_from": "sensor.grid_import",
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
        }
    ],
    "flow_to": [],
    "power": [{"power_config": {"stat_rate": "sensor.grid_power"}}],
    "cost_adjustment_day": 0,
}
PREFS = {"energy_sources": [GRID, EV_BATTERY], "device_consumption": []}

# The first element matching a selector anywhere in the page, shadow roots included.
DEEP = """
const deep = (root, selector) => {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const el of root.querySelectorAll("*")) {
    const inner = el.shadowRoot && deep(el.shadowRoot, selector);
    if (inner) return inner;
  }
  return null;
};
"""

# What the energy distribution card shows: the figures in its circles and its lines' kinds.
READ_DISTRIBUTION = f"""
(card) => {{
  {DEEP}
  const host = deep(document, card);
  const root = host && host.shadowRoot;
  if (!root || !root.querySelector(".battery-in")) return null;
  const text = (selector) => {{
    const el = root.querySelector(selector);
    return el ? el.textContent.trim() : null;
  }};
  return {{
    grid: text(".circle-container.grid .consumption"),
    home: text(".circle-container.home .circle"),
    batteryIn: text(".circle-container.battery .battery-in"),
    batteryOut: text(".circle-container.battery .battery-out"),
    batteryLabel: text(".circle-container.battery .label"),
    lines: Object.fromEntries(
      [...root.querySelectorAll(".lines path")].map((p) => [p.id, p.getAttribute("class").trim()])
    ),
  }};
}}
"""

# What the power graph of the Now view draws: each series' points (time in ms, kW).
READ_POWER = f"""
(card) => {{
  {DEEP}
  const host = deep(document, card);
  const chart = host && host.shadowRoot && host.shadowRoot.querySelector("ha-chart-base");
  if (!chart || !chart.data) return null;
  return chart.data.map((series) => ({{
    id: series.id,
    name: series.name,
    points: series.data.map((p) => (Array.isArray(p) ? p : p.value)),
  }}));
}}
"""

# Until a card shows energy or power going into the battery.
DISTRIBUTION_DRAWN = f"""
(card) => {{
  const seen = ({READ_DISTRIBUTION})(card);
  return !!seen && /[1-9]/.test(seen.batteryIn);
}}
"""
POWER_DRAWN = f"""
(card) => {{
  const seen = ({READ_POWER})(card);
  const battery = seen && seen.find((s) => s.id === "battery-negative");
  return !!battery && battery.points.some(([, kw]) => kw < 0);
}}
"""

CONNECTED = """
() => {
  const app = document.querySelector("home-assistant");
  return !!(app && app.hass && app.hass.connected && app.hass.user);
}
"""

# Save as the dialogs do; read back what was stored and what the settings page would warn about.
SAVE_PREFS = """
async (prefs) => {
  const hass = document.querySelector("home-assistant").hass;
  await hass.callWS({ type: "energy/save_prefs", ...prefs });
  return {
    prefs: await hass.callWS({ type: "energy/get_prefs" }),
    validation: await hass.callWS({ type: "energy/validate" }),
  };
}
"""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: object, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant does (the Energy dashboard reads it)."""


def _time_zone(start: datetime) -> str:
    """The fixed-offset time zone in which `start`, a whole UTC hour, is LOCAL_START_HOUR o'clock.

    So every run sees the same local day whatever the hour it runs at: the charging hour and the
    browser's now are today, long before midnight, and long after the simulated EV came home
    (it leaves at 07:30). `Etc/GMT-9` is nine hours ahead of UTC (POSIX signs).
    """
    offset = (LOCAL_START_HOUR - start.hour + 11) % 24 - 11  # hours ahead of UTC, -11..12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def _set_grid(hass: HomeAssistant, import_kwh: float) -> None:
    """The house's meter: what the grid supplies now (the house and the EV), and in all."""
    ev_state = hass.states.get("sensor.garage_power")
    ev_w = float(ev_state.state) if ev_state is not None else 0.0
    hass.states.async_set(
        "sensor.grid_power",
        str(round(HOUSE_W + ev_w)),
        {
            "friendly_name": "Grid power",
            "device_class": "power",
            "state_class": "measurement",
            "unit_of_measurement": "W",
        },
    )
    hass.states.async_set(
        "sensor.grid_import",
        str(round(import_kwh, 3)),
        {
            "friendly_name": "Grid import",
            "device_class": "energy",
            "state_class": "total_increasing",
            "unit_of_measurement": "kWh",
        },
    )


def _charged(hass: HomeAssistant) -> float:
    state = hass.states.get("sensor.garage_energy_charged")
    assert state is not None
    return float(state.state)


async def _charge_for_an_hour(hass: HomeAssistant, start: datetime) -> float:
    """Charge the EV from `start` for an hour, in frozen time; compile the recorder's statistics.

    Returns the energy the grid gave the EV in that hour.
    """
    with freeze_time(start) as frozen:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Home",
            version=2,
            minor_version=1,
            data={},
            options={**DEFAULT_OPTIONS, "load_source": "constant"},
            entry_id=SITE_ENTRY_ID,
            subentries_data=[
                ConfigSubentryData(
                    data={
                        CONF_CHARGER_KIND: "simulated",
                        "name": "Garage",
                        CONF_MAX_CHARGE_POWER_W: CHARGE_W,
                        CONF_MAX_DISCHARGE_POWER_W: CHARGE_W,
                        CONF_CAPACITY_KWH: CAPACITY_KWH,
                    },
                    subentry_type=SUBENTRY_CHARGER,
                    title="Garage",
                    unique_id="simulated_garage",
                )
            ],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": "select.garage_mode", "option": "charge_now"},
            blocking=True,
        )
        await hass.async_block_till_done()
        first = _charged(hass)
        house_kwh = 0.0
        _set_grid(hass, 0.0)
        # Every five minutes, and a last time a second before the hour ends.
        steps = [timedelta(minutes=5)] * 11 + [timedelta(minutes=4, seconds=59)]
        for step in steps:
            frozen.tick(step)
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            house_kwh += HOUSE_W * step.total_seconds() / 3_600_000
            _set_grid(hass, house_kwh + _charged(hass) - first)
        charged = _charged(hass) - first
        # A little after the hour, the hour's twelve 5-minute periods are compiled, as the
        # recorder's own 5-minute timer would (the test recorder has it off); the last, hh:55,
        # also sums up the hour.
        frozen.tick(timedelta(seconds=11))
        async_fire_time_changed(hass)
        await async_wait_recording_done(hass)
        for period in range(12):
            do_adhoc_statistics(hass, start=start + timedelta(minutes=5 * period))
            await async_wait_recording_done(hass)
    return charged


@dataclass
class Seen:
    """What the browser showed."""

    saved: dict[str, Any] = field(default_factory=dict)
    now: list[dict[str, Any]] = field(default_factory=list)
    today: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def _read(page: Page, card: str, drawn: str, read: str, errors: list[str]) -> Any:
    """What a card of the dashboard shows, once it shows the battery."""
    try:
        await page.wait_for_function(drawn, arg=card, timeout=PAGE_TIMEOUT_MS)
    except Exception as err:
        raise AssertionError(f"{card} did not draw the battery; page errors: {errors}") from err
    return await page.evaluate(read, card)


async def _browse(base: str, tokens: dict[str, Any], time_zone: str) -> Seen:
    """Save the Energy preferences as the dialogs do, then open the dashboard's two views."""
    seen = Seen()
    save = os.environ.get("V2G_ENERGY_SCREENSHOT")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await logged_in_page(
                browser,
                tokens,
                seen.errors,
                viewport={"width": 1280, "height": 1100},
                timezone_id=time_zone,
                reduced_motion="reduce",  # charts drawn at once, without animation
            )
            await page.goto(f"{base}/energy")
            await page.wait_for_function(CONNECTED, timeout=PAGE_TIMEOUT_MS)
            seen.saved = await page.evaluate(SAVE_PREFS, PREFS)

            await page.goto(f"{base}/energy/now")
            seen.now = await _read(
                page, "hui-power-sources-graph-card", POWER_DRAWN, READ_POWER, seen.errors
            )
            if save:
                path = Path(save)
                path.parent.mkdir(parents=True, exist_ok=True)
                await page.wait_for_timeout(500)  # the chart paints after its data is set
                await page.screenshot(path=path, clip=NOW_CLIP)
            await page.goto(f"{base}/energy/electricity")
            seen.today = await _read(
                page,
                "hui-energy-distribution-card",
                DISTRIBUTION_DRAWN,
                READ_DISTRIBUTION,
                seen.errors,
            )
            if save:
                await page.wait_for_timeout(500)
                await page.screenshot(path=path.with_stem(f"{path.stem}-today"), clip=TODAY_CLIP)
        finally:
            await browser.close()
    return seen


def _kwh(text: str) -> float:
    """'11.4 kWh' -> 11.4."""
    number, unit = text.split()
    assert unit == "kWh", text
    return float(number)


async def test_energy_dashboard_shows_the_ev_charging(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_admin_user: MockUser,
    aiohttp_client: ClientSessionGenerator,
    socket_enabled: None,
) -> None:
    """Set up as the README says, a charging EV is a battery being charged, never a source."""
    hass_storage["onboarding"] = onboarded()
    # The hour before the previous one. A recorder starting on a new database writes the 5-minute
    # period before the one it starts in as compiled, and never compiles it. It started a moment
    # ago (this test's setup): in the first five minutes of an hour, that period is the previous
    # hour's last, hh:55, whose compiling sums up the hour, and the previous hour would get no
    # hourly statistics at all. The hour before ended 50 minutes and more before that period.
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    time_zone = _time_zone(start)
    assert start.astimezone(ZoneInfo(time_zone)).hour == LOCAL_START_HOUR
    await hass.config.async_set_time_zone(time_zone)
    assert await async_setup_component(hass, "energy", {})

    charged = await _charge_for_an_hour(hass, start)
    assert charged == pytest.approx(CHARGE_W / 1000, rel=0.05)  # an hour at full power
    # The recorder has the hour (what the Electricity view reads).
    stats = await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        None,
        {"sensor.garage_energy_charged"},
        "hour",
        None,
        {"change"},
    )
    assert stats["sensor.garage_energy_charged"][0]["change"] == pytest.approx(charged)

    # Back in real time, the EV still charges (Charge now, far from full).
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    ev_power = hass.states.get("sensor.garage_power")
    battery_power = hass.states.get("sensor.garage_ev_battery_power")
    assert ev_power is not None
    assert battery_power is not None
    assert float(ev_power.state) == pytest.approx(CHARGE_W)
    assert float(battery_power.state) == pytest.approx(-CHARGE_W)  # the battery convention
    _set_grid(hass, 0.0)

    client = await aiohttp_client(hass.http.app)
    base = f"http://127.0.0.1:{client.port}"
    seen = await _browse(base, await login_tokens(hass, hass_admin_user, base), time_zone)

    # The preferences were accepted as the frontend's dialog sends them; the power is the EV's
    # own battery power sensor (type Standard), used as it is.
    battery = next(s for s in seen.saved["prefs"]["energy_sources"] if s["type"] == "battery")
    assert battery["stat_energy_to"] == "sensor.garage_energy_charged"
    assert battery["stat_energy_from"] == "sensor.garage_energy_discharged"
    assert battery["stat_rate"] == "sensor.garage_ev_battery_power"
    # Home Assistant's own checks (shown on the Energy settings page) find nothing wrong.
    assert seen.saved["validation"]["energy_sources"] == [[], []]

    # Now: the power graph stacks the sources of the house's power; the EV, charging, is a
    # battery below zero (taking power), never above it (supplying the house), and what the
    # house uses is its own 400 W, not the EV's charging added or taken away.
    series = {line["id"]: line["points"] for line in seen.now}
    assert [line["name"] for line in seen.now if line["id"].startswith("battery")] == [
        "Battery",
        "Battery",
    ]
    assert max(kw for _, kw in series["battery"]) == 0
    assert min(kw for _, kw in series["battery-negative"]) == pytest.approx(-CHARGE_W / 1000)
    last = series["usage"][-1]
    assert series["battery-negative"][-1] == [last[0], pytest.approx(-CHARGE_W / 1000)]
    assert series["grid"][-1] == [last[0], pytest.approx((HOUSE_W + CHARGE_W) / 1000)]
    assert last[1] == pytest.approx(HOUSE_W / 1000)
    # The hour of charging, from the recorder: the battery took power all along, the house's
    # use stayed its own.
    hour = [kw for _, kw in series["battery-negative"] if kw < 0]
    assert len(hour) >= 12
    assert all(kw == pytest.approx(-CHARGE_W / 1000, rel=0.05) for kw in hour)

    # Energy, today: the hour's energy went from the grid into the battery, none came out of it,
    # and the house used its own 0.4 kWh.
    today = seen.today
    assert today["batteryLabel"] == "Battery"
    assert _kwh(today["batteryIn"]) == pytest.approx(charged, abs=0.5)
    assert _kwh(today["batteryOut"]) == 0
    assert _kwh(today["grid"]) == pytest.approx(charged + HOUSE_W / 1000, abs=0.05)
    assert _kwh(today["home"]) == pytest.approx(HOUSE_W / 1000, abs=0.05)
    # The line between the grid and the battery is drawn as energy from the grid (not to it).
    assert today["lines"]["battery-grid"] == "battery-from-grid"
