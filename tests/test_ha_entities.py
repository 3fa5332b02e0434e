"""A charger Home Assistant already controls, driven through real entities of other integrations.

Two homes: a charge-only charger made of helpers (an `input_number` in W, an `input_boolean`
switch, a template plug sensor, the car's battery as a template sensor), and a Wallbox Quasar as
core `wallbox` shows it (`tests/quasar_like.py`: a current number from -32 A to 32 A without a
unit, Wallbox's status texts, unsigned kW, a pause switch, and the car's own battery sensor).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigSubentryData,
)
from homeassistant.const import EVENT_CALL_SERVICE, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    mock_config_flow,
)

from custom_components.v2g.const import DEFAULT_OPTIONS, DOMAIN, UPDATE_INTERVAL
from custom_components.v2g.ha_entities import Control, HaEntitiesCharger
from custom_components.v2g.kinds import KINDS
from tests import quasar_like as q
from tests.conftest import only_backend, only_charger

pytestmark = pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")

CONTROL_W = "input_number.charger_power"
ENABLE = "input_boolean.charger_enabled"
PLUG = "binary_sensor.ev_plug"
CAR_SOC = "sensor.car_battery"

CHARGE_ONLY_FORM: dict[str, Any] = {
    "control_entity": CONTROL_W,
    "phases": "3",
    "voltage_v": 230,
    "enable_entity": ENABLE,
    "status_entity": PLUG,
    "max_charge_power_w": 7400,
    "max_discharge_power_w": 0,
    "capacity_kwh": 60,
    "ev_soc_entity": CAR_SOC,
}

QUASAR_FORM: dict[str, Any] = {
    "control_entity": q.CONTROL,
    "phases": "1",
    "voltage_v": 230,
    "enable_entity": q.PAUSE,
    "status_entity": q.STATUS,
    "power_entity": q.POWER,
    "energy_charged_entity": q.ENERGY_CHARGED,
    "energy_discharged_entity": q.ENERGY_DISCHARGED,
    "max_charge_power_w": 7400,
    "max_discharge_power_w": 7400,
    "capacity_kwh": 40,
    "ev_soc_entity": q.CAR_SOC,
}


@pytest.fixture
async def helpers(hass: HomeAssistant) -> None:
    """A charge-only charger made of helpers, and the car's battery level."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    numbers = {
        "charger_power": {"name": "Driveway", "min": 0, "max": 11_000, "step": 100},
        "car_soc": {"name": "Car SoC", "min": 0, "max": 100, "step": 1, "initial": 50},
        "small": {"name": "Small", "min": 0, "max": 5, "step": 1},
        "amps": {"name": "Amps", "min": 6, "max": 16, "step": 1},
    }
    numbers["charger_power"]["unit_of_measurement"] = "W"
    numbers["small"]["unit_of_measurement"] = numbers["amps"]["unit_of_measurement"] = "A"
    assert await async_setup_component(hass, "input_number", {"input_number": numbers})
    booleans = {"charger_enabled": {"name": "Charger enabled"}, "ev_plugged": {"initial": True}}
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": booleans})
    template = {
        "binary_sensor": [
            {
                "name": "EV plug",
                "device_class": "plug",
                "state": "{{ is_state('input_boolean.ev_plugged', 'on') }}",
            }
        ],
        "sensor": [
            {
                "name": "Car battery",
                "unit_of_measurement": "%",
                "device_class": "battery",
                "state": "{{ states('input_number.car_soc') }}",
            }
        ],
    }
    assert await async_setup_component(hass, "template", {"template": [template]})
    await hass.async_block_till_done()


