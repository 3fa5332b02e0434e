"""The site's input options (prices, solar, house load, grid meter), read and checked.

The coordinator keeps one `InputCollector` per config entry and calls `async_collect(grid, now)`
on every update; it gets an `Inputs` with one value per slot and the list of current problems.
Bad data never raises: every source has a documented fallback (see `fill.py`), each problem is
logged once when it appears and once when it clears, and `Inputs.problems` names the entity and a
`ProblemKey` for a repair issue.

Options (a plain dict read by `InputsConfig.from_options`; default in brackets):

- `price_source`: "entity" | "schedule" | "fixed" ["entity" if `price_entity` else "fixed"].
- `price_entity`: entity id of the price sensor or Octopus event entity; format detected.
- `price_unit`: optional str overriding the entity's unit ("EUR/MWh", "öre/kWh", "c/kWh").
- `price_fee_per_kwh`: float [0], grid fee and energy taxes per kWh added to the spot price.
- `price_vat_pct`: float [0], VAT in percent, applied after the fee.
- `price_fixed_per_kwh`: float [0.30], the flat price ("fixed"); also the last-resort fallback
  when an entity source has never delivered a price.
- `price_schedule`: time-of-use windows, "00:30-04:30=0.12; 17:00-20:00=0.45" (text, one window
  per line or ";"-separated), or {"00:30-04:30": 0.12}, or [{"start", "end", "price"}].
- `price_schedule_default_per_kwh`: float [`price_fixed_per_kwh`], price outside the windows.
- `nordpool_area`, `tibber_home`: optional str, when the Nord Pool entry has several areas or the
  Tibber account several homes (normally found from the chosen entity).
- `export_price_source`: "derived" | "entity" | "fixed" | "none" ["derived"].
- `export_price_entity`: entity id ("entity"); `export_price_unit`: optional unit override.
- `export_price_factor`: float [1.0]; `export_price_fee_per_kwh`: float [0], deducted (may be
  negative for a feed-in bonus).
- `export_price_fixed_per_kwh`: float [0], the flat feed-in price ("fixed"; also the fallback).
- `solar_source`: "energy" | "entity" | "none" [from which of the next two is set].
- `solar_forecast_entries`: list of config entry ids (Forecast.Solar, Solcast...), summed.
- `solar_forecast_entities`: list of entity ids with a forecast list attribute, merged in time.
- `load_source`: "statistics" | "constant" | "none" ["statistics" if `load_entity` else
  "constant"].
- `load_entity`: entity id of a house power (W/kW) or energy (Wh/kWh) sensor with statistics.
- `load_exclude_entity`: optional entity ids (a list; one id from older versions) of power or
  energy sensors (the site's EV chargers') whose hourly means are subtracted from the load
  history, when the house meter includes the chargers.
- `load_history_weeks`: int 1-52 [4]; `load_constant_w`: float [400], also the fallback.
- `grid_power_entity`: optional entity id, live grid power, import positive, W or kW.
- `grid_power_invert`: bool [False], for meters that report export as positive.
- `flex_event_entities`: list of event entity ids with flexibility sessions (Octopus Energy's
  power-down / power-up events; see `flex.py`); `flex_points_per_currency`: float [800].

Price formula (the optimizer's `Tariff`): with `spot = value * unit_factor` (per kWh; unit_factor
0.001 for per MWh, 0.01 for cents/öre/pence),
`import = (spot + price_fee_per_kwh) * (1 + price_vat_pct / 100)` and
`export = spot_export * export_price_factor - export_price_fee_per_kwh`, where `spot_export` is the
import spot ("derived") or the export entity's price ("entity"). Fee and VAT apply to entity
sources only: a "fixed" price and a "schedule" are taken as the final price per kWh (and are the
spot of a "derived" export price).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from ..const import (
    DEFAULT_LOAD_CONSTANT_W,
    DEFAULT_LOAD_HISTORY_WEEKS,
    DEFAULT_PRICE_FIXED_PER_KWH,
    OPT_EXPORT_PRICE_ENTITY,
    OPT_EXPORT_PRICE_FACTOR,
    OPT_EXPORT_PRICE_FEE_PER_KWH,
    OPT_EXPORT_PRICE_FIXED_PER_KWH,
    OPT_EXPORT_PRICE_SOURCE,
    OPT_EXPORT_PRICE_UNIT,
    OPT_FLEX_EVENT_ENTITIES,
    OPT_FLEX_POINTS_PER_CURRENCY,
    OPT_GRID_POWER_ENTITY,
    OPT_GRID_POWER_INVERT,
    OPT_LOAD_CONSTANT_W,
    OPT_LOAD_ENTITY,
    OPT_LOAD_EXCLUDE_ENTITY,
    OPT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_SOURCE,
    OPT_NORDPOOL_AREA,
    OPT_PRICE_ENTITY,
    OPT_PRICE_FEE_PER_KWH,
    OPT_PRICE_FIXED_PER_KWH,
    OPT_PRICE_SCHEDULE,
    OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH,
    OPT_PRICE_SOURCE,
    OPT_PRICE_UNIT,
    OPT_PRICE_VAT_PCT,
    OPT_SOLAR_FORECAST_ENTITIES,
    OPT_SOLAR_FORECAST_ENTRIES,
    OPT_SOLAR_SOURCE,
    OPT_TIBBER_HOME,
)
from . import parsers
from .flex import DEFAULT_POINTS_PER_CURRENCY


class PriceSource(StrEnum):
    """Where import prices come from."""

    ENTITY = "entity"
    SCHEDULE = "schedule"
    FIXED = "fixed"


class ExportPriceSource(StrEnum):
    """Where the feed-in price comes from."""

    DERIVED = "derived"
    ENTITY = "entity"
    FIXED = "fixed"
    NONE = "none"


class SolarSource(StrEnum):
    """Where the solar forecast comes from."""

    ENERGY = "energy"
    ENTITY = "entity"
    NONE = "none"


class LoadSource(StrEnum):
    """Where the house load forecast comes from."""

    STATISTICS = "statistics"
    CONSTANT = "constant"
    NONE = "none"


class InvalidInputsConfigError(ValueError):
    """An option value is unusable; `option` names the field for the options-flow error."""

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option}: {detail}")
        self.option = option


def _float(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key)
    if value is None or value == "":
        return default
    try:
        result = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInputsConfigError(key, f"not a number: {value!r}") from err
    if not np.isfinite(result):
        raise InvalidInputsConfigError(key, f"not a finite number: {value!r}")
    return result


def _str(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return str(value).strip() or None if value is not None else None


def _list(options: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = options.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _enum[E: StrEnum](options: Mapping[str, Any], key: str, kind: type[E], default: E) -> E:
    value = options.get(key)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError as err:
        raise InvalidInputsConfigError(key, f"unknown choice {value!r}") from err


@dataclass(frozen=True, slots=True)
class InputsConfig:
    """The inputs part of the entry's options, validated; see the module docstring for keys."""

    price_source: PriceSource = PriceSource.FIXED
    price_entity: str | None = None
    price_unit: str | None = None
    price_fee_per_kwh: float = 0.0
    price_vat_pct: float = 0.0
    price_fixed_per_kwh: float = DEFAULT_PRICE_FIXED_PER_KWH
    price_schedule: tuple[parsers.TouWindow, ...] = ()
    price_schedule_default_per_kwh: float = DEFAULT_PRICE_FIXED_PER_KWH
    nordpool_area: str | None = None
    tibber_home: str | None = None
    export_price_source: ExportPriceSource = ExportPriceSource.DERIVED
    export_price_entity: str | None = None
    export_price_unit: str | None = None
    export_price_factor: float = 1.0
    export_price_fee_per_kwh: float = 0.0
    export_price_fixed_per_kwh: float = 0.0
    solar_source: SolarSource = SolarSource.NONE
    solar_forecast_entries: tuple[str, ...] = ()
    solar_forecast_entities: tuple[str, ...] = ()
    load_source: LoadSource = LoadSource.CONSTANT
    load_entity: str | None = None
    load_exclude_entities: tuple[str, ...] = ()
    load_history_weeks: int = DEFAULT_LOAD_HISTORY_WEEKS
    load_constant_w: float = DEFAULT_LOAD_CONSTANT_W
    grid_power_entity: str | None = None
    grid_power_invert: bool = False
    flex_event_entities: tuple[str, ...] = ()
    flex_points_per_currency: float = DEFAULT_POINTS_PER_CURRENCY

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> InputsConfig:
        """Read and check the options; raises `InvalidInputsConfigError` naming the bad key."""
        price_entity = _str(options, OPT_PRICE_ENTITY)
        price_source = _enum(
            options,
            OPT_PRICE_SOURCE,
            PriceSource,
            PriceSource.ENTITY if price_entity else PriceSource.FIXED,
        )
        if price_source is PriceSource.ENTITY and not price_entity:
            raise InvalidInputsConfigError(OPT_PRICE_ENTITY, "a price entity is required")
        try:
            schedule = tuple(parsers.parse_tou_schedule(options.get(OPT_PRICE_SCHEDULE)))
        except ValueError as err:
            raise InvalidInputsConfigError(OPT_PRICE_SCHEDULE, str(err)) from err
        if price_source is PriceSource.SCHEDULE and not schedule:
            raise InvalidInputsConfigError(OPT_PRICE_SCHEDULE, "no time windows")
        fixed = _float(options, OPT_PRICE_FIXED_PER_KWH, DEFAULT_PRICE_FIXED_PER_KWH)
        export_entity = _str(options, OPT_EXPORT_PRICE_ENTITY)
        export_source = _enum(
            options, OPT_EXPORT_PRICE_SOURCE, ExportPriceSource, ExportPriceSource.DERIVED
        )
        if export_source is ExportPriceSource.ENTITY and not export_entity:
            raise InvalidInputsConfigError(OPT_EXPORT_PRICE_ENTITY, "an export entity is required")
        entries = _list(options, OPT_SOLAR_FORECAST_ENTRIES)
        solar_entities = _list(options, OPT_SOLAR_FORECAST_ENTITIES)
        solar_default = (
            SolarSource.ENERGY
            if entries
            else SolarSource.ENTITY
            if solar_entities
            else SolarSource.NONE
        )
        solar_source = _enum(options, OPT_SOLAR_SOURCE, SolarSource, solar_default)
        if solar_source is SolarSource.ENERGY and not entries:
            raise InvalidInputsConfigError(OPT_SOLAR_FORECAST_ENTRIES, "choose a forecast")
        if solar_source is SolarSource.ENTITY and not solar_entities:
            raise InvalidInputsConfigError(OPT_SOLAR_FORECAST_ENTITIES, "choose a sensor")
        load_entity = _str(options, OPT_LOAD_ENTITY)
        load_source = _enum(
            options,
            OPT_LOAD_SOURCE,
            LoadSource,
            LoadSource.STATISTICS if load_entity else LoadSource.CONSTANT,
        )
        if load_source is LoadSource.STATISTICS and not load_entity:
            raise InvalidInputsConfigError(OPT_LOAD_ENTITY, "a load sensor is required")
        weeks = _float(options, OPT_LOAD_HISTORY_WEEKS, DEFAULT_LOAD_HISTORY_WEEKS)
        if not 1 <= weeks <= 52:
            raise InvalidInputsConfigError(OPT_LOAD_HISTORY_WEEKS, "between 1 and 52 weeks")
        return cls(
            price_source=price_source,
            price_entity=price_entity,
            price_unit=_str(options, OPT_PRICE_UNIT),
            price_fee_per_kwh=_float(options, OPT_PRICE_FEE_PER_KWH, 0.0),
            price_vat_pct=_float(options, OPT_PRICE_VAT_PCT, 0.0),
            price_fixed_per_kwh=fixed,
            price_schedule=schedule,
            price_schedule_default_per_kwh=_float(
                options, OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH, fixed
            ),
            nordpool_area=_str(options, OPT_NORDPOOL_AREA),
            tibber_home=_str(options, OPT_TIBBER_HOME),
            export_price_source=export_source,
            export_price_entity=export_entity,
            export_price_unit=_str(options, OPT_EXPORT_PRICE_UNIT),
            export_price_factor=_float(options, OPT_EXPORT_PRICE_FACTOR, 1.0),
            export_price_fee_per_kwh=_float(options, OPT_EXPORT_PRICE_FEE_PER_KWH, 0.0),
            export_price_fixed_per_kwh=_float(options, OPT_EXPORT_PRICE_FIXED_PER_KWH, 0.0),
            solar_source=solar_source,
            solar_forecast_entries=entries,
            solar_forecast_entities=solar_entities,
            load_source=load_source,
            load_entity=load_entity,
            load_exclude_entities=_list(options, OPT_LOAD_EXCLUDE_ENTITY),
            load_history_weeks=int(weeks),
            load_constant_w=_float(options, OPT_LOAD_CONSTANT_W, DEFAULT_LOAD_CONSTANT_W),
            grid_power_entity=_str(options, OPT_GRID_POWER_ENTITY),
            grid_power_invert=bool(options.get(OPT_GRID_POWER_INVERT, False)),
            flex_event_entities=_list(options, OPT_FLEX_EVENT_ENTITIES),
            flex_points_per_currency=_float(
                options, OPT_FLEX_POINTS_PER_CURRENCY, DEFAULT_POINTS_PER_CURRENCY
            ),
        )
