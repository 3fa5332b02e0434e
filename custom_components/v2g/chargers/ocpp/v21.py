"""OCPP 2.1: 2.0.1 plus V2X control (CentralSetpoint, LocalFrequency), offline-safe profiles.

The `ocpp` 2.1.0 release writes per-phase fields (`limit_L2`, `setpoint_L3`, ...) and
`LimitAtSoC.soc` under wrong JSON keys; nothing here sets those fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ocpp.v21 import call, call_result, datatypes

from .base import ProfileRequest, StationConfig
from .v201 import Session201

V2X_CHARGING_CTRLR = "V2XChargingCtrlr"
_V2X_VARIABLES = ("Enabled", "SupportedOperationModes", "SupportedEnergyTransferModes")


def v2x_supported_from(values: dict[str, str]) -> bool | None:
    """Read V2XChargingCtrlr variables: None when the station reported none of them."""
    enabled = values.get(f"{V2X_CHARGING_CTRLR}.Enabled")
    modes = values.get(f"{V2X_CHARGING_CTRLR}.SupportedOperationModes")
    transfer = values.get(f"{V2X_CHARGING_CTRLR}.SupportedEnergyTransferModes")
    if enabled is None and modes is None and transfer is None:
        return None
    if enabled is not None and enabled.strip().lower() == "false":
        return False
    if modes is not None and "CentralSetpoint" in modes:
        return True
    if transfer is not None and "_BPT" in transfer:
        return True
    return enabled is not None and enabled.strip().lower() == "true"


def local_frequency_from(values: dict[str, str]) -> bool | None:
    """Whether the station answers frequency itself: LocalFrequency among its operation modes.

    None when it did not report its modes; False when V2X is disabled.
    """
    enabled = values.get(f"{V2X_CHARGING_CTRLR}.Enabled")
    modes = values.get(f"{V2X_CHARGING_CTRLR}.SupportedOperationModes")
    if modes is None:
        return None
    if enabled is not None and enabled.strip().lower() == "false":
        return False
    return "LocalFrequency" in {mode.strip() for mode in modes.split(",")}


class Session21(Session201):
    """Central-system side of an OCPP 2.1 connection."""

    ocpp_version = "2.1"
    _ocpp_version = "2.1"
    _call = call
    _call_result = call_result
    _datatypes: Any = datatypes

    def _variable_requests(self, connector_id: int) -> list[Any]:
        dt = self._datatypes
        requests = super()._variable_requests(connector_id)
        requests.extend(
            dt.GetVariableDataType(
                component=dt.ComponentType(
                    name=V2X_CHARGING_CTRLR, evse=dt.EVSEType(id=connector_id)
                ),
                variable=dt.VariableType(name=name),
            )
            for name in _V2X_VARIABLES
        )
        return requests

    def _config_from(self, values: dict[str, str]) -> StationConfig:
        return replace(
            super()._config_from(values),
            v2x_supported=v2x_supported_from(values),
            local_frequency=local_frequency_from(values),
        )

    def _period(self, request: ProfileRequest) -> Any:
        dt = self._datatypes
        if request.mode == "frequency":
            # The charger adds the curve's power at the frequency it measures to the baseline,
            # within limit / dischargeLimit (the EV's room: its reserve and its cycling cap).
            return dt.ChargingSchedulePeriodType(
                start_period=0,
                operation_mode="LocalFrequency",
                v2x_baseline=request.value,
                v2x_freq_watt_curve=[
                    dt.V2XFreqWattPointType(frequency=frequency, power=power)
                    for frequency, power in request.freq_curve
                ],
                limit=request.limit_w,
                discharge_limit=request.discharge_limit_w,
                number_phases=request.number_phases,
            )
        if request.mode == "setpoint":
            # Q03.FR.02: CentralSetpoint carries setpoint only, no limit / dischargeLimit.
            return dt.ChargingSchedulePeriodType(
                start_period=0,
                operation_mode="CentralSetpoint",
                setpoint=request.value,
                number_phases=request.number_phases,
            )
        return dt.ChargingSchedulePeriodType(
            start_period=0,
            operation_mode="ChargingOnly",
            limit=max(0.0, request.value),
            number_phases=request.number_phases,
        )

    def _profile_extra(self, request: ProfileRequest) -> dict[str, Any]:
        # Offline the charger keeps the profile at most this long, then drops it entirely.
        return {
            "max_offline_duration": request.max_offline_duration_s,
            "invalid_after_offline_duration": True,
        }