async def _site_with(hass: HomeAssistant, form: dict[str, Any]) -> ConfigEntry:
    """A new site whose first charger is a charger Home Assistant already controls."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Home"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "ha_entities"}
    )
    assert result["step_id"] == "ha_entities"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


async def _update(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 0) -> None:
    """Let time pass (one update interval by default) and everything it triggers run."""
    freezer.tick(timedelta(seconds=seconds or UPDATE_INTERVAL.total_seconds()))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _call(hass: HomeAssistant, domain: str, service: str, **data: Any) -> None:
    """A user (or an automation) acts, not V2G Smart Charging."""
    await hass.services.async_call(domain, service, data, blocking=True)
    # Template entities render again on a later turn of the loop; then what they trigger runs.
    for _ in range(2):
        await hass.async_block_till_done(wait_background_tasks=True)


def _writes(calls: list[Event]) -> list[tuple[str, Any]]:
    """(service, value) of each call to the helpers' control and switch, in order."""
    return [
        (event.data["service"], event.data["service_data"].get("value"))
        for event in calls
        if event.data["service_data"].get("entity_id") in (CONTROL_W, ENABLE)
    ]


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_charge_only_charger_added_through_the_ui(
    hass: HomeAssistant, helpers: None, freezer: FrozenDateTimeFactory
) -> None:
    """The helpers become a charger; the car's battery level drives the plan."""
    entry = await _site_with(hass, CHARGE_ONLY_FORM)
    [charger] = entry.subentries.values()
    assert charger.title == "Driveway"  # the control's friendly name
    assert charger.unique_id == "ha_entities_input_number_charger_power"
    assert charger.data["ev_soc_entity"] == CAR_SOC
    assert charger.data["power_entity"] is None

    # Smart, flat price: it charges now at the charger's maximum, switched on.
    assert _state(hass, CONTROL_W) == "7400.0"
    assert _state(hass, ENABLE) == "on"
    assert _state(hass, "sensor.driveway_plan") == "charging"
    assert hass.states.get("sensor.driveway_plan").attributes["soc_assumed"] is False
    assert _state(hass, "sensor.driveway_ev_state_of_charge") == "50.0"
    assert _state(hass, "sensor.driveway_status") == "charging"
    # No power or energy sensor: power from the control, energy counted from it.
    assert _state(hass, "sensor.driveway_power") == "7400.0"
    await _update(hass, freezer)
    await _update(hass, freezer)
    assert float(_state(hass, "sensor.driveway_energy_charged")) == pytest.approx(
        7400 * 60 / 3_600_000, abs=1e-3
    )
    assert not only_backend(entry).capabilities.bidirectional

    # The car reports it reached the target: the charger is switched off.
    await _call(hass, "input_number", "set_value", entity_id="input_number.car_soc", value=80)
    await _update(hass, freezer)
    assert _state(hass, "sensor.driveway_plan") == "target_reached"
    assert _state(hass, ENABLE) == "off"
    assert _state(hass, "sensor.driveway_power") == "0.0"

    # Unplugged: the plan follows at once, without waiting for the next update.
    await _call(hass, "input_boolean", "turn_off", entity_id="input_boolean.ev_plugged")
    assert _state(hass, "sensor.driveway_plan") == "not_plugged_in"
    assert _state(hass, "binary_sensor.driveway_ev_plugged_in") == "off"


async def test_writes_have_a_deadband_and_a_rate_limit(
    hass: HomeAssistant, helpers: None, freezer: FrozenDateTimeFactory
) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await _site_with(hass, CHARGE_ONLY_FORM)
    await _call(
        hass, "select", "select_option", entity_id="select.driveway_mode", option="charge_now"
    )
    assert _writes(calls) == [("set_value", 7400.0), ("turn_on", None)]
    calls.clear()
    limit = "number.driveway_maximum_charging_power"

    # 7,450 W is 7,400 W on the control's 100 W steps: the control shows it already.
    await _call(hass, "number", "set_value", entity_id=limit, value=7450)
    assert _writes(calls) == []

    # Within 30 s of the last write: held back, and the newest value wins when the window opens.
    await _call(hass, "number", "set_value", entity_id=limit, value=5000)
    await _call(hass, "number", "set_value", entity_id=limit, value=4000)
    await _update(hass, freezer, 10)
    assert _writes(calls) == []
    assert _state(hass, CONTROL_W) == "7400.0"
    await _update(hass, freezer, 20)
    assert _writes(calls) == [("set_value", 4000.0)]
    assert _state(hass, CONTROL_W) == "4000.0"

    # A change of direction is never held back: off at once (a value held back is dropped),
    # and on again at once.
    calls.clear()
    await _call(hass, "number", "set_value", entity_id=limit, value=3000)
    await _call(hass, "select", "select_option", entity_id="select.driveway_mode", option="off")
    assert _writes(calls) == [("turn_off", None)]
    await _update(hass, freezer)
    assert _writes(calls) == [("turn_off", None)]
    assert _state(hass, CONTROL_W) == "4000.0"
    await _call(
        hass, "select", "select_option", entity_id="select.driveway_mode", option="charge_now"
    )
    assert _writes(calls) == [("turn_off", None), ("set_value", 3000.0), ("turn_on", None)]
    # Updates with nothing new write nothing.
    calls.clear()
    for _ in range(3):
        await _update(hass, freezer)
    assert _writes(calls) == []


