"""`v2g.dispatch` on a real site with two simulated EVs: constraints, refusals, events, restarts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.const import DEFAULT_OPTIONS, DOMAIN, UPDATE_INTERVAL
from custom_components.v2g.dispatch import (
    Dispatch,
    Dispatches,
    DispatchMode,
    beyond_site_bounds_kwh,
    dispatch_energy_kwh,
    with_dispatches,
)
from custom_components.v2g.optimizer import Problem, Vehicle, make_grid

from .test_site import FUSE_W, _charger

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

HOUSE_W = 400.0
T0 = datetime(2026, 1, 15, 17, 30, tzinfo=UTC)


@pytest.fixture
async def site(hass: HomeAssistant) -> MockConfigEntry:
    """Two simulated EVs (40 %, 80 % by 07:30, reserve 20 %) with V2G allowed, one fuse."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    hass.states.async_set("sensor.house", str(HOUSE_W), {"unit_of_measurement": "W"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        version=2,
        options={
            **DEFAULT_OPTIONS,
            "grid_import_limit_w": FUSE_W,
            "grid_export_limit_w": FUSE_W,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.05,
        },
        subentries_data=[_charger("Garage"), _charger("Carport")],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for name in ("garage", "carport"):
        await hass.services.async_call(
            "switch",
            "turn_on",
            {"entity_id": f"switch.{name}_allow_vehicle_to_grid"},
            blocking=True,
        )
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def _setpoints(hass: HomeAssistant) -> list[float]:
    return [
        float(hass.states.get(f"sensor.{name}_plan").attributes["setpoint_w"])
        for name in ("garage", "carport")
    ]


def _plans(hass: HomeAssistant) -> list[Any]:
    return [hass.states.get(f"sensor.{name}_plan") for name in ("garage", "carport")]


