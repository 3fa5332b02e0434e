"""What the world tells us (prices, solar, house load), turned into arrays on the slot grid.

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
- `load_exclude_entity`: optional entity id of a power sensor (the EV charger's) whose hourly
  mean is subtracted from the load history, when the house meter includes the charger.
- `load_history_weeks`: int 1-52 [4]; `load_constant_w`: float [400], also the fallback.
- `grid_power_entity`: optional entity id, live grid power, import positive, W or kW.
- `grid_power_invert`: bool [False], for meters that report export as positive.

Price formula (the optimizer's `Tariff`): with `spot = value * unit_factor` (per kWh; unit_factor
0.001 for per MWh, 0.01 for cents/öre/pence),
`import = (spot + price_fee_per_kwh) * (1 + price_vat_pct / 100)` and
`export = spot_export * export_price_factor - export_price_fee_per_kwh`, where `spot_export` is the
import spot ("derived") or the export entity's price ("entity"). Fee and VAT apply to entity
sources only: a "fixed" price and a "schedule" are taken as the final price per kWh (and are the
spot of a "derived" export price).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from ..optimizer.model import Tariff
from ..optimizer.slots import SlotGrid
from . import fill, parsers
from .issues import clear_repair_issues, sync_repair_issues
from .load import LoadForecaster, read_power_w
from .model import (
    PROBLEM_TEXTS,
    InputProblem,
    ProblemKey,
    Series,
)
from .prices import PriceFormat, PriceReader, detect_price_format
from .solar import async_read_energy_platform, read_solar_entities

__all__ = [
    "PROBLEM_TEXTS",
    "InputCollector",
    "InputProblem",
    "Inputs",
    "InputsConfig",
    "InvalidInputsConfigError",
    "PriceFormat",
    "ProblemKey",
    "clear_repair_issues",
    "detect_price_format",
    "read_power_w",
    "sync_repair_issues",
]

_LOGGER = logging.getLogger(__name__)

# Option keys (the options flow uses these names).
CONF_PRICE_SOURCE = "price_source"
CONF_PRICE_ENTITY = "price_entity"
CONF_PRICE_UNIT = "price_unit"
CONF_PRICE_FEE_PER_KWH = "price_fee_per_kwh"
CONF_PRICE_VAT_PCT = "price_vat_pct"
CONF_PRICE_FIXED_PER_KWH = "price_fixed_per_kwh"
CONF_PRICE_SCHEDULE = "price_schedule"
CONF_PRICE_SCHEDULE_DEFAULT_PER_KWH = "price_schedule_default_per_kwh"
CONF_NORDPOOL_AREA = "nordpool_area"
CONF_TIBBER_HOME = "tibber_home"
CONF_EXPORT_PRICE_SOURCE = "export_price_source"
CONF_EXPORT_PRICE_ENTITY = "export_price_entity"
CONF_EXPORT_PRICE_UNIT = "export_price_unit"
CONF_EXPORT_PRICE_FACTOR = "export_price_factor"
CONF_EXPORT_PRICE_FEE_PER_KWH = "export_price_fee_per_kwh"
CONF_EXPORT_PRICE_FIXED_PER_KWH = "export_price_fixed_per_kwh"
CONF_SOLAR_SOURCE = "solar_source"
CONF_SOLAR_FORECAST_ENTRIES = "solar_forecast_entries"
CONF_SOLAR_FORECAST_ENTITIES = "solar_forecast_entities"
CONF_LOAD_SOURCE = "load_source"
CONF_LOAD_ENTITY = "load_entity"
CONF_LOAD_EXCLUDE_ENTITY = "load_exclude_entity"
CONF_LOAD_HISTORY_WEEKS = "load_history_weeks"
CONF_LOAD_CONSTANT_W = "load_constant_w"
CONF_GRID_POWER_ENTITY = "grid_power_entity"
CONF_GRID_POWER_INVERT = "grid_power_invert"

DEFAULT_PRICE_FIXED_PER_KWH = 0.30
DEFAULT_LOAD_CONSTANT_W = 400.0
DEFAULT_LOAD_HISTORY_WEEKS = 4


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
    load_exclude_entity: str | None = None
    load_history_weeks: int = DEFAULT_LOAD_HISTORY_WEEKS
    load_constant_w: float = DEFAULT_LOAD_CONSTANT_W
    grid_power_entity: str | None = None
    grid_power_invert: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> InputsConfig:
        """Read and check the options; raises `InvalidInputsConfigError` naming the bad key."""
        price_entity = _str(options, CONF_PRICE_ENTITY)
        price_source = _enum(
            options,
            CONF_PRICE_SOURCE,
            PriceSource,
            PriceSource.ENTITY if price_entity else PriceSource.FIXED,
        )
        if price_source is PriceSource.ENTITY and not price_entity:
            raise InvalidInputsConfigError(CONF_PRICE_ENTITY, "a price entity is required")
        try:
            schedule = tuple(parsers.parse_tou_schedule(options.get(CONF_PRICE_SCHEDULE)))
        except ValueError as err:
            raise InvalidInputsConfigError(CONF_PRICE_SCHEDULE, str(err)) from err
        if price_source is PriceSource.SCHEDULE and not schedule:
            raise InvalidInputsConfigError(CONF_PRICE_SCHEDULE, "no time windows")
        fixed = _float(options, CONF_PRICE_FIXED_PER_KWH, DEFAULT_PRICE_FIXED_PER_KWH)
        export_entity = _str(options, CONF_EXPORT_PRICE_ENTITY)
        export_source = _enum(
            options, CONF_EXPORT_PRICE_SOURCE, ExportPriceSource, ExportPriceSource.DERIVED
        )
        if export_source is ExportPriceSource.ENTITY and not export_entity:
            raise InvalidInputsConfigError(CONF_EXPORT_PRICE_ENTITY, "an export entity is required")
        entries = _list(options, CONF_SOLAR_FORECAST_ENTRIES)
        solar_entities = _list(options, CONF_SOLAR_FORECAST_ENTITIES)
        solar_default = (
            SolarSource.ENERGY
            if entries
            else SolarSource.ENTITY
            if solar_entities
            else SolarSource.NONE
        )
        solar_source = _enum(options, CONF_SOLAR_SOURCE, SolarSource, solar_default)
        if solar_source is SolarSource.ENERGY and not entries:
            raise InvalidInputsConfigError(CONF_SOLAR_FORECAST_ENTRIES, "choose a forecast")
        if solar_source is SolarSource.ENTITY and not solar_entities:
            raise InvalidInputsConfigError(CONF_SOLAR_FORECAST_ENTITIES, "choose a sensor")
        load_entity = _str(options, CONF_LOAD_ENTITY)
        load_source = _enum(
            options,
            CONF_LOAD_SOURCE,
            LoadSource,
            LoadSource.STATISTICS if load_entity else LoadSource.CONSTANT,
        )
        if load_source is LoadSource.STATISTICS and not load_entity:
            raise InvalidInputsConfigError(CONF_LOAD_ENTITY, "a load sensor is required")
        weeks = _float(options, CONF_LOAD_HISTORY_WEEKS, DEFAULT_LOAD_HISTORY_WEEKS)
        if not 1 <= weeks <= 52:
            raise InvalidInputsConfigError(CONF_LOAD_HISTORY_WEEKS, "between 1 and 52 weeks")
        return cls(
            price_source=price_source,
            price_entity=price_entity,
            price_unit=_str(options, CONF_PRICE_UNIT),
            price_fee_per_kwh=_float(options, CONF_PRICE_FEE_PER_KWH, 0.0),
            price_vat_pct=_float(options, CONF_PRICE_VAT_PCT, 0.0),
            price_fixed_per_kwh=fixed,
            price_schedule=schedule,
            price_schedule_default_per_kwh=_float(
                options, CONF_PRICE_SCHEDULE_DEFAULT_PER_KWH, fixed
            ),
            nordpool_area=_str(options, CONF_NORDPOOL_AREA),
            tibber_home=_str(options, CONF_TIBBER_HOME),
            export_price_source=export_source,
            export_price_entity=export_entity,
            export_price_unit=_str(options, CONF_EXPORT_PRICE_UNIT),
            export_price_factor=_float(options, CONF_EXPORT_PRICE_FACTOR, 1.0),
            export_price_fee_per_kwh=_float(options, CONF_EXPORT_PRICE_FEE_PER_KWH, 0.0),
            export_price_fixed_per_kwh=_float(options, CONF_EXPORT_PRICE_FIXED_PER_KWH, 0.0),
            solar_source=solar_source,
            solar_forecast_entries=entries,
            solar_forecast_entities=solar_entities,
            load_source=load_source,
            load_entity=load_entity,
            load_exclude_entity=_str(options, CONF_LOAD_EXCLUDE_ENTITY),
            load_history_weeks=int(weeks),
            load_constant_w=_float(options, CONF_LOAD_CONSTANT_W, DEFAULT_LOAD_CONSTANT_W),
            grid_power_entity=_str(options, CONF_GRID_POWER_ENTITY),
            grid_power_invert=bool(options.get(CONF_GRID_POWER_INVERT, False)),
        )


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the optimizer needs from the world, one value per slot of `grid`."""

    grid: SlotGrid
    import_price_per_kwh: npt.NDArray[np.float64]
    export_price_per_kwh: npt.NDArray[np.float64]
    solar_power_w: npt.NDArray[np.float64]
    base_load_power_w: npt.NDArray[np.float64]
    price_estimated: npt.NDArray[np.bool_]
    """True where the import price is a fallback (not published yet, source down...)."""
    export_price_estimated: npt.NDArray[np.bool_]
    solar_estimated: npt.NDArray[np.bool_]
    load_estimated: npt.NDArray[np.bool_]
    currency: str | None
    grid_power_w: float | None
    """Live grid power (import positive), None when not configured or unavailable."""
    problems: tuple[InputProblem, ...]
    """Current problems; the lead keeps one repair issue per `issue_id` while it is listed."""
    resolved: tuple[InputProblem, ...]
    """Problems of the previous update that are gone now (delete their repair issues)."""
    price_format: PriceFormat | None = None
    fetched_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary for diagnostics and the plan sensor's attributes."""
        return {
            "price_format": self.price_format,
            "currency": self.currency,
            "slots": len(self.grid),
            "estimated_price_slots": int(self.price_estimated.sum()),
            "estimated_solar_slots": int(self.solar_estimated.sum()),
            "estimated_load_slots": int(self.load_estimated.sum()),
            "grid_power_w": self.grid_power_w,
            "problems": [p.issue_id for p in self.problems],
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
        }


