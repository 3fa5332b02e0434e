"""What chargers report, turned into plain numbers: meter values and the EV's charging needs.

Input is what the `ocpp` library hands to handlers: snake_case dicts. OCPP 1.6 sends sampled
values as strings with a `unit`; 2.x sends numbers with `unit_of_measure {unit, multiplier}`.

Schema-valid is not plausible: a multiplier of 308 makes any power infinite. A sample whose
multiplier is beyond +-9, or whose scaled value is not finite or beyond what any charger measures
(`PLAUSIBLE_LIMITS`), is dropped with every other sample of its measurand in that batch, and
named in `MeterReading.rejected`; the station keeps its last good value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Any

from .base import parse_iso

POWER_IMPORT = "Power.Active.Import"
POWER_EXPORT = "Power.Active.Export"
POWER_SETPOINT = "Power.Active.Setpoint"
ENERGY_IMPORT = "Energy.Active.Import.Register"
ENERGY_EXPORT = "Energy.Active.Export.Register"
SOC = "SoC"
CURRENT_IMPORT = "Current.Import"
CURRENT_EXPORT = "Current.Export"
VOLTAGE = "Voltage"

_DEFAULT_UNIT = {
    POWER_IMPORT: "W",
    POWER_EXPORT: "W",
    POWER_SETPOINT: "W",
    ENERGY_IMPORT: "Wh",
    ENERGY_EXPORT: "Wh",
    SOC: "Percent",
    CURRENT_IMPORT: "A",
    CURRENT_EXPORT: "A",
    VOLTAGE: "V",
}
# Scale to W, kWh, A, V, %.
_SCALE = {
    "W": 1.0,
    "kW": 1000.0,
    "Wh": 0.001,
    "kWh": 1.0,
    "A": 1.0,
    "V": 1.0,
    "Percent": 1.0,
}
MAX_MULTIPLIER = 9
"""Largest |unitOfMeasure.multiplier| accepted (meters use -3..3; 10^9 is already giga)."""
PLAUSIBLE_LIMITS = {
    POWER_IMPORT: 10e6,  # W: 10 MW, beyond the largest charger
    POWER_EXPORT: 10e6,
    POWER_SETPOINT: 10e6,
    ENERGY_IMPORT: 1e9,  # kWh: a register of 1 TWh
    ENERGY_EXPORT: 1e9,
    SOC: 1000.0,  # %: small overshoots are clipped to 0-100, nonsense is dropped
    CURRENT_IMPORT: 1e5,  # A
    CURRENT_EXPORT: 1e5,
    VOLTAGE: 1e5,  # V
}
"""Largest magnitude of a scaled value (W, kWh, %, A, V) that is taken as a reading."""
_MAX_REJECTED = 3
_IGNORED_LOCATIONS = {"Body", "Cable"}
_PHASES = ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N")


@dataclass(slots=True)
class MeterReading:
    """The latest value of each measurand in one MeterValues batch (None: not in the batch)."""

    power_import_w: float | None = None
    power_export_w: float | None = None
    setpoint_w: float | None = None
    energy_import_kwh: float | None = None
    energy_export_kwh: float | None = None
    soc_pct: float | None = None
    current_a: float | None = None
    voltage_v: float | None = None
    timestamp: datetime | None = None
    rejected: list[str] = field(default_factory=list)
    """Implausible samples that were dropped (the first few), for one log line."""

    @property
    def has_power(self) -> bool:
        """Whether the batch says anything about active power."""
        return self.power_import_w is not None or self.power_export_w is not None

    @property
    def power_w(self) -> float | None:
        """Signed power: import (into the EV) minus export."""
        if not self.has_power:
            return None
        return (self.power_import_w or 0.0) - (self.power_export_w or 0.0)


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    number = _float(value)
    return number if number is not None and math.isfinite(number) else None


class _Implausible(ValueError):
    """A sample's value cannot be a real measurement."""


