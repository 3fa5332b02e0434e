"""Local frequency response: an OCPP 2.1 charger answers the grid frequency itself.

Home Assistant and the repository's simulated OCPP 2.1 charger talk over a real websocket on
127.0.0.1. The charger advertises LocalFrequency among its V2X operation modes; the site's droop
reaches it as a LocalFrequency profile (v2xBaseline + v2xFreqWattCurve) and the charger follows
the frequency it measures (a trace here) on its own, every 100 ms. The charger's clock is a fake
one the test moves, so ten minutes of trace take no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.chargers.ocpp import OcppStation
from custom_components.v2g.const import DEFAULT_OPTIONS
from custom_components.v2g.frequency import Droop, curve_power_w, watt_curve
from simulator.frequency import frequency_trace
from simulator.ocpp_charger import EvSimulation, SimConfig, run_charger
from tests.conftest import only_backend
from tests.test_ocpp import _password, _until, ocpp_entry, port  # noqa: F401

DROOP = Droop(deadband_hz=0.02, full_hz=0.2, max_up_w=5_000, max_down_w=3_000)
FREQUENCY_OPTIONS = {
    "frequency_sensor": "sensor.grid_frequency",
    "frequency_max_up_w": 5_000,
    "frequency_max_down_w": 3_000,
}


class ChargerWorld:
    """The simulated charger's clock and the grid frequency it measures."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.trace: list[float] = []
        self.trace_start = self.now

    def clock(self) -> datetime:
        return self.now

    def frequency(self, at: datetime) -> float:
        if not self.trace:
            return 50.0
        index = int((at - self.trace_start).total_seconds() + 1e-9)
        return self.trace[min(max(index, 0), len(self.trace) - 1)]


@pytest.fixture
async def local_charger(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    port: int,  # noqa: F811
) -> AsyncGenerator[Callable[..., tuple[EvSimulation, ChargerWorld]]]:
    """Start the simulated 2.1 charger on a clock and frequency the test controls."""
    hass.states.async_set("sensor.grid_frequency", "50.0", {"unit_of_measurement": "Hz"})
    stops: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(**overrides: Any) -> tuple[EvSimulation, ChargerWorld]:
        config = SimConfig(
            url=f"ws://127.0.0.1:{port}/driveway",
            identity="driveway",
            password=_password(ocpp_entry),
            meter_interval_s=0.2,
            reconnect_max_s=0.5,
            **overrides,
        )
        world = ChargerWorld()
        sim = EvSimulation(config, clock=world.clock, frequency=world.frequency)
        stop = asyncio.Event()
        stops.append((stop, asyncio.get_running_loop().create_task(run_charger(config, stop, sim))))
        return sim, world

    yield start
    for stop, task in stops:
        stop.set()
        await task


async def _ready(hass: HomeAssistant, backend: OcppStation) -> None:
    """The charger said it answers frequency itself and reported the SoC; V2G allowed."""
    await _until(lambda: backend.capabilities.local_frequency)
    await _until(lambda: backend.state().soc_pct is not None)
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.driveway_allow_vehicle_to_grid"}, blocking=True
    )