async def test_switched_off_by_hand_is_paused_by_the_charger(
    hass: HomeAssistant, helpers: None, freezer: FrozenDateTimeFactory
) -> None:
    """The user switches the charger off: it is left alone until they switch it on again."""
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await _site_with(hass, CHARGE_ONLY_FORM)
    await _call(
        hass, "select", "select_option", entity_id="select.driveway_mode", option="charge_now"
    )
    assert _state(hass, ENABLE) == "on"

    await _call(hass, "input_boolean", "turn_off", entity_id=ENABLE)
    assert _state(hass, "sensor.driveway_plan") == "paused_by_charger"
    assert hass.states.get("sensor.driveway_plan").attributes["setpoint_w"] == 0.0
    calls.clear()
    limit = "number.driveway_maximum_charging_power"
    await _call(hass, "number", "set_value", entity_id=limit, value=5000)
    for _ in range(3):
        await _update(hass, freezer)
    assert _writes(calls) == []  # not once turned back on, nor its current changed
    assert _state(hass, ENABLE) == "off"
    assert _state(hass, "sensor.driveway_plan") == "paused_by_charger"

    # Switched on again by the user: steered again at once, with the new limit.
    await _call(hass, "input_boolean", "turn_on", entity_id=ENABLE)
    assert _state(hass, "sensor.driveway_plan") == "charging_now"
    assert _state(hass, CONTROL_W) == "5000.0"


async def test_current_changed_by_hand_pauses_until_a_mode_is_chosen(
    hass: HomeAssistant, helpers: None, freezer: FrozenDateTimeFactory
) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await _site_with(hass, CHARGE_ONLY_FORM)
    await _update(hass, freezer)
    await _call(hass, "input_number", "set_value", entity_id=CONTROL_W, value=3000)
    assert _state(hass, "sensor.driveway_plan") == "paused_by_charger"
    calls.clear()
    await _update(hass, freezer)
    await _update(hass, freezer)
    assert _writes(calls) == []
    assert _state(hass, CONTROL_W) == "3000.0"

    # The user chooses a mode in V2G Smart Charging: it steers again.
    await _call(
        hass, "select", "select_option", entity_id="select.driveway_mode", option="charge_now"
    )
    assert _state(hass, "sensor.driveway_plan") == "charging_now"
    assert _state(hass, CONTROL_W) == "7400.0"
    await _update(hass, freezer)
    assert _state(hass, "sensor.driveway_plan") == "charging_now"