def _scaled(sample: dict[str, Any], measurand: str) -> float | None:
    """The sample in W, kWh, %, A or V; None when unusable; _Implausible when absurd."""
    value = _float(sample.get("value"))
    if value is None:
        return None
    unit = sample.get("unit")
    multiplier: float = 0.0
    uom = sample.get("unit_of_measure")
    if isinstance(uom, dict):
        unit = uom.get("unit", unit)
        multiplier = _float(uom.get("multiplier")) or 0.0
    if not isinstance(unit, str):
        unit = _DEFAULT_UNIT[measurand]
    scale = _SCALE.get(unit)
    if scale is None:
        return None
    if not abs(multiplier) <= MAX_MULTIPLIER or multiplier != int(multiplier):
        raise _Implausible(f"{measurand} with multiplier {multiplier:g}")
    scaled = value * scale * 10.0 ** int(multiplier)
    if not math.isfinite(scaled) or abs(scaled) > PLAUSIBLE_LIMITS[measurand]:
        raise _Implausible(f"{measurand} = {value:g} {unit} x 10^{int(multiplier)}")
    return scaled


def _collect(meter_value: dict[str, Any], rejected: list[str]) -> dict[str, float]:
    """One MeterValue's samples as {measurand: total}, phases combined when no total is sent.

    A measurand with an implausible sample is left out entirely (its other phases too).
    """
    totals: dict[str, float] = {}
    phases: dict[str, dict[str, float]] = {}
    dropped: set[str] = set()
    for sample in meter_value.get("sampled_value") or ():
        if not isinstance(sample, dict):
            continue
        measurand = sample.get("measurand") or ENERGY_IMPORT
        if measurand not in _DEFAULT_UNIT or sample.get("location") in _IGNORED_LOCATIONS:
            continue
        try:
            value = _scaled(sample, measurand)
        except _Implausible as err:
            dropped.add(measurand)
            if len(rejected) < _MAX_REJECTED:
                rejected.append(str(err))
            continue
        phase = sample.get("phase")
        if value is None:
            continue
        if phase is None:
            totals[measurand] = value
        elif phase in _PHASES:
            phases.setdefault(measurand, {})[phase] = value
    _combine_phases(totals, phases)
    for pair in ((POWER_IMPORT, POWER_EXPORT), (CURRENT_IMPORT, CURRENT_EXPORT)):
        if dropped.intersection(pair):
            dropped.update(pair)  # one direction alone would give the wrong sign
    return {measurand: value for measurand, value in totals.items() if measurand not in dropped}


def _combine_phases(totals: dict[str, float], phases: dict[str, dict[str, float]]) -> None:
    """Per-phase values become a total where the charger sent none."""
    for measurand, per_phase in phases.items():
        if measurand in totals:
            continue
        values = list(per_phase.values())
        if measurand == VOLTAGE:
            totals[measurand] = sum(values) / len(values)
        elif measurand in (CURRENT_IMPORT, CURRENT_EXPORT, SOC):
            totals[measurand] = max(values)
        else:
            totals[measurand] = sum(values)


def parse_meter_values(meter_values: Iterable[Any]) -> MeterReading:
    """Reduce MeterValue objects to one reading (later samples win; phases are combined)."""
    reading = MeterReading()
    for meter_value in meter_values:
        if not isinstance(meter_value, dict):
            continue
        totals = _collect(meter_value, reading.rejected)
        if totals:
            _apply(reading, totals)
            reading.timestamp = parse_iso(meter_value.get("timestamp")) or reading.timestamp
    return reading


def _apply(reading: MeterReading, totals: dict[str, float]) -> None:
    if POWER_IMPORT in totals or POWER_EXPORT in totals:
        reading.power_import_w = totals.get(POWER_IMPORT)
        reading.power_export_w = totals.get(POWER_EXPORT)
    if POWER_SETPOINT in totals:
        reading.setpoint_w = totals[POWER_SETPOINT]
    if ENERGY_IMPORT in totals:
        reading.energy_import_kwh = totals[ENERGY_IMPORT]
    if ENERGY_EXPORT in totals:
        reading.energy_export_kwh = totals[ENERGY_EXPORT]
    if SOC in totals:
        reading.soc_pct = min(100.0, max(0.0, totals[SOC]))
    if CURRENT_IMPORT in totals:
        reading.current_a = totals[CURRENT_IMPORT]
    elif CURRENT_EXPORT in totals:
        reading.current_a = -totals[CURRENT_EXPORT]
    if VOLTAGE in totals:
        reading.voltage_v = totals[VOLTAGE]


