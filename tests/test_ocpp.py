"""An OCPP charger set up through the UI, talking to Home Assistant over a real websocket.

The charger is the repository's simulated OCPP 2.1 bidirectional charger (simulator/), so these
tests run the real protocol end to end on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta
import socket
from typing import Any

import aiohttp
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.v2g.chargers.ocpp import OcppStation
from custom_components.v2g.const import DEFAULT_OPTIONS, DOMAIN
from custom_components.v2g.kinds.ocpp import _async_discovered, hubs
from simulator.ocpp_charger import EvSimulation, SimConfig, run_charger
from tests.conftest import only_backend


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    """Poll: the states change from another task (the websocket peer), not from an event here."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
def port(socket_enabled: None) -> int:
    """A free port on 127.0.0.1 for the OCPP server."""
    return _free_port()


OCPP_CHARGER = {
    "identity": "driveway",
    "max_charge_power_w": 11_000,
    "max_discharge_power_w": 7_000,
    "capacity_kwh": 60,
    "phases": "3",
    "connector_id": 1,
    "declared_bidirectional": False,
    "skip_schema_validation": False,
}


@pytest.fixture
async def ocpp_entry(hass: HomeAssistant, port: int) -> AsyncGenerator[MockConfigEntry]:
    """A site with an OCPP charger, made through the config flow, loaded."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Home"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "ocpp"}
    )
    assert result["step_id"] == "ocpp"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**OCPP_CHARGER, "port": port, "host": "127.0.0.1"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "connect"
    placeholders = result["description_placeholders"]
    assert placeholders["url"] == f"ws://homeassistant.local:{port}/driveway"
    assert placeholders["identity"] == "driveway"
    assert len(placeholders["password"]) >= 16
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.data == {"port": port, "host": "127.0.0.1"}
    [charger] = entry.subentries.values()
    assert charger.data["password"] == placeholders["password"]
    assert charger.unique_id == "ocpp_driveway"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _reconfigure_charger(
    hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str
) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )


def _password(entry: MockConfigEntry, identity: str = "driveway") -> str:
    return str(
        next(s for s in entry.subentries.values() if s.data["identity"] == identity).data[
            "password"
        ]
    )


@pytest.fixture
async def simulator(
    ocpp_entry: MockConfigEntry, port: int
) -> AsyncGenerator[Callable[..., EvSimulation]]:
    """Start simulated OCPP chargers against Home Assistant; all stop at the end."""
    stops: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(identity: str = "driveway", **overrides: Any) -> EvSimulation:
        config = SimConfig(
            url=f"ws://127.0.0.1:{port}/{identity}",
            identity=identity,
            password=_password(ocpp_entry, identity),
            meter_interval_s=0.2,
            reconnect_max_s=0.5,
            **overrides,
        )
        stop = asyncio.Event()
        sim = EvSimulation(config)
        task = asyncio.get_running_loop().create_task(run_charger(config, stop, sim))
        stops.append((stop, task))
        return sim

    yield start
    for stop, task in stops:
        stop.set()
        await task


async def test_charger_reports_through_ocpp(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, simulator: Callable[..., EvSimulation]
) -> None:
    # Before the charger connects, the entry is loaded and waits for it.
    assert hass.states.get("sensor.driveway_status").state == "offline"
    assert hass.states.get("sensor.driveway_plan").state == "waiting_for_charger"
    simulator(soc_pct=40.0)
    await _until(lambda: hass.states.get("sensor.driveway_ev_state_of_charge").state == "40.0")
    assert hass.states.get("binary_sensor.driveway_ev_plugged_in").state == "on"
    # Smart mode with a flat price charges at once; the charger follows the profile.
    await _until(lambda: float(hass.states.get("sensor.driveway_power").state) > 1000)
    assert hass.states.get("sensor.driveway_plan").state == "charging"
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    assert backend.state().extra["profile_purpose"] in {"TxProfile", "TxDefaultProfile"}
    # The EV said (NotifyEVChargingNeeds) it leaves in 8 hours: that is the plan's deadline.
    departure = datetime.fromisoformat(
        hass.states.get("sensor.driveway_plan").attributes["departure"]
    )
    assert abs(departure - dt_util.now() - timedelta(hours=8)) < timedelta(minutes=2)
    assert hass.states.get("sensor.driveway_ev_departure").attributes["source"] == "ev"
    # The charger device carries what the charger said about itself at boot.
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, "ocpp_driveway_charger")})
    assert device is not None
    assert (device.manufacturer, device.model) == ("V2G Smart Charging", "Simulated V2X 11")


async def test_v2g_over_ocpp_21(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, simulator: Callable[..., EvSimulation]
) -> None:
    """A 2.1 charger that reports V2X support is discharged with a signed central setpoint."""
    sim = simulator(soc_pct=70.0)
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _until(lambda: backend.capabilities.bidirectional)
    # Expensive now, cheap in three hours, departure in eight: sell now, buy back later.
    hour = dt_util.now().hour
    cheap = f"{(hour + 3) % 24:02d}:00-{(hour + 6) % 24:02d}:00=0.05"
    hass.config_entries.async_update_entry(
        ocpp_entry,
        options={
            **DEFAULT_OPTIONS,
            "price_source": "schedule",
            "price_schedule": cheap,
            "price_schedule_default_per_kwh": 0.60,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.50,
        },
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "time",
        "set_value",
        {"entity_id": "time.driveway_ev_departure_time", "time": f"{(hour + 8) % 24:02d}:00:00"},
        blocking=True,
    )
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.driveway_allow_vehicle_to_grid"}, blocking=True
    )
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _until(lambda: backend.state().extra["profile_mode"] == "setpoint")
    await _until(lambda: float(hass.states.get("sensor.driveway_power").state) < -1000)
    assert hass.states.get("binary_sensor.driveway_ev_discharging").state == "on"

    assert sim.active_profile(dt_util.utcnow()) is not None
    # Unloading clears the profile: the charger is never left discharging.
    await hass.config_entries.async_unload(ocpp_entry.entry_id)
    await hass.async_block_till_done()
    assert sim.active_profile(dt_util.utcnow()) is None
    assert sim.target_w(dt_util.utcnow()) >= 0
    assert not hubs(hass)


async def test_unknown_charger_is_discovered(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{port}/carport",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ) as response,
    ):
        assert response.status == 404
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["unique_id"] for flow in flows] == ["ocpp_carport"]
    flow = flows[0]
    assert flow["step_id"] == "discovered"
    # Adopting it: it joins the site whose server it knocked on.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {**OCPP_CHARGER, "identity": "carport", "phases": "1"}
    )
    assert result["step_id"] == "discovered_connect"
    assert result["description_placeholders"]["identity"] == "carport"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "charger_added"
    await hass.async_block_till_done()
    assert set(hubs(hass)[port].chargers) == {("driveway", 1), ("carport", 1)}
    assert hass.states.get("sensor.carport_status").state == "offline"


async def test_discovery_flood_is_capped(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A scanner trying many identities opens a few discovery flows, not hundreds."""
    async with aiohttp.ClientSession() as http:
        for n in range(30):
            async with http.get(
                f"http://127.0.0.1:{port}/scan{n}",
                headers={
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                },
            ) as response:
                assert response.status == 404
    await hass.async_block_till_done()
    # The server reports a few unknown identities per source address and window...
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 3
    # ...and Home Assistant keeps at most ten discovered chargers waiting, whatever reaches it.
    for n in range(30):
        _async_discovered(hass, port, f"many{n}", f"192.0.2.{n}")
    await hass.async_block_till_done()
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 10
    assert caplog.text.count("are waiting to be added") == 1