async def _offer(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> None:
    hass.config_entries.async_update_entry(
        entry, options={**DEFAULT_OPTIONS, **FREQUENCY_OPTIONS, **options}
    )
    await hass.async_block_till_done()


async def _mode(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.driveway_mode", "option": option},
        blocking=True,
    )


def _play(sim: EvSimulation, world: ChargerWorld, trace: list[float]) -> list[float]:
    """Run the charger through the trace (1 s a value); its power after each second."""
    world.trace = trace
    world.trace_start = world.now
    sim.step()
    powers = []
    for _ in trace:
        world.now += timedelta(seconds=1)
        sim.step()
        powers.append(sim.power_w)
    return powers


async def test_dip_is_answered_by_the_charger(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """The profile carries the site's droop; a dip makes the charger's power follow it."""
    sim, world = local_charger(soc_pct=50.0)
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _ready(hass, backend)
    await _mode(hass, "off")  # the plan's setpoint (the baseline) is 0 W
    await _offer(hass, ocpp_entry)
    await _until(sim.follows_curve)
    profile = sim.active_profile(world.now)
    assert profile is not None
    # The whole site's offer: 5 kW less (here: discharging) and 3 kW more, on this one EV.
    assert profile.setpoint_w == 0.0
    assert profile.curve == watt_curve(DROOP, 5_000, 3_000)
    assert profile.curve == ((49.8, -5_000.0), (49.98, 0.0), (50.02, 0.0), (50.2, 3_000.0))
    assert (profile.limit_w, profile.discharge_limit_w) == (3_000.0, -5_000.0)
    plan = hass.states.get("sensor.driveway_plan")
    assert plan.attributes["frequency_response"] == "local"
    assert backend.state().extra["profile_mode"] == "frequency"

    trace = [float(f) for f in frequency_trace(duration_s=600, seed=3, contingency_at_s=240)]
    energy_before = sim.energy_import_wh - sim.energy_export_wh
    powers = _play(sim, world, trace)
    delivered_wh = sim.energy_import_wh - sim.energy_export_wh - energy_before
    droop_wh = sum(DROOP.response_w(f) for f in trace) / 3600.0
    assert droop_wh < -100  # the dip made the EV give power to the grid
    assert delivered_wh == pytest.approx(droop_wh, rel=0.02)
    inside = [p for f, p in zip(trace, powers, strict=True) if abs(f - 50.0) <= 0.02]
    assert inside  # the trace spends time inside the deadband, where nothing is answered
    assert all(p == 0.0 for p in inside)
    assert min(powers) == pytest.approx(-5_000)  # the full offer at 49.5 Hz
    # The charger said so in its meter values: Home Assistant sees it discharge during the dip.
    _play(sim, world, [49.5])
    await _until(lambda: float(hass.states.get("sensor.driveway_power").state) < -4_000)


async def test_reserve_is_kept_and_profile_replaced(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """At its reserve the EV is offered for less charging only; outside the hours, no curve."""
    # The simulated battery would discharge to 0 %: only the integration keeps the 20 % reserve.
    sim, world = local_charger(soc_pct=20.5, min_soc_pct=0.0)
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _ready(hass, backend)
    await _mode(hass, "off")
    await _offer(hass, ocpp_entry)
    await _until(sim.follows_curve)
    profile = sim.active_profile(world.now)
    assert profile is not None
    assert profile.curve[0] == (49.8, 0.0)  # no discharging under-frequency
    assert profile.discharge_limit_w == 0.0
    exported_wh = sim.energy_export_wh
    _play(sim, world, [49.6] * 300)
    assert sim.energy_export_wh == pytest.approx(exported_wh)
    assert sim.battery.soc_pct >= 20.0

    # The hours it is offered in end: the charger gets the plain plan again.
    now = dt_util.now()
    await _offer(
        hass,
        ocpp_entry,
        frequency_start=(now + timedelta(hours=1)).strftime("%H:00:00"),
        frequency_end=(now + timedelta(hours=2)).strftime("%H:00:00"),
    )
    await _until(lambda: backend.state().extra["profile_mode"] == "setpoint")
    assert not sim.follows_curve()
    assert hass.states.get("sensor.driveway_plan").attributes["frequency_response"] == "off"


async def test_unload_clears_the_curve(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """Home Assistant stopping never leaves the car answering (or discharging for) frequency."""
    sim, world = local_charger(soc_pct=60.0)
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _ready(hass, backend)
    await _mode(hass, "off")
    await _offer(hass, ocpp_entry)
    await _until(sim.follows_curve)
    world.trace = [49.5]
    assert sim.target_w(world.now) < -1_000  # answering the dip by discharging
    await hass.config_entries.async_unload(ocpp_entry.entry_id)
    await hass.async_block_till_done()
    assert sim.active_profile(world.now) is None
    assert sim.target_w(world.now) >= 0


def test_curve_is_the_droop() -> None:
    """The four points reproduce the droop everywhere, flat beyond the full response."""
    curve = watt_curve(DROOP, 5_000, 3_000)
    for millihertz in range(-600, 601, 7):
        f = 50.0 + millihertz / 1000.0
        assert curve_power_w(curve, f) == pytest.approx(DROOP.response_w(f), abs=1e-6)
    assert curve_power_w((), 49.0) == 0.0
    assert curve_power_w(curve, float("nan")) == 0.0
    assert curve_power_w(((50.0, 1.0), (50.0, 2.0)), 50.0) == 1.0


async def test_site_shares_the_offer_between_local_and_software(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """A curve charger and a software-droop charger give the site's offer together, once."""
    sub = await hass.config_entries.subentries.async_init(
        (ocpp_entry.entry_id, "charger"), context={"source": "user"}
    )
    await hass.config_entries.subentries.async_configure(
        sub["flow_id"], {"next_step_id": "simulated"}
    )
    await hass.config_entries.subentries.async_configure(
        sub["flow_id"],
        {
            "name": "Sim",
            "max_charge_power_w": 11_000,
            "max_discharge_power_w": 11_000,
            "capacity_kwh": 60,
        },
    )
    await hass.async_block_till_done()
    sim, _world = local_charger(soc_pct=50.0)
    station = next(
        charger.backend
        for charger in ocpp_entry.runtime_data.chargers.values()
        if isinstance(charger.backend, OcppStation)
    )
    await _ready(hass, station)
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.sim_allow_vehicle_to_grid"}, blocking=True
    )
    for entity_id in ("select.driveway_mode", "select.sim_mode"):
        await hass.services.async_call(
            "select", "select_option", {"entity_id": entity_id, "option": "off"}, blocking=True
        )
    await _offer(hass, ocpp_entry)
    await _until(sim.follows_curve)
    # Room to give (less charging or discharging): 7 kW at the OCPP EV, 11 kW at the other; to
    # take (more charging): 11 kW each. The site's 5 kW / 3 kW are shared by that room.
    up_ocpp = 5_000 * 7_000 / 18_000
    profile = sim.active_profile(sim.now())
    assert profile is not None
    assert profile.curve == watt_curve(DROOP, up_ocpp, 1_500)
    # The grid frequency sensor drops to 49.5 Hz: the software loop gives only the rest.
    hass.states.async_set("sensor.grid_frequency", "49.5", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done()
    software = hass.states.get("sensor.sim_plan").attributes
    assert software["frequency_response"] == "software"
    assert software["frequency_response_w"] == pytest.approx(-(5_000 - round(up_ocpp)), abs=1)
    assert hass.states.get("sensor.driveway_plan").attributes["frequency_response"] == "local"
    assert curve_power_w(profile.curve, 49.5) + software["frequency_response_w"] == (
        pytest.approx(-5_000, abs=1)
    )


async def test_operator_cap_bounds_the_curve(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """§14a dimming at 4.2 kW: the charger's curve never asks for more charging than that."""
    sim, _world = local_charger(soc_pct=50.0)
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _ready(hass, backend)
    hass.states.async_set("input_boolean.dimmed", "on")
    await _mode(hass, "charge_now")
    await _offer(hass, ocpp_entry, operator_limit_entity="input_boolean.dimmed")
    await _until(sim.follows_curve)
    await _until(lambda: (p := sim.active_profile(sim.now())) is not None and p.setpoint_w == 4_200)
    profile = sim.active_profile(sim.now())
    assert profile is not None
    assert profile.curve == watt_curve(DROOP, 5_000, 0)  # less charging only
    assert profile.limit_w == 4_200


async def test_refusing_charger_is_steered_by_the_software_loop(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,  # noqa: F811
    local_charger: Callable[..., tuple[EvSimulation, ChargerWorld]],
) -> None:
    """A charger that advertises LocalFrequency but refuses the profile gets the software loop."""
    sim, _world = local_charger(soc_pct=50.0)
    follow = sim.accept_profile

    def refuse_local_frequency(profile: dict[str, Any]) -> str:
        period = profile["charging_schedule"][0]["charging_schedule_period"][0]
        return "Rejected" if period.get("operation_mode") == "LocalFrequency" else follow(profile)

    sim.accept_profile = refuse_local_frequency  # type: ignore[method-assign]
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _ready(hass, backend)
    await _mode(hass, "off")
    await _offer(hass, ocpp_entry)
    await _until(lambda: not backend.capabilities.local_frequency)
    assert "LocalFrequency" in (backend.last_rejection or "")
    # The next change of the grid frequency sensor is answered by Home Assistant.
    hass.states.async_set("sensor.grid_frequency", "49.5", {"unit_of_measurement": "Hz"})
    await hass.async_block_till_done()
    plan = hass.states.get("sensor.driveway_plan").attributes
    assert plan["frequency_response"] == "software"
    assert plan["frequency_response_w"] == -5_000
    await _until(
        lambda: (p := sim.active_profile(sim.now())) is not None and p.setpoint_w == -5_000
    )
    assert not sim.follows_curve()
