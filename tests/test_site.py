"""A site with two chargers: one plan under one fuse, one meter correction, each on its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.chargers.simulated import SimulatedCharger
from custom_components.v2g.const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_CHARGER,
    UPDATE_INTERVAL,
)

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

FUSE_W = 3 * 25 * 230  # 25 A on three phases: 17,250 W


def _charger(name: str) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={
            CONF_CHARGER_KIND: "simulated",
            "name": name,
            CONF_MAX_CHARGE_POWER_W: 11_000.0,
            CONF_MAX_DISCHARGE_POWER_W: 11_000.0,
            CONF_CAPACITY_KWH: 60.0,
        },
        subentry_type=SUBENTRY_CHARGER,
        title=name,
        unique_id=f"simulated_{name.lower()}",
    )


@pytest.fixture
async def site(hass: HomeAssistant) -> MockConfigEntry:
    """Two simulated chargers behind one 25 A fuse with a live grid meter."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    hass.states.async_set("sensor.grid_power", "400", {"unit_of_measurement": "W"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        version=2,
        options={
            **DEFAULT_OPTIONS,
            "grid_import_limit_w": FUSE_W,
            "grid_power_entity": "sensor.grid_power",
        },
        subentries_data=[_charger("Garage"), _charger("Carport")],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _backends(entry: MockConfigEntry) -> list[SimulatedCharger]:
    return [charger.backend for charger in entry.runtime_data.chargers.values()]


def _ev_power_w(entry: MockConfigEntry) -> float:
    return sum(backend.state().power_w for backend in _backends(entry))


async def _update(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory, house_w: float
) -> float:
    """The meter shows the house and what the EVs draw now; then one update runs."""
    hass.states.async_set(
        "sensor.grid_power", str(house_w + _ev_power_w(entry)), {"unit_of_measurement": "W"}
    )
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    return _ev_power_w(entry)