async def test_wrong_password_is_refused(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int
) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(
                f"ws://127.0.0.1:{port}/driveway",
                protocols=("ocpp2.1",),
                auth=aiohttp.BasicAuth("driveway", "not-the-password"),
            )
    assert err.value.status == 401
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_reconfigure_new_password_and_port_rules(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int
) -> None:
    old_password = _password(ocpp_entry)
    [subentry] = ocpp_entry.subentries.values()
    result = await _reconfigure_charger(hass, ocpp_entry, subentry.subentry_id)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"]["password"] == old_password
    fields = {key: value for key, value in OCPP_CHARGER.items() if key != "identity"} | {
        "skip_schema_validation": True,
        "new_password": True,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], fields)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert _password(ocpp_entry) != old_password
    assert ocpp_entry.subentries[subentry.subentry_id].data["skip_schema_validation"] is True
    assert only_backend(ocpp_entry).options.skip_schema_validation is True
    assert ocpp_entry.state is ConfigEntryState.LOADED

    # The site's server: TLS files must be readable, the port free (or our own).
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": ocpp_entry.entry_id}
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"port": port, "host": "127.0.0.1", "tls_certfile": "/nonexistent/cert.pem"},
    )
    assert result["errors"] == {"tls_certfile": "tls_invalid"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"port": taken, "host": "127.0.0.1"}
        )
        assert result["errors"] == {"port": "port_in_use"}
    new_port = _free_port()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"port": new_port, "host": "127.0.0.1"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert ocpp_entry.state is ConfigEntryState.LOADED
    assert set(hubs(hass)) == {new_port}

    # Another charger's identity must be new, and usable as a user name.
    result = await hass.config_entries.subentries.async_init(
        (ocpp_entry.entry_id, "charger"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "ocpp"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**OCPP_CHARGER, "identity": "a:b"}
    )
    assert result["errors"] == {"identity": "invalid_identity"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], OCPP_CHARGER)
    assert result["errors"] == {"identity": "identity_in_use"}


