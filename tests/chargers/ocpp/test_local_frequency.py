"""OCPP 2.1 LocalFrequency over real websockets: detection, the profile sent, fallback."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.v2g.chargers import LocalFrequencyBackend, SetpointRejectedError
from custom_components.v2g.chargers.ocpp import OcppServer
from custom_components.v2g.chargers.ocpp.v21 import local_frequency_from
from custom_components.v2g.frequency import Droop, watt_curve

from .conftest import Client, Connect, register, wait_for

LOCAL_FREQUENCY_CONFIG = {
    "SmartChargingCtrlr.RateUnit": "A,W",
    "V2XChargingCtrlr.Enabled": "true",
    "V2XChargingCtrlr.SupportedOperationModes": "ChargingOnly, CentralSetpoint, LocalFrequency",
}
CURVE = watt_curve(Droop(max_up_w=4_000, max_down_w=2_000), 4_000, 2_000)


def _period(client: Client, index: int = -1) -> dict[str, Any]:
    profile = client.rec.profiles[index]["charging_profile"]
    schedule = profile["charging_schedule"][0]
    assert schedule["charging_rate_unit"] == "W"
    period: dict[str, Any] = schedule["charging_schedule_period"][0]
    return period


def test_detection_from_v2x_variables() -> None:
    assert local_frequency_from({}) is None
    modes = "V2XChargingCtrlr.SupportedOperationModes"
    assert local_frequency_from({modes: "ChargingOnly,LocalFrequency"}) is True
    assert local_frequency_from({modes: "ChargingOnly,CentralFrequency"}) is False
    disabled = {modes: "LocalFrequency", "V2XChargingCtrlr.Enabled": "false"}
    assert local_frequency_from(disabled) is False


async def test_curve_is_sent_as_local_frequency(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    assert isinstance(station, LocalFrequencyBackend)
    client = await connect("cp1", "ocpp2.1", config=LOCAL_FREQUENCY_CONFIG)
    await wait_for(lambda: station.config.local_frequency is True)
    assert station.capabilities.local_frequency
    assert station.diagnostics()["local_frequency"] is True

    await station.async_apply_frequency_response(1_000.0, CURVE)
    assert _period(client) == {
        "start_period": 0,
        "operation_mode": "LocalFrequency",
        "v2x_baseline": 1000.0,
        "v2x_freq_watt_curve": [
            {"frequency": 49.8, "power": -4000.0},
            {"frequency": 49.98, "power": 0.0},
            {"frequency": 50.02, "power": 0.0},
            {"frequency": 50.2, "power": 2000.0},
        ],
        "limit": 3000.0,
        "discharge_limit": -3000.0,
    }
    assert station.state().extra["profile_mode"] == "frequency"
    assert station.state().extra["frequency_curve"] == (
        "49.8 Hz: -4000 W, 49.98 Hz: 0 W, 50.02 Hz: 0 W, 50.2 Hz: 2000 W"
    )
    # A baseline within the deadband is not sent again; beyond it, or a new curve, is.
    await station.async_apply_frequency_response(1_050.0, CURVE)
    assert len(client.rec.profiles) == 1
    await station.async_apply_frequency_response(3_000.0, CURVE)
    assert _period(client)["v2x_baseline"] == 3000.0
    smaller = watt_curve(Droop(max_up_w=1_000, max_down_w=1_000), 1_000, 1_000)
    await station.async_apply_frequency_response(3_000.0, smaller)
    assert _period(client)["v2x_freq_watt_curve"][0] == {"frequency": 49.8, "power": -1000.0}
    assert len(client.rec.profiles) == 3
    # A plain setpoint replaces the curve.
    await station.async_apply_setpoint(3_000.0)
    assert _period(client) == {
        "start_period": 0,
        "operation_mode": "CentralSetpoint",
        "setpoint": 3000.0,
    }


async def test_refused_curve_falls_back_to_the_setpoint(
    server: OcppServer, connect: Connect
) -> None:
    """A charger that refuses LocalFrequency follows the baseline; asked again on reconnect."""
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp2.1", config=LOCAL_FREQUENCY_CONFIG)
    client.rec.policy = lambda payload: (
        "Rejected"
        if payload["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0][
            "operation_mode"
        ]
        == "LocalFrequency"
        else "Accepted"
    )
    await wait_for(lambda: station.capabilities.local_frequency)
    with pytest.raises(SetpointRejectedError, match="LocalFrequency"):
        await station.async_apply_frequency_response(-2_000.0, CURVE)
    assert _period(client) == {
        "start_period": 0,
        "operation_mode": "CentralSetpoint",
        "setpoint": -2000.0,
    }
    assert not station.capabilities.local_frequency
    assert station.capabilities.bidirectional
    await client.close()
    await wait_for(lambda: not station.connected)
    await connect("cp1", "ocpp2.1", config=LOCAL_FREQUENCY_CONFIG)
    await wait_for(lambda: station.capabilities.local_frequency)


async def test_without_the_mode_no_curve(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    config = {**LOCAL_FREQUENCY_CONFIG}
    config["V2XChargingCtrlr.SupportedOperationModes"] = "ChargingOnly,CentralSetpoint"
    await connect("cp1", "ocpp2.1", config=config)
    await wait_for(lambda: station.config.local_frequency is False)
    assert station.capabilities.bidirectional
    assert not station.capabilities.local_frequency