@pytest.fixture
async def quasar(hass: HomeAssistant) -> AsyncGenerator[q.QuasarLike]:
    """A Quasar as core `wallbox` shows it, with its EV's battery sensor."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    with mock_config_flow(q.DOMAIN, q.QuasarFlow):
        yield await q.async_setup_quasar(hass)


def _expensive_now_cheap_later() -> dict[str, Any]:
    hour = dt_util.now().hour
    return {
        **DEFAULT_OPTIONS,
        "price_source": "schedule",
        "price_schedule": f"{(hour + 3) % 24:02d}:00-{(hour + 6) % 24:02d}:00=0.05",
        "price_schedule_default_per_kwh": 0.60,
        "export_price_source": "fixed",
        "export_price_fixed_per_kwh": 0.50,
    }


@pytest.fixture
def quasar_form() -> dict[str, Any]:
    """What the user enters for the Quasar (tests parametrize it)."""
    return QUASAR_FORM


@pytest.fixture
async def quasar_site(
    hass: HomeAssistant, quasar: q.QuasarLike, quasar_form: dict[str, Any]
) -> MockConfigEntry:
    """A site where selling now and buying back later pays, with the Quasar added from its page."""
    site = MockConfigEntry(
        domain=DOMAIN, title="Home", version=2, options=_expensive_now_cheap_later()
    )
    site.add_to_hass(hass)
    assert await hass.config_entries.async_setup(site.entry_id)
    await hass.async_block_till_done()

    result = await hass.config_entries.subentries.async_init(
        (site.entry_id, "charger"), context={"source": SOURCE_USER}
    )
    assert "ha_entities" in result["menu_options"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "ha_entities"}
    )
    # Wallbox's current number shows no unit: the form asks for it.
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], quasar_form)
    assert result["errors"] == {"control_entity": "control_unit"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**quasar_form, "control_unit": "A"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Quasar"  # the control's device
    await hass.async_block_till_done()

    hour = dt_util.now().hour
    await _call(
        hass,
        "time",
        "set_value",
        entity_id="time.quasar_ev_departure_time",
        time=f"{(hour + 8) % 24:02d}:00:00",
    )
    await _call(hass, "switch", "turn_on", entity_id="switch.quasar_allow_vehicle_to_grid")
    return site


async def test_quasar_discharges_on_plan(
    hass: HomeAssistant, quasar: q.QuasarLike, quasar_site: MockConfigEntry
) -> None:
    backend = only_backend(quasar_site)
    assert isinstance(backend, HaEntitiesCharger)
    capabilities = backend.capabilities
    assert capabilities.bidirectional
    assert capabilities.reports_soc
    assert capabilities.min_charge_power_w == capabilities.min_discharge_power_w == 230.0

    assert quasar.current_a <= -10  # selling now: at least 2.3 kW out of the EV
    assert _state(hass, "sensor.quasar_plan") == "discharging"
    assert float(_state(hass, "sensor.quasar_power")) == pytest.approx(quasar.current_a * 230)
    assert _state(hass, "sensor.quasar_status") == "discharging"
    assert _state(hass, "binary_sensor.quasar_ev_discharging") == "on"
    # The car's own sensor gives the state of charge; energy comes from the Wallbox's sensors.
    assert _state(hass, "sensor.quasar_ev_state_of_charge") == "70.0"
    assert hass.states.get("sensor.quasar_plan").attributes["soc_assumed"] is False
    assert _state(hass, "sensor.quasar_energy_charged") == "120.0"
    assert _state(hass, "sensor.quasar_energy_discharged") == "30.0"
    device = dr.async_get(hass).async_get_device(
        identifiers={(DOMAIN, "ha_entities_number_quasar_maximum_charging_current_charger")}
    )
    assert device is not None
    assert (device.manufacturer, device.model) == ("Wallbox", "Quasar")

    assert backend.diagnostics()["config"]["control_entity"] == q.CONTROL
    assert backend.diagnostics()["paused_by_charger"] is False

    # Charge now, with the power sensor gone: charging at the control's 32 A (an upper bound).
    quasar.unavailable = {"power"}
    await _call(
        hass, "select", "select_option", entity_id="select.quasar_mode", option="charge_now"
    )
    assert quasar.current_a == 32
    assert _state(hass, "sensor.quasar_status") == "charging"
    assert _state(hass, "sensor.quasar_power") == str(32 * 230.0)

    # Unloading leaves it idle (paused through its switch).
    assert await hass.config_entries.async_unload(quasar_site.entry_id)
    await hass.async_block_till_done()
    assert quasar.paused
    assert quasar.power_kw == 0.0


@pytest.mark.parametrize(
    "quasar_form",
    [QUASAR_FORM, {k: v for k, v in QUASAR_FORM.items() if k != "enable_entity"}],
    ids=["with-switch", "without-switch"],
)
async def test_control_unavailable_mid_discharge(
    hass: HomeAssistant,
    quasar: q.QuasarLike,
    quasar_site: MockConfigEntry,
    quasar_form: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The current number goes away while discharging: when it is back, 0 first, then the plan."""
    assert quasar.current_a < 0
    issue_id = f"charger_entity_unavailable.{only_charger(quasar_site).subentry_id}"
    issues = ir.async_get(hass)

    quasar.unavailable = {"current"}
    quasar.update()
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"charger": "Quasar", "entity_id": q.CONTROL}
    await _update(hass, freezer)
    assert _state(hass, "sensor.quasar_power") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.quasar_plan") == STATE_UNAVAILABLE
    assert quasar.power_kw > 0  # the charger goes on discharging by itself meanwhile

    written = len(quasar.written)
    quasar.unavailable = set()
    quasar.update()
    await hass.async_block_till_done()
    # Back: stopped first, never discharging blindly (through its switch when it has one).
    assert quasar.power_kw == 0.0
    if "enable_entity" in quasar_form:
        assert quasar.paused
        assert quasar.written[written:] == []
    else:
        assert quasar.written[written:] == [0.0]
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    # The next update reads everything afresh and follows the plan again.
    await _update(hass, freezer)
    assert quasar.power_kw > 0
    assert quasar.current_a < 0
    assert _state(hass, "sensor.quasar_plan") == "discharging"