async def _dispatch(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "dispatch",
        {"config_entry": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert response is not None
    return dict(response)


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, times: int = 1) -> None:
    for _ in range(times):
        freezer.tick(UPDATE_INTERVAL)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_must_export_replans_both_evs_and_keeps_their_targets(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Done when: a must dispatch on a site with two EVs re-plans both and keeps their targets."""
    before = _setpoints(hass)
    assert all(p > 0 for p in before)  # both charging at a flat price, as early as possible
    events: list[Event] = []
    hass.bus.async_listen("state_changed", events.append)
    answer = await _dispatch(
        hass, site, power_w=14_000, direction="export", duration={"minutes": 30}, id="fcr-1"
    )
    assert answer == {"id": "fcr-1"}
    # More than one EV can give: both discharge, the site exports at least 14 kW.
    assert sum(_setpoints(hass)) <= -(14_000 + HOUSE_W) + 1
    assert all(p < 0 for p in _setpoints(hass))
    for plan in _plans(hass):
        assert plan.state == "dispatched"
        assert plan.attributes["target_reachable"] is True
        assert plan.attributes["departure_soc_pct"] >= 80 - 0.01
        assert "Dispatched (fcr-1)" in plan.attributes["reason"]
    site_plan = hass.states.get("sensor.home_plan")
    assert site_plan.attributes["dispatch"]["id"] == "fcr-1"
    assert site_plan.attributes["dispatch"]["unmet_kwh"] == 0
    event = hass.states.get("event.home_dispatch")
    assert event.attributes["event_type"] == "dispatch_started"
    assert event.attributes["id"] == "fcr-1"
    # Through the window: it ends with the energy the EVs delivered.
    await _tick(hass, freezer, 61)
    event = hass.states.get("event.home_dispatch")
    assert event.attributes["event_type"] == "dispatch_ended"
    assert event.attributes["delivered_kwh"] == pytest.approx((14_000 + HOUSE_W) / 2000, rel=0.1)
    assert [p.state for p in _plans(hass)] == ["charging", "charging"]
    assert all(p > 0 for p in _setpoints(hass))


async def test_infeasible_must_is_refused_and_nothing_changes(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    before = _setpoints(hass)
    # 20 kW out: the chargers could, the feed-in limit (17.25 kW here) cannot.
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(hass, site, power_w=-20_000, duration={"hours": 1})
    assert refused.value.translation_key == "dispatch_infeasible"
    # 30 kW out of two 11 kW chargers: cannot be done.
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(hass, site, power_w=-30_000, duration={"hours": 1})
    assert refused.value.translation_key == "dispatch_infeasible"
    # One EV held idle until its departure: it would miss its target.
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(
            hass,
            site,
            device_id=_device(hass, site, "Garage"),
            power_w=0,
            duration={"hours": 12, "minutes": 50},
        )
    assert refused.value.translation_key == "dispatch_costs_target"
    # Out of the garage EV's 24 kWh above the reserve, 11 kW for 4 hours cannot come.
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(
            hass,
            site,
            device_id=_device(hass, site, "Garage"),
            power_w=-11_000,
            duration={"hours": 4},
        )
    assert refused.value.translation_key == "dispatch_infeasible"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _setpoints(hass) == before
    assert [p.state for p in _plans(hass)] == ["charging", "charging"]
    assert site.runtime_data.coordinator.dispatches.items == []


def _device(hass: HomeAssistant, entry: MockConfigEntry, title: str) -> str:
    from homeassistant.helpers import device_registry as dr

    charger = next(c for c in entry.runtime_data.chargers.values() if c.title == title)
    device = dr.async_get(hass).async_get_device({(DOMAIN, f"{charger.unique_id}_charger")})
    assert device is not None
    return device.id


async def test_prefer_yields_to_the_target_and_cancel_restores_the_plan(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    before = _setpoints(hass)
    garage = _device(hass, site, "Garage")
    # An hour of discharging, preferred: the plan follows it (there is time to charge later).
    await _dispatch(
        hass, site, device_id=garage, power_w=-11_000, mode="prefer", duration={"hours": 1}
    )
    assert _setpoints(hass)[0] == pytest.approx(-11_000, abs=1)
    # Discharge all night if it could: the target comes first, the plan charges what it needs.
    await _dispatch(
        hass,
        site,
        device_id=garage,
        power_w=-11_000,
        mode="prefer",
        duration={"hours": 12, "minutes": 50},
        id="night",
    )
    garage_plan, carport_plan = _plans(hass)
    assert garage_plan.state == "dispatched"
    assert garage_plan.attributes["target_reachable"] is True
    assert garage_plan.attributes["departure_soc_pct"] >= 80 - 0.01
    assert carport_plan.state == "charging"
    coordinator = site.runtime_data.coordinator
    for dispatch in list(coordinator.dispatches.items):
        if dispatch.id != "night":
            await coordinator.async_cancel_dispatch(dispatch)
    await hass.services.async_call(
        DOMAIN, "cancel_dispatch", {"config_entry": site.entry_id, "id": "night"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("event.home_dispatch").attributes["event_type"] == "dispatch_cancelled"
    assert [p.state for p in _plans(hass)] == ["charging", "charging"]
    assert _setpoints(hass) == pytest.approx(before, abs=50)
    with pytest.raises(ServiceValidationError) as unknown:
        await hass.services.async_call(
            DOMAIN, "cancel_dispatch", {"config_entry": site.entry_id, "id": "night"}, blocking=True
        )
    assert unknown.value.translation_key == "dispatch_unknown"


async def test_restart_inside_the_window_keeps_it_after_it_drops_it(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    start = (freezer.time_to_freeze + timedelta(hours=2)).isoformat()
    await _dispatch(hass, site, power_w=-6_000, start=start, duration={"hours": 1}, id="later")
    await _dispatch(hass, site, power_w=-6_000, duration={"minutes": 20}, id="now")
    assert site.runtime_data.coordinator.dispatches.get("now") is not None
    freezer.tick(timedelta(minutes=10))
    assert await hass.config_entries.async_reload(site.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = site.runtime_data.coordinator
    assert {d.id for d in coordinator.dispatches.items} == {"now", "later"}
    assert [p.state for p in _plans(hass)] == ["dispatched", "dispatched"]
    assert sum(_setpoints(hass)) <= -(6_000 + HOUSE_W) + 1
    freezer.tick(timedelta(minutes=30))
    assert await hass.config_entries.async_reload(site.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = site.runtime_data.coordinator
    assert [d.id for d in coordinator.dispatches.items] == ["later"]
    assert [p.state for p in _plans(hass)] == ["charging", "charging"]


async def test_dispatch_needs_a_window(hass: HomeAssistant, site: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as missing:
        await _dispatch(hass, site, power_w=-3_000)
    assert missing.value.translation_key == "dispatch_until"
    with pytest.raises(ServiceValidationError) as past:
        await _dispatch(hass, site, power_w=-3_000, end="2026-01-15 17:00:00")
    assert past.value.translation_key == "dispatch_window"


def test_stored_dispatches_that_cannot_be_read_are_dropped() -> None:
    good = {
        "id": "a",
        "start": "2026-01-15T18:00:00+01:00",
        "end": "2026-01-15T19:00:00+01:00",
        "power_w": -3000,
        "mode": "prefer",
    }
    assert Dispatch.from_json(good) is not None
    assert Dispatch.from_json(good | {"mode": "maybe"}) is None
    assert Dispatch.from_json(good | {"power_w": None}) is None
    assert Dispatch.from_json(good | {"end": "soon"}) is None


def test_dispatches_on_the_problem() -> None:
    """A site prefer and a charger must reach the optimizer; an EV not planned is left out."""
    grid = make_grid(T0, T0 + timedelta(hours=2), 900)
    problem = Problem(
        grid=grid,
        import_price_per_kwh=np.full(8, 0.3),
        export_price_per_kwh=np.full(8, 0.1),
        vehicles=(Vehicle(capacity_kwh=60, soc_pct=50, name="garage"),),
    )
    site = Dispatch("s", T0, T0 + timedelta(minutes=30), -4_000.0, DispatchMode.PREFER)
    own = Dispatch(
        "g", T0 + timedelta(hours=1), T0 + timedelta(hours=2), 2_000.0, DispatchMode.MUST, "garage"
    )
    other = Dispatch("c", T0, T0 + timedelta(hours=2), 2_000.0, DispatchMode.MUST, "carport")
    changed = with_dispatches(problem, [site, own, other], ["garage"])
    assert changed.grid_preferred[:2] == pytest.approx([-4_000, -4_000])
    assert np.isnan(changed.grid_preferred[2:]).all()
    vehicle = changed.vehicles[0]
    assert vehicle.power_floor_w is not None
    assert vehicle.power_floor_w[4:] == pytest.approx([2_000] * 4)
    assert np.isinf(vehicle.power_floor_w[:4]).all()
    assert with_dispatches(problem, [], ["garage"]) is problem
    assert Dispatches([site, own]).for_charger("garage", T0 + timedelta(hours=1)) is own
    assert Dispatches([site, own]).for_charger("garage", T0) is site
    assert Dispatches([own]).for_charger("garage", T0) is None


async def test_must_needs_a_planned_ev(
    hass: HomeAssistant, site: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A charger whose EV the plan does not steer cannot take a must dispatch; nor can a site
    without any (a prefer one is kept for when they come)."""
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    await _tick(hass, freezer)
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(
            hass,
            site,
            device_id=_device(hass, site, "Garage"),
            power_w=-3_000,
            duration={"hours": 1},
        )
    assert refused.value.translation_key == "dispatch_not_planned"
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.carport_mode", "option": "off"},
        blocking=True,
    )
    await _tick(hass, freezer)
    with pytest.raises(ServiceValidationError) as refused:
        await _dispatch(hass, site, power_w=-3_000, duration={"hours": 1})
    assert refused.value.translation_key == "dispatch_no_plan"
    answer = await _dispatch(hass, site, power_w=-3_000, duration={"hours": 1}, mode="prefer")
    assert site.runtime_data.coordinator.dispatches.get(answer["id"]) is not None
    assert [p.state for p in _plans(hass)] == ["off", "off"]


NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)