async def test_profile_rejected_repair_issue(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, issue_registry: ir.IssueRegistry
) -> None:
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    backend.last_rejection = "Rejected"
    backend._fire(backend_event("PROFILE_REJECTED"))
    [subentry_id] = ocpp_entry.subentries
    issue = issue_registry.async_get_issue(DOMAIN, f"profile_rejected.{subentry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"identity": "driveway", "reason": "Rejected"}
    backend._fire(backend_event("PROFILE_ACCEPTED"))
    assert issue_registry.async_get_issue(DOMAIN, f"profile_rejected.{subentry_id}") is None


def backend_event(name: str) -> Any:
    from custom_components.v2g.chargers.ocpp import StationEvent

    return StationEvent[name]


async def test_diagnostics_redact_the_charger(
    hass: HomeAssistant,
    hass_client: Any,
    ocpp_entry: MockConfigEntry,
    simulator: Callable[..., EvSimulation],
) -> None:
    from pytest_homeassistant_custom_component.components.diagnostics import (
        get_diagnostics_for_config_entry,
    )

    simulator()
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _until(lambda: backend.connected and backend.ocpp_version is not None)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, ocpp_entry)
    text = str(diagnostics)
    assert _password(ocpp_entry) not in text
    [charger] = diagnostics["chargers"]
    assert charger["data"]["password"] == "**REDACTED**"
    assert charger["backend"]["identity"] == "**REDACTED**"
    assert charger["backend"]["ocpp_version"] == "2.1"


async def test_phases_reach_the_station(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int
) -> None:
    """A one-phase charger's current limits are computed for one phase."""
    [subentry] = ocpp_entry.subentries.values()
    result = await _reconfigure_charger(hass, ocpp_entry, subentry.subentry_id)
    fields = {key: value for key, value in OCPP_CHARGER.items() if key != "identity"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], fields | {"phases": "1", "max_charge_power_w": 7_400}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    assert backend.options.phases == 1
    assert backend.capabilities.min_charge_power_w == pytest.approx(6 * 230)


