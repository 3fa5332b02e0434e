"""OCPP 2.0.1: device model, transactions, EV charging needs, charge-only SetChargingProfile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ocpp.v201 import call, call_result, datatypes

from .base import (
    BootInfo,
    OcppSession,
    Priority,
    ProfileRequest,
    StationConfig,
    handles,
    now_utc,
    utc_iso,
)
from .v16 import parse_int

_ACCEPTED = {"status": "Accepted"}
SMART_CHARGING_CTRLR = "SmartChargingCtrlr"
EVSE_COMPONENT = "EVSE"


def parse_phases(value: str | None) -> int | None:
    """EVSE.SupplyPhases: 1, 2 or 3 (0 means DC; anything else is not usable)."""
    phases = parse_int(value)
    return phases if phases in (1, 2, 3) else None


def parse_rate_units_2x(value: str | None) -> frozenset[str] | None:
    """SmartChargingCtrlr.RateUnit: 'A,W' -> {'A', 'W'}."""
    if not value:
        return None
    units = {part.strip() for part in value.split(",") if part.strip() in ("A", "W")}
    return frozenset(units) or None


class Session201(OcppSession):
    """Central-system side of an OCPP 2.0.1 connection (2.1 builds on it)."""

    ocpp_version = "2.0.1"
    _ocpp_version = "2.0.1"
    _call = call
    _call_result = call_result
    _datatypes: Any = datatypes

    @handles("BootNotification")
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **_kwargs: Any
    ) -> Any:
        """Accept every charger the server let in."""
        self._sink.on_boot(
            BootInfo(
                vendor=str(charging_station.get("vendor_name", "")),
                model=str(charging_station.get("model", "")),
                firmware_version=charging_station.get("firmware_version"),
                serial_number=charging_station.get("serial_number"),
            )
        )
        return self._call_result.BootNotification(
            current_time=utc_iso(now_utc()),
            interval=self.heartbeat_interval_s,
            status="Accepted",
        )

    @handles("Heartbeat")
    def on_heartbeat(self, **_kwargs: Any) -> Any:
        """Answer with our time."""
        self._sink.on_heartbeat()
        return self._call_result.Heartbeat(current_time=utc_iso(now_utc()))

    @handles("StatusNotification")
    def on_status_notification(
        self, connector_status: str, evse_id: int, connector_id: int, **_kwargs: Any
    ) -> Any:
        """Connector status of an EVSE."""
        self._sink.on_status(evse_id, connector_status, None)
        return self._call_result.StatusNotification()

    @handles("Authorize")
    def on_authorize(self, **_kwargs: Any) -> Any:
        """Home Assistant is no authorisation server: every token is accepted."""
        return self._call_result.Authorize(id_token_info=_ACCEPTED)

    @handles("MeterValues")
    def on_meter_values(self, evse_id: int, meter_value: list[Any], **_kwargs: Any) -> Any:
        """Meter values of an EVSE (0: the whole station)."""
        self._sink.on_meter_values(evse_id, meter_value)
        return self._call_result.MeterValues()

    @handles("TransactionEvent")
    def on_transaction_event(
        self, event_type: str, transaction_info: dict[str, Any], **kwargs: Any
    ) -> Any:
        """Transaction start / update / end, with meter values inside."""
        evse = kwargs.get("evse")
        evse_id = evse.get("id") if isinstance(evse, dict) else None
        transaction_id = str(transaction_info.get("transaction_id", ""))
        if event_type == "Started":
            self._sink.on_transaction_started(evse_id, transaction_id)
        elif event_type == "Updated":
            self._sink.on_transaction_updated(
                evse_id, transaction_id, transaction_info.get("charging_state")
            )
        if kwargs.get("meter_value"):
            self._sink.on_meter_values(evse_id, kwargs["meter_value"], transaction_id)
        if event_type == "Ended":
            self._sink.on_transaction_ended(transaction_id)
        if kwargs.get("id_token") is not None:
            return self._call_result.TransactionEvent(id_token_info=_ACCEPTED)
        return self._call_result.TransactionEvent()

    @handles("NotifyEVChargingNeeds")
    def on_notify_ev_charging_needs(
        self, charging_needs: dict[str, Any], evse_id: int, **_kwargs: Any
    ) -> Any:
        """The EV's departure time, energy and (2.1) V2X parameters."""
        self._sink.on_ev_charging_needs(evse_id, charging_needs)
        return self._call_result.NotifyEVChargingNeeds(status="Accepted")

    @handles("NotifyEvent")
    def on_notify_event(self, **_kwargs: Any) -> Any:
        """Acknowledge device-model events."""
        return self._call_result.NotifyEvent()

    @handles("NotifyReport")
    def on_notify_report(self, **_kwargs: Any) -> Any:
        """Acknowledge reports."""
        return self._call_result.NotifyReport()

    @handles("SecurityEventNotification")
    def on_security_event(self, **_kwargs: Any) -> Any:
        """Acknowledge security events."""
        return self._call_result.SecurityEventNotification()

    @handles("FirmwareStatusNotification")
    def on_firmware_status(self, **_kwargs: Any) -> Any:
        """Acknowledge."""
        return self._call_result.FirmwareStatusNotification()

    @handles("DataTransfer")
    def on_data_transfer(self, **_kwargs: Any) -> Any:
        """No vendor extensions are known."""
        return self._call_result.DataTransfer(status="UnknownVendorId")

    # --- requests ------------------------------------------------------------------------

    def _variable_requests(self, connector_id: int) -> list[Any]:
        dt = self._datatypes
        requests = [
            dt.GetVariableDataType(
                component=dt.ComponentType(name=SMART_CHARGING_CTRLR),
                variable=dt.VariableType(name=name),
            )
            for name in ("RateUnit", "ProfileStackLevel")
        ]
        requests.append(
            dt.GetVariableDataType(
                component=dt.ComponentType(name=EVSE_COMPONENT, evse=dt.EVSEType(id=connector_id)),
                variable=dt.VariableType(name="SupplyPhases"),
            )
        )
        return requests

    async def read_configuration(self, connector_id: int) -> StationConfig:
        """GetVariables for the smart-charging (and, in 2.1, V2X) variables."""
        response = await self.call(
            self._call.GetVariables(get_variable_data=self._variable_requests(connector_id)),
            suppress=False,
            priority=Priority.READ,
            timeout_s=self.read_timeout_s,
        )
        values: dict[str, str] = {}
        for result in response.get_variable_result or ():
            if not isinstance(result, dict) or result.get("attribute_status") != "Accepted":
                continue
            component = (result.get("component") or {}).get("name")
            variable = (result.get("variable") or {}).get("name")
            if isinstance(component, str) and isinstance(variable, str):
                values[f"{component}.{variable}"] = str(result.get("attribute_value", ""))
        return self._config_from(values)

    def _config_from(self, values: dict[str, str]) -> StationConfig:
        return StationConfig(
            rate_units=parse_rate_units_2x(values.get(f"{SMART_CHARGING_CTRLR}.RateUnit")),
            max_stack_level=parse_int(values.get(f"{SMART_CHARGING_CTRLR}.ProfileStackLevel")),
            v2x_supported=False,
            supply_phases=parse_phases(values.get(f"{EVSE_COMPONENT}.SupplyPhases")),
            raw=tuple(sorted(values.items())),
        )

    def _period(self, request: ProfileRequest) -> Any:
        return self._datatypes.ChargingSchedulePeriodType(
            start_period=0,
            limit=max(0.0, request.value),
            number_phases=request.number_phases,
        )

    def _profile_extra(self, request: ProfileRequest) -> dict[str, Any]:
        return {}

    async def set_profile(self, request: ProfileRequest) -> str:
        """SetChargingProfile with one period and bounded validity."""
        dt = self._datatypes
        schedule = dt.ChargingScheduleType(
            id=request.profile_id,
            charging_rate_unit=request.unit,
            charging_schedule_period=[self._period(request)],
            start_schedule=utc_iso(request.start),
            duration=request.duration_s,
        )
        profile = dt.ChargingProfileType(
            id=request.profile_id,
            stack_level=request.stack_level,
            charging_profile_purpose=request.purpose,
            charging_profile_kind="Absolute",
            charging_schedule=[schedule],
            valid_to=utc_iso(request.valid_to),
            transaction_id=request.transaction_id,
            **self._profile_extra(request),
        )
        response = await self.call(
            self._call.SetChargingProfile(evse_id=request.connector_id, charging_profile=profile),
            suppress=False,
            priority=Priority.CONTROL,
        )
        return str(response.status)

    async def clear_profiles(self, profile_ids: Sequence[int], connector_id: int) -> None:
        """ClearChargingProfile by id."""
        for profile_id in profile_ids:
            await self.call(
                self._call.ClearChargingProfile(charging_profile_id=profile_id),
                suppress=False,
                priority=Priority.CONTROL,
            )
