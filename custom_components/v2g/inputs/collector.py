"""Reads every input of a site onto the plan's slot grid: `InputCollector.async_collect`.

The coordinator keeps one collector per site (a new one when the options change) and calls
`async_collect(grid, now)` on every update; it gets an `Inputs` with one value per slot and the list
of current problems. Bad data never raises: every source has a documented fallback (see `fill.py`),
each problem is logged once when it appears and once when it clears, and `Inputs.problems` names
the entity and a `ProblemKey` for a repair issue.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from ..optimizer.model import Tariff
from ..optimizer.slots import SlotGrid
from . import fill, parsers
from .config import ExportPriceSource, InputsConfig, LoadSource, PriceSource, SolarSource
from .flex import FlexWindow, apply_flex, parse_flex_events
from .load import LoadForecaster, read_power_w
from .model import InputProblem, ProblemKey, Series
from .prices import PriceFormat, PriceReader, detect_price_format
from .solar import async_read_energy_platform, read_solar_entities

_LOGGER = logging.getLogger(__name__)


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
    flex_windows: tuple[FlexWindow, ...] = ()
    """Flexibility sessions (power-down rewards, power-up free energy) within the horizon."""
    flex_slots: npt.NDArray[np.bool_] | None = None
    """Slots whose prices a flexibility session changed."""

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
            "flex_windows": [
                {"kind": w.kind.value, "start": w.start.isoformat(), "end": w.end.isoformat()}
                for w in self.flex_windows
            ],
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
                hass, config.load_entity, config.load_history_weeks, config.load_exclude_entities
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

        # Flexibility events: the utility's rewards and free hours, in the prices.
        flex = self.read_flex_windows()
        export_values = export_grid.values.copy()
        flex_slots = apply_flex(grid, flex, import_values, export_values)

        grid_power_w = self.read_grid_power_w()
        if cfg.grid_power_entity and grid_power_w is None:
            problems.append(InputProblem(ProblemKey.GRID_POWER_UNAVAILABLE, cfg.grid_power_entity))

        unique = list({p.issue_id: p for p in problems}.values())
        resolved = self._track(unique)
        return Inputs(
            grid=grid,
            import_price_per_kwh=import_values,
            export_price_per_kwh=export_values,
            solar_power_w=solar_grid.values,
            base_load_power_w=load_grid.values,
            price_estimated=spot_grid.estimated,
            export_price_estimated=export_grid.estimated,
            solar_estimated=solar_grid.estimated,
            load_estimated=load_grid.estimated,
            currency=spot.currency or self.hass.config.currency,
            grid_power_w=grid_power_w,
            flex_windows=tuple(w for w in flex if w.end > grid.start and w.start < grid.end),
            flex_slots=flex_slots,
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

    def read_flex_windows(self) -> list[FlexWindow]:
        """Every session the configured event entities list."""
        windows: list[FlexWindow] = []
        for entity_id in self.config.flex_event_entities:
            if (state := self.hass.states.get(entity_id)) is not None:
                windows += parse_flex_events(
                    entity_id, state.attributes, self.config.flex_points_per_currency
                )
        return windows

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