@pytest.mark.parametrize(
    "wiring",
    [("2.0.1", 3, 3), ("2.0.1", 1, 1), ("2.1", 3, 3), ("2.1", 1, 1), ("2.1", 3, 1)],
    ids=["2.0.1-3ph", "2.0.1-1ph", "2.1-3ph", "2.1-1ph", "2.1-3ph-charger-1ph-ev"],
)
async def test_charge_only_stations_charge(
    hass: HomeAssistant,
    ocpp_entry: MockConfigEntry,
    simulator: Callable[..., EvSimulation],
    wiring: tuple[str, int, int],
) -> None:
    """A charge-only 2.0.1 / 2.1 charger with an AC EV charges in Smart and in Charge now.

    The EV announces its limit per phase (evMaxCurrent 16 A): counted on every phase it charges
    on, it is above the charger's minimum (6 A on those phases), so setpoints are not dropped.
    """
    version, phases, ev_phases = wiring
    simulator(
        soc_pct=40.0, bidirectional=False, ocpp_version=version, phases=phases, ev_phases=ev_phases
    )
    backend = only_backend(ocpp_entry)
    assert isinstance(backend, OcppStation)
    await _until(lambda: backend.ev_needs is not None and backend.ocpp_version == version)
    active = min(phases, ev_phases)
    await _until(lambda: backend.phases == active)
    assert backend.max_charge_power_w == pytest.approx(min(11_000, 16 * 230 * active))
    assert backend.min_charge_power_w == pytest.approx(6 * 230 * active)
    # Smart, flat price: the plan charges now, and the charger delivers it.
    await _until(lambda: float(hass.states.get("sensor.driveway_power").state) > 1000)
    assert hass.states.get("sensor.driveway_plan").state == "charging"
    # (The simulator charges at full power before any profile: wait for ours to be followed.)
    await _until(lambda: backend.state().extra["profile_mode"] == "limit")
    assert not backend.capabilities.bidirectional
    # Charge now: the EV's full power.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.driveway_mode", "option": "charge_now"},
        blocking=True,
    )
    await _until(
        lambda: (
            float(hass.states.get("sensor.driveway_power").state)
            > 0.95 * backend.max_charge_power_w
        )
    )
    assert hass.states.get("sensor.driveway_plan").state == "charging_now"


async def test_two_connectors_are_two_chargers_of_the_site(
    hass: HomeAssistant, ocpp_entry: MockConfigEntry, port: int, simulator: Callable[..., Any]
) -> None:
    """A second connector of the same charger: same identity and password, its own charger."""
    result = await hass.config_entries.subentries.async_init(
        (ocpp_entry.entry_id, "charger"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "ocpp"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], OCPP_CHARGER | {"connector_id": 2}
    )
    assert result["step_id"] == "connect"
    assert result["description_placeholders"]["password"] == _password(ocpp_entry)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    second = next(s for s in ocpp_entry.subentries.values() if s.data["connector_id"] == 2)
    assert second.unique_id == "ocpp_driveway_2"
    assert second.title == "driveway connector 2"
    hub = hubs(hass)[port]
    station_1 = hub.server.get_station("driveway", 1)
    station_2 = hub.server.get_station("driveway", 2)
    assert station_1 is not None
    assert station_2 is not None
    # The simulated charger plugs its EV into EVSE 2: that charger reports, the first does not.
    simulator(evse_id=2, soc_pct=55.0)
    await _until(lambda: station_2.connected and station_2.state().plugged_in)
    assert station_1.connected
    await _until(
        lambda: hass.states.get("sensor.driveway_connector_2_ev_state_of_charge").state == "55.0"
    )
    assert hass.states.get("binary_sensor.driveway_ev_plugged_in").state == "off"
    # Connector 1 taken away: connector 2's charger keeps its connection and its plan.
    hass.config_entries.async_remove_subentry(
        ocpp_entry,
        next(iter(s for s in ocpp_entry.subentries.values() if s is not second)).subentry_id,
    )
    await hass.async_block_till_done()
    assert station_2.connected
    assert hub.server.get_station("driveway", 1) is None
