"""Upgrading a version-1 installation (one entry per charger) to sites, and merging sites.

The fixture is what Home Assistant stored for a real version-1 installation made by the
version-1 integration's own config flow: an OCPP charger, two simulated chargers, changed
settings, and a user-renamed entity (tests/fixtures/v1_storage.json).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
import socket
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
import pytest

from custom_components.v2g.const import DOMAIN

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "v1_storage.json").read_text())
V1_ENTRIES = {e["entry_id"]: e for e in FIXTURE["core.config_entries"]["data"]["entries"]}
V1_ENTITIES = FIXTURE["core.entity_registry"]["data"]["entities"]
V1_DEVICES = FIXTURE["core.device_registry"]["data"]["devices"]

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")


async def start_repair_fix_flow(client: Any, domain: str, issue_id: str) -> dict[str, Any]:
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": domain, "issue_id": issue_id}
    )
    assert response.status == 200
    result: dict[str, Any] = await response.json()
    return result


async def process_repair_fix_flow(
    client: Any, flow_id: str, user_input: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=user_input)
    assert response.status == 200
    result: dict[str, Any] = await response.json()
    return result


def _entry_id(title: str) -> str:
    return next(entry_id for entry_id, e in V1_ENTRIES.items() if e["title"] == title)


@pytest.fixture
async def v1_installation(
    hass: HomeAssistant, hass_storage: dict[str, Any], socket_enabled: None
) -> dict[str, Any]:
    """Home Assistant's storage as version 1 left it (the OCPP server on a free port).

    The test instance starts with empty registries: they and the config entries are loaded
    again from the stored data, as Home Assistant does when it starts.
    """
    storage = copy.deepcopy(FIXTURE)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for entry in storage["core.config_entries"]["data"]["entries"]:
        if "port" in entry["data"]:
            entry["data"]["port"] = port
    hass_storage.update(storage)
    for registry in (dr, er):
        hass.data.pop(registry.DATA_REGISTRY)
        await registry.async_load(hass)
    await hass.config_entries.async_initialize()
    return storage


async def _set_up_all(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    assert await async_setup_component(hass, DOMAIN, {})  # sets up every stored entry
    await hass.async_block_till_done()


async def test_every_charger_becomes_a_site_and_nothing_is_lost(
    hass: HomeAssistant,
    v1_installation: dict[str, Any],
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    await _set_up_all(hass)
    entity_registry, device_registry = er.async_get(hass), dr.async_get(hass)
    sites = hass.config_entries.async_entries(DOMAIN)
    assert len(sites) == 3
    for site in sites:
        assert site.state is ConfigEntryState.LOADED
        assert (site.version, site.minor_version) == (2, 2)
        assert site.unique_id is None
        old = V1_ENTRIES[site.entry_id]
        assert site.title == f"Home ({old['title']})"  # several sites: each named after its charger
        [charger] = site.subentries.values()
        assert charger.subentry_type == "charger"
        assert (charger.title, charger.unique_id) == (old["title"], old["unique_id"])
        assert site.options == old["options"]  # prices, limits: the site's now

    # The OCPP server belongs to the site; identity, password and phases to the charger.
    ocpp = hass.config_entries.async_get_entry(_entry_id("driveway"))
    assert ocpp is not None
    assert set(ocpp.data) == {"host", "port", "migrated"}
    [charger] = ocpp.subentries.values()
    old_data = V1_ENTRIES[ocpp.entry_id]["data"]
    assert charger.data["password"] == old_data["password"]
    assert charger.data["phases"] == "1"

    # Every entity keeps its id (a renamed one too), unique id and device; now under the charger.
    for old_entity in V1_ENTITIES:
        entity = entity_registry.async_get(old_entity["entity_id"])
        assert entity is not None, old_entity["entity_id"]
        assert entity.unique_id == old_entity["unique_id"]
        assert entity.device_id == old_entity["device_id"]
        assert entity.config_entry_id == old_entity["config_entry_id"]
        site = hass.config_entries.async_get_entry(entity.config_entry_id)
        assert site is not None
        assert entity.config_subentry_id in site.subentries
    assert float(hass.states.get("sensor.wallbox_power").state) != 0  # the renamed sensor works
    # Devices keep their ids and hang below their site's device.
    for old_device in V1_DEVICES:
        device = device_registry.async_get(old_device["id"])
        assert device is not None
        [entry_id] = old_device["config_entries"]
        assert set(device.config_entries_subentries[entry_id]) == {
            next(iter(hass.config_entries.async_get_entry(entry_id).subentries))  # type: ignore[union-attr]
        }

    # The EVs' settings moved with their chargers.
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "65"
    assert hass.states.get("switch.garage_allow_vehicle_to_grid").state == "on"
    assert hass.states.get("select.carport_mode").state == "charge_now"
    assert not [key for key in hass_storage if key in {f"v2g.{i}" for i in V1_ENTRIES}]

    # Merging is offered, never done silently.
    issue = issue_registry.async_get_issue(DOMAIN, "merge_sites")
    assert issue is not None
    assert issue.is_fixable


async def test_merge_two_sites_on_request(
    hass: HomeAssistant,
    v1_installation: dict[str, Any],
    hass_client: Any,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The repair moves the carport into the garage's site: one plan under one fuse."""
    assert await async_setup_component(hass, "repairs", {})
    await _set_up_all(hass)
    entity_registry, device_registry = er.async_get(hass), dr.async_get(hass)
    garage, carport = _entry_id("Garage"), _entry_id("Carport")
    carport_entities = {e["entity_id"]: e for e in V1_ENTITIES if e["config_entry_id"] == carport}
    client = await hass_client()
    flow = await start_repair_fix_flow(client, DOMAIN, "merge_sites")
    assert flow["step_id"] == "init"
    flow = await process_repair_fix_flow(client, flow["flow_id"], {"target": garage, "sources": []})
    assert flow["errors"] == {"base": "choose_sites"}
    flow = await process_repair_fix_flow(
        client, flow["flow_id"], {"target": garage, "sources": [carport]}
    )
    assert flow["type"] == "create_entry"
    await hass.async_block_till_done()

    assert hass.config_entries.async_get_entry(carport) is None
    site = hass.config_entries.async_get_entry(garage)
    assert site is not None
    assert site.state is ConfigEntryState.LOADED
    assert {s.title for s in site.subentries.values()} == {"Garage", "Carport"}
    for entity_id, old in carport_entities.items():
        entity = entity_registry.async_get(entity_id)
        assert entity is not None
        assert entity.config_entry_id == garage
        assert entity.unique_id == old["unique_id"]
        assert entity.device_id == old["device_id"]
    device = device_registry.async_get_device(identifiers={(DOMAIN, "simulated_carport_ev")})
    assert device is not None
    assert set(device.config_entries) == {garage}
    assert hass.states.get("select.carport_mode").state == "charge_now"  # settings kept
    assert hass.states.get("sensor.carport_power").state != "unavailable"
    # Two sites remain from the upgrade (driveway and the merged one): the repair stays offered.
    assert issue_registry.async_get_issue(DOMAIN, "merge_sites") is not None
    # One plan for the site's Smart EV, the carport's Charge-now power counted as its load.
    plan = site.runtime_data.coordinator.data.plan
    assert plan is not None

    # Merging the last one clears the repair.
    flow = await start_repair_fix_flow(client, DOMAIN, "merge_sites")
    flow = await process_repair_fix_flow(
        client, flow["flow_id"], {"target": garage, "sources": [_entry_id("driveway")]}
    )
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "merge_sites") is None
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_newer_version_is_refused(hass: HomeAssistant) -> None:
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    entry = MockConfigEntry(domain=DOMAIN, version=3, title="Future")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR


async def test_one_excluded_charger_sensor_becomes_a_list(hass: HomeAssistant) -> None:
    """2.1 let the house load subtract one charger's sensor; 2.2 keeps it as a list of one."""
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        minor_version=1,
        title="Home",
        options={"load_source": "constant", "load_exclude_entity": "sensor.wallbox_power"},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.minor_version == 2
    assert entry.options["load_exclude_entity"] == ["sensor.wallbox_power"]
    assert entry.options["load_source"] == "constant"