@dataclass(frozen=True, slots=True)
class EvChargingNeeds:
    """The EV's wishes from NotifyEVChargingNeeds (OCPP 2.x, ISO 15118), in our units."""

    received_at: datetime
    evse_id: int
    requested_energy_transfer: str
    available_energy_transfer: tuple[str, ...] = ()
    control_mode: str | None = None
    departure_time: datetime | None = None
    requested_energy_kwh: float | None = None
    """AC/DC energyAmount: energy the EV asks for to reach its target."""
    soc_pct: float | None = None
    target_soc_pct: float | None = None
    """2.1 v2xChargingParameters.targetSoC."""
    capacity_kwh: float | None = None
    min_energy_kwh: float | None = None
    """2.1 evMinEnergyRequest: energy that must be charged by departure."""
    target_energy_kwh: float | None = None
    max_energy_kwh: float | None = None
    min_v2x_energy_kwh: float | None = None
    """2.1 evMinV2XEnergyRequest: (negative: may be discharged) at which V2X stops."""
    max_v2x_energy_kwh: float | None = None
    max_charge_power_w: float | None = None
    """The EV's own power limit (DC evMaxPower, 2.1 maxChargePower); AC limits are currents."""
    max_discharge_power_w: float | None = None
    ac_max_current_a: float | None = None
    """AC evMaxCurrent, per phase: the power it allows depends on the phases in use."""
    ac_min_current_a: float | None = None
    ac_max_voltage_v: float | None = None
    v2x_parameters: bool = False
    """Whether v2xChargingParameters were sent."""

    @property
    def phases(self) -> int | None:
        """The phases the EV asked to charge on (AC_single/two/three_phase), None otherwise."""
        modes = (self.requested_energy_transfer, *self.available_energy_transfer)
        for mode in modes:
            if (count := _AC_PHASES.get(mode)) is not None:
                return count
        return None

    @property
    def supports_v2x(self) -> bool:
        """The EV (and the charger forwarding it) offers bidirectional transfer."""
        modes = (self.requested_energy_transfer, *self.available_energy_transfer)
        if any(mode.endswith("_BPT") for mode in modes):
            return True
        return self.v2x_parameters and (self.max_discharge_power_w or 0.0) > 0.0


_AC_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _kwh(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else number / 1000.0


def parse_ev_needs(evse_id: int, needs: dict[str, Any], received_at: datetime) -> EvChargingNeeds:
    """Build EvChargingNeeds from a snake_case chargingNeeds object (2.0.1 or 2.1)."""
    ac = needs.get("ac_charging_parameters") or {}
    dc = needs.get("dc_charging_parameters") or {}
    v2x = needs.get("v2x_charging_parameters")
    v2x_dict: dict[str, Any] = v2x if isinstance(v2x, dict) else {}
    available = needs.get("available_energy_transfer") or ()
    requested = _kwh(ac.get("energy_amount")) if ac else None
    if requested is None and dc:
        requested = _kwh(dc.get("energy_amount"))
    max_charge = _number(v2x_dict.get("max_charge_power"))
    if max_charge is None and dc:
        max_charge = _number(dc.get("ev_max_power"))
    max_discharge = _number(v2x_dict.get("max_discharge_power"))
    return EvChargingNeeds(
        received_at=received_at,
        evse_id=evse_id,
        requested_energy_transfer=str(needs.get("requested_energy_transfer", "")),
        available_energy_transfer=tuple(str(mode) for mode in available),
        control_mode=needs.get("control_mode"),
        departure_time=parse_iso(needs.get("departure_time")),
        requested_energy_kwh=requested,
        soc_pct=_number(dc.get("state_of_charge")) if dc else None,
        # The library turns 'targetSoC' into 'target_so_c'.
        target_soc_pct=_number(v2x_dict.get("target_so_c", v2x_dict.get("target_soc"))),
        capacity_kwh=_kwh(dc.get("ev_energy_capacity")) if dc else None,
        min_energy_kwh=_kwh(v2x_dict.get("ev_min_energy_request")),
        target_energy_kwh=_kwh(v2x_dict.get("ev_target_energy_request")),
        max_energy_kwh=_kwh(v2x_dict.get("ev_max_energy_request")),
        min_v2x_energy_kwh=_kwh(v2x_dict.get("ev_min_v2x_energy_request")),
        max_v2x_energy_kwh=_kwh(v2x_dict.get("ev_max_v2x_energy_request")),
        max_charge_power_w=max_charge,
        max_discharge_power_w=abs(max_discharge) if max_discharge is not None else None,
        ac_max_current_a=_positive(ac.get("ev_max_current")) if ac else None,
        ac_min_current_a=_positive(ac.get("ev_min_current")) if ac else None,
        ac_max_voltage_v=_positive(ac.get("ev_max_voltage")) if ac else None,
        v2x_parameters=isinstance(v2x, dict),
    )
