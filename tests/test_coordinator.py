"""The coordinator charging the simulated EV to its target over simulated hours."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.v2g.chargers import SetpointRejectedError
from custom_components.v2g.chargers.simulated import SimulatedCharger
from custom_components.v2g.const import UPDATE_INTERVAL
from tests.conftest import charger_data, only_backend


async def _run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    duration: timedelta,
    step: timedelta = UPDATE_INTERVAL,
) -> None:
    """Move the clock; the coordinator updates once per step (the simulation integrates)."""
    for _ in range(int(duration / step)):
        freezer.tick(step)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.freeze_time("2026-01-15 18:00:30+01:00")
async def test_charge_now_to_target_overnight(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    backend = only_backend(init_integration)
    assert isinstance(backend, SimulatedCharger)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "charge_now"},
        blocking=True,
    )
    # 40 % of 60 kWh to 80 %: 24 kWh into the battery, 26.1 kWh from the grid at 92 %.
    assert hass.states.get("sensor.garage_status").state == "charging"
    assert hass.states.get("sensor.garage_plan").state == "charging_now"

    await _run(hass, freezer, timedelta(hours=3))
    soc = float(hass.states.get("sensor.garage_ev_state_of_charge").state)
    assert soc == pytest.approx(80.0, abs=0.6)  # stops within one update of the target
    assert hass.states.get("sensor.garage_status").state == "idle"
    assert hass.states.get("sensor.garage_ev_energy_to_target").state == "0.0"
    assert backend.setpoint_w == 0.0
    charged = float(hass.states.get("sensor.garage_energy_charged").state)
    assert charged == pytest.approx(24 / 0.92, rel=0.02)
    assert hass.states.get("sensor.garage_energy_discharged").state == "0.0"  # never discharges
    assert charger_data(init_integration).decision.reason == "target_reached"

    # The EV leaves at 07:30 and comes back at 18:00 with 8 kWh less; charging starts again.
    await _run(hass, freezer, timedelta(hours=21), step=timedelta(minutes=5))
    assert hass.states.get("binary_sensor.garage_ev_plugged_in").state == "on"
    assert hass.states.get("sensor.garage_status").state == "charging"


@pytest.mark.freeze_time("2026-01-15 12:00:00+01:00")
async def test_idle_while_unplugged(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    # The simulated EV is home when the simulation starts, and leaves at 07:30.
    assert hass.states.get("binary_sensor.garage_ev_plugged_in").state == "on"
    await _run(hass, freezer, timedelta(hours=20), step=timedelta(minutes=15))
    assert hass.states.get("binary_sensor.garage_ev_plugged_in").state == "off"
    assert hass.states.get("sensor.garage_status").state == "disconnected"
    assert hass.states.get("sensor.garage_ev_state_of_charge").state == "unknown"
    assert hass.states.get("sensor.garage_ev_energy_to_target").state == "unknown"
    assert charger_data(init_integration).decision.reason == "not_plugged_in"


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_rejected_setpoint_is_retried(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = only_backend(init_integration)
    assert isinstance(backend, SimulatedCharger)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )
    original = SimulatedCharger.async_apply_setpoint

    async def reject(self: SimulatedCharger, power_w: float) -> None:
        raise SetpointRejectedError("profile rejected")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SimulatedCharger, "async_apply_setpoint", reject)
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": "select.garage_mode", "option": "charge_now"},
            blocking=True,
        )
        await hass.async_block_till_done()
        assert "Garage rejected a setpoint of 11000 W" in caplog.text
        assert hass.states.get("sensor.garage_power").state == "0.0"
    mp.setattr(SimulatedCharger, "async_apply_setpoint", original)
    await _run(hass, freezer, UPDATE_INTERVAL)
    assert hass.states.get("sensor.garage_power").state == "11000.0"


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_planning_failure_falls_back_to_charging(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A solver bug must never strand the driver: charge to the target, never discharge."""
    coordinator = init_integration.runtime_data.coordinator
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.garage_mode", "option": "off"},
        blocking=True,
    )

    def broken(*_: object) -> None:
        raise RuntimeError("solver exploded")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("custom_components.v2g.coordinator.make_plan", broken)
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": "select.garage_mode", "option": "smart"},
            blocking=True,
        )
        await _run(hass, freezer, UPDATE_INTERVAL * 3)
        assert coordinator.data.plan is None
        assert charger_data(init_integration).decision.reason == "charging_now"
        assert hass.states.get("sensor.garage_power").state == "11000.0"
        assert caplog.text.count("Planning failed") == 1
    await _run(hass, freezer, UPDATE_INTERVAL)
    assert coordinator.data.plan is not None
    assert "Planning works again" in caplog.text
