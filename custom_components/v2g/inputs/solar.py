"""Solar forecast adapters: mean PV power in W per interval.

Sources:
- the Energy dashboard's solar forecast platform (Forecast.Solar, Solcast and any integration that
  implements `energy.async_get_solar_forecast(hass, config_entry_id) -> {"wh_hours": {...}}`),
  one or several config entries summed (several arrays);
- sensors with a forecast attribute (Solcast's `detailedForecast` on its forecast_today /
  forecast_tomorrow / forecast_day_3 ... sensors; generic lists), several merged in time;
- none: zero everywhere (valid; not a problem).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util

from . import parsers
from .model import InputProblem, ProblemKey, Series

_LOGGER = logging.getLogger(__name__)


async def async_get_energy_forecast(hass: HomeAssistant, config_entry_id: str) -> Any:
    """Return the raw `async_get_solar_forecast` answer of a config entry's energy platform."""
    entry = hass.config_entries.async_get_entry(config_entry_id)
    if entry is None or entry.state is not ConfigEntryState.LOADED:
        raise LookupError(f"config entry {config_entry_id} is not loaded")
    integration = await async_get_integration(hass, entry.domain)
    platform = await integration.async_get_platform("energy")
    get_forecast = getattr(platform, "async_get_solar_forecast", None)
    if get_forecast is None:
        raise LookupError(f"{entry.domain} has no solar forecast")
    return await get_forecast(hass, config_entry_id)


async def async_read_energy_platform(
    hass: HomeAssistant, config_entry_ids: Sequence[str], now: datetime
) -> Series:
    """Sum of the forecasts of the given config entries (W)."""
    series = Series(source=",".join(config_entry_ids), unit="W", fetched_at=now)
    parts: list[parsers.Parsed] = []
    for entry_id in config_entry_ids:
        entry = hass.config_entries.async_get_entry(entry_id)
        label = entry.title if entry is not None else entry_id
        try:
            raw = await async_get_energy_forecast(hass, entry_id)
        except (LookupError, ImportError) as err:
            _LOGGER.debug("Solar forecast of %s unavailable: %s", entry_id, err)
            series.problems.append(
                InputProblem(ProblemKey.SOLAR_SOURCE_UNAVAILABLE, entry_id, str(err), label)
            )
            continue
        parsed = parsers.parse_wh_hours(raw)
        if not parsed.intervals:
            series.problems.append(
                InputProblem(ProblemKey.SOLAR_SOURCE_UNAVAILABLE, entry_id, "empty forecast", label)
            )
            continue
        _check_stale(series, entry_id, parsed, now, label)
        parts.append(parsed)
    series.intervals = parsers.sum_power(parts).intervals if parts else []
    return series


def read_solar_entities(hass: HomeAssistant, entity_ids: Sequence[str], now: datetime) -> Series:
    """Forecast list attributes of the given sensors merged in time (W)."""
    series = Series(source=",".join(entity_ids), unit="W", fetched_at=now)
    tz = dt_util.get_default_time_zone()
    parts: list[parsers.Parsed] = []
    for entity_id in entity_ids:
        state = hass.states.get(entity_id)
        parsed = (
            parsers.parse_solar_attribute(
                state.attributes, tz, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            )
            if state is not None
            else parsers.Parsed()
        )
        if not parsed.intervals:
            series.problems.append(
                InputProblem(ProblemKey.SOLAR_SOURCE_UNAVAILABLE, entity_id, "no forecast list")
            )
            continue
        parts.append(parsed)
    merged = parsers.merge(parts)
    if parts:
        _check_stale(series, series.source, merged, now)
    series.intervals = merged.intervals
    return series


def _check_stale(
    series: Series, source: str, parsed: parsers.Parsed, now: datetime, label: str = ""
) -> None:
    end = max(iv.end for iv in parsed.intervals)
    if end <= now:
        series.problems.append(
            InputProblem(
                ProblemKey.SOLAR_DATA_STALE, source, f"forecast ends {end.isoformat()}", label
            )
        )