def _problem(ceiling_w: np.ndarray | None = None) -> Problem:
    grid = make_grid(NOON, NOON + timedelta(hours=8))
    n = len(grid)
    ev = Vehicle(
        name="garage",
        capacity_kwh=60,
        soc_pct=30,
        target_soc_pct=80,
        departure=NOON + timedelta(hours=8),
        max_charge_power_w=11_000,
        max_discharge_power_w=11_000,
        v2g_allowed=True,
    )
    return Problem(
        grid=grid,
        import_price_per_kwh=np.full(n, 0.3),
        export_price_per_kwh=np.full(n, 0.05),
        vehicles=(ev,),
        grid_ceiling_w=ceiling_w,
    )


def test_a_dispatch_keeps_the_problems_own_bounds() -> None:
    """An announced capacity limit and an EV's own bounds survive an unrelated dispatch."""
    ceiling = np.full(32, np.inf)
    ceiling[:8] = 3_000.0  # an announced 3 kW import limit for two hours
    own = np.full(32, 8_000.0)  # e.g. the frequency offer's headroom
    problem = _problem(ceiling)
    problem = replace(problem, vehicles=(replace(problem.vehicles[0], power_ceiling_w=own),))
    later = Dispatch(
        "x",
        NOON + timedelta(hours=6),
        NOON + timedelta(hours=6, minutes=15),
        2_000.0,
        DispatchMode.MUST,
        "garage",
    )
    with_one = with_dispatches(problem, [later], ["garage"])
    assert list(with_one.grid_ceiling[:8]) == [3_000.0] * 8
    ev_ceiling = with_one.vehicles[0].power_ceiling_w
    assert ev_ceiling is not None
    assert ev_ceiling[0] == 8_000.0  # its own bound...
    assert ev_ceiling[24] == 2_000.0  # ...and the dispatch's where it covers
    # A later site dispatch the other way replaces an earlier one in the slots both cover.
    start = NOON + timedelta(hours=3)
    imports = Dispatch("a", start, start + timedelta(hours=2), 5_000.0, DispatchMode.MUST)
    exports = Dispatch(
        "b", start + timedelta(hours=1), start + timedelta(hours=2), -3_000.0, DispatchMode.MUST
    )
    both = with_dispatches(problem, [imports, exports], ["garage"])
    assert both.grid_floor[13] == 5_000.0
    assert (both.grid_floor[17], both.grid_ceiling[17]) == (-np.inf, -3_000.0)


