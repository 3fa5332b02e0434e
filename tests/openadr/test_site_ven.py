"""A site with an OpenADR 3 VEN against a real VTN on 127.0.0.1: events change the plan."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.v2g.const import DEFAULT_OPTIONS, DOMAIN
from custom_components.v2g.openadr_ven import ISSUE_VTN_UNAVAILABLE, POLL_INTERVAL
from simulator.openadr_vtn import OpenAdrVtn

from .conftest import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+00:00")

SETTLE = timedelta(seconds=15)
FULL_W = 10_600.0  # 11 kW less the forecast 400 W house load
PRICES = {
    **DEFAULT_OPTIONS,
    "grid_import_limit_w": 11_000,
    "price_source": "fixed",
    "price_fixed_per_kwh": 0.25,
    "export_price_source": "fixed",
    "export_price_fixed_per_kwh": 0.05,
}


def _z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _ven_options(vtn: OpenAdrVtn, **changes: Any) -> dict[str, Any]:
    return {
        "openadr_vtn_url": vtn.url,
        "openadr_ven_name": "garage",
        "openadr_client_id": CLIENT_ID,
        "openadr_client_secret": CLIENT_SECRET,
        "openadr_programs": ["dynamic prices"],
        **changes,
    }


def _program(vtn: OpenAdrVtn) -> dict[str, Any]:
    return vtn.add_program(
        "dynamic prices",
        payloadDescriptors=[
            {"payloadType": "PRICE", "units": "KWH", "currency": "EUR"},
            {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
        ],
    )


def _event(
    vtn: OpenAdrVtn,
    program: dict[str, Any],
    kind: str,
    value: float,
    length: timedelta,
) -> dict[str, Any]:
    """An event for this VEN from now for `length`."""
    return vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": kind, "values": [value]}]}],
        intervalPeriod={
            "start": _z(dt_util.utcnow()),
            "duration": f"PT{round(length.total_seconds())}S",
        },
        targets=[{"type": "VEN_NAME", "values": ["garage"]}],
    )


async def _setup(
    hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any] | None = None
) -> None:
    hass.config.currency = "EUR"
    await hass.config.async_set_time_zone("UTC")
    entry.add_to_hass(hass)
    if options is not None:
        hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _settle(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A few seconds pass: a re-plan the refresh debouncer held back (10 s cooldown) runs."""
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(SETTLE)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _wait(hass: HomeAssistant, freezer: FrozenDateTimeFactory, step: timedelta) -> None:
    """Time passes: the site updates and the VEN polls when due."""
    freezer.tick(step)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass, freezer)


