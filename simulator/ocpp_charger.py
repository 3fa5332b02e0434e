"""A simulated OCPP 2.1 or 2.0.1 charger with an EV behind it, for development and tests.

    .venv/bin/python simulator/ocpp_charger.py --url ws://127.0.0.1:9000/sim-charger
        --password <password from the integration> --soc 40 --capacity-kwh 60   (one line)

By default it is a bidirectional OCPP 2.1 charger; `--no-bidirectional` makes it charge only,
`--ocpp-version 2.0.1` speaks 2.0.1 (charge only), `--phases` sets how it is wired and
`--ev-phases` on how many phases the EV charges (a single-phase EV on a three-phase charger),
`--evse-id` which EVSE the EV is plugged into, `--clock-skew` how far the charger's clock is off.
Like real AC chargers it delivers nothing when a profile allows less than 6 A per phase, and it
follows a profile only between its startSchedule and its validTo, by its own clock.

It boots, reports the connector occupied, starts a transaction, tells the central system what the
EV needs (departure, energy, V2X limits), and sends meter values (SoC, power import/export,
energy registers) every few seconds. It follows SetChargingProfile: a CentralSetpoint (signed,
when bidirectional) or a ChargingOnly limit, for as long as the profile is valid. Without a valid
profile it charges at full power, like a plain charger: when the profile's validTo passes, or it
has been offline longer than the profile's maxOfflineDuration, it returns to plain charging. It
reconnects with exponential backoff when the central system goes away.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
import os
from pathlib import Path
import sys
from typing import Any
from urllib.parse import urlsplit
import uuid

import aiohttp
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.v2g.chargers.ocpp.base import (
    WebSocketConnection,
    handles,
    parse_iso,
    utc_iso,
)
from custom_components.v2g.chargers.simulated import BatteryModel

_LOGGER = logging.getLogger("v2g.simulator")
CONNECTOR_ID = 1
MIN_CURRENT_A = 6.0
"""IEC 61851: an AC charger cannot signal less than 6 A per phase."""
_AC_TRANSFER = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What is simulated and where it connects."""

    url: str
    identity: str
    password: str | None = None
    capacity_kwh: float = 60.0
    soc_pct: float = 40.0
    max_power_w: float = 11_000.0
    bidirectional: bool = True
    meter_interval_s: float = 5.0
    voltage_v: float = 230.0
    phases: int = 3
    """How the charger is wired."""
    ev_phases: int | None = None
    """The phases the EV charges on (None: as many as the charger has)."""
    ev_max_current_a: float = 16.0
    """The EV's per-phase current limit (ISO 15118 evMaxCurrent)."""
    ocpp_version: str = "2.1"
    """'2.1' or '2.0.1' (charge only)."""
    evse_id: int = 1
    """The EVSE the EV is plugged into (the others stay idle)."""
    clock_skew_s: float = 0.0
    """How far the charger's clock is ahead (positive) or behind (negative) the real time."""
    departure_h: float = 8.0
    target_soc_pct: float = 80.0
    min_soc_pct: float = 20.0
    reconnect_max_s: float = 30.0
    verbose: bool = False
    vendor: str = "V2G Smart Charging"
    model: str = "Simulated V2X 11"

    def __post_init__(self) -> None:
        """OCPP 2.0.1 has no discharging."""
        if self.ocpp_version not in ("2.1", "2.0.1"):
            raise ValueError("ocpp_version must be '2.1' or '2.0.1'")
        if self.ocpp_version == "2.0.1" and self.bidirectional:
            object.__setattr__(self, "bidirectional", False)

    @property
    def active_phases(self) -> int:
        """The phases energy flows on: the charger's, narrowed by the EV's."""
        return min(self.phases, self.ev_phases or self.phases)

    @property
    def ev_max_power_w(self) -> float:
        """What the charger can deliver to this EV."""
        return min(self.max_power_w, self.ev_max_current_a * self.voltage_v * self.active_phases)

    @property
    def min_power_w(self) -> float:
        """The lowest non-zero charging power (6 A on every active phase)."""
        return MIN_CURRENT_A * self.voltage_v * self.active_phases


@dataclass(slots=True)
class Profile:
    """A charging profile the station follows (single period)."""

    profile_id: int
    purpose: str
    stack_level: int
    setpoint_w: float | None
    """CentralSetpoint (signed) or None for a ChargingOnly limit."""
    limit_w: float | None
    starts_at: datetime | None
    """startSchedule: not followed before it."""
    valid_to: datetime | None
    ends_at: datetime | None
    max_offline_s: int | None
    invalid_after_offline: bool