def test_a_site_dispatch_beyond_an_announced_limit_counts_as_unmet() -> None:
    ceiling = np.full(32, np.inf)
    ceiling[4:8] = 3_000.0  # 13:00-14:00: at most 3 kW from the grid
    problem = _problem(ceiling)
    start = NOON + timedelta(hours=1)
    asks = Dispatch("m", start, start + timedelta(hours=1), 10_000.0, DispatchMode.MUST)
    assert beyond_site_bounds_kwh(problem, asks) == pytest.approx(7.0)  # 7 kW for an hour
    assert dispatch_energy_kwh(asks) == pytest.approx(10.0)
    # The plan keeps the limit: the dispatch's floor is clipped to it, not made infeasible.
    clipped = with_dispatches(problem, [asks], ["garage"])
    assert list(clipped.grid_floor[4:8]) == [3_000.0] * 4
    within = Dispatch("w", start, start + timedelta(hours=1), 2_000.0, DispatchMode.MUST)
    assert beyond_site_bounds_kwh(problem, within) == 0.0
    prefer = Dispatch("p", start, start + timedelta(hours=1), 9_000.0, DispatchMode.PREFER)
    assert beyond_site_bounds_kwh(problem, prefer) == 0.0
    exports = Dispatch("e", start, start + timedelta(hours=1), -4_000.0, DispatchMode.MUST)
    capped = replace(problem, grid_floor_w=np.full(32, -1_000.0))
    assert beyond_site_bounds_kwh(capped, exports) == pytest.approx(3.0)


async def test_a_dispatched_discharge_is_not_cut_for_a_smaller_house(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """The live meter's planned-export cap does not touch a charger's `must` discharge."""
    hass.config_entries.async_update_entry(
        site, options={**site.options, "grid_power_entity": "sensor.grid_power"}
    )
    hass.states.async_set("sensor.grid_power", "0", {"unit_of_measurement": "W"})
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.carport_mode", "option": "off"},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await _dispatch(
        hass,
        site,
        device_id=_device(hass, site, "Garage"),
        power_w=-5_000,
        duration={"hours": 1},
    )
    coordinator = site.runtime_data.coordinator
    for _ in range(2):
        ev_w = sum(c.backend.state().power_w for c in site.runtime_data.chargers.values())
        # The house draws nothing (the plan expected 400 W): the meter shows only the EVs.
        hass.states.async_set("sensor.grid_power", str(ev_w), {"unit_of_measurement": "W"})
        await coordinator.async_refresh()
        await hass.async_block_till_done(wait_background_tasks=True)
    assert _setpoints(hass)[0] == pytest.approx(-5_000, abs=1)