async def test_status_unavailable_mid_discharge(
    hass: HomeAssistant,
    quasar: q.QuasarLike,
    quasar_site: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without its status the charger is unavailable: the control still works, so 0 at once."""
    issue_id = f"charger_entity_unavailable.{only_charger(quasar_site).subentry_id}"
    quasar.unavailable = {"status"}
    quasar.update()
    await hass.async_block_till_done()
    assert quasar.paused
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"charger": "Quasar", "entity_id": q.STATUS}
    await _update(hass, freezer)
    assert _state(hass, "sensor.quasar_plan") == STATE_UNAVAILABLE
    assert quasar.paused  # nobody turned it back on

    quasar.unavailable = set()
    quasar.update()
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await _update(hass, freezer)
    assert _state(hass, "sensor.quasar_plan") == "discharging"
    assert quasar.power_kw > 0


async def test_quasar_paused_in_the_app(
    hass: HomeAssistant,
    quasar: q.QuasarLike,
    quasar_site: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Paused in the Wallbox app (shows up on the next poll, not by a service call)."""
    # Later than 5 s after our last write: a state written sooner would still carry our context.
    freezer.tick(timedelta(seconds=10))
    quasar.paused = True
    quasar.update()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "sensor.quasar_plan") == "paused_by_charger"
    written = len(quasar.written)
    await _update(hass, freezer)
    assert quasar.written[written:] == []
    assert quasar.paused
    # Resumed in the app: steered again.
    quasar.paused = False
    quasar.update()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "sensor.quasar_plan") == "discharging"