class InputCollector:
    """Reads every configured input; keeps caches and the problems seen last time.

    Create it once per config entry (again after an options change); call `async_collect`.
    """

    def __init__(self, hass: HomeAssistant, config: InputsConfig) -> None:
        self.hass = hass
        self.config = config
        self.import_reader = (
            PriceReader(
                hass,
                config.price_entity,
                unit=config.price_unit,
                nordpool_area=config.nordpool_area,
                tibber_home=config.tibber_home,
            )
            if config.price_source is PriceSource.ENTITY and config.price_entity
            else None
        )
        self.export_reader = (
            PriceReader(hass, config.export_price_entity, unit=config.export_price_unit)
            if config.export_price_source is ExportPriceSource.ENTITY and config.export_price_entity
            else None
        )
        self.load_forecaster = (
            LoadForecaster(
                hass, config.load_entity, config.load_history_weeks, config.load_exclude_entity
            )
            if config.load_source is LoadSource.STATISTICS and config.load_entity
            else None
        )
        self._active: dict[str, InputProblem] = {}

    async def async_collect(self, grid: SlotGrid, now: datetime | None = None) -> Inputs:
        """Read every input onto `grid`; bad data gives fallbacks and problems, never raises."""
        now = now or dt_util.utcnow()
        cfg = self.config
        tz = dt_util.get_default_time_zone()
        problems: list[InputProblem] = []
        start, end = grid.start, grid.end

        # Spot prices per kWh: from the entity, the schedule or the flat price.
        spot = await _guarded(
            self._async_spot(now, start, end),
            Series(cfg.price_entity or "price", "/kWh"),
            ProblemKey.PRICE_SOURCE_UNAVAILABLE,
        )
        problems.extend(spot.problems)
        tariff = self.tariff
        spot_grid = fill.grid_prices(spot, grid, tz, np.nan)
        if self.import_reader is not None:
            import_values = tariff.import_price(spot_grid.values)
        else:  # a fixed price or a schedule is the final price
            import_values = spot_grid.values.copy()
        import_values[np.isnan(import_values)] = cfg.price_fixed_per_kwh

        # Export prices.
        if cfg.export_price_source is ExportPriceSource.NONE:
            export_grid = fill.constant(grid, 0.0)
        elif cfg.export_price_source is ExportPriceSource.FIXED:
            export_grid = fill.constant(grid, cfg.export_price_fixed_per_kwh)
        else:
            export_spot = spot_grid
            if self.export_reader is not None:
                export_series = await _guarded(
                    self.export_reader.async_read(now, end),
                    Series(self.export_reader.entity_id, "/kWh"),
                    ProblemKey.PRICE_SOURCE_UNAVAILABLE,
                )
                problems.extend(export_series.problems)
                export_spot = fill.grid_prices(export_series, grid, tz, np.nan)
            export_values = tariff.export_price(export_spot.values)
            export_values[np.isnan(export_values)] = cfg.export_price_fixed_per_kwh
            export_grid = fill.Gridded(export_values, export_spot.estimated)

        # Solar.
        solar = await _guarded(
            self._async_solar(now),
            Series(",".join(cfg.solar_forecast_entities or cfg.solar_forecast_entries), "W"),
            ProblemKey.SOLAR_SOURCE_UNAVAILABLE,
        )
        problems.extend(solar.problems)
        solar_grid = fill.grid_solar(solar, grid, tz)

        # Load.
        if self.load_forecaster is not None:
            load = await _guarded(
                self.load_forecaster.async_read(now, start, end),
                Series(self.load_forecaster.entity_id, "W"),
                ProblemKey.LOAD_HISTORY_MISSING,
            )
            problems.extend(load.problems)
            load_grid = fill.grid_load(load, grid, cfg.load_constant_w)
        elif cfg.load_source is LoadSource.CONSTANT:
            load_grid = fill.constant(grid, cfg.load_constant_w)
        else:
            load_grid = fill.constant(grid, 0.0)

        grid_power_w = self.read_grid_power_w()
        if cfg.grid_power_entity and grid_power_w is None:
            problems.append(InputProblem(ProblemKey.GRID_POWER_UNAVAILABLE, cfg.grid_power_entity))

        unique = list({p.issue_id: p for p in problems}.values())
        resolved = self._track(unique)
        return Inputs(
            grid=grid,
            import_price_per_kwh=import_values,
            export_price_per_kwh=export_grid.values,
            solar_power_w=solar_grid.values,
            base_load_power_w=load_grid.values,
            price_estimated=spot_grid.estimated,
            export_price_estimated=export_grid.estimated,
            solar_estimated=solar_grid.estimated,
            load_estimated=load_grid.estimated,
            currency=spot.currency or self.hass.config.currency,
            grid_power_w=grid_power_w,
            problems=tuple(unique),
            resolved=tuple(resolved),
            price_format=(
                detect_price_format(self.hass, cfg.price_entity)
                if self.import_reader is not None and cfg.price_entity
                else None
            ),
            fetched_at=now,
        )

    @property
    def tariff(self) -> Tariff:
        """The optimizer's tariff built from the price options."""
        cfg = self.config
        return Tariff(
            import_fee_per_kwh=cfg.price_fee_per_kwh,
            vat=cfg.price_vat_pct / 100.0,
            export_fee_per_kwh=cfg.export_price_fee_per_kwh,
            export_multiplier=cfg.export_price_factor,
        )

    def read_grid_power_w(self) -> float | None:
        """Live grid power in W (import positive); None when not configured or unusable."""
        if not self.config.grid_power_entity:
            return None
        power_w = read_power_w(self.hass, self.config.grid_power_entity)
        if power_w is not None and self.config.grid_power_invert:
            return -power_w
        return power_w

    async def _async_spot(self, now: datetime, start: datetime, end: datetime) -> Series:
        cfg = self.config
        if self.import_reader is not None:
            return await self.import_reader.async_read(now, end)
        if cfg.price_source is PriceSource.SCHEDULE:
            tz = dt_util.get_default_time_zone()
            intervals = parsers.tou_intervals(
                cfg.price_schedule, cfg.price_schedule_default_per_kwh, start, end, tz
            )
            return Series("schedule", "/kWh", intervals, fetched_at=now)
        return Series(
            "fixed",
            "/kWh",
            parsers.flat_intervals(cfg.price_fixed_per_kwh, start, end),
            fetched_at=now,
        )

    async def _async_solar(self, now: datetime) -> Series:
        cfg = self.config
        if cfg.solar_source is SolarSource.ENERGY:
            return await async_read_energy_platform(self.hass, cfg.solar_forecast_entries, now)
        if cfg.solar_source is SolarSource.ENTITY:
            return read_solar_entities(self.hass, cfg.solar_forecast_entities, now)
        return Series("none", "W", fetched_at=now)

    def _track(self, problems: Sequence[InputProblem]) -> list[InputProblem]:
        """Log each problem once when it appears and once when it clears; return the cleared."""
        current = {p.issue_id: p for p in problems}
        for issue_id, problem in current.items():
            if issue_id not in self._active:
                _LOGGER.warning("%s (%s: %s)", problem.text, problem.key, problem.detail)
        resolved = [p for issue_id, p in self._active.items() if issue_id not in current]
        for problem in resolved:
            _LOGGER.info("%s: %s resolved", problem.entity_id, problem.key)
        self._active = current
        return resolved


async def _guarded(
    reading: Coroutine[Any, Any, Series], fallback: Series, key: ProblemKey
) -> Series:
    """Run one source's reader; an unexpected error becomes a problem, never a failed update."""
    try:
        return await reading
    except Exception as err:  # a bug or an odd payload in one source must not stop the loop
        _LOGGER.debug("Reading %s failed", fallback.source, exc_info=True)
        fallback.problems.append(InputProblem(key, fallback.source, repr(err)))
        return fallback
