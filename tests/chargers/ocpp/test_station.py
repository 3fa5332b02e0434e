"""Stations over real websockets: readings -> ChargerState, setpoints -> SetChargingProfile."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.v2g.chargers import (
    ChargerBackend,
    ChargerStatus,
    ChargerUnavailableError,
    SetpointRejectedError,
)
from custom_components.v2g.chargers.ocpp import OcppServer, StationEvent, StationOptions
from custom_components.v2g.chargers.ocpp.base import (
    TX_DEFAULT_PROFILE_ID,
    TX_PROFILE_ID,
    CallGate,
    Priority,
)

from .conftest import FAST, PASSWORD, Client, Connect, FakeClock, Recorder, register, wait_for

V2X_CONFIG = {
    "SmartChargingCtrlr.RateUnit": "A,W",
    "SmartChargingCtrlr.ProfileStackLevel": "8",
    "V2XChargingCtrlr.Enabled": "true",
    "V2XChargingCtrlr.SupportedOperationModes": "ChargingOnly,CentralSetpoint",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _profile_2x(client: Client, index: int = -1) -> dict[str, Any]:
    return client.rec.profiles[index]["charging_profile"]


def _period_2x(client: Client, index: int = -1) -> dict[str, Any]:
    return _profile_2x(client, index)["charging_schedule"][0]["charging_schedule_period"][0]


async def test_v16_meter_values_to_state(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    assert isinstance(station, ChargerBackend)
    client = await connect("cp1", "ocpp1.6")
    await client.cp.call(
        client.call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
    )
    await client.cp.call(
        client.call.MeterValues(
            connector_id=1,
            meter_value=[
                {
                    "timestamp": _now(),
                    "sampled_value": [
                        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                        {
                            "value": "1234.5",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "kWh",
                        },
                        {"value": "250", "measurand": "Energy.Active.Export.Register"},
                        {"value": "63", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                        {
                            "value": "10.4",
                            "measurand": "Current.Import",
                            "unit": "A",
                            "phase": "L1",
                        },
                        {
                            "value": "10.6",
                            "measurand": "Current.Import",
                            "unit": "A",
                            "phase": "L2",
                        },
                        {"value": "229", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                        {"value": "231", "measurand": "Voltage", "unit": "V", "phase": "L2-N"},
                        {"value": "31", "measurand": "Temperature", "unit": "Celsius"},
                    ],
                }
            ],
        )
    )
    state = await station.async_read_state()
    assert state.plugged_in
    assert state.status is ChargerStatus.CHARGING
    assert state.power_w == 7200.0
    assert state.energy_charged_kwh == pytest.approx(1234.5)
    assert state.energy_discharged_kwh == pytest.approx(0.25)
    assert state.soc_pct == 63.0
    assert state.max_discharge_power_w == 0.0
    assert state.extra["current_a"] == pytest.approx(10.6)
    assert state.extra["voltage_v"] == pytest.approx(230.0)
    assert state.extra["vendor"] == "TestVendor"
    assert state.updated_at is not None
    assert station.capabilities.reports_soc
    assert not station.capabilities.bidirectional

    # Unplugging: Available -> disconnected, no SoC, no power.
    await client.cp.call(
        client.call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
    )
    state = await station.async_read_state()
    assert state.status is ChargerStatus.DISCONNECTED
    assert state.power_w == 0.0
    assert state.soc_pct is None
    await client.cp.call(
        client.call.StatusNotification(connector_id=0, error_code="OtherError", status="Faulted")
    )
    assert (await station.async_read_state()).status is ChargerStatus.FAULT


async def test_v21_transaction_event_discharging(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1", declared_bidirectional=True)
    client = await connect("cp1", "ocpp2.1")
    meter = [
        {
            "timestamp": _now(),
            "sampled_value": [
                {"value": 0, "measurand": "Power.Active.Import"},
                {
                    "value": 3.5,
                    "measurand": "Power.Active.Export",
                    "unit_of_measure": {"unit": "kW"},
                },
                {"value": 42, "measurand": "SoC"},
                {
                    "value": 5,
                    "measurand": "Energy.Active.Export.Register",
                    "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                },
            ],
        }
    ]
    await client.cp.call(
        client.call.TransactionEvent(
            event_type="Started",
            timestamp=_now(),
            trigger_reason="CablePluggedIn",
            seq_no=0,
            transaction_info={"transaction_id": "tx-1", "charging_state": "EVConnected"},
            evse={"id": 1, "connector_id": 1},
            meter_value=meter,
        )
    )
    state = await station.async_read_state()
    assert station.transaction_id == "tx-1"
    assert state.status is ChargerStatus.DISCHARGING
    assert state.power_w == -3500.0
    assert state.energy_discharged_kwh == pytest.approx(5.0)
    assert state.soc_pct == 42.0
    assert station.capabilities.bidirectional
    assert state.max_discharge_power_w == 11_000.0
    await client.cp.call(
        client.call.TransactionEvent(
            event_type="Ended",
            timestamp=_now(),
            trigger_reason="EVCommunicationLost",
            seq_no=1,
            transaction_info={"transaction_id": "tx-1"},
        )
    )
    assert station.transaction_id is None


async def test_ev_charging_needs(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1", max_charge_power_w=22_000.0)
    events: list[StationEvent] = []
    station.add_event_listener(lambda _station, event: events.append(event))
    client = await connect("cp1", "ocpp2.1")
    departure = (datetime.now(UTC) + timedelta(hours=8)).replace(microsecond=0)
    await client.cp.call(
        client.call.NotifyEVChargingNeeds(
            evse_id=1,
            charging_needs={
                "requested_energy_transfer": "AC_BPT",
                "control_mode": "DynamicControl",
                "departure_time": departure.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ac_charging_parameters": {
                    "energy_amount": 20_000,
                    "ev_min_current": 6,
                    "ev_max_current": 16,
                    "ev_max_voltage": 400,
                },
                "v2x_charging_parameters": {
                    "max_charge_power": 11_000,
                    "max_discharge_power": 7_000,
                    "ev_min_energy_request": 10_000,
                    "ev_max_energy_request": 45_000,
                    "ev_min_v2x_energy_request": -5_000,
                    "target_so_c": 80,
                },
            },
        )
    )
    assert StationEvent.EV_NEEDS in events
    needs = station.ev_needs
    assert needs is not None
    assert needs.departure_time == departure
    assert needs.requested_energy_kwh == 20.0
    assert needs.min_energy_kwh == 10.0
    assert needs.min_v2x_energy_kwh == -5.0
    assert needs.target_soc_pct == 80.0
    assert needs.supports_v2x
    assert station.capabilities.bidirectional  # OCPP 2.1 + the EV offers BPT
    state = await station.async_read_state()
    assert state.max_charge_power_w == 11_000.0
    assert state.max_discharge_power_w == 7_000.0


async def test_v16_setpoints(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    client = await connect(
        "cp1",
        "ocpp1.6",
        config={
            "ChargingScheduleAllowedChargingRateUnit": "Current",
            "ChargeProfileMaxStackLevel": "5",
        },
    )
    await wait_for(lambda: station.config.rate_units == frozenset({"A"}))
    await station.async_apply_setpoint(7_000.0)
    profile = client.rec.profiles[-1]
    assert profile["connector_id"] == 1
    cs = profile["cs_charging_profiles"]
    assert cs["charging_profile_purpose"] == "TxDefaultProfile"
    assert cs["stack_level"] == 5
    assert "transaction_id" not in cs
    assert cs["charging_schedule"]["charging_rate_unit"] == "A"
    period = cs["charging_schedule"]["charging_schedule_period"][0]
    assert float(period["limit"]) == pytest.approx(10.1)  # 7000 / (230 * 3) = 10.14 -> 10.1
    assert period["number_phases"] == 3
    # Valid 5 minutes, plus 10 for a charger whose clock is ahead; started 10 minutes ago.
    valid_to = datetime.fromisoformat(cs["valid_to"])
    assert timedelta(minutes=14) < valid_to - datetime.now(UTC) <= timedelta(minutes=15)
    start = datetime.fromisoformat(cs["charging_schedule"]["start_schedule"])
    assert start + timedelta(seconds=cs["charging_schedule"]["duration"]) == valid_to
    assert timedelta(minutes=9) < datetime.now(UTC) - start <= timedelta(minutes=10, seconds=5)

    # A small change is not sent; a transaction turns it into a TxProfile.
    await station.async_apply_setpoint(7_050.0)
    assert len(client.rec.profiles) == 1
    response = await client.cp.call(
        client.call.StartTransaction(
            connector_id=1, id_tag="tag", meter_start=1000, timestamp=_now()
        )
    )
    await wait_for(lambda: len(client.rec.profiles) == 2)  # re-sent for the transaction
    cs = client.rec.profiles[-1]["cs_charging_profiles"]
    assert cs["charging_profile_purpose"] == "TxProfile"
    assert cs["transaction_id"] == response.transaction_id
    # Charge only: a negative setpoint becomes 0.
    await station.async_apply_setpoint(-3_000.0)
    period = client.rec.profiles[-1]["cs_charging_profiles"]["charging_schedule"][
        "charging_schedule_period"
    ][0]
    assert period["limit"] == 0
    await client.cp.call(
        client.call.StopTransaction(
            meter_stop=2000, timestamp=_now(), transaction_id=response.transaction_id
        )
    )
    assert station.transaction_id is None
    assert (await station.async_read_state()).energy_charged_kwh == pytest.approx(2.0)


async def test_v16_watts_when_allowed(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    client = await connect(
        "cp1", "ocpp1.6", config={"ChargingScheduleAllowedChargingRateUnit": "Current,Power"}
    )
    await wait_for(lambda: station.config.rate_units is not None)
    await station.async_apply_setpoint(4_321.4)
    schedule = client.rec.profiles[-1]["cs_charging_profiles"]["charging_schedule"]
    assert schedule["charging_rate_unit"] == "W"
    assert schedule["charging_schedule_period"][0]["limit"] == 4321


async def test_v201_setpoint_charge_only(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1", declared_bidirectional=True)  # ignored below 2.1
    client = await connect("cp1", "ocpp2.0.1", config={"SmartChargingCtrlr.RateUnit": "W"})
    await wait_for(lambda: station.config.rate_units is not None)
    assert not station.capabilities.bidirectional
    await station.async_apply_setpoint(-5_000.0)
    profile = _profile_2x(client)
    assert client.rec.profiles[-1]["evse_id"] == 1
    assert profile["id"] == TX_DEFAULT_PROFILE_ID
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    assert profile["charging_profile_kind"] == "Absolute"
    assert profile["charging_schedule"][0]["charging_rate_unit"] == "W"
    assert _period_2x(client)["limit"] == 0
    assert "valid_to" in profile


async def test_v21_central_setpoint(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp2.1", config=V2X_CONFIG)
    await wait_for(lambda: station.config.v2x_supported is True)
    assert station.capabilities.bidirectional
    await client.cp.call(
        client.call.TransactionEvent(
            event_type="Started",
            timestamp=_now(),
            trigger_reason="CablePluggedIn",
            seq_no=0,
            transaction_info={"transaction_id": "tx-9"},
            evse={"id": 1},
        )
    )
    await station.async_apply_setpoint(-4_000.0)
    profile = _profile_2x(client)
    assert profile["id"] == TX_PROFILE_ID
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["transaction_id"] == "tx-9"
    assert profile["stack_level"] == 8
    assert profile["max_offline_duration"] == 120
    assert profile["invalid_after_offline_duration"] is True
    period = _period_2x(client)
    assert period == {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": -4000.0}

    # Deadband, sign change, to zero.
    await station.async_apply_setpoint(-4_050.0)
    assert len(client.rec.profiles) == 1
    await station.async_apply_setpoint(2_000.0)
    assert _period_2x(client)["setpoint"] == 2000.0
    await station.async_apply_setpoint(0.0)
    assert _period_2x(client)["setpoint"] == 0.0
    assert (await station.async_read_state()).setpoint_w == 0.0

    # Unload clears our profiles, and only ours.
    await station.async_stop()
    assert [clear["charging_profile_id"] for clear in client.rec.clears] == [
        TX_PROFILE_ID,
        TX_DEFAULT_PROFILE_ID,
    ]


async def test_v21_without_v2x_is_charge_only(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1")
    client = await connect(
        "cp1",
        "ocpp2.1",
        config={"SmartChargingCtrlr.RateUnit": "A", "V2XChargingCtrlr.Enabled": "false"},
    )
    await wait_for(lambda: station.config.v2x_supported is False)
    assert not station.capabilities.bidirectional
    assert (await station.async_read_state()).max_discharge_power_w == 0.0
    await station.async_apply_setpoint(-2_000.0)
    assert _period_2x(client) == {
        "start_period": 0,
        "operation_mode": "ChargingOnly",
        "limit": 0.0,
        "number_phases": 3,
    }
    await station.async_apply_setpoint(11_000.0)
    assert _period_2x(client)["limit"] == pytest.approx(15.9)


async def test_rejected_tx_profile_falls_back_to_tx_default(
    server: OcppServer, connect: Connect
) -> None:
    station = register(server, "cp1")
    client = await connect(
        "cp1", "ocpp1.6", config={"ChargingScheduleAllowedChargingRateUnit": "Power"}
    )
    client.rec.policy = lambda payload: (
        "NotSupported"
        if payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
        else "Accepted"
    )
    await wait_for(lambda: station.config.rate_units is not None)
    await client.cp.call(
        client.call.StartTransaction(connector_id=1, id_tag="tag", meter_start=0, timestamp=_now())
    )
    await wait_for(lambda: station.transaction_id is not None)
    await station.async_apply_setpoint(5_000.0)
    purposes = [p["cs_charging_profiles"]["charging_profile_purpose"] for p in client.rec.profiles]
    assert purposes == ["TxProfile", "TxDefaultProfile"]
    assert not station.profile_rejected
    # The fallback is remembered.
    await station.async_apply_setpoint(9_000.0)
    assert (
        client.rec.profiles[-1]["cs_charging_profiles"]["charging_profile_purpose"]
        == "TxDefaultProfile"
    )
    assert len(client.rec.profiles) == 3


async def test_rejected_everything_raises_and_notifies(
    server: OcppServer, connect: Connect
) -> None:
    station = register(server, "cp1")
    events: list[StationEvent] = []
    station.add_event_listener(lambda _station, event: events.append(event))
    client = await connect("cp1", "ocpp2.0.1")
    client.rec.policy = lambda _payload: "Rejected"
    await wait_for(lambda: StationEvent.CONFIGURED in events or len(events) > 3)
    with pytest.raises(SetpointRejectedError, match="Rejected"):
        await station.async_apply_setpoint(5_000.0)
    units = [_profile_2x(client, i)["charging_schedule"][0]["charging_rate_unit"] for i in range(2)]
    assert units == ["W", "A"]  # the other unit was tried too
    assert station.profile_rejected
    assert StationEvent.PROFILE_REJECTED in events
    assert "Rejected" in (station.last_rejection or "")
    # The next accepted profile clears the problem.
    client.rec.policy = lambda _payload: "Accepted"
    await station.async_apply_setpoint(5_000.0)
    assert not station.profile_rejected
    assert StationEvent.PROFILE_ACCEPTED in events


async def test_v21_refused_setpoint_falls_back_to_charging_only(
    server: OcppServer, connect: Connect
) -> None:
    station = register(server, "cp1", rate_unit="W")
    client = await connect("cp1", "ocpp2.1", config=V2X_CONFIG)
    client.rec.policy = lambda payload: (
        "Rejected"
        if payload["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0].get(
            "operation_mode"
        )
        == "CentralSetpoint"
        else "Accepted"
    )
    await wait_for(lambda: station.capabilities.bidirectional)
    with pytest.raises(SetpointRejectedError, match="CentralSetpoint"):
        await station.async_apply_setpoint(-3_000.0)
    assert _period_2x(client) == {"start_period": 0, "operation_mode": "ChargingOnly", "limit": 0.0}
    assert not station.capabilities.bidirectional
    await station.async_apply_setpoint(-3_000.0)  # clamped to 0, already applied: no error


async def test_no_answer_and_disconnect_make_it_unavailable(
    server: OcppServer, connect: Connect, clock: FakeClock
) -> None:
    station = register(server, "cp1", response_timeout_s=0.5, offline_grace_s=60.0)
    events: list[StationEvent] = []
    station.add_event_listener(lambda _station, event: events.append(event))
    client = await connect("cp1", "ocpp2.0.1")
    await wait_for(lambda: StationEvent.CONFIGURED in events)
    client.rec.silent = True
    with pytest.raises(ChargerUnavailableError, match="did not answer"):
        await station.async_apply_setpoint(5_000.0)
    await client.close()
    await wait_for(lambda: not station.connected)
    with pytest.raises(ChargerUnavailableError):
        await station.async_apply_setpoint(5_000.0)
    # Within the grace period the last state is reported; after it the charger is unavailable.
    clock.advance(59.0)
    assert (await station.async_read_state()).plugged_in is False
    clock.advance(2.0)
    with pytest.raises(ChargerUnavailableError, match="not been connected"):
        await station.async_read_state()


async def test_never_connected_reports_offline(server: OcppServer) -> None:
    """A new charger not yet pointed at us waits: offline, not unavailable, however long."""
    clock = FakeClock()
    station = server.register_station("cp1", "S3cretPassw0rdAbcdEF", replace(FAST))
    station._clock = clock  # the station's monotonic clock, moved by hand
    await station.async_start()  # the server already runs: nothing to do
    clock.advance(3600)
    state = await station.async_read_state()
    assert state.status is ChargerStatus.OFFLINE
    await station.async_stop()  # nothing to clear, no error


async def test_refresh_before_validity_runs_out(server: OcppServer, connect: Connect) -> None:
    station = register(server, "cp1", profile_validity_s=30)
    client = await connect("cp1", "ocpp2.1", config=V2X_CONFIG)
    await wait_for(lambda: station.capabilities.bidirectional)
    await station.async_apply_setpoint(-1_000.0)
    assert len(client.rec.profiles) == 1
    station.profiles.schedule_refresh(0.05)
    await wait_for(lambda: len(client.rec.profiles) == 2)
    assert _period_2x(client)["setpoint"] == -1000.0
    await station.async_stop()


async def test_v201_phases_from_ev_and_minimum_power(
    server: OcppServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """evMaxCurrent counts on every phase; a setpoint below the minimum is raised, not dropped."""
    station = register(server, "cp1", min_current_a=6.0)  # entry: 3 phases, 11 kW
    client = await connect(
        "cp1", "ocpp2.0.1", config={"SmartChargingCtrlr.RateUnit": "A", "EVSE.SupplyPhases": "3"}
    )
    await wait_for(lambda: station.config.supply_phases == 3)

    async def needs(transfer: str, max_current: int, min_current: int = 6) -> None:
        await client.cp.call(
            client.call.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": transfer,
                    "ac_charging_parameters": {
                        "energy_amount": 20_000,
                        "ev_min_current": min_current,
                        "ev_max_current": max_current,
                        "ev_max_voltage": 230,
                    },
                },
            )
        )

    await needs("AC_three_phase", 16)
    assert station.phases == 3
    assert station.max_charge_power_w == pytest.approx(11_000.0)  # 16 A x 3 x 230 V = 11,040
    assert station.min_charge_power_w == pytest.approx(4_140.0)
    await station.async_apply_setpoint(3_000.0)  # below the minimum: raised to 6 A
    assert _period_2x(client)["limit"] == pytest.approx(6.0)
    assert _period_2x(client)["number_phases"] == 3
    await station.async_apply_setpoint(7_000.0)
    assert _period_2x(client)["limit"] == pytest.approx(10.1)

    # A single-phase EV on the three-phase charger: limits per phase on one phase.
    await needs("AC_single_phase", 32)
    assert station.phases == 1
    assert station.max_charge_power_w == pytest.approx(32 * 230)
    assert station.min_charge_power_w == pytest.approx(6 * 230)
    await station.async_apply_setpoint(11_000.0)
    assert _period_2x(client)["limit"] == pytest.approx(32.0)
    assert _period_2x(client)["number_phases"] == 1

    # An EV that cannot take the minimum current: no charging, said once in the log.
    await needs("AC_single_phase", 5, min_current=5)
    assert not station.can_charge
    await station.async_apply_setpoint(2_000.0)
    assert _period_2x(client)["limit"] == 0
    await station.async_apply_setpoint(1_000.0)
    assert caplog.text.count("cannot charge the EV") == 1
    assert station.state().setpoint_w == 0.0
    assert str(station.state().setpoint_w) == "0.0"  # never "-0.0"


async def test_implausible_meter_values_keep_the_last_good_reading(
    server: OcppServer, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """Schema-valid but absurd values: a normal reply, the last good reading, one log line."""
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp2.1")

    async def meter(*samples: dict[str, Any]) -> Any:
        return await client.cp.call(
            client.call.MeterValues(
                evse_id=1, meter_value=[{"timestamp": _now(), "sampled_value": list(samples)}]
            ),
            suppress=False,  # a CallError would raise here
        )

    def power(value: float, multiplier: int = 0) -> dict[str, Any]:
        uom = {"unit": "W", "multiplier": multiplier}
        return {"value": value, "measurand": "Power.Active.Import", "unit_of_measure": uom}

    def energy(value: float, multiplier: int = 0) -> dict[str, Any]:
        uom = {"unit": "kWh", "multiplier": multiplier}
        return {
            "value": value,
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": uom,
        }

    await client.cp.call(
        client.call.StatusNotification(
            timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1
        )
    )
    await meter(power(40), energy(12.5))  # plugged in, idle, 12.5 kWh
    await meter(power(7, multiplier=308), energy(1e306))
    await meter(power(1, multiplier=400), energy(1, multiplier=400))  # used to be InternalError
    state = await station.async_read_state()
    assert state.power_w == 40.0
    assert state.status is not ChargerStatus.CHARGING  # not "charging" at infinite power
    assert state.energy_charged_kwh == 12.5
    assert caplog.text.count("sent implausible meter values") == 1
    await meter(power(7.2, multiplier=3))
    assert station.state().power_w == 7200.0


async def test_v16_transaction_ids_unique_across_stations(
    server: OcppServer, connect: Connect
) -> None:
    """Two 1.6 chargers starting a transaction in the same second get different ids."""
    stations = [register(server, name) for name in ("cp1", "cp2")]
    clients = [await connect(name, "ocpp1.6") for name in ("cp1", "cp2")]
    ids = []
    for client in clients:
        response = await client.cp.call(
            client.call.StartTransaction(
                connector_id=1, id_tag="tag", meter_start=0, timestamp=_now()
            )
        )
        ids.append(response.transaction_id)
    assert ids[0] != ids[1]
    assert [station.transaction_id for station in stations] == [str(i) for i in ids]


async def test_no_negative_zero_in_the_state(server: OcppServer, connect: Connect) -> None:
    """A charger reporting -0.04 W and a setpoint of -0 shows 0.0 (not "-0.0")."""
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp2.1")
    await client.cp.call(
        client.call.StatusNotification(
            timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1
        )
    )
    await client.cp.call(
        client.call.MeterValues(
            evse_id=1,
            meter_value=[
                {
                    "timestamp": _now(),
                    "sampled_value": [
                        {"value": -0.04, "measurand": "Power.Active.Import"},
                        {"value": -0.0, "measurand": "Power.Active.Setpoint"},
                        {"value": -0.00001, "measurand": "Energy.Active.Export.Register"},
                    ],
                }
            ],
        )
    )
    state = station.state()
    assert (str(state.power_w), str(state.setpoint_w)) == ("0.0", "0.0")
    assert str(state.energy_discharged_kwh) == "0.0"


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_setpoints_do_not_wait_behind_unanswered_reads(
    server: OcppServer, connect: Connect, protocol: str
) -> None:
    """A charger that ignores GetVariables / GetConfiguration still gets its setpoint at once.

    Reads and setpoints share one line (one outstanding request, OCPP-J); a read that is not
    answered gives way to a waiting setpoint instead of holding the line for its timeout.
    """
    station = register(server, "cp1", response_timeout_s=30.0, read_timeout_s=30.0)
    client = await connect("cp1", protocol, rec=Recorder(ignore_reads=True))
    await wait_for(lambda: client.rec.reads == 1)  # the read is out, and never answered
    async with asyncio.timeout(5):  # far less than the read's 30 s
        await station.async_apply_setpoint(5_000.0)
    assert len(client.rec.profiles) == 1
    assert station.state().extra["profile_purpose"] == "TxDefaultProfile"
    await station.async_stop()  # clearing is a setpoint too
    assert len(client.rec.clears) == 2


async def test_call_gate_serves_the_most_urgent_first() -> None:
    gate = CallGate()
    order: list[str] = []
    release = asyncio.Event()

    async def request(name: str, priority: Priority) -> None:
        async with gate.turn(priority):
            order.append(name)
            if name == "first":
                await release.wait()

    loop = asyncio.get_running_loop()
    first = loop.create_task(request("first", Priority.READ))
    await wait_for(lambda: order == ["first"])
    assert not gate.urgent.is_set()
    waiting = [
        loop.create_task(request(name, priority))
        for name, priority in (
            ("read", Priority.READ),
            ("normal", Priority.NORMAL),
            ("setpoint", Priority.CONTROL),
            ("cancelled", Priority.CONTROL),
        )
    ]
    await wait_for(gate.urgent.is_set)  # a more urgent request waits behind a read
    waiting[-1].cancel()
    release.set()
    await asyncio.gather(first, *waiting[:-1])
    assert order == ["first", "setpoint", "normal", "read"]
    assert not gate.urgent.is_set()


async def test_a_read_that_gave_way_is_tried_again(
    server: OcppServer, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.v2g.chargers.ocpp.station.CONFIG_RETRY_S", 0.05)
    station = register(server, "cp1", read_timeout_s=30.0)
    rec = Recorder(ignore_reads=True, config={"SmartChargingCtrlr.RateUnit": "A"})
    await connect("cp1", "ocpp2.0.1", rec=rec)
    await wait_for(lambda: rec.reads == 1)
    await station.async_apply_setpoint(5_000.0)  # the read gives way to it
    rec.ignore_reads = False
    await wait_for(lambda: station.config.rate_units == frozenset({"A"}))
    assert rec.reads == 2


def _energy_16(wh: int) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": _now(),
            "sampled_value": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}],
        }
    ]


async def test_v16_other_connector_does_not_disturb_ours(
    server: OcppServer, connect: Connect
) -> None:
    """A two-connector 1.6 charger: connector 2's session leaves connector 1's state alone."""
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp1.6")
    call = client.call
    await client.cp.call(
        call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
    )
    ours = await client.cp.call(
        call.StartTransaction(connector_id=1, id_tag="a", meter_start=1000, timestamp=_now())
    )
    await client.cp.call(call.MeterValues(connector_id=1, meter_value=_energy_16(2000)))
    # Connector 2: its own status, transaction, meter values and stop (with transaction data).
    await client.cp.call(
        call.StatusNotification(connector_id=2, error_code="NoError", status="Available")
    )
    theirs = await client.cp.call(
        call.StartTransaction(connector_id=2, id_tag="b", meter_start=50_000, timestamp=_now())
    )
    assert theirs.transaction_id != ours.transaction_id
    await client.cp.call(
        call.MeterValues(
            connector_id=2, transaction_id=theirs.transaction_id, meter_value=_energy_16(60_000)
        )
    )
    await client.cp.call(
        call.StopTransaction(
            meter_stop=90_000,
            timestamp=_now(),
            transaction_id=theirs.transaction_id,
            transaction_data=_energy_16(90_000),
        )
    )
    state = station.state()
    assert station.transaction_id == str(ours.transaction_id)
    assert state.plugged_in
    assert state.energy_charged_kwh == 2.0
    assert station.connector_status == "Charging"


async def test_v201_other_evse_does_not_disturb_ours(server: OcppServer, connect: Connect) -> None:
    """2.x TransactionEvents name the EVSE only in the first message: later ones of EVSE 2's
    transaction (no EVSE) must not reach EVSE 1's state."""
    station = register(server, "cp1")
    client = await connect("cp1", "ocpp2.0.1")

    def meter(wh: int) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": _now(),
                "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ]

    async def event(kind: str, transaction: str, seq: int, **extra: Any) -> None:
        await client.cp.call(
            client.call.TransactionEvent(
                event_type=kind,
                timestamp=_now(),
                trigger_reason="MeterValuePeriodic",
                seq_no=seq,
                transaction_info={"transaction_id": transaction},
                **extra,
            )
        )

    await event("Started", "ours", 0, evse={"id": 1}, meter_value=meter(1000))
    await event("Started", "theirs", 0, evse={"id": 2}, meter_value=meter(70_000))
    await event("Updated", "theirs", 1, meter_value=meter(80_000))
    await event("Ended", "theirs", 2, meter_value=meter(90_000))
    assert station.transaction_id == "ours"
    assert station.state().energy_charged_kwh == 1.0
    await event("Updated", "ours", 1, meter_value=meter(3000))  # ours, without EVSE: taken
    assert station.state().energy_charged_kwh == 3.0


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.1"])
async def test_station_on_connector_2(server: OcppServer, connect: Connect, protocol: str) -> None:
    """connector_id=2: status, meter values, transactions and profiles are connector 2's."""
    station = register(server, "cp1", connector_id=2, rate_unit="W")
    client = await connect("cp1", protocol)
    call = client.call
    if protocol == "ocpp1.6":
        for connector, status in ((1, "Charging"), (2, "Preparing")):
            await client.cp.call(
                call.StatusNotification(connector_id=connector, error_code="NoError", status=status)
            )
        for connector, wh in ((1, 50_000), (2, 4_000)):
            await client.cp.call(
                call.MeterValues(connector_id=connector, meter_value=_energy_16(wh))
            )
        other = await client.cp.call(
            call.StartTransaction(connector_id=1, id_tag="a", meter_start=0, timestamp=_now())
        )
        ours = await client.cp.call(
            call.StartTransaction(connector_id=2, id_tag="b", meter_start=4_000, timestamp=_now())
        )
        expected_tx: Any = ours.transaction_id
        assert station.transaction_id == str(ours.transaction_id) != str(other.transaction_id)
    else:
        for evse, status in ((1, "Occupied"), (2, "Occupied")):
            await client.cp.call(
                call.StatusNotification(
                    timestamp=_now(), connector_status=status, evse_id=evse, connector_id=1
                )
            )
        for evse, wh in ((1, 50_000), (2, 4_000)):
            await client.cp.call(
                call.MeterValues(
                    evse_id=evse,
                    meter_value=[
                        {
                            "timestamp": _now(),
                            "sampled_value": [
                                {"value": wh, "measurand": "Energy.Active.Import.Register"}
                            ],
                        }
                    ],
                )
            )
        for evse, transaction in ((1, "t1"), (2, "t2")):
            await client.cp.call(
                call.TransactionEvent(
                    event_type="Started",
                    timestamp=_now(),
                    trigger_reason="CablePluggedIn",
                    seq_no=0,
                    transaction_info={"transaction_id": transaction},
                    evse={"id": evse},
                )
            )
        expected_tx = "t2"
        assert station.transaction_id == "t2"
    assert station.connector_status in ("Preparing", "Occupied")
    assert station.state().energy_charged_kwh == 4.0
    await station.async_apply_setpoint(5_000.0)
    sent = client.rec.profiles[-1]
    if protocol == "ocpp1.6":
        assert sent["connector_id"] == 2
        profile = sent["cs_charging_profiles"]
    else:
        assert sent["evse_id"] == 2
        profile = sent["charging_profile"]
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["transaction_id"] == expected_tx


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.1"])
async def test_running_transaction_adopted_after_restart(
    server: OcppServer, connect: Connect, protocol: str
) -> None:
    """Home Assistant restarted during a transaction: the next message that carries the
    transaction's id (2.x TransactionEvent Updated without EVSE, 1.6 MeterValues) makes it
    ours, and the setpoint goes out again as its TxProfile."""
    station = register(server, "cp1", rate_unit="W")
    client = await connect("cp1", protocol)
    await station.async_apply_setpoint(6_000.0)
    assert client.rec.profiles[-1]  # TxDefaultProfile: no transaction known
    if protocol == "ocpp1.6":
        await client.cp.call(
            client.call.MeterValues(
                connector_id=1, transaction_id=4242, meter_value=_energy_16(12_000)
            )
        )
        expected: Any = 4242
    else:
        await client.cp.call(
            client.call.TransactionEvent(
                event_type="Updated",
                timestamp=_now(),
                trigger_reason="MeterValuePeriodic",
                seq_no=7,
                transaction_info={
                    "transaction_id": "tx-before-restart",
                    "charging_state": "Charging",
                },
            )
        )
        expected = "tx-before-restart"
    assert station.transaction_id == str(expected)
    await wait_for(lambda: len(client.rec.profiles) == 2)
    key = "cs_charging_profiles" if protocol == "ocpp1.6" else "charging_profile"
    profile = client.rec.profiles[-1][key]
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["transaction_id"] == expected
    assert station.state().plugged_in


