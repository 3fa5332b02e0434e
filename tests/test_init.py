"""Setup, unload, reload, the charger going away and coming back, and stopping safely."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.chargers.simulated import SimulatedCharger
from custom_components.v2g.const import DOMAIN, UPDATE_INTERVAL
from tests.conftest import only_backend

EVENING = "2026-01-15 18:30:00+01:00"  # the simulated EV is home from 18:00


def _backend(entry: MockConfigEntry) -> SimulatedCharger:
    backend = only_backend(entry)
    assert isinstance(backend, SimulatedCharger)
    return backend


@pytest.mark.freeze_time(EVENING)
async def test_setup_unload_reload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.garage_power") is not None

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    backend = _backend(entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert backend.setpoint_w == 0.0  # unloading leaves the charger idle
    assert hass.states.get("sensor.garage_power").state == STATE_UNAVAILABLE


@pytest.mark.freeze_time(EVENING)
async def test_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    charger = device_registry.async_get_device(identifiers={(DOMAIN, "simulated_garage_charger")})
    ev = device_registry.async_get_device(identifiers={(DOMAIN, "simulated_garage_ev")})
    assert charger is not None
    assert ev is not None
    assert charger.name == "Garage"
    assert ev.name == "Garage EV"
    assert ev.via_device_id == charger.id


@pytest.mark.freeze_time(EVENING)
async def test_charger_offline_at_setup_is_retried_by_the_site(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A charger that cannot be reached at setup does not hold the site back: it is tried again
    on every update and joins when it answers."""
    mock_config_entry.add_to_hass(hass)
    original = SimulatedCharger.async_start
    online = False

    async def flaky_start(self: SimulatedCharger) -> None:
        self.online = online
        await original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SimulatedCharger, "async_start", flaky_start)
        await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert mock_config_entry.state is ConfigEntryState.LOADED
        assert hass.states.get("sensor.garage_power").state == STATE_UNAVAILABLE
        assert hass.states.get("sensor.home_ev_power").state == "0.0"
        online = True
        freezer.tick(UPDATE_INTERVAL)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.garage_power").state == "11000.0"


@pytest.mark.freeze_time(EVENING)
async def test_charger_drops_off_and_recovers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = _backend(init_integration)
    assert hass.states.get("sensor.garage_power").state == "11000.0"

    backend.online = False
    for _ in range(3):
        freezer.tick(UPDATE_INTERVAL)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.garage_power").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.garage_ev_plugged_in").state == STATE_UNAVAILABLE
    # Settings stay usable while the charger is away.
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "80"
    assert caplog.text.count("Garage is unavailable") == 1  # logged once, not per update

    backend.online = True
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.garage_power").state == "11000.0"
    assert "Garage is available again" in caplog.text


@pytest.mark.freeze_time(EVENING)
async def test_home_assistant_stop_leaves_charger_idle(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    backend = _backend(init_integration)
    assert backend.setpoint_w == 11_000.0
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert backend.setpoint_w == 0.0


@pytest.mark.freeze_time(EVENING)
async def test_settings_survive_restart(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.garage_ev_target_state_of_charge", "value": 65},
        blocking=True,
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    await hass.services.async_call(
        "time",
        "set_value",
        {"entity_id": "time.garage_ev_departure_time", "time": "06:45:00"},
        blocking=True,
    )
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    freezer.tick(timedelta(seconds=5))  # the store saves after a short delay
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("number.garage_ev_target_state_of_charge").state == "65"
    assert hass.states.get("select.garage_mode").state == "off"
    assert hass.states.get("time.garage_ev_departure_time").state == "06:45:00"
    assert hass.states.get("switch.garage_allow_vehicle_to_grid").state == "on"
    assert _backend(init_integration).setpoint_w == 0.0  # mode "off" applied at once after restart


async def test_remove_entry_forgets_settings(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_storage: dict[str, object]
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    await hass.async_block_till_done()
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{init_integration.entry_id}" not in hass_storage


@pytest.mark.freeze_time(EVENING)
async def test_unusable_options_stop_setup_with_a_reason(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={**mock_config_entry.options, "price_source": "entity"}
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert "a price entity is required" in (mock_config_entry.reason or "")


@pytest.mark.freeze_time(EVENING)
async def test_setting_changed_just_before_reload_is_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.garage_allow_vehicle_to_grid"}, blocking=True
    )
    # No time passes: the delayed save has not run when the entry reloads.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("switch.garage_allow_vehicle_to_grid").state == "on"


@pytest.mark.freeze_time(EVENING)
async def test_nothing_is_sent_after_home_assistant_stops(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A refresh pushed by the charger after the stop must not start charging again."""
    backend = _backend(init_integration)
    coordinator = init_integration.runtime_data.coordinator
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert backend.setpoint_w == 0.0
    await coordinator.async_request_refresh()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert backend.setpoint_w == 0.0


@pytest.mark.freeze_time(EVENING)
async def test_simulated_charger_keeps_its_ev_across_restarts(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A reload or restart continues the simulation (no reset to 40 %, no meter reset)."""
    for _ in range(6):
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    soc = hass.states.get("sensor.garage_ev_state_of_charge").state
    charged = hass.states.get("sensor.garage_energy_charged").state
    assert float(soc) > 45
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.garage_ev_state_of_charge").state == soc
    assert hass.states.get("sensor.garage_energy_charged").state == charged
