"""The plan card, as a user sees it: in a real Home Assistant frontend in a headless Chromium.

Home Assistant (the `hass` fixture; the integration depends on the frontend) serves the frontend on
127.0.0.1; Debian's Chromium, driven by Playwright, is logged in with tokens in localStorage and
opens a dashboard with two plan cards: one charger (Garage, vehicle-to-grid on) and the whole site
(Garage and Carport). The test reads what the card drew (SVG shapes and their data, the sentence),
checks a few pixels of the screenshot, and looks again in a dark theme.

`V2G_CARD_SCREENSHOT=docs/plan-card.png .venv/bin/python -m pytest tests/test_card.py` also saves
the single-charger card for the README (and the site card next to it, `-site` added to the name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import io
import itertools
import os
from pathlib import Path
from typing import Any

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from PIL import Image
from playwright.async_api import Locator, Page, async_playwright, expect
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.v2g.card import CARD_URL
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

TIME_ZONE = "Europe/Copenhagen"
# How long the page may take to draw the cards (a wait, not a timed assert).
PAGE_TIMEOUT_MS = 90_000

# Day-ahead prices from the start of the current hour, one per hour for 24 hours (after that the
# integration estimates them): dear now, cheap from four hours on.
HOURLY_PRICES = (
    [0.45, 0.40, 0.31, 0.28]
    + [0.08] * 4
    + [0.22, 0.26, 0.26, 0.26]
    + [0.30] * 4
    + [0.34] * 4
    + [0.29] * 4
)
EXPORT_FACTOR = 0.8

OPTIONS = {
    **DEFAULT_OPTIONS,
    "price_source": "entity",
    "price_entity": "sensor.day_ahead_price",
    "export_price_source": "derived",
    "export_price_factor": EXPORT_FACTOR,
    "load_source": "constant",
    "load_constant_w": 400,
}

DASHBOARD = {
    "title": "Energy",
    "views": [
        {
            "title": "Plan",
            "path": "plan",
            "cards": [
                {"type": "custom:v2g-plan-card", "entity": "sensor.garage_plan"},
                {
                    "type": "custom:v2g-plan-card",
                    "title": "Site",
                    "entities": ["sensor.garage_plan", "sensor.carport_plan"],
                    "hours": 24,
                },
            ],
        }
    ],
}


def _charger(name: str, charge_w: float, discharge_w: float, capacity_kwh: float) -> Any:
    return ConfigSubentryData(
        data={
            CONF_CHARGER_KIND: "simulated",
            "name": name,
            CONF_MAX_CHARGE_POWER_W: charge_w,
            CONF_MAX_DISCHARGE_POWER_W: discharge_w,
            CONF_CAPACITY_KWH: capacity_kwh,
        },
        subentry_type=SUBENTRY_CHARGER,
        title=name,
        unique_id=f"simulated_{name.lower()}",
    )


async def _leave_in(hass: HomeAssistant, entry: MockConfigEntry, name: str, hours: int) -> None:
    """A one-off departure, so that the plan does not depend on the time of day."""
    device = dr.async_get(hass).async_get_device(
        identifiers={(DOMAIN, f"simulated_{name}_charger")}
    )
    assert device is not None
    departure = (dt_util.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)
    await hass.services.async_call(
        DOMAIN,
        "set_departure",
        {"config_entry": entry.entry_id, "device_id": device.id, "departure": departure},
        blocking=True,
    )


@pytest.fixture
async def site(hass: HomeAssistant, hass_storage: dict[str, Any]) -> MockConfigEntry:
    """A site with two simulated chargers and day-ahead prices; Garage may discharge.

    Onboarding is done and the default dashboard holds the cards (storage mode), as if the user
    had added them from the card picker.
    """
    hass_storage["onboarding"] = onboarded()
    hass_storage["lovelace"] = {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace",
        "data": {"config": DASHBOARD},
    }
    await hass.config.async_set_time_zone(TIME_ZONE)
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    prices = [
        {
            "start": (hour + timedelta(hours=i)).isoformat(),
            "end": (hour + timedelta(hours=i + 1)).isoformat(),
            "price": price,
        }
        for i, price in enumerate(HOURLY_PRICES)
    ]
    hass.states.async_set(
        "sensor.day_ahead_price",
        str(HOURLY_PRICES[0]),
        {"unit_of_measurement": "EUR/kWh", "prices": prices},
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        version=2,
        minor_version=1,
        data={},
        options=OPTIONS,
        entry_id=SITE_ENTRY_ID,
        subentries_data=[
            _charger("Garage", 11_000.0, 11_000.0, 60.0),
            _charger("Carport", 7_400.0, 0.0, 40.0),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch",
        "turn_on",
        {"entity_id": "switch.garage_allow_vehicle_to_grid"},
        blocking=True,
    )
    # Both leave after the cheap hours, whatever the time of day the test runs.
    await _leave_in(hass, entry, "garage", 12)
    await _leave_in(hass, entry, "carport", 10)
    await hass.async_block_till_done()
    return entry


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


# --- what the sentence must say, from the plan sensor's schedule ---------------------------------


@dataclass
class Run:
    """Consecutive slots of the schedule that charge (or discharge)."""

    first: int
    last: int


def _next_run(schedule: list[dict[str, Any]], start: int, test: Callable[[int], bool]) -> Run:
    first = next(i for i in range(start, len(schedule)) if test(schedule[i]["power_w"]))
    last = first
    while last + 1 < len(schedule) and test(schedule[last + 1]["power_w"]):
        last += 1
    return Run(first, last)


def _clock(when: datetime) -> str:
    """A time as the card shows it in English (Britain): 24-hour clock, the user's time zone."""
    return when.strftime("%H:%M")