@dataclass
class EvSimulation:
    """The charger's physics and profile logic, independent of the connection."""

    config: SimConfig
    clock: Callable[[], datetime] | None = None
    """The charger's clock (default: the real time plus `config.clock_skew_s`)."""
    battery: BatteryModel = field(init=False)
    profiles: dict[int, Profile] = field(default_factory=dict)
    power_w: float = 0.0
    energy_import_wh: float = 0.0
    energy_export_wh: float = 0.0
    online: bool = False
    offline_since: datetime | None = None
    _last: datetime | None = None

    def __post_init__(self) -> None:
        """Put the EV's battery in place."""
        if self.clock is None:
            skew = timedelta(seconds=self.config.clock_skew_s)
            self.clock = lambda: datetime.now(UTC) + skew
        self.battery = BatteryModel(
            capacity_kwh=self.config.capacity_kwh,
            soc_pct=self.config.soc_pct,
            min_soc_pct=self.config.min_soc_pct,
        )

    def now(self) -> datetime:
        """The time by the charger's clock."""
        assert self.clock is not None
        return self.clock()

    def set_online(self, online: bool) -> None:
        """The websocket to the central system came up or went down."""
        now = self.now()
        self.step(now)
        self.online = online
        self.offline_since = None if online else now

    def active_profile(self, now: datetime) -> Profile | None:
        """The valid profile that wins (TxProfile over TxDefaultProfile, then stack level)."""
        for profile_id, profile in list(self.profiles.items()):
            expired = (profile.valid_to is not None and now >= profile.valid_to) or (
                profile.ends_at is not None and now >= profile.ends_at
            )
            offline_too_long = (
                not self.online
                and self.offline_since is not None
                and profile.max_offline_s is not None
                and (now - self.offline_since).total_seconds() > profile.max_offline_s
            )
            if expired or (offline_too_long and profile.invalid_after_offline):
                _LOGGER.info("Profile %s no longer valid: plain charging", profile_id)
                del self.profiles[profile_id]
        started = [p for p in self.profiles.values() if p.starts_at is None or p.starts_at <= now]
        if not started:
            return None
        return max(started, key=lambda p: (p.purpose == "TxProfile", p.stack_level))

    def target_w(self, now: datetime) -> float:
        """What the charger delivers now: the profile's setpoint / limit, else full power."""
        profile = self.active_profile(now)
        cfg = self.config
        upper = cfg.ev_max_power_w
        if profile is None:
            target = upper
        elif profile.setpoint_w is not None:
            target = profile.setpoint_w
        else:
            target = min(upper, max(0.0, profile.limit_w or 0.0))
            if target < cfg.min_power_w - 0.5:
                target = 0.0  # below 6 A per phase an AC charger pauses the EV
        lower = -cfg.max_power_w if cfg.bidirectional else 0.0
        return min(upper, max(lower, target))

    def step(self, now: datetime | None = None) -> None:
        """Run the physics up to `now`."""
        now = now or self.now()
        if self._last is None:
            self._last = now
        duration_s = (now - self._last).total_seconds()
        self._last = now
        target = self.target_w(now)
        self.power_w = self.battery.max_power_w(target, max(duration_s, 1.0))
        if duration_s <= 0:
            return
        grid_kwh = self.battery.step(target, duration_s)
        if grid_kwh >= 0:
            self.energy_import_wh += grid_kwh * 1000.0
        else:
            self.energy_export_wh -= grid_kwh * 1000.0

    def accept_profile(self, profile: dict[str, Any]) -> str:
        """Take a SetChargingProfile chargingProfile (snake_case); return the status."""
        purpose = profile.get("charging_profile_purpose")
        if purpose not in ("TxProfile", "TxDefaultProfile"):
            return "Rejected"
        schedule = (profile.get("charging_schedule") or [{}])[0]
        periods = schedule.get("charging_schedule_period") or []
        if not periods:
            return "Rejected"
        period = periods[0]
        scale = 1.0
        if schedule.get("charging_rate_unit") == "A":
            phases = min(period.get("number_phases") or self.config.phases, self.config.phases)
            scale = self.config.voltage_v * min(phases, self.config.active_phases)
        mode = period.get("operation_mode", "ChargingOnly")
        setpoint = limit = None
        if mode == "CentralSetpoint":
            if not self.config.bidirectional or period.get("setpoint") is None:
                return "Rejected"
            setpoint = float(period["setpoint"]) * scale
        elif mode == "ChargingOnly":
            limit = float(period.get("limit", self.config.max_power_w / scale)) * scale
        else:
            return "Rejected"
        start = parse_iso(schedule.get("start_schedule"))
        duration = schedule.get("duration")
        self.step()
        self.profiles[int(profile["id"])] = Profile(
            profile_id=int(profile["id"]),
            purpose=purpose,
            stack_level=int(profile.get("stack_level", 0)),
            setpoint_w=setpoint,
            limit_w=limit,
            starts_at=start,
            valid_to=parse_iso(profile.get("valid_to")),
            ends_at=start + timedelta(seconds=duration) if start and duration else None,
            max_offline_s=profile.get("max_offline_duration"),
            invalid_after_offline=bool(profile.get("invalid_after_offline_duration", False)),
        )
        return "Accepted"

    def clear_profile(self, profile_id: int | None) -> str:
        """ClearChargingProfile by id (None: all)."""
        self.step()
        if profile_id is None:
            found = bool(self.profiles)
            self.profiles.clear()
        else:
            found = self.profiles.pop(profile_id, None) is not None
        return "Accepted" if found else "Unknown"

    def meter_value(self) -> dict[str, Any]:
        """One MeterValue (snake_case) with what a V2X charger reports."""
        now = self.now()
        self.step(now)
        samples: list[dict[str, Any]] = [
            {"value": round(self.battery.soc_pct, 1), "measurand": "SoC", "location": "EV"},
            {"value": round(max(0.0, self.power_w), 1), "measurand": "Power.Active.Import"},
            {"value": round(max(0.0, -self.power_w), 1), "measurand": "Power.Active.Export"},
            {
                "value": round(self.energy_import_wh, 1),
                "measurand": "Energy.Active.Import.Register",
            },
            {
                "value": round(self.energy_export_wh, 1),
                "measurand": "Energy.Active.Export.Register",
            },
        ]
        profile = self.active_profile(now)
        if profile is not None and profile.setpoint_w is not None:
            samples.append({"value": profile.setpoint_w, "measurand": "Power.Active.Setpoint"})
        for sample in samples:
            unit = {"SoC": "Percent"}.get(sample["measurand"])
            unit = unit or ("Wh" if sample["measurand"].startswith("Energy") else "W")
            sample["unit_of_measure"] = {"unit": unit}
        return {"timestamp": utc_iso(now), "sampled_value": samples}

    def charging_needs(self) -> dict[str, Any]:
        """NotifyEVChargingNeeds chargingNeeds (snake_case, no per-phase fields)."""
        cfg = self.config
        needed_wh = max(0.0, (cfg.target_soc_pct - self.battery.soc_pct) / 100 * cfg.capacity_kwh)
        ac_transfer = _AC_TRANSFER[cfg.ev_phases or cfg.phases]
        needs: dict[str, Any] = {
            "requested_energy_transfer": "AC_BPT" if cfg.bidirectional else ac_transfer,
            "departure_time": utc_iso(self.now() + timedelta(hours=cfg.departure_h)),
            "ac_charging_parameters": {
                "energy_amount": round(needed_wh * 1000.0),
                "ev_min_current": round(MIN_CURRENT_A),
                "ev_max_current": round(cfg.ev_max_current_a),
                "ev_max_voltage": round(cfg.voltage_v),
            },
        }
        if cfg.bidirectional:
            needs["control_mode"] = "DynamicControl"
            needs["available_energy_transfer"] = ["AC_BPT", ac_transfer]
            needs["v2x_charging_parameters"] = {
                "max_charge_power": cfg.max_power_w,
                "max_discharge_power": cfg.max_power_w,
                "ev_min_energy_request": round(needed_wh * 1000.0),
                "ev_target_energy_request": round(needed_wh * 1000.0),
                "ev_max_energy_request": round(
                    (100.0 - self.battery.soc_pct) / 100 * cfg.capacity_kwh * 1000.0
                ),
                "ev_min_v2x_energy_request": -round(
                    max(0.0, self.battery.soc_pct - cfg.min_soc_pct) / 100 * cfg.capacity_kwh * 1000
                ),
            }
        return needs


