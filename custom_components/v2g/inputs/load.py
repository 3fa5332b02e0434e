"""House load forecast from the recorder's long-term statistics, and the live grid power.

The forecast for a slot is the mean house power at the same local hour of the same weekday over
the last N weeks (hourly long-term statistics: `mean` of a power sensor, `change` of an energy
sensor turned into mean W). When fewer than `MIN_WEEKDAY_SAMPLES` same-weekday hours exist, the
mean of that hour over all days is used, then the mean of all hours, then the constant load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
import logging
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .model import HOUR, InputProblem, Interval, ProblemKey, Series, to_float

_LOGGER = logging.getLogger(__name__)

MIN_WEEKDAY_SAMPLES = 2
"""Below this many same-weekday samples of an hour, the all-days mean of the hour is used."""
MIN_HISTORY_HOURS = 24
"""Below this many hours of statistics the history counts as missing (constant load instead)."""

POWER_FACTORS_W: Mapping[str, float] = {
    UnitOfPower.MILLIWATT: 0.001,
    UnitOfPower.WATT: 1.0,
    UnitOfPower.KILO_WATT: 1000.0,
    UnitOfPower.MEGA_WATT: 1_000_000.0,
}
ENERGY_UNITS: frozenset[str] = frozenset(
    {UnitOfEnergy.WATT_HOUR, UnitOfEnergy.KILO_WATT_HOUR, UnitOfEnergy.MEGA_WATT_HOUR}
)


@dataclass(slots=True)
class LoadProfile:
    """Mean power per (weekday, local hour) and per local hour, built from hourly samples."""

    local_tz: tzinfo
    by_weekday_hour: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    by_hour: dict[int, list[float]] = field(default_factory=dict)
    samples: int = 0
    total_w: float = 0.0
    min_weekday_samples: int = MIN_WEEKDAY_SAMPLES

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[datetime, float]],
        local_tz: tzinfo,
        min_weekday_samples: int = MIN_WEEKDAY_SAMPLES,
    ) -> LoadProfile:
        """Profile from (hour start, mean W) samples; non-finite values must be dropped before."""
        profile = cls(local_tz, min_weekday_samples=min_weekday_samples)
        for start, power_w in samples:
            local = start.astimezone(local_tz)
            profile.by_weekday_hour.setdefault((local.weekday(), local.hour), []).append(power_w)
            profile.by_hour.setdefault(local.hour, []).append(power_w)
            profile.samples += 1
            profile.total_w += power_w
        return profile

    def power_w_at(self, when: datetime) -> float | None:
        """Forecast mean power for the local hour containing `when`; None without samples."""
        local = when.astimezone(self.local_tz)
        same_weekday = self.by_weekday_hour.get((local.weekday(), local.hour), [])
        if len(same_weekday) >= self.min_weekday_samples:
            return sum(same_weekday) / len(same_weekday)
        same_hour = self.by_hour.get(local.hour, [])
        if same_hour:
            return sum(same_hour) / len(same_hour)
        return self.total_w / self.samples if self.samples else None

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Hourly intervals on local hour boundaries covering [start, end)."""
        local = start.astimezone(self.local_tz)
        cursor = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        result: list[Interval] = []
        while cursor < end:
            value = self.power_w_at(cursor)
            if value is not None:
                result.append(Interval(cursor, cursor + HOUR, value))
            cursor += HOUR
        return result


def samples_from_rows(rows: Sequence[Mapping[str, Any]], kind: str) -> list[tuple[datetime, float]]:
    """(start, mean W) from statistics rows: `mean` in W for power, `change` in kWh for energy.

    Rows without a finite value are dropped; energy changes below zero (a meter reset the recorder
    did not catch) are dropped too.
    """
    samples: list[tuple[datetime, float]] = []
    for row in rows:
        start_raw = row.get("start")
        if isinstance(start_raw, int | float):
            start = datetime.fromtimestamp(start_raw, UTC)
        elif isinstance(start_raw, datetime):
            start = start_raw.astimezone(UTC)
        else:
            continue
        if kind == "power":
            value = to_float(row.get("mean"))
        else:
            change_kwh = to_float(row.get("change"))
            value = None if change_kwh is None or change_kwh < 0 else change_kwh * 1000.0
        if value is not None:
            samples.append((start, value))
    return samples