async def test_two_chargers_share_one_fuse(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The house load steps up and down; the site stays under its fuse, without oscillating."""
    # Planned together: 11 kW + 11 kW would be above the fuse; the plan gives them what the fuse
    # leaves after the forecast 400 W house load.
    assert _ev_power_w(site) == pytest.approx(FUSE_W - 400, abs=1)
    for house_w in (400, 6_000, 12_000, 15_000, 3_000, 9_000):
        history = [await _update(hass, site, freezer, house_w) for _ in range(4)]
        # From the first update after the step on, house + EVs stay within the fuse.
        for ev_w in history:
            assert house_w + ev_w <= FUSE_W + 1
        # ...and the EVs get the headroom back: no oscillation, no power left unused (at 15 kW
        # the 2.25 kW left would be below both minimums if shared: one EV takes it).
        assert max(history) - min(history) < 1.0
        assert history[-1] == pytest.approx(min(FUSE_W - 400, FUSE_W - house_w), abs=100)
        plan = hass.states.get("sensor.garage_plan")
        assert plan.attributes["limited_by_grid"] is (house_w > 400)
    assert hass.states.get("sensor.home_ev_power").state == str(round(_ev_power_w(site), 1))


async def test_priority_keeps_power_when_the_fuse_is_short(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.carport_ev_priority", "option": "high"},
        blocking=True,
    )
    for _ in range(2):
        await _update(hass, site, freezer, 9_000)
    carport = float(hass.states.get("sensor.carport_power").state)
    garage = float(hass.states.get("sensor.garage_power").state)
    assert carport == pytest.approx(min(11_000, FUSE_W - 9_000), abs=100)
    assert garage == pytest.approx(max(0, FUSE_W - 9_000 - carport), abs=100)


async def test_site_limits_from_its_own_entities(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """The fuse and export settings users change often are entities of the site."""
    assert hass.states.get("number.home_grid_import_limit").state == str(float(FUSE_W))
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.home_grid_import_limit", "value": 11_000},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert site.options["grid_import_limit_w"] == 11_000
    assert _ev_power_w(site) == pytest.approx(11_000 - 400, abs=1)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.home_export_to_the_grid"}, blocking=True
    )
    await hass.async_block_till_done()
    assert site.options["export_allowed"] is False
    assert hass.states.get("switch.home_export_to_the_grid").state == "off"


async def test_chargers_added_back_to_back_are_added_once(
    hass: HomeAssistant,
    site: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A depot adds its vans faster than each is set up: every one is added exactly once."""
    for name in ("Van 1", "Van 2", "Van 3"):
        data = _charger(name)
        hass.config_entries.async_add_subentry(
            site,
            ConfigSubentry(
                data=MappingProxyType(data["data"]),
                subentry_type=data["subentry_type"],
                title=data["title"],
                unique_id=data["unique_id"],
            ),
        )
    await hass.async_block_till_done()
    assert "does not generate unique IDs" not in caplog.text
    assert len(site.runtime_data.chargers) == 5
    assert len(site.runtime_data.coordinator.chargers) == 5
    plan = site.runtime_data.coordinator.data.plan
    assert plan is not None
    assert len(plan.vehicle_ids) == 5
    for name in ("Van 1", "Van 2", "Van 3"):
        entries = [
            item
            for item in er.async_entries_for_config_entry(entity_registry, site.entry_id)
            if item.unique_id == f"simulated_{name.lower()}_power"
        ]
        assert len(entries) == 1
        state = hass.states.get(entries[0].entity_id)
        assert state is not None
        assert state.state != "unavailable"


async def test_grid_operator_dims_every_charger(
    hass: HomeAssistant,
    site: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """§14a: while the operator's signal is on, each charger charges at most 4.2 kW."""
    hass.config_entries.async_update_entry(
        site, options={**site.options, "operator_limit_entity": "input_boolean.dimmed"}
    )
    hass.states.async_set("input_boolean.dimmed", "on")
    await hass.async_block_till_done()
    for _ in range(2):
        await _update(hass, site, freezer, 400)
    garage, carport = _backends(site)
    assert garage.setpoint_w == pytest.approx(4_200)
    assert carport.setpoint_w == pytest.approx(4_200)
    # The plan knows: it plans at most 4.2 kW per EV, not a cut of a bigger plan.
    plan = hass.states.get("sensor.garage_plan")
    assert max(p["power_w"] for p in plan.attributes["schedule"]) <= 4_200
    assert "Limited by the grid operator" not in plan.attributes["reason"]
    hass.states.async_set("input_boolean.dimmed", "off")
    await _update(hass, site, freezer, 400)
    assert _ev_power_w(site) == pytest.approx(FUSE_W - 400, abs=1)
    assert caplog.text.count("The grid operator limits the site") == 1
    assert "The grid operator's limit ended" in caplog.text

    # A sensor with the import the operator allows: the whole site stays within it.
    hass.config_entries.async_update_entry(
        site, options={**site.options, "operator_limit_entity": "sensor.allowed_import"}
    )
    hass.states.async_set("sensor.allowed_import", "8", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done()
    for _ in range(2):
        ev_w = await _update(hass, site, freezer, 400)
    assert ev_w + 400 <= 8_000 + 1
    assert ev_w == pytest.approx(8_000 - 400, abs=100)


async def test_every_schedule_follows_the_latest_plan(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Each EV's schedule and the site's start at the joint plan's first slot, plan after plan."""
    starts = []
    for _ in range(2):
        await _update(hass, site, freezer, 400)
        schedules = [
            hass.states.get(entity_id).attributes["schedule"]
            for entity_id in ("sensor.garage_plan", "sensor.carport_plan", "sensor.home_plan")
        ]
        assert all(schedule for schedule in schedules)
        first = {schedule[0]["start"] for schedule in schedules}
        assert len(first) == 1
        starts.append(first.pop())
        freezer.tick(timedelta(minutes=15))
    # The plan starts now (its first slot is the rest of the quarter hour under way).
    later = datetime.fromisoformat(starts[0]) + timedelta(minutes=15) + UPDATE_INTERVAL
    assert starts[1] == later.isoformat()
    assert starts[0].endswith("+01:00")  # the user's time zone (Copenhagen in January)


async def test_priority_decides_whose_target_the_plan_keeps(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A fuse too small for both departure targets: the plan keeps the high-priority EV's."""
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.home_grid_import_limit", "value": 3_000},
        blocking=True,
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_ev_priority", "option": "high"},
        blocking=True,
    )
    await _update(hass, site, freezer, 400)
    assert hass.states.get("binary_sensor.garage_ev_target_at_risk").state == "off"
    assert hass.states.get("binary_sensor.carport_ev_target_at_risk").state == "on"
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_ev_priority", "option": "low"},
        blocking=True,
    )
    await _update(hass, site, freezer, 400)
    assert hass.states.get("binary_sensor.garage_ev_target_at_risk").state == "on"
    assert hass.states.get("binary_sensor.carport_ev_target_at_risk").state == "off"


async def test_two_chargers_keep_the_frequency_offer_under_one_fuse(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """4 kW offered for high frequency: the two EVs plan 4 kW below the fuse, and answer with
    it when the frequency rises, still within the fuse."""
    hass.states.async_set("sensor.grid_frequency", "50.0", {"unit_of_measurement": "Hz"})
    hass.config_entries.async_update_entry(
        site,
        options={
            **site.options,
            "frequency_sensor": "sensor.grid_frequency",
            "frequency_max_up_w": 0,
            "frequency_max_down_w": 4_000,
        },
    )
    await hass.async_block_till_done()
    planned_w = await _update(hass, site, freezer, 400)
    reserve = hass.states.get("sensor.home_plan").attributes["frequency_reserve"]
    assert reserve == {"up_w": 0, "down_w": 4_000, "revenue": None}
    assert planned_w == pytest.approx(FUSE_W - 400 - 4_000, abs=1)
    hass.states.async_set("sensor.grid_frequency", "50.2", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _ev_power_w(site) == pytest.approx(FUSE_W - 400, abs=1)