def _start(schedule: list[dict[str, Any]], index: int) -> str:
    return _clock(datetime.fromisoformat(schedule[index]["start"]))


def _end(schedule: list[dict[str, Any]], index: int) -> str:
    if index + 1 < len(schedule):
        return _start(schedule, index + 1)
    return _clock(datetime.fromisoformat(schedule[index]["start"]) + timedelta(minutes=15))


def _span(schedule: list[dict[str, Any]], run: Run) -> str:
    return f"{_start(schedule, run.first)}\u2013{_end(schedule, run.last)}"


def _mean_price(schedule: list[dict[str, Any]], run: Run) -> float:
    """The energy-weighted import price over a run."""
    slots = schedule[run.first : run.last + 1]
    energy = [abs(p["power_w"]) for p in slots]
    return sum(e * p["import_price"] for e, p in zip(energy, slots, strict=True)) / sum(energy)


def _kw(power_w: float) -> str:
    return f"{abs(power_w) / 1000:.1f}".removesuffix(".0") + " kW"


def _discharging_sentence(attributes: dict[str, Any]) -> str:
    schedule = attributes["schedule"]
    out = _next_run(schedule, 0, lambda w: w < -1)
    back = _next_run(schedule, out.last + 1, lambda w: w > 1)
    now = schedule[0]
    return (
        f"Discharging at {_kw(attributes['setpoint_w'])} until {_end(schedule, out.last)}: "
        f"energy is worth €{now['import_price']:.2f}/kWh now "
        f"(€{now['export_price']:.2f}/kWh exported); charging again {_span(schedule, back)} "
        f"at €{_mean_price(schedule, back):.2f}/kWh."
    )


def _waiting_sentence(attributes: dict[str, Any]) -> str:
    schedule = attributes["schedule"]
    run = _next_run(schedule, 0, lambda w: w > 1)
    cheap = _mean_price(schedule, run)
    saving = schedule[0]["import_price"] - cheap
    return f"Waiting: {_span(schedule, run)} costs €{cheap:.2f}/kWh, {saving:.2f} less than now."


# --- reading the page -------------------------------------------------------------------------

# Everything the test reads from one card's shadow DOM, in one round trip.
READ_CARD = """
(card) => {
  const number = (el, name) => (el ? Number(el.getAttribute(name)) : null);
  const data = (el, key) => (el.dataset[key] === undefined ? null : Number(el.dataset[key]));
  const shapes = (panel, selector) => [...panel.querySelectorAll(selector)].map((el) => ({
    x: number(el, "x"), width: number(el, "width"), height: number(el, "height"),
    price: data(el, "price"), power: data(el, "power"),
    estimated: el.classList.contains("estimated"),
    box: el.getBoundingClientRect().toJSON(),
    fill: getComputedStyle(el).fill,
  }));
  const points = (el) => (el ? el.getAttribute("points").trim().split(/\\s+/) : [])
    .map((point) => point.split(",").map(Number));
  return [...card.shadowRoot.querySelectorAll("section.panel")].map((panel) => {
    const one = (selector) => panel.querySelector(selector);
    const svg = one("svg.chart");
    return {
      kind: panel.classList.contains("site") ? "site" : "ev",
      entity: panel.dataset.entity,
      state: panel.dataset.state || null,
      stateText: one(".state").textContent,
      why: one(".why").textContent,
      labelledBy: svg && svg.getAttribute("aria-labelledby"),
      title: svg && svg.querySelector("title").textContent,
      imports: shapes(panel, "rect.bar.import"),
      exports: shapes(panel, "rect.bar.export"),
      charges: shapes(panel, "rect.bar.charge"),
      discharges: shapes(panel, "rect.bar.discharge"),
      gridImports: shapes(panel, "rect.bar.grid-import"),
      shades: shapes(panel, "rect.shade"),
      socPoints: points(one("polyline.soc")),
      departureX: number(one("line.marker.departure"), "x1"),
      nowX: number(one("line.marker.now"), "x1"),
      targetY: number(one("line.level.target"), "y1"),
      targetSoc: one("line.level.target") && Number(one("line.level.target").dataset.soc),
      reserveY: number(one("line.level.reserve"), "y1"),
      legend: [...panel.querySelectorAll(".legend li")].map((li) => li.textContent),
    };
  });
}
"""