class SimulatedStation:
    """The charging-station side of OCPP 2.1 / 2.0.1, mixed into the library's charge point."""

    sim: EvSimulation
    _call: Any
    _call_result: Any
    call: Callable[..., Any]
    route_map: dict[str, Any]

    async def _handle_call(self, msg: Any) -> Any:
        # ocpp 2.1.0 sends no reply for 2.1 actions without a handler: answer NotImplemented.
        routes = self.route_map.get(msg.action) if isinstance(msg.action, str) else None
        if not routes or "_on_action" not in routes:
            raise OcppNotImplementedError(details={"cause": f"{msg.action} not implemented"})
        return await super()._handle_call(msg)  # type: ignore[misc]

    @handles("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """Report smart-charging and V2X support."""
        bidi = self.sim.config.bidirectional
        known = {
            "SmartChargingCtrlr.RateUnit": "A,W",
            "SmartChargingCtrlr.ProfileStackLevel": "10",
            "V2XChargingCtrlr.Enabled": "true" if bidi else "false",
            "V2XChargingCtrlr.SupportedOperationModes": (
                "ChargingOnly,CentralSetpoint" if bidi else "ChargingOnly"
            ),
            "V2XChargingCtrlr.SupportedEnergyTransferModes": (
                "AC_BPT,AC_three_phase" if bidi else "AC_three_phase"
            ),
            "EVSE.SupplyPhases": str(self.sim.config.phases),
        }
        if self.sim.config.ocpp_version == "2.0.1":
            known = {k: v for k, v in known.items() if not k.startswith("V2X")}
        results = []
        for item in get_variable_data:
            key = f"{item['component']['name']}.{item['variable']['name']}"
            result: dict[str, Any] = {
                "component": item["component"],
                "variable": item["variable"],
                "attribute_status": "Accepted" if key in known else "UnknownVariable",
            }
            if key in known:
                result["attribute_value"] = known[key]
            results.append(result)
        return self._call_result.GetVariables(get_variable_result=results)

    @handles("SetChargingProfile")
    def on_set_charging_profile(
        self, charging_profile: dict[str, Any], evse_id: int, **_: Any
    ) -> Any:
        """Follow a CentralSetpoint or a ChargingOnly limit."""
        status = self.sim.accept_profile(charging_profile)
        _LOGGER.info("SetChargingProfile %s: %s", charging_profile.get("id"), status)
        return self._call_result.SetChargingProfile(status=status)

    @handles("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id: int | None = None, **_: Any) -> Any:
        """Drop a profile: back to plain charging when none is left."""
        return self._call_result.ClearChargingProfile(
            status=self.sim.clear_profile(charging_profile_id)
        )

    async def run(self, first_connection: bool, transaction_id: str, seq: list[int]) -> None:
        """Boot, start (or resume) the transaction, then report until the connection ends."""
        await self.call(
            self._call.BootNotification(
                charging_station={
                    "vendor_name": self.sim.config.vendor,
                    "model": self.sim.config.model,
                },
                reason="PowerUp",
            )
        )
        await self.call(
            self._call.StatusNotification(
                timestamp=utc_iso(self.sim.now()),
                connector_status="Occupied",
                evse_id=self.sim.config.evse_id,
                connector_id=CONNECTOR_ID,
            )
        )
        await self.call(
            self._call.TransactionEvent(
                event_type="Started" if first_connection else "Updated",
                timestamp=utc_iso(self.sim.now()),
                trigger_reason="CablePluggedIn" if first_connection else "ChargingStateChanged",
                seq_no=self._next(seq),
                transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                evse={"id": self.sim.config.evse_id, "connector_id": CONNECTOR_ID},
                meter_value=[self.sim.meter_value()],
            )
        )
        await self.call(
            self._call.NotifyEVChargingNeeds(
                evse_id=self.sim.config.evse_id, charging_needs=self.sim.charging_needs()
            )
        )
        while True:
            await asyncio.sleep(self.sim.config.meter_interval_s)
            await self.call(
                self._call.MeterValues(
                    evse_id=self.sim.config.evse_id, meter_value=[self.sim.meter_value()]
                )
            )

    @staticmethod
    def _next(seq: list[int]) -> int:
        seq[0] += 1
        return seq[0] - 1


class SimulatedStation21(SimulatedStation, ChargePoint21):  # type: ignore[misc]
    """OCPP 2.1 (bidirectional or charge only)."""


class SimulatedStation201(SimulatedStation, ChargePoint201):  # type: ignore[misc]
    """OCPP 2.0.1 (charge only)."""


STATION_CLASSES: dict[str, type[SimulatedStation]] = {
    "2.1": SimulatedStation21,
    "2.0.1": SimulatedStation201,
}
SUBPROTOCOLS = {"2.1": "ocpp2.1", "2.0.1": "ocpp2.0.1"}


def make_station(
    config: SimConfig, connection: WebSocketConnection, sim: EvSimulation
) -> SimulatedStation:
    """The station class of the configured OCPP version, bound to a connection."""
    station_class: Any = STATION_CLASSES[config.ocpp_version]
    station: SimulatedStation = station_class(config.identity, connection, response_timeout=15)
    station.sim = sim
    return station


async def run_charger(
    config: SimConfig, stop: asyncio.Event | None = None, sim: EvSimulation | None = None
) -> None:
    """Connect, run, reconnect with backoff, until `stop` is set (`sim`: the physics to use)."""
    stop = stop or asyncio.Event()
    sim = sim or EvSimulation(config)
    transaction_id = str(uuid.uuid4())
    seq = [0]
    first = True
    backoff_s = 1.0
    auth = aiohttp.BasicAuth(config.identity, config.password) if config.password else None
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            try:
                protocol = SUBPROTOCOLS[config.ocpp_version]
                async with http.ws_connect(
                    config.url, protocols=(protocol,), auth=auth, heartbeat=60
                ) as ws:
                    if ws.protocol != protocol:
                        raise ConnectionError(f"the central system does not speak {protocol}")
                    _LOGGER.info("Connected to %s", config.url)
                    backoff_s = 1.0
                    await _run_session(
                        ws,
                        sim=sim,
                        config=config,
                        first=first,
                        transaction_id=transaction_id,
                        seq=seq,
                        stop=stop,
                    )
                    first = False
            except (aiohttp.ClientError, OSError, ConnectionError, TimeoutError) as err:
                _LOGGER.warning("Connection to %s failed: %s", config.url, err)
            finally:
                if sim.online:
                    sim.set_online(False)
            if stop.is_set():
                break
            _LOGGER.info("Reconnecting in %.0f s", backoff_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_s):
                    await stop.wait()
            backoff_s = min(config.reconnect_max_s, backoff_s * 2)


async def _run_session(
    ws: aiohttp.ClientWebSocketResponse,
    *,
    sim: EvSimulation,
    config: SimConfig,
    first: bool,
    transaction_id: str,
    seq: list[int],
    stop: asyncio.Event,
) -> None:
    station = make_station(config, WebSocketConnection(ws, config.identity), sim)
    sim.set_online(True)
    loop = asyncio.get_running_loop()
    tasks = {
        loop.create_task(station.start()),  # type: ignore[attr-defined]
        loop.create_task(station.run(first, transaction_id, seq)),
        loop.create_task(stop.wait()),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.info("Session ended: %r", error)


def parse_args(argv: Sequence[str] | None = None) -> SimConfig:
    """Command line -> SimConfig."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000/sim-charger")
    parser.add_argument("--identity", help="charger identity (default: last segment of --url)")
    parser.add_argument(
        "--password",
        default=os.environ.get("V2G_OCPP_PASSWORD"),
        help="Basic-auth password (default: $V2G_OCPP_PASSWORD)",
    )
    parser.add_argument("--capacity-kwh", type=float, default=60.0)
    parser.add_argument("--soc", type=float, default=40.0, help="initial state of charge, %%")
    parser.add_argument("--max-power-w", type=float, default=11_000.0)
    parser.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--ocpp-version", choices=("2.1", "2.0.1"), default="2.1")
    parser.add_argument("--phases", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--ev-phases", type=int, choices=(1, 2, 3), help="default: --phases")
    parser.add_argument("--ev-max-current", type=float, default=16.0, help="A per phase")
    parser.add_argument("--meter-interval", type=float, default=5.0, help="seconds")
    parser.add_argument("--evse-id", type=int, default=1, help="EVSE the EV is plugged into")
    parser.add_argument(
        "--clock-skew", type=float, default=0.0, help="seconds the charger's clock is ahead"
    )
    parser.add_argument("--departure-hours", type=float, default=8.0)
    parser.add_argument("--target-soc", type=float, default=80.0)
    parser.add_argument("-v", "--verbose", action="store_true", help="log OCPP frames")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    identity = args.identity or urlsplit(url).path.rsplit("/", 1)[-1]
    if not identity:
        parser.error("give --identity or a URL ending in the identity")
    if not url.endswith("/" + identity):
        url = f"{url}/{identity}"
    return SimConfig(
        url=url,
        identity=identity,
        password=args.password,
        capacity_kwh=args.capacity_kwh,
        soc_pct=args.soc,
        max_power_w=args.max_power_w,
        bidirectional=args.bidirectional,
        ocpp_version=args.ocpp_version,
        phases=args.phases,
        ev_phases=args.ev_phases,
        ev_max_current_a=args.ev_max_current,
        meter_interval_s=args.meter_interval,
        evse_id=args.evse_id,
        clock_skew_s=args.clock_skew,
        departure_h=args.departure_hours,
        target_soc_pct=args.target_soc,
        verbose=args.verbose,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run until interrupted."""
    config = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if config.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("ocpp").setLevel(logging.INFO if config.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_charger(config))


if __name__ == "__main__":
    main()
