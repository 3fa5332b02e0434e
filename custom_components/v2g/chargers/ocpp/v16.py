"""OCPP 1.6J: what a charger reports, and charge-only SetChargingProfile (W or A)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ocpp.v16 import call, call_result, datatypes

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

_ACCEPTED = {"status": "Accepted"}
_UNIT_NAMES = {"Current": "A", "Power": "W", "A": "A", "W": "W"}
KEY_RATE_UNIT = "ChargingScheduleAllowedChargingRateUnit"
KEY_STACK_LEVEL = "ChargeProfileMaxStackLevel"


def parse_rate_units(value: str | None) -> frozenset[str] | None:
    """'Current,Power' -> {'A', 'W'} (None when nothing usable is listed)."""
    if not value:
        return None
    units = {
        _UNIT_NAMES[part.strip()]
        for part in value.replace(";", ",").replace(" ", ",").split(",")
        if part.strip() in _UNIT_NAMES
    }
    return frozenset(units) or None


def parse_int(value: Any) -> int | None:
    """An integer configuration value, or None."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class Session16(OcppSession):
    """Central-system side of an OCPP 1.6J connection."""

    ocpp_version = "1.6"
    _ocpp_version = "1.6"
    _call = call
    _call_result = call_result

    @handles("BootNotification")
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> Any:
        """Accept every charger the server let in."""
        self._sink.on_boot(
            BootInfo(
                vendor=charge_point_vendor,
                model=charge_point_model,
                firmware_version=kwargs.get("firmware_version"),
                serial_number=kwargs.get("charge_point_serial_number")
                or kwargs.get("charge_box_serial_number"),
            )
        )
        return call_result.BootNotification(
            current_time=utc_iso(now_utc()),
            interval=self.heartbeat_interval_s,
            status="Accepted",
        )

    @handles("Heartbeat")
    def on_heartbeat(self, **_kwargs: Any) -> Any:
        """Answer with our time."""
        self._sink.on_heartbeat()
        return call_result.Heartbeat(current_time=utc_iso(now_utc()))

    @handles("StatusNotification")
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **_kwargs: Any
    ) -> Any:
        """Connector status."""
        self._sink.on_status(connector_id, status, error_code)
        return call_result.StatusNotification()

    @handles("Authorize")
    def on_authorize(self, **_kwargs: Any) -> Any:
        """Home Assistant is no authorisation server: every id tag is accepted."""
        return call_result.Authorize(id_tag_info=_ACCEPTED)

    @handles("MeterValues")
    def on_meter_values(self, connector_id: int, meter_value: list[Any], **kwargs: Any) -> Any:
        """Meter values of a connector (and its transaction, if any)."""
        transaction_id = kwargs.get("transaction_id")
        self._sink.on_meter_values(
            connector_id, meter_value, None if transaction_id is None else str(transaction_id)
        )
        return call_result.MeterValues()

    @handles("StartTransaction")
    def on_start_transaction(self, connector_id: int, meter_start: int, **_kwargs: Any) -> Any:
        """A transaction began: we assign its id."""
        transaction_id = self._sink.on_transaction_started(connector_id, None)
        self._sink.on_transaction_meter_start(connector_id, meter_start)
        return call_result.StartTransaction(
            transaction_id=int(transaction_id), id_tag_info=_ACCEPTED
        )

    @handles("StopTransaction")
    def on_stop_transaction(self, meter_stop: int, transaction_id: int, **kwargs: Any) -> Any:
        """A transaction ended."""
        if kwargs.get("transaction_data"):
            self._sink.on_meter_values(None, kwargs["transaction_data"], str(transaction_id))
        self._sink.on_transaction_meter_start(None, meter_stop, str(transaction_id))
        self._sink.on_transaction_ended(str(transaction_id))
        return call_result.StopTransaction()

    @handles("DataTransfer")
    def on_data_transfer(self, **_kwargs: Any) -> Any:
        """No vendor extensions are known."""
        return call_result.DataTransfer(status="UnknownVendorId")

    @handles("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **_kwargs: Any) -> Any:
        """Acknowledge."""
        return call_result.DiagnosticsStatusNotification()

    @handles("FirmwareStatusNotification")
    def on_firmware_status(self, **_kwargs: Any) -> Any:
        """Acknowledge."""
        return call_result.FirmwareStatusNotification()

    # --- requests ------------------------------------------------------------------------

    async def read_configuration(self, connector_id: int) -> StationConfig:
        """GetConfiguration for the smart-charging keys."""
        response = await self.call(
            call.GetConfiguration(key=[KEY_RATE_UNIT, KEY_STACK_LEVEL]),
            suppress=False,
            priority=Priority.READ,
            timeout_s=self.read_timeout_s,
        )
        values: dict[str, str] = {}
        for item in response.configuration_key or ():
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                values[item["key"]] = str(item.get("value", ""))
        return StationConfig(
            rate_units=parse_rate_units(values.get(KEY_RATE_UNIT)),
            max_stack_level=parse_int(values.get(KEY_STACK_LEVEL)),
            v2x_supported=False,
            raw=tuple(sorted(values.items())),
        )

    async def set_profile(self, request: ProfileRequest) -> str:
        """SetChargingProfile with one charge-only period."""
        period = datatypes.ChargingSchedulePeriod(
            start_period=0,
            limit=round(max(0.0, request.value), 1),
            number_phases=request.number_phases,
        )
        profile = datatypes.ChargingProfile(
            charging_profile_id=request.profile_id,
            stack_level=request.stack_level,
            charging_profile_purpose=request.purpose,
            charging_profile_kind="Absolute",
            charging_schedule=datatypes.ChargingSchedule(
                charging_rate_unit=request.unit,
                charging_schedule_period=[period],
                duration=request.duration_s,
                start_schedule=utc_iso(request.start),
            ),
            transaction_id=(
                int(request.transaction_id) if request.transaction_id is not None else None
            ),
            valid_to=utc_iso(request.valid_to),
        )
        response = await self.call(
            call.SetChargingProfile(
                connector_id=request.connector_id, cs_charging_profiles=profile
            ),
            suppress=False,
            priority=Priority.CONTROL,
        )
        return str(response.status)

    async def clear_profiles(self, profile_ids: Sequence[int], connector_id: int) -> None:
        """ClearChargingProfile by id."""
        for profile_id in profile_ids:
            await self.call(
                call.ClearChargingProfile(id=profile_id), suppress=False, priority=Priority.CONTROL
            )