# What the card picker knows about the card, and what it would add.
READ_PICKER = """
() => {
  const card = window.customCards.find((c) => c.type === "v2g-plan-card");
  const cls = customElements.get("v2g-plan-card");
  const hass = document.querySelector("home-assistant").hass;
  const form = cls.getConfigForm();
  return {
    card,
    stub: cls.getStubConfig(hass),
    fields: form.schema.map((s) => s.name),
    labels: form.schema.map((s) => form.computeLabel(s)),
  };
}
"""


@dataclass
class Seen:
    """What the browser showed."""

    single: list[dict[str, Any]] = field(default_factory=list)
    whole_site: list[dict[str, Any]] = field(default_factory=list)
    dark: list[dict[str, Any]] = field(default_factory=list)
    picker: dict[str, Any] = field(default_factory=dict)
    shot: Image.Image | None = None
    dark_shot: Image.Image | None = None
    errors: list[str] = field(default_factory=list)
    overridden: str = ""
    """The single card's sentence with a grid operator limit and a frequency response."""


OVERRIDDEN = """
(card) => {
  const hass = card.hass;
  const id = card._config.entity;
  const old = hass.states[id];
  const state = {
    ...old,
    attributes: {
      ...old.attributes,
      limited_by_operator: true,
      operator_limit: { source: "input_boolean.dimmed", charger_w: 4200 },
      frequency_response_w: -1500,
      frequency_response: "software",
    },
  };
  card.hass = { ...hass, states: { ...hass.states, [id]: state } };
  return card.shadowRoot.querySelector("section.panel .why").textContent;
}
"""


async def _screenshot(target: Page | Locator, path: Path | None = None) -> Image.Image:
    png = await target.screenshot(path=path)
    return Image.open(io.BytesIO(png)).convert("RGB")


async def _open_dashboard(page: Page, base: str, errors: list[str]) -> tuple[Locator, Locator]:
    await page.goto(f"{base}/lovelace/plan")
    cards = page.locator("v2g-plan-card")
    try:
        await cards.nth(0).locator("section.ev svg.chart").wait_for(timeout=PAGE_TIMEOUT_MS)
        # The site card: the site, then two EVs.
        await cards.nth(1).locator("section.ev svg.chart").nth(1).wait_for(timeout=PAGE_TIMEOUT_MS)
        # The state in words, once the integration's translations have loaded.
        await expect(cards.nth(0).locator(".state")).to_have_text(
            "Discharging (vehicle-to-grid)", timeout=PAGE_TIMEOUT_MS
        )
    except Exception as err:
        raise AssertionError(f"the cards did not draw; page errors: {errors}") from err
    return cards.nth(0), cards.nth(1)


async def _browse(base: str, tokens: dict[str, Any]) -> Seen:
    """Open the dashboard in Chromium, light then dark, and read the cards."""
    seen = Seen()
    save = os.environ.get("V2G_CARD_SCREENSHOT")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await logged_in_page(
                browser,
                tokens,
                seen.errors,
                viewport={"width": 1280, "height": 1500},
                timezone_id=TIME_ZONE,
            )
            single, whole_site = await _open_dashboard(page, base, seen.errors)
            seen.shot = await _screenshot(page)
            if save:
                path = Path(save)
                path.parent.mkdir(parents=True, exist_ok=True)
                await single.screenshot(path=path)
                await whole_site.screenshot(path=path.with_stem(f"{path.stem}-site"))
            seen.single = await single.evaluate(READ_CARD)
            seen.whole_site = await whole_site.evaluate(READ_CARD)
            seen.picker = await page.evaluate(READ_PICKER)

            # The same dashboard in a dark theme (Home Assistant follows the system's by default).
            await page.emulate_media(color_scheme="dark")
            await page.wait_for_function(
                "() => getComputedStyle(document.body).backgroundColor !== 'rgb(250, 250, 250)'"
            )
            seen.dark = await single.evaluate(READ_CARD)
            seen.dark_shot = await _screenshot(page)
            seen.overridden = await single.evaluate(OVERRIDDEN)
        finally:
            await browser.close()
    return seen


