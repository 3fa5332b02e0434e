"""The simulator program against the real server, end to end, and its profile logic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.v2g.chargers import ChargerStatus
from custom_components.v2g.chargers.ocpp import OcppServer
from simulator.ocpp_charger import EvSimulation, SimConfig, parse_args, run_charger

from .conftest import PASSWORD, register, wait_for


async def test_simulator_end_to_end(server: OcppServer) -> None:
    station = register(server, "sim-1")
    config = SimConfig(
        url=f"ws://127.0.0.1:{server.port}/sim-1",
        identity="sim-1",
        password=PASSWORD,
        soc_pct=50.0,
        meter_interval_s=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_charger(config, stop))
    try:
        await wait_for(lambda: station.ev_needs is not None and station.config.v2x_supported)
        state = await station.async_read_state()
        assert state.plugged_in
        assert state.soc_pct == pytest.approx(50.0, abs=0.5)
        assert station.capabilities.bidirectional
        assert station.transaction_id is not None
        assert station.ev_needs is not None
        assert station.ev_needs.supports_v2x
        assert station.ev_needs.departure_time is not None

        # No profile: plain charging at full power.
        await wait_for(lambda: station.state().power_w > 10_000)
        await station.async_apply_setpoint(-3_000.0)
        await wait_for(lambda: station.state().power_w == pytest.approx(-3_000.0))
        state = await station.async_read_state()
        assert state.status is ChargerStatus.DISCHARGING
        assert state.setpoint_w == -3_000.0

        await station.async_stop()  # clears the profile: back to plain charging
        await wait_for(lambda: station.state().power_w > 10_000)
        energy_before = station.state().energy_charged_kwh
        await wait_for(lambda: station.state().energy_charged_kwh > energy_before)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_simulator_reconnects(server: OcppServer) -> None:
    station = register(server, "sim-2")
    config = SimConfig(
        url=f"ws://127.0.0.1:{server.port}/sim-2",
        identity="sim-2",
        password=PASSWORD,
        meter_interval_s=0.1,
        reconnect_max_s=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_charger(config, stop))
    try:
        await wait_for(lambda: station.connected and station.transaction_id is not None)
        transaction_id = station.transaction_id
        session = station.session
        assert session is not None
        await session.connection.close()
        await wait_for(lambda: station.connected and station.session is not session)
        await wait_for(lambda: station.boot_info is not None)
        assert station.transaction_id == transaction_id
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("skew_min", [-6, -2, 2, 6])
async def test_skewed_charger_clock_follows_the_setpoint(server: OcppServer, skew_min: int) -> None:
    """A charger whose clock is minutes off ours still follows the profile at once.

    Before, profiles started 60 s in the past and expired after 5 min: a charger 2-6 min behind
    waited for the start, one 6 min ahead saw the profile expired, both charged at full power.
    """
    station = register(server, "sim-skew")
    config = SimConfig(
        url=f"ws://127.0.0.1:{server.port}/sim-skew",
        identity="sim-skew",
        password=PASSWORD,
        meter_interval_s=0.1,
        clock_skew_s=skew_min * 60.0,
    )
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_charger(config, stop))
    try:
        await wait_for(lambda: station.ev_needs is not None and station.capabilities.bidirectional)
        await station.async_apply_setpoint(-3_000.0)
        await wait_for(lambda: station.state().power_w == pytest.approx(-3_000.0))
        await station.async_apply_setpoint(5_000.0)
        await wait_for(lambda: station.state().power_w == pytest.approx(5_000.0))
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def test_profile_validity_and_offline_fallback() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    clock = [now]
    sim = EvSimulation(SimConfig(url="ws://x/y", identity="y"), clock=lambda: clock[0])
    sim.set_online(True)
    profile = {
        "id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "valid_to": "2026-01-01T12:05:00Z",
        "max_offline_duration": 120,
        "invalid_after_offline_duration": True,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [
                    {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": -4000}
                ],
            }
        ],
    }
    assert sim.accept_profile(profile) == "Accepted"
    assert sim.target_w(now) == -4000
    assert sim.target_w(now + timedelta(minutes=6)) == 11_000  # expired: plain charging
    assert sim.accept_profile(profile) == "Accepted"
    sim.set_online(False)
    assert sim.target_w(now + timedelta(seconds=60)) == -4000
    assert sim.target_w(now + timedelta(seconds=121)) == 11_000  # offline too long
    # Charge-only hardware refuses a setpoint; limits in A are converted.
    sim = EvSimulation(SimConfig(url="ws://x/y", identity="y", bidirectional=False))
    assert sim.accept_profile(profile) == "Rejected"
    profile["valid_to"] = None
    profile["charging_schedule"][0]["charging_rate_unit"] = "A"
    profile["charging_schedule"][0]["charging_schedule_period"] = [
        {"start_period": 0, "limit": 10.0, "number_phases": 3}
    ]
    assert sim.accept_profile(profile) == "Accepted"
    assert sim.target_w(datetime.now(UTC)) == pytest.approx(6900.0)
    assert sim.clear_profile(1) == "Accepted"
    assert sim.clear_profile(1) == "Unknown"
    # A profile whose schedule starts later is not followed before its start.
    sim = EvSimulation(SimConfig(url="ws://x/y", identity="y"), clock=lambda: clock[0])
    profile["charging_schedule"][0]["start_schedule"] = "2026-01-01T12:10:00Z"
    assert sim.accept_profile(profile) == "Accepted"
    assert sim.target_w(now) == 11_000
    assert sim.target_w(now + timedelta(minutes=11)) == pytest.approx(6900.0)


def test_parse_args() -> None:
    config = parse_args(
        ["--url", "ws://127.0.0.1:9000", "--identity", "sim", "--no-bidirectional", "--soc", "30"]
    )
    assert config.url == "ws://127.0.0.1:9000/sim"
    assert not config.bidirectional
    assert config.soc_pct == 30.0
    assert parse_args(["--url", "ws://h:9000/ocpp/cp7"]).identity == "cp7"
    config = parse_args(["--evse-id", "2", "--clock-skew", "-300"])
    assert (config.evse_id, config.clock_skew_s) == (2, -300.0)
