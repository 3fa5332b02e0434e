"""A simulated bidirectional charger with an EV battery behind it, for demos and tests.

Time advances with the clock it is given (Home Assistant's `dt_util.utcnow` in the integration, so
tests drive it with freezer). The EV plugs in and out following a daily pattern in local time and
comes home with less energy than it left with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from . import (
    Capabilities,
    ChangeListener,
    ChargerState,
    ChargerUnavailableError,
    DeviceDetails,
    flow_status,
)

# Below this magnitude a setpoint counts as "no energy flowing".
IDLE_THRESHOLD_W = 1.0


@dataclass(slots=True)
class BatteryModel:
    """An EV traction battery seen from the charger's AC side.

    Power is measured at the charger (grid side). Charging stores `power * charge_efficiency`;
    discharging takes `power / discharge_efficiency` out of the battery. The battery management
    system stops charging at `max_soc_pct` and discharging at `min_soc_pct`.
    """

    capacity_kwh: float
    soc_pct: float
    charge_efficiency: float = 0.92
    discharge_efficiency: float = 0.92
    min_soc_pct: float = 0.0
    max_soc_pct: float = 100.0

    @property
    def energy_kwh(self) -> float:
        """Energy stored now."""
        return self.capacity_kwh * self.soc_pct / 100.0

    def max_power_w(self, power_w: float, duration_s: float) -> float:
        """Clamp a signed grid-side power so that the SoC limits hold over `duration_s`."""
        if duration_s <= 0:
            return power_w
        hours = duration_s / 3600.0
        if power_w > 0:
            room_kwh = max(0.0, (self.max_soc_pct - self.soc_pct) / 100.0 * self.capacity_kwh)
            return min(power_w, room_kwh / self.charge_efficiency / hours * 1000.0)
        if power_w < 0:
            avail_kwh = max(0.0, (self.soc_pct - self.min_soc_pct) / 100.0 * self.capacity_kwh)
            return max(power_w, -avail_kwh * self.discharge_efficiency / hours * 1000.0)
        return 0.0

    def step(self, power_w: float, duration_s: float) -> float:
        """Apply a signed grid-side power for `duration_s`; return the grid-side energy in kWh.

        The power is clamped to what the SoC limits allow, so the returned energy can be smaller
        than asked for.
        """
        power_w = self.max_power_w(power_w, duration_s)
        grid_kwh = power_w * duration_s / 3_600_000.0
        if grid_kwh >= 0:
            stored_kwh = grid_kwh * self.charge_efficiency
        else:
            stored_kwh = grid_kwh / self.discharge_efficiency
        soc = self.soc_pct + stored_kwh / self.capacity_kwh * 100.0
        self.soc_pct = min(self.max_soc_pct, max(self.min_soc_pct, soc))
        return grid_kwh

    def drive(self, energy_kwh: float) -> None:
        """Use energy away from home (the SoC never goes below zero)."""
        self.soc_pct = max(0.0, self.soc_pct - energy_kwh / self.capacity_kwh * 100.0)


@dataclass(frozen=True, slots=True)
class PlugSchedule:
    """The EV comes home at `arrival` and leaves at `departure`, every day, in local time.

    Equal times mean the EV never leaves.
    """

    arrival: time = time(18, 0)
    departure: time = time(7, 30)
    trip_energy_kwh: float = 8.0

    def is_plugged_in(self, local: datetime) -> bool:
        """Whether the EV is plugged in at this local time."""
        if self.arrival == self.departure:
            return True
        now = local.time()
        if self.arrival < self.departure:
            return self.arrival <= now < self.departure
        return now >= self.arrival or now < self.departure

    def next_change(self, local: datetime) -> datetime:
        """The next arrival or departure strictly after `local` (an aware datetime)."""
        candidates = []
        for at in (self.arrival, self.departure):
            for days in (0, 1):
                day = local.date() + timedelta(days=days)
                when = datetime.combine(day, at, tzinfo=local.tzinfo)
                if when > local:
                    candidates.append(when)
        return min(candidates)


@dataclass(frozen=True, slots=True)
class SimulatedChargerConfig:
    """Hardware and vehicle of the simulation."""

    max_charge_power_w: float = 11_000.0
    max_discharge_power_w: float = 11_000.0
    capacity_kwh: float = 60.0
    initial_soc_pct: float = 40.0
    charge_efficiency: float = 0.92
    discharge_efficiency: float = 0.92
    schedule: PlugSchedule = PlugSchedule()
    min_charge_power_w: float = 1_400.0
    start_plugged_in: bool = True
    """The EV is home when the simulation starts (until its next departure), so a demo started
    in the daytime has something to show at once."""


class SimulatedCharger:
    """A bidirectional charger and its EV, advanced lazily to the clock's time on every call."""

    def __init__(
        self,
        config: SimulatedChargerConfig,
        clock: Callable[[], datetime],
        local_tz: tzinfo = UTC,
    ) -> None:
        """Start the simulation at the clock's current time."""
        self.config = config
        self._clock = clock
        self._tz = local_tz
        self.battery = BatteryModel(
            capacity_kwh=config.capacity_kwh,
            soc_pct=config.initial_soc_pct,
            charge_efficiency=config.charge_efficiency,
            discharge_efficiency=config.discharge_efficiency,
        )
        self._capabilities = Capabilities(
            bidirectional=config.max_discharge_power_w > 0,
            reports_soc=True,
            min_charge_power_w=config.min_charge_power_w,
        )
        self._now = clock()
        self._plugged_in = config.start_plugged_in or config.schedule.is_plugged_in(
            self._now.astimezone(local_tz)
        )
        self._setpoint_w = 0.0
        self.energy_charged_kwh = 0.0
        self.energy_discharged_kwh = 0.0
        self.online = True
        self.started = False

    @property
    def capabilities(self) -> Capabilities:
        """What this charger can do."""
        return self._capabilities

    @property
    def setpoint_w(self) -> float:
        """The setpoint last applied (after clamping to hardware limits)."""
        return self._setpoint_w

    async def async_start(self) -> None:
        """Nothing to connect to; fails while the simulation is set offline."""
        self._check_online()
        self.started = True

    async def async_stop(self) -> None:
        """Stop any energy flow, as a real charger does when its controller goes away."""
        self.advance()
        self._setpoint_w = 0.0
        self.started = False

    async def async_read_state(self) -> ChargerState:
        """Advance the simulation to now and report it."""
        self._check_online()
        self.advance()
        return self.state()

    async def async_apply_setpoint(self, power_w: float) -> None:
        """Follow a signed setpoint from now on (clamped to the charger's limits)."""
        self._check_online()
        self.advance()
        cfg = self.config
        power_w = min(cfg.max_charge_power_w, max(-cfg.max_discharge_power_w, power_w))
        if 0 < power_w < cfg.min_charge_power_w:
            power_w = 0.0
        self._setpoint_w = power_w

    async def async_release(self) -> None:
        """Nothing to let go of."""

    def device_details(self) -> DeviceDetails:
        """The simulation names itself."""
        return DeviceDetails(
            manufacturer="V2G Smart Charging", model="Simulated bidirectional charger"
        )

    def diagnostics(self) -> dict[str, Any]:
        """The simulation's configuration and battery."""
        return {
            "config": asdict(self.config),
            "soc_pct": round(self.battery.soc_pct, 2),
            "plugged_in": self._plugged_in,
            "setpoint_w": self._setpoint_w,
        }

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """The simulation is polled: it never pushes."""
        return lambda: None

    def snapshot(self) -> dict[str, Any]:
        """What a restart must keep: the battery, the plug and the energy counters."""
        return {
            "soc_pct": self.battery.soc_pct,
            "plugged_in": self._plugged_in,
            "energy_charged_kwh": self.energy_charged_kwh,
            "energy_discharged_kwh": self.energy_discharged_kwh,
            "at": self._now.isoformat(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a snapshot (the time in between runs with nothing flowing)."""
        try:
            soc = float(snapshot["soc_pct"])
            charged = float(snapshot["energy_charged_kwh"])
            discharged = float(snapshot["energy_discharged_kwh"])
            plugged = bool(snapshot["plugged_in"])
            at = datetime.fromisoformat(snapshot["at"])
        except (KeyError, TypeError, ValueError):
            return
        self.battery.soc_pct = min(100.0, max(0.0, soc))
        self.energy_charged_kwh = max(0.0, charged)
        self.energy_discharged_kwh = max(0.0, discharged)
        self._plugged_in = plugged
        # Plug events since the snapshot still happen (the EV may have left and come back).
        self._now = min(at, self._now)
        self._setpoint_w = 0.0
        self.advance()

    def state(self) -> ChargerState:
        """The state at the last advance, without moving time."""
        # Instantaneous power: the setpoint as far as the battery accepts it right now.
        power = self.battery.max_power_w(self._setpoint_w, 1.0) if self._plugged_in else 0.0
        return ChargerState(
            plugged_in=self._plugged_in,
            status=flow_status(self._plugged_in, power, IDLE_THRESHOLD_W),
            power_w=round(power, 1),
            energy_charged_kwh=round(self.energy_charged_kwh, 4),
            energy_discharged_kwh=round(self.energy_discharged_kwh, 4),
            max_charge_power_w=self.config.max_charge_power_w,
            max_discharge_power_w=self.config.max_discharge_power_w,
            soc_pct=round(self.battery.soc_pct, 2) if self._plugged_in else None,
            setpoint_w=self._setpoint_w,
            updated_at=self._now,
        )

    def advance(self, now: datetime | None = None) -> None:
        """Run the physics from the last call up to `now`, plug events included."""
        end = now or self._clock()
        schedule = self.config.schedule
        while self._now < end:
            local = self._now.astimezone(self._tz)
            change = schedule.next_change(local).astimezone(UTC)
            step_end = min(end, change)
            self._flow(step_end)
            if step_end == change:
                self._set_plugged(schedule.is_plugged_in(change.astimezone(self._tz)))

    def _flow(self, until: datetime) -> None:
        duration_s = (until - self._now).total_seconds()
        if self._plugged_in and duration_s > 0:
            grid_kwh = self.battery.step(self._setpoint_w, duration_s)
            if grid_kwh >= 0:
                self.energy_charged_kwh += grid_kwh
            else:
                self.energy_discharged_kwh -= grid_kwh
        self._now = max(self._now, until)

    def _set_plugged(self, plugged_in: bool) -> None:
        if plugged_in and not self._plugged_in:
            self.battery.drive(self.config.schedule.trip_energy_kwh)
        if not plugged_in:
            self._setpoint_w = 0.0
        self._plugged_in = plugged_in

    def _check_online(self) -> None:
        if not self.online:
            raise ChargerUnavailableError("simulated charger is offline")