async def test_quasar_cloud_down(
    hass: HomeAssistant,
    quasar: q.QuasarLike,
    quasar_site: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Setting the current fails: nothing is assumed sent, and it is tried again next time."""
    quasar.cloud_down = True
    await _call(
        hass, "select", "select_option", entity_id="select.quasar_mode", option="charge_now"
    )
    assert hass.states.get("sensor.quasar_plan").attributes["setpoint_w"] == 0.0
    assert quasar.current_a < 0
    quasar.cloud_down = False
    await _update(hass, freezer)
    assert quasar.current_a == 32
    assert _state(hass, "sensor.quasar_plan") == "charging_now"


async def test_entities_appear_after_the_site(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """At startup the charger's integration may load after ours: the charger joins when it has."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    spec = KINDS["ha_entities"]
    data = spec.to_data(hass, {**QUASAR_FORM, "control_unit": "A"}, None)
    site = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        version=2,
        options=DEFAULT_OPTIONS,
        subentries_data=[
            ConfigSubentryData(
                data=data, subentry_type="charger", title="Quasar", unique_id=spec.unique_id(data)
            )
        ],
    )
    site.add_to_hass(hass)
    assert await hass.config_entries.async_setup(site.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, "sensor.quasar_plan") == STATE_UNAVAILABLE

    with mock_config_flow(q.DOMAIN, q.QuasarFlow):
        quasar = await q.async_setup_quasar(hass)
        await _update(hass, freezer)
        # Flat price: charging now, towards the target.
        assert _state(hass, "sensor.quasar_plan") == "charging"
        assert quasar.current_a > 0
        assert _state(hass, "sensor.quasar_status") == "charging"
        assert await hass.config_entries.async_unload(site.entry_id)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"control_entity": "sensor.car_battery"}, {"control_entity": "entity_domain"}),
        ({"control_entity": "number.nope"}, {"control_entity": "entity_not_found"}),
        ({"control_entity": "input_number.small"}, {"control_entity": "control_range"}),
        (
            {"control_entity": "input_number.amps", "enable_entity": None},
            {"enable_entity": "enable_required"},
        ),
        ({"enable_entity": q.CONTROL}, {"enable_entity": "entity_domain"}),
        ({"status_entity": q.PAUSE}, {"status_entity": "entity_domain"}),
        ({"power_entity": q.ENERGY_CHARGED}, {"power_entity": "power_unit"}),
        ({"energy_charged_entity": q.POWER}, {"energy_charged_entity": "energy_unit"}),
        (
            {"energy_discharged_entity": "sensor.nope"},
            {"energy_discharged_entity": "entity_not_found"},
        ),
        ({"ev_soc_entity": q.POWER}, {"ev_soc_entity": "soc_unit"}),
    ],
)
async def test_form_checks_each_entity(
    hass: HomeAssistant,
    helpers: None,
    quasar: q.QuasarLike,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    form = {**QUASAR_FORM, "control_unit": "A", **changes}
    spec = KINDS["ha_entities"]
    assert await spec.async_validate(hass, None, {**QUASAR_FORM, "control_unit": "A"}, None) == {}
    assert await spec.async_validate(hass, None, form, None) == errors


async def test_reconfigure_and_the_generic_soc_sensor(
    hass: HomeAssistant, helpers: None, quasar: q.QuasarLike, freezer: FrozenDateTimeFactory
) -> None:
    """A power sensor is added later; clearing the SoC sensor leaves the SoC unknown."""
    entry = await _site_with(hass, CHARGE_ONLY_FORM)
    subentry = only_charger(entry).subentry
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    form = {**CHARGE_ONLY_FORM, "power_entity": q.POWER}
    del form["ev_soc_entity"]
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    assert entry.subentries[subentry.subentry_id].data["ev_soc_entity"] is None
    await _update(hass, freezer)
    assert _state(hass, "sensor.driveway_ev_state_of_charge") == "unknown"
    assert hass.states.get("sensor.driveway_plan").attributes["soc_assumed"] is True
    # The power now comes from the sensor (the Quasar's, idle here), not from the control.
    assert _state(hass, "sensor.driveway_power") == "0.0"


@pytest.mark.parametrize(
    ("control", "power_w", "value"),
    [
        (Control(-32, 32, 1, 230, None), 3000, 13),  # 13.04 A: towards zero
        (Control(-32, 32, 1, 230, None), -3000, -13),
        (Control(-32, 32, 1, 230, None), 100, 0),  # below 1 A
        (Control(-32, 32, 1, 230, None), -20_000, -32),
        (Control(6, 16, 1, 690, None), 3000, 0),  # 4.3 A: below the 6 A minimum
        (Control(6, 16, 1, 690, None), 5000, 7),
        (Control(6, 16, 1, 690, None), -5000, 0),  # cannot discharge
        (Control(0, 11_000, 100, 1, None), 7450, 7400),
        (Control(-32, 32, 5, 230, None), -500, -2),  # -32 + 6 x 5: the step closest to 0
    ],
)
def test_setpoints_on_the_controls_steps(control: Control, power_w: float, value: float) -> None:
    assert control.quantise(power_w) == value