async def test_two_connectors_of_one_charger_are_two_stations(
    server: OcppServer, connect: Connect
) -> None:
    """One connection, one password; each connector's station keeps to its own EVSE."""
    first = register(server, "cp1")
    second = register(server, "cp1", connector_id=2)
    assert server.get_station("cp1", 2) is second
    assert server.get_station("cp1") is first
    client = await connect("cp1", "ocpp2.1", config={"SmartChargingCtrlr.RateUnit": "W"})
    await wait_for(lambda: first.connected and second.connected)
    await client.cp.call(
        client.call.StatusNotification(
            timestamp=_now(), connector_status="Occupied", evse_id=2, connector_id=1
        )
    )
    await client.cp.call(
        client.call.MeterValues(
            evse_id=2,
            meter_value=[
                {
                    "timestamp": _now(),
                    "sampled_value": [{"value": 7200.0, "measurand": "Power.Active.Import"}],
                }
            ],
        )
    )
    assert second.state().plugged_in
    assert second.state().power_w == 7200.0
    assert not first.state().plugged_in
    assert first.state().power_w == 0.0
    # Each station steers its own EVSE over the shared connection.
    await second.async_apply_setpoint(5_000.0)
    await first.async_apply_setpoint(3_000.0)
    assert {p["evse_id"]: _period(p)["limit"] for p in client.rec.profiles} == {
        2: 5000,
        1: 3000,
    }
    # Removing one connector leaves the other connected.
    await server.unregister_station("cp1", 2)
    assert first.connected
    assert server.get_station("cp1", 2) is None
    # One connection, one password: a connector registered with a new one sets it for all.
    server.register_station("cp1", "AnotherPassw0rdXYZ12", StationOptions(connector_id=3))
    assert first.verify_password(b"AnotherPassw0rdXYZ12")
    assert not first.verify_password(PASSWORD.encode())


def _period(payload: dict[str, Any]) -> dict[str, Any]:
    period: dict[str, Any] = payload["charging_profile"]["charging_schedule"][0][
        "charging_schedule_period"
    ][0]
    return period