async def _poll(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The VEN polls now (as it does every 5 minutes), and the site re-plans."""
    ven = entry.runtime_data.coordinator.ven
    assert ven is not None
    await ven.async_poll()
    await _settle(hass, freezer)


def _power_w(hass: HomeAssistant) -> float:
    return float(hass.states.get("sensor.garage_power").state)


def _plan(hass: HomeAssistant) -> dict[str, Any]:
    return dict(hass.states.get("sensor.garage_plan").attributes)


def _issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{ISSUE_VTN_UNAVAILABLE}.{entry.entry_id}")


async def test_events_change_the_plan(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    vtn: OpenAdrVtn,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    program = _program(vtn)
    await _setup(hass, mock_config_entry)
    # Without a VTN the EV charges at once at the flat price.
    assert _power_w(hass) == FULL_W
    assert "openadr" not in _plan(hass)["schedule"][0]

    # The site joins the VTN in its options.
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "openadr"}
    )
    assert result["step_id"] == "openadr"
    for wrong, error in (
        ({"openadr_vtn_url": "vtn.example"}, {"openadr_vtn_url": "invalid_url"}),
        ({"openadr_token_url": "token"}, {"openadr_token_url": "invalid_url"}),
        ({"openadr_ven_name": " "}, {"openadr_ven_name": "ven_name_required"}),
        ({"openadr_client_secret": ""}, {"openadr_client_secret": "credentials_incomplete"}),
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], _ven_options(vtn, **wrong)
        )
        assert result["errors"] == error
    result = await hass.config_entries.options.async_configure(result["flow_id"], _ven_options(vtn))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert vtn.token_requests == 1
    schedule = _plan(hass)["schedule"]
    assert not any(point["openadr"] for point in schedule)

    # An expensive evening: 0.80 for two hours. The EV waits it out and charges after.
    expensive = _event(vtn, program, "PRICE", 0.80, timedelta(hours=2))
    await _poll(hass, mock_config_entry, freezer)
    assert _power_w(hass) == 0.0
    schedule = _plan(hass)["schedule"]
    during = [p for p in schedule if p["start"] < "2026-01-15T20:30"]
    after = [p for p in schedule if p["start"] >= "2026-01-15T20:31"]
    assert {(p["import_price"], p["openadr"]) for p in during} == {(0.8, True)}
    assert all(p["power_w"] == 0 for p in during)
    assert {(p["import_price"], p["openadr"]) for p in after} == {(0.25, False)}
    assert sum(p["power_w"] for p in after) > 0

    # The VTN cancels it and asks for at most 5 kW at the connection for 15 minutes instead.
    vtn.remove_event(expensive)
    congestion = _event(vtn, program, "IMPORT_CAPACITY_LIMIT", 5, timedelta(minutes=15))
    await _poll(hass, mock_config_entry, freezer)
    assert _power_w(hass) == pytest.approx(5_000 - 400, abs=1)
    plan = _plan(hass)
    assert plan["operator_limit"] == {
        "source": f"OpenADR event {congestion['id']}",
        "site_import_w": 5000,
    }
    assert {p["import_price"] for p in plan["schedule"]} == {0.25}
    for _ in range(2):
        await _wait(hass, freezer, POLL_INTERVAL)
        assert _power_w(hass) == pytest.approx(4_600, abs=1)
    assert caplog.text.count("The grid operator limits the site") == 1
    assert vtn.reports == []

    # The event ends: full power again, and the energy of its interval reaches the VTN.
    await _wait(hass, freezer, POLL_INTERVAL - 2 * SETTLE)
    assert _power_w(hass) == FULL_W
    assert "operator_limit" not in _plan(hass)
    assert "The grid operator's limit ended" in caplog.text
    [report] = vtn.reports
    assert report["eventID"] == congestion["id"]
    assert report["clientName"] == "garage"
    assert report["payloadDescriptors"][0]["readingType"] == "DIRECT_READ"
    [interval] = report["resources"][0]["intervals"]
    # 4.6 kW for 15 minutes.
    assert interval["payloads"][0]["values"][0] == pytest.approx(4.6 * 0.25, abs=0.05)
    await _wait(hass, freezer, POLL_INTERVAL)
    assert len(vtn.reports) == 1

    # A limit above the fuse does not raise it.
    _event(vtn, program, "IMPORT_CAPACITY_LIMIT", 50, timedelta(hours=1))
    await _poll(hass, mock_config_entry, freezer)
    assert _plan(hass)["operator_limit"]["site_import_w"] == 50_000
    assert _power_w(hass) == FULL_W

    # Turned off in the options: no VEN, no VTN traffic.
    hass.config_entries.async_update_entry(mock_config_entry, options=dict(PRICES))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert mock_config_entry.runtime_data.coordinator.ven is None
    assert "operator_limit" not in _plan(hass)


async def test_a_well_paid_export_keeps_the_reserve(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    vtn: OpenAdrVtn,
    freezer: FrozenDateTimeFactory,
) -> None:
    """EXPORT_PRICE: the EV gives energy back while it pays, never below the driver's minimum."""
    program = vtn.add_program(
        "dynamic prices",
        payloadDescriptors=[
            {"payloadType": "PRICE", "units": "MWH", "currency": "EUR"},
            {"payloadType": "EXPORT_PRICE", "units": "MWH", "currency": "EUR"},
        ],
    )
    await _setup(hass, mock_config_entry, {**PRICES, **_ven_options(vtn)})
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.garage_ev_minimum_state_of_charge", "value": 35},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _power_w(hass) > 0
    # A peak hour: 1.40 EUR/kWh to import (too dear to charge and sell back), 1.50 to export.
    vtn.add_event(
        program,
        [
            {
                "id": 0,
                "payloads": [
                    {"type": "PRICE", "values": [1400]},
                    {"type": "EXPORT_PRICE", "values": [1500]},
                ],
            }
        ],
        intervalPeriod={"start": _z(dt_util.utcnow()), "duration": "PT1H"},
    )
    await _poll(hass, mock_config_entry, freezer)
    assert _power_w(hass) < 0
    schedule = _plan(hass)["schedule"]
    assert schedule[0]["export_price"] == 1.5
    assert schedule[0]["openadr"] is True
    # Down to the driver's minimum, not below.
    lowest = min(p["soc_pct"] for p in schedule)
    assert lowest >= 35 - 0.1
    assert lowest == pytest.approx(35, abs=1)
    assert sum(p["power_w"] for p in schedule if p["openadr"]) < 0
    # The VTN caps the site's export at 3 kW: the EV gives at most that plus the house's 400 W.
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "EXPORT_CAPACITY_LIMIT", "values": [3]}]}],
        intervalPeriod={"start": _z(dt_util.utcnow()), "duration": "PT1H"},
    )
    await _poll(hass, mock_config_entry, freezer)
    # (Which of the equally paid slots discharge is a tie: the EV gives now, at most the cap.)
    assert -3_400 - 1 <= _power_w(hass) < 0
    assert _plan(hass)["operator_limit"]["site_export_w"] == 3000
    assert min(p["power_w"] for p in _plan(hass)["schedule"]) >= -3_400


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A flat price, a feed-in, an 11 kW fuse; no VTN until a test sets one."""
    return dict(PRICES)


async def test_a_failing_vtn_loses_nothing(  # noqa: PLR0917 - fixtures
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    vtn: OpenAdrVtn,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    hass_client: ClientSessionGenerator,
) -> None:
    """Refused credentials, a VTN down, answering garbage, gone: a repair issue, nothing lost."""
    program = _program(vtn)
    _event(vtn, program, "PRICE", 0.80, timedelta(hours=2))
    await _setup(
        hass, mock_config_entry, {**PRICES, **_ven_options(vtn, openadr_client_secret="wrong")}
    )
    issue = _issue(hass, mock_config_entry)
    assert issue is not None
    assert issue.translation_key == ISSUE_VTN_UNAVAILABLE
    assert issue.translation_placeholders == {
        "vtn": vtn.url,
        "error": "token: HTTP 400 invalid_client",
    }
    assert "wrong" not in caplog.text
    # The site's own prices: the EV charges.
    assert _power_w(hass) == FULL_W

    # The right secret: the event is heard, the issue is gone.
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**PRICES, **_ven_options(vtn)}
    )
    await _settle(hass, freezer)
    assert _issue(hass, mock_config_entry) is None
    assert _power_w(hass) == 0.0

    # Down, garbage, gone: one issue, one log line, and the event still holds.
    caplog.clear()
    for failure in ("down", "garbage", "gone"):
        if failure == "gone":
            await vtn.stop()
        else:
            vtn.failure = failure
        await _wait(hass, freezer, POLL_INTERVAL)
        assert _issue(hass, mock_config_entry) is not None
        assert _power_w(hass) == 0.0
        assert all(p["openadr"] for p in _plan(hass)["schedule"][:4])
    assert caplog.text.count("is unavailable") == 1
    assert (
        "ClientConnectorError"
        in (_issue(hass, mock_config_entry).translation_placeholders or {})["error"]
    )
    vtn.failure = None
    await vtn.start()
    await _wait(hass, freezer, POLL_INTERVAL)
    assert _issue(hass, mock_config_entry) is None
    assert "answers again" in caplog.text
    assert _power_w(hass) == 0.0

    # Prices in a currency the site does not use are left out, said once.
    dollars = vtn.add_program(
        "dollars", payloadDescriptors=[{"payloadType": "PRICE", "currency": "USD"}]
    )
    _event(vtn, dollars, "PRICE", 0.01, timedelta(hours=1))
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={**PRICES, **_ven_options(vtn, openadr_programs=["dollars"])},
    )
    await _settle(hass, freezer)
    await _wait(hass, freezer, POLL_INTERVAL)
    assert caplog.text.count("OpenADR prices in USD are not used") == 1
    assert {p["import_price"] for p in _plan(hass)["schedule"]} == {0.25}

    # Diagnostics show the VEN, never its credentials.
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)
    assert diagnostics["openadr"]["events"][0]["program_id"] == dollars["id"]
    text = str(diagnostics)
    assert CLIENT_SECRET not in text
    assert CLIENT_ID not in text


async def test_a_restart_keeps_nothing_stale(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    vtn: OpenAdrVtn,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing of an event outlives it: after a restart only what the VTN says now counts."""
    program = _program(vtn)
    congestion = _event(vtn, program, "IMPORT_CAPACITY_LIMIT", 5, timedelta(hours=2))
    _event(vtn, program, "PRICE", 0.80, timedelta(hours=2))
    await _setup(hass, mock_config_entry, {**PRICES, **_ven_options(vtn)})
    assert _power_w(hass) == 0.0  # waiting out the dear hours
    assert _plan(hass)["operator_limit"]["site_import_w"] == 5000

    # Home Assistant stops; the VTN cancels the limit meanwhile and is down when it starts.
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    vtn.remove_event(congestion)
    vtn.failure = "down"
    await _wait(hass, freezer, timedelta(minutes=1))
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # The site's own prices and limits, and the repair issue.
    assert _power_w(hass) == FULL_W
    assert "operator_limit" not in _plan(hass)
    assert not any(p["openadr"] for p in _plan(hass)["schedule"])
    assert _issue(hass, mock_config_entry) is not None
    # The VTN is back: the price event (not the cancelled limit) applies again.
    vtn.failure = None
    await _wait(hass, freezer, POLL_INTERVAL)
    assert _power_w(hass) == 0.0
    assert "operator_limit" not in _plan(hass)
    # Removed: the issue goes with the site.
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    vtn.failure = "down"
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _issue(hass, mock_config_entry) is not None
    assert await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _issue(hass, mock_config_entry) is None


async def test_an_announced_limit_is_planned_for(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    vtn: OpenAdrVtn,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A capacity limit announced for later shapes the plan before it starts."""
    program = _program(vtn)
    await _setup(hass, mock_config_entry, {**PRICES, **_ven_options(vtn)})
    start = dt_util.utcnow() + timedelta(hours=1)
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [3]}]}],
        intervalPeriod={"start": _z(start), "duration": "PT2H"},
        targets=[{"type": "VEN_NAME", "values": ["garage"]}],
    )
    await _poll(hass, mock_config_entry, freezer)
    # Not in force yet: the EV charges at full power now...
    assert _power_w(hass) == FULL_W
    plan = _plan(hass)
    assert "operator_limit" not in plan
    # ...and the plan keeps the site at 3 kW (the house takes 400 W) from 19:30 to 21:30,
    # still reaching the target.
    during = [p for p in plan["schedule"] if "2026-01-15T19:30" <= p["start"] < "2026-01-15T21:30"]
    assert len(during) == 8
    assert max(p["power_w"] for p in during) <= 2_600
    assert plan["target_reachable"] is True