def _y_at(points: list[list[float]], x: float) -> float:
    """The SoC path's y at x (straight lines between its points)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError(f"the SoC path does not reach x={x}")


def _rgb(css: str) -> tuple[int, int, int]:
    """'rgb(96, 125, 139)' -> (96, 125, 139)."""
    r, g, b = (int(float(v)) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return r, g, b


def _pixel(image: Image.Image, box: dict[str, float], dy: float | None = None) -> Any:
    """The screenshot's pixel in the middle of a box (or `dy` below its top)."""
    y = box["y"] + (box["height"] / 2 if dy is None else dy)
    return image.getpixel((int(box["x"] + box["width"] / 2), int(y)))


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=False))


# --- the test -------------------------------------------------------------------------------------


async def test_plan_card_in_a_browser(
    hass: HomeAssistant,
    site: MockConfigEntry,
    hass_admin_user: MockUser,
    aiohttp_client: ClientSessionGenerator,
    socket_enabled: None,
) -> None:
    """Garage discharges now and recharges in the cheap hours; the card shows it, and why."""
    plan = hass.states.get("sensor.garage_plan")
    assert plan is not None
    assert plan.state == "discharging"  # dear now, cheap in four hours: vehicle-to-grid pays
    attributes = dict(plan.attributes)
    schedule = attributes["schedule"]
    carport = hass.states.get("sensor.carport_plan")
    assert carport is not None
    assert carport.state == "waiting"

    client = await aiohttp_client(hass.http.app)
    base = f"http://127.0.0.1:{client.port}"
    seen = await _browse(base, await login_tokens(hass, hass_admin_user, base))
    assert not [error for error in seen.errors if "v2g-plan-card" in error]

    # --- the card picker offers it, with a first plan sensor and an editor form ---
    assert seen.picker["card"]["name"] == "V2G plan"
    assert seen.picker["card"]["preview"] is True
    assert seen.picker["stub"] == {"entity": "sensor.carport_plan"}
    assert seen.picker["fields"] == ["entity", "entities", "title", "hours", "show_site"]
    assert all(seen.picker["labels"])

    # --- one charger: Garage ---
    assert len(seen.single) == 1
    ev = seen.single[0]
    assert ev["entity"] == "sensor.garage_plan"
    assert ev["state"] == "discharging"
    assert ev["stateText"] == "Discharging (vehicle-to-grid)"  # the translated state
    assert ev["why"] == _discharging_sentence(attributes)

    # One price bar per slot, with the sensor's prices, taller where dearer.
    imports = ev["imports"]
    assert [bar["price"] for bar in imports] == [p["import_price"] for p in schedule]
    for a in imports:
        for b in imports:
            if a["price"] < b["price"] - 1e-9:
                assert a["height"] < b["height"], (a, b)
            elif abs(a["price"] - b["price"]) < 1e-9:
                assert a["height"] == pytest.approx(b["height"], abs=0.2)
    dearest = max(imports, key=lambda bar: bar["price"])
    cheapest = min(imports, key=lambda bar: bar["price"])
    ratio = cheapest["price"] / dearest["price"]
    assert cheapest["height"] / dearest["height"] == pytest.approx(ratio, rel=0.05)
    # Export (80 % of the spot price) differs from import: its bars are drawn too.
    assert [bar["price"] for bar in ev["exports"]] == [p["export_price"] for p in schedule]
    assert ev["exports"][0]["price"] == pytest.approx(HOURLY_PRICES[0] * EXPORT_FACTOR)

    # Slots whose price is an estimate (after the day-ahead prices end) are shaded.
    estimated = [p["estimated"] for p in schedule]
    assert [bar["estimated"] for bar in imports] == estimated
    assert sum(estimated) == attributes["estimated_price_slots"] > 0
    assert len(ev["shades"]) == 1
    assert ev["shades"][0]["x"] == pytest.approx(imports[estimated.index(True)]["x"], abs=1)

    # The planned power: discharging now, charging in the cheap hours.
    planned = sorted(p["power_w"] for p in schedule if abs(p["power_w"]) > 1)
    assert sorted(bar["power"] for bar in ev["charges"] + ev["discharges"]) == planned
    assert ev["discharges"][0]["x"] == pytest.approx(imports[0]["x"], abs=1)
    assert all(bar["power"] > 0 for bar in ev["charges"])

    # The SoC path reaches the target by the departure marker and never dips below the reserve
    # (y grows downwards).
    target = hass.states.get("number.garage_ev_target_state_of_charge")
    assert ev["targetSoc"] == float(target.state)
    assert ev["departureX"] is not None
    assert _y_at(ev["socPoints"], ev["departureX"]) <= ev["targetY"] + 0.5
    assert max(y for _, y in ev["socPoints"]) <= ev["reserveY"] + 0.5
    assert ev["nowX"] == pytest.approx(imports[0]["x"], abs=2)
    assert ev["legend"] == [
        "Import price",
        "Export price",
        "Estimated price",
        "Charging",
        "Discharging",
        "State of charge",
        "Target",
        "Reserve",
        "Departure",
        "Now",
    ]
    # The chart is described by its title and the sentence, for screen readers.
    assert ev["labelledBy"] == "title-0 why-0"
    assert "Garage" in ev["title"]

    # --- the pixels: bars in their colours, estimated slots shaded ---
    shot = seen.shot
    assert shot is not None

    def clear_of_markers(bar: dict[str, Any]) -> bool:
        middle = bar["x"] + bar["width"] / 2
        return all(abs(middle - x) > 6 for x in (ev["nowX"], ev["departureX"]))

    dear = max(
        (bar for bar in imports if not bar["estimated"] and clear_of_markers(bar)),
        key=lambda bar: bar["price"],
    )
    pixel = _pixel(shot, dear["box"], dy=2)  # near its top: above the export bar in front of it
    assert _close(pixel, _rgb(dear["fill"])), (pixel, dear["fill"])
    discharge = max(
        (bar for bar in ev["discharges"] if clear_of_markers(bar)), key=lambda b: b["width"]
    )
    pixel = _pixel(shot, discharge["box"])
    assert _close(pixel, _rgb(discharge["fill"])), (pixel, discharge["fill"])
    # Above a cheap bar: the card's background where the price is known, grey where estimated.
    known = next(bar for bar in imports if bar["price"] == 0.08 and not bar["estimated"])
    guessed = next(bar for bar in imports if bar["price"] == 0.08 and bar["estimated"])
    top = ev["shades"][0]["box"]["y"] + 3
    background = _pixel(shot, {**known["box"], "y": top, "height": 0})
    shaded = _pixel(shot, {**guessed["box"], "y": top, "height": 0})
    assert min(background) > 230, background  # a light card
    assert sum(background) > sum(shaded) + 15, (background, shaded)

    # --- dark theme: a dark card, the same drawing ---
    assert seen.dark_shot is not None
    assert seen.dark[0]["why"] == ev["why"]
    # Overrides say so: the grid operator's limit and the frequency response.
    assert seen.overridden == (
        f"{ev['why']} Limited by the grid operator to 4.2 kW."
        " Frequency response: 1.5 kW less from the grid (low grid frequency)."
    )
    assert len(seen.dark[0]["imports"]) == len(imports)
    dark_background = _pixel(seen.dark_shot, {**known["box"], "y": top, "height": 0})
    assert max(dark_background) < 80, dark_background

    # --- the whole site: its grid plan with the prices, then each EV ---
    assert [p["kind"] for p in seen.whole_site] == ["site", "ev", "ev"]
    site_panel, garage, carport_panel = seen.whole_site
    assert site_panel["entity"] == "sensor.home_plan"
    assert site_panel["why"].startswith("2 EVs planned together")
    assert site_panel["gridImports"]
    assert [garage["entity"], carport_panel["entity"]] == [
        "sensor.garage_plan",
        "sensor.carport_plan",
    ]
    # The prices are drawn once, for the site; `hours: 24` draws a day from now.
    first = datetime.fromisoformat(schedule[0]["start"])
    day = [p for p in schedule if datetime.fromisoformat(p["start"]) < first + timedelta(hours=24)]
    assert len(site_panel["imports"]) == len(day)
    assert not garage["imports"]
    assert not carport_panel["imports"]
    assert garage["why"] == ev["why"]
    assert carport_panel["why"] == _waiting_sentence(dict(carport.attributes))
    assert not carport_panel["discharges"]  # a charge-only charger