def sensor_kind(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return "power" or "energy" from the sensor's unit, None when it is neither."""
    state = hass.states.get(entity_id)
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) if state is not None else None
    if unit in POWER_FACTORS_W:
        return "power"
    if unit in ENERGY_UNITS:
        return "energy"
    return None


class LoadForecaster:
    """Builds the load profile from statistics at most once per hour; keep one per entity.

    With `exclude_entity_ids` (the EV chargers' power or energy sensors, when the house meter
    includes the chargers) their hourly mean power is subtracted from each hour first, so past
    charging does not show up as house load.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str,
        history_weeks: int = 4,
        exclude_entity_ids: Sequence[str] = (),
    ) -> None:
        self.hass = hass
        self.entity_id = entity_id
        self.exclude_entity_ids = tuple(exclude_entity_ids)
        self.history_weeks = max(1, history_weeks)
        self._profile: LoadProfile | None = None
        self._built_for: datetime | None = None
        self._kind: str | None = None
        self.queries = 0
        """How many statistics queries were made (tests check the cache with it)."""

    async def async_read(self, now: datetime, start: datetime, end: datetime) -> Series:
        """Forecast intervals (W) for [start, end); empty with a problem when history is missing."""
        series = Series(source=self.entity_id, unit="W", fetched_at=now)
        hour = now.replace(minute=0, second=0, microsecond=0)
        kind = sensor_kind(self.hass, self.entity_id) or self._kind
        if kind is None:
            series.problems.append(
                InputProblem(ProblemKey.LOAD_UNIT_UNKNOWN, self.entity_id, "not W/kW or Wh/kWh")
            )
            return series
        if self._profile is None or self._built_for != hour or kind != self._kind:
            self._profile = await self._async_build(hour, kind)
            self._built_for = hour
            self._kind = kind
        profile = self._profile
        if profile.samples < MIN_HISTORY_HOURS:
            series.problems.append(
                InputProblem(
                    ProblemKey.LOAD_HISTORY_MISSING,
                    self.entity_id,
                    f"{profile.samples} hours of statistics",
                )
            )
            return series
        series.intervals = profile.intervals(start, end)
        return series

    async def _async_build(self, hour: datetime, kind: str) -> LoadProfile:
        self.queries += 1
        tz = dt_util.get_default_time_zone()
        ids = {self.entity_id, *self.exclude_entity_ids}
        types: set[Any] = {"mean", "change"}
        units = {"power": UnitOfPower.WATT, "energy": UnitOfEnergy.KILO_WATT_HOUR}
        try:
            stats = await get_instance(self.hass).async_add_executor_job(
                statistics_during_period,
                self.hass,
                hour - timedelta(weeks=self.history_weeks),
                hour,
                ids,
                "hour",
                units,
                types,
            )
        except Exception as err:  # a database error must not stop the loop
            _LOGGER.debug("Statistics of %s could not be read: %s", self.entity_id, err)
            return LoadProfile(tz)
        samples = samples_from_rows(stats.get(self.entity_id, []), kind)
        excluded: dict[datetime, float] = {}
        for other in self.exclude_entity_ids:
            other_kind = sensor_kind(self.hass, other) or "power"
            for start, w in samples_from_rows(stats.get(other, []), other_kind):
                excluded[start] = excluded.get(start, 0.0) + w
        if excluded:
            samples = [(start, max(0.0, w - excluded.get(start, 0.0))) for start, w in samples]
        return LoadProfile.from_samples(samples, tz)


def read_power_w(hass: HomeAssistant, entity_id: str) -> float | None:
    """Return the current power of a sensor in W (a grid meter: import positive), or None.

    Unusable: missing, unavailable/unknown, not a finite number, or a unit other than mW/W/kW/MW.
    A sensor without a unit is read as W.
    """
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    value = to_float(state.state)
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or UnitOfPower.WATT
    factor = POWER_FACTORS_W.get(unit)
    if value is None or factor is None:
        return None
    return value * factor
