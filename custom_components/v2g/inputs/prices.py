"""Price adapters: read the price integration a homeowner already runs, format detected.

`detect_price_format` looks at the entity (its integration in the entity registry, else its
attributes) and `PriceReader` turns it into a `Series` of spot prices in currency per kWh.

- Nord Pool (core): the `nordpool.get_prices_for_date` action per local date; currency/MWh.
- Nord Pool (custom integration): `raw_today` + `raw_tomorrow`; the entity's unit.
- ENTSO-e (custom integration): `prices_today`/`prices_tomorrow`/`prices` of the average-price
  sensor; the entity's unit.
- Tibber (core): the `tibber.get_prices` action, home chosen by name; the entity's unit.
- Octopus Energy: `rates` of `event.*_current_day_rates` plus its `_next_day_rates` and
  `_previous_day_rates` siblings; GBP/kWh.
- Energi Data Service: `raw_today`/`raw_tomorrow` (+ `forecast`); the entity's unit.
- Generic: the first list attribute with start/price keys; the entity's unit.
- State only: the entity's state as a flat price (problem `price_format_unknown`).

Action responses are cached: a complete answer (Nord Pool: one delivery day; Tibber: through the
end of tomorrow) is kept until its date drops out of the horizon, an incomplete or failed one is
asked again after `ACTION_RETRY` (15 minutes), never on every update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
import logging
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from . import parsers
from .model import (
    InputProblem,
    PriceUnit,
    ProblemKey,
    Series,
    local_midnight,
    map_values,
    parse_price_unit,
    to_float,
)

_LOGGER = logging.getLogger(__name__)

NORDPOOL_TZ = ZoneInfo("Europe/Oslo")
"""Nord Pool's delivery day runs midnight to midnight Central European Time."""
ACTION_RETRY = timedelta(minutes=15)
"""An incomplete or failed action answer is asked again after this long."""


class PriceFormat(StrEnum):
    """The price integrations (and shapes) the price adapter understands."""

    NORDPOOL_CORE = "nordpool_core"
    NORDPOOL_CUSTOM = "nordpool_custom"
    ENTSOE = "entsoe"
    TIBBER = "tibber"
    OCTOPUS = "octopus_energy"
    ENERGIDATASERVICE = "energidataservice"
    GENERIC = "generic"
    STATE_ONLY = "state_only"
    """No list: the state is used as a flat price."""
    UNAVAILABLE = "unavailable"
    """No such entity, or it is unavailable/unknown with nothing to read."""


_PLATFORM_FORMATS: Mapping[str, PriceFormat] = {
    "entsoe": PriceFormat.ENTSOE,
    "tibber": PriceFormat.TIBBER,
    "octopus_energy": PriceFormat.OCTOPUS,
    "energidataservice": PriceFormat.ENERGIDATASERVICE,
}


def detect_format_from_state(  # noqa: PLR0911
    entity_id: str, state: str | None, attributes: Mapping[str, Any], platform: str | None
) -> PriceFormat:
    """Pure detection from what the state machine and entity registry say about the entity."""
    if platform == "nordpool":
        return (
            PriceFormat.NORDPOOL_CUSTOM if "raw_today" in attributes else PriceFormat.NORDPOOL_CORE
        )
    if platform is not None and platform in _PLATFORM_FORMATS:
        return _PLATFORM_FORMATS[platform]
    if entity_id.startswith("event.") and isinstance(attributes.get("rates"), list):
        return PriceFormat.OCTOPUS
    raw_today = attributes.get("raw_today")
    if "raw_today" in attributes or "raw_tomorrow" in attributes:
        sample = _first_mapping(raw_today) or _first_mapping(attributes.get("raw_tomorrow"))
        if sample is not None and "hour" in sample:
            return PriceFormat.ENERGIDATASERVICE
        if sample is not None and "start" in sample:
            return PriceFormat.NORDPOOL_CUSTOM
        if "tomorrow_valid" in attributes and "region_code" in attributes:
            return PriceFormat.ENERGIDATASERVICE
        if "tomorrow_valid" in attributes:
            return PriceFormat.NORDPOOL_CUSTOM
    if "prices_today" in attributes:
        sample = _first_mapping(attributes.get("prices_today")) or _first_mapping(
            attributes.get("prices")
        )
        if sample is None or set(sample) == {"time", "price"}:
            return PriceFormat.ENTSOE
    if parsers.find_list_attribute(attributes):
        return PriceFormat.GENERIC
    if state is None or state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return PriceFormat.UNAVAILABLE
    return PriceFormat.STATE_ONLY


def _first_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return None


def detect_price_format(hass: HomeAssistant, entity_id: str) -> PriceFormat:
    """Which price integration `entity_id` belongs to, from the registry and its attributes."""
    entry = er.async_get(hass).async_get(entity_id)
    platform = entry.platform if entry is not None else None
    state = hass.states.get(entity_id)
    if state is None:
        return (
            PriceFormat.UNAVAILABLE
            if platform not in ("nordpool", "tibber")
            else detect_format_from_state(entity_id, None, {}, platform)
        )
    return detect_format_from_state(entity_id, state.state, state.attributes, platform)


_LIST_FORMATS = frozenset(
    {PriceFormat.ENTSOE, PriceFormat.NORDPOOL_CUSTOM, PriceFormat.ENERGIDATASERVICE}
)


@dataclass(slots=True)
class _CachedAnswer:
    fetched_at: datetime
    response: Mapping[str, Any] | None
    complete: bool


class PriceReader:
    """Reads one price entity into a `Series` of spot prices per kWh (no fees or VAT yet).

    Keep one reader per configured entity: it holds the action cache.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str,
        *,
        unit: str | None = None,
        nordpool_area: str | None = None,
        tibber_home: str | None = None,
    ) -> None:
        self.hass = hass
        self.entity_id = entity_id
        self._unit_override = unit
        self._nordpool_area = nordpool_area
        self._tibber_home = tibber_home
        self._answers: dict[tuple[str, date], _CachedAnswer] = {}
        self.action_calls = 0
        """How many actions were called (diagnostics; tests check the cache with it)."""

    @property
    def local_tz(self) -> tzinfo:
        """Home Assistant's configured time zone."""
        return dt_util.get_default_time_zone()

    async def async_read(self, now: datetime, horizon_end: datetime) -> Series:
        """Spot prices around `now` .. `horizon_end` (what the source has), with problems."""
        fmt = detect_price_format(self.hass, self.entity_id)
        series = Series(source=self.entity_id, unit="/kWh", fetched_at=now)
        state = self.hass.states.get(self.entity_id)
        attributes: Mapping[str, Any] = state.attributes if state is not None else {}
        if fmt in _LIST_FORMATS and not parsers.find_list_attribute(attributes):
            attributes = self._sibling_attributes(attributes)
        try:
            parsed, unit = await self._async_parse(fmt, attributes, now, horizon_end)
        except (HomeAssistantError, ValueError, KeyError, TypeError) as err:
            _LOGGER.debug("Reading %s (%s) failed: %s", self.entity_id, fmt, err)
            series.problems.append(
                InputProblem(ProblemKey.PRICE_SOURCE_UNAVAILABLE, self.entity_id, str(err))
            )
            return series
        if fmt is PriceFormat.STATE_ONLY:
            series.problems.append(
                InputProblem(ProblemKey.PRICE_FORMAT_UNKNOWN, self.entity_id, "no price list")
            )
        if parsed.skipped:
            series.problems.append(
                InputProblem(
                    ProblemKey.PRICE_VALUES_INVALID,
                    self.entity_id,
                    f"{parsed.skipped} entries without a valid time or price",
                )
            )
        if not parsed.intervals:
            series.problems.append(
                InputProblem(
                    ProblemKey.PRICE_SOURCE_UNAVAILABLE, self.entity_id, f"no prices ({fmt})"
                )
            )
            return series
        price_unit = self._price_unit(unit)
        if price_unit is None:
            series.problems.append(
                InputProblem(ProblemKey.PRICE_UNIT_UNKNOWN, self.entity_id, f"unit {unit!r}")
            )
            price_unit = PriceUnit(None, 1.0)
        currency = price_unit.currency or _currency_attribute(attributes)
        series.currency = currency
        series.unit = f"{currency or ''}/kWh"
        series.intervals = map_values(parsed.intervals, price_unit.per_kwh_factor)
        last_end = series.end
        if last_end is not None and last_end <= now:
            series.problems.append(
                InputProblem(
                    ProblemKey.PRICE_DATA_STALE,
                    self.entity_id,
                    f"prices end {last_end.isoformat()}",
                )
            )
        return series

    def _sibling_attributes(self, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """Attributes of another entity of the same config entry that holds the price list.

        The ENTSO-e integration keeps its lists on the average-price sensor only; a user who picks
        its "current price" sensor still gets prices.
        """
        registry = er.async_get(self.hass)
        chosen = registry.async_get(self.entity_id)
        if chosen is None or chosen.config_entry_id is None:
            return attributes
        for sibling in er.async_entries_for_config_entry(registry, chosen.config_entry_id):
            state = self.hass.states.get(sibling.entity_id)
            if state is not None and parsers.find_list_attribute(state.attributes):
                _LOGGER.debug("Reading prices of %s from %s", self.entity_id, sibling.entity_id)
                return state.attributes
        return attributes

    def _price_unit(self, unit: str | None) -> PriceUnit | None:
        return parse_price_unit(self._unit_override or unit)

    async def _async_parse(  # noqa: PLR0911
        self, fmt: PriceFormat, attributes: Mapping[str, Any], now: datetime, horizon_end: datetime
    ) -> tuple[parsers.Parsed, str | None]:
        unit: str | None = attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        tz = self.local_tz
        match fmt:
            case PriceFormat.NORDPOOL_CORE:
                return await self._async_nordpool_core(now, horizon_end)
            case PriceFormat.TIBBER:
                return await self._async_tibber(now), unit or "EUR/kWh"
            case PriceFormat.NORDPOOL_CUSTOM:
                return parsers.parse_nordpool_custom(attributes, tz), unit or _nordpool_unit(
                    attributes
                )
            case PriceFormat.ENTSOE:
                return parsers.parse_entsoe(attributes, tz), unit or "EUR/kWh"
            case PriceFormat.ENERGIDATASERVICE:
                return parsers.parse_energidataservice(attributes, tz), unit or _eds_unit(
                    attributes
                )
            case PriceFormat.OCTOPUS:
                return self._octopus(attributes, tz), "GBP/kWh"
            case PriceFormat.GENERIC:
                return parsers.parse_generic(attributes, tz), unit
            case PriceFormat.STATE_ONLY:
                return self._state_only(now, horizon_end), unit
        raise HomeAssistantError(f"{self.entity_id} is missing, unavailable or unknown")

    def _state_only(self, now: datetime, horizon_end: datetime) -> parsers.Parsed:
        state = self.hass.states.get(self.entity_id)
        value = to_float(state.state) if state is not None else None
        if value is None:
            return parsers.Parsed(skipped=1)
        return parsers.Parsed(parsers.flat_intervals(value, now, max(horizon_end, now)))

    def _octopus(self, attributes: Mapping[str, Any], tz: tzinfo) -> parsers.Parsed:
        """Current-day rates plus the `_next_day_rates` (and `_previous_day_rates`) siblings."""
        parts = [parsers.parse_octopus_rates(attributes.get("rates"), tz)]
        for suffix in ("_current_day_rates", "_next_day_rates", "_previous_day_rates"):
            if self.entity_id.endswith(suffix):
                stem = self.entity_id.removesuffix(suffix)
                for sibling in ("_current_day_rates", "_next_day_rates", "_previous_day_rates"):
                    other = self.hass.states.get(stem + sibling)
                    if sibling != suffix and other is not None:
                        parts.append(parsers.parse_octopus_rates(other.attributes.get("rates"), tz))
                break
        return parsers.merge(parts)

    # --- actions ---------------------------------------------------------------------------

    def _cached(self, key: tuple[str, date], now: datetime) -> _CachedAnswer | None:
        answer = self._answers.get(key)
        if answer is None or (not answer.complete and now - answer.fetched_at >= ACTION_RETRY):
            return None
        return answer

    def _prune(self, today: date) -> None:
        for key in [k for k in self._answers if k[1] < today - timedelta(days=1)]:
            del self._answers[key]

    async def _async_call(
        self, domain: str, service: str, data: dict[str, Any]
    ) -> Mapping[str, Any]:
        self.action_calls += 1
        response = await self.hass.services.async_call(
            domain, service, data, blocking=True, return_response=True
        )
        if not isinstance(response, Mapping):
            raise HomeAssistantError(f"{domain}.{service} returned no data")
        return response

    def _nordpool_entry(self) -> tuple[str, str | None, str | None]:
        """Config entry id, area and currency of the core Nord Pool entity."""
        reg_entry = er.async_get(self.hass).async_get(self.entity_id)
        if reg_entry is None or reg_entry.config_entry_id is None:
            raise HomeAssistantError(f"{self.entity_id} is not a Nord Pool entity")
        config_entry = self.hass.config_entries.async_get_entry(reg_entry.config_entry_id)
        areas: list[str] = list(config_entry.data.get("areas", [])) if config_entry else []
        currency = config_entry.data.get("currency") if config_entry else None
        area = self._nordpool_area
        if area is None and reg_entry.unique_id:
            # Core Nord Pool unique ids are "<AREA>-<key>" or "<block>-<AREA>-<key>".
            known = {a.upper() for a in areas}
            area = next((p for p in reg_entry.unique_id.upper().split("-") if p in known), None)
        if area is None and areas:
            area = areas[0]
        return reg_entry.config_entry_id, area, currency

    async def _async_nordpool_core(
        self, now: datetime, horizon_end: datetime
    ) -> tuple[parsers.Parsed, str | None]:
        entry_id, area, currency = self._nordpool_entry()
        # Nord Pool delivery days are CET/CEST calendar days, whatever the home's zone.
        day = now.astimezone(NORDPOOL_TZ).date()
        self._prune(day)
        last = (horizon_end - timedelta(seconds=1)).astimezone(NORDPOOL_TZ).date()
        parts: list[parsers.Parsed] = []
        errors: list[str] = []
        while day <= last:
            key = ("nordpool", day)
            answer = self._cached(key, now)
            if answer is None:
                data: dict[str, Any] = {"config_entry": entry_id, "date": day.isoformat()}
                if area:
                    data["areas"] = [area]
                response: Mapping[str, Any] | None = None
                try:
                    response = await self._async_call("nordpool", "get_prices_for_date", data)
                except HomeAssistantError as err:  # ServiceValidationError: not published yet
                    errors.append(f"{day}: {err}")
                parsed = parsers.parse_nordpool_core_response(response or {}, area)
                answer = _CachedAnswer(now, response, complete=bool(parsed.intervals))
                self._answers[key] = answer
            parts.append(parsers.parse_nordpool_core_response(answer.response or {}, area))
            day += timedelta(days=1)
        merged = parsers.merge(parts)
        if not merged.intervals and errors:
            raise HomeAssistantError("; ".join(errors))
        return merged, f"{currency}/MWh" if currency else "EUR/MWh"

    async def _async_tibber(self, now: datetime) -> parsers.Parsed:
        tz = self.local_tz
        today = now.astimezone(tz).date()
        self._prune(today)
        key = ("tibber", today)
        answer = self._cached(key, now)
        if answer is None:
            start = local_midnight(today, tz)
            end = local_midnight(today + timedelta(days=2), tz)
            response = await self._async_call(
                "tibber", "get_prices", {"start": start.isoformat(), "end": end.isoformat()}
            )
            parsed = parsers.parse_tibber_response(response, self._tibber_home_name(response))
            complete = bool(parsed.intervals) and max(iv.end for iv in parsed.intervals) >= end
            answer = _CachedAnswer(now, response, complete)
            self._answers[key] = answer
        response_map = answer.response or {}
        return parsers.parse_tibber_response(response_map, self._tibber_home_name(response_map))

    def _tibber_home_name(self, response: Mapping[str, Any]) -> str | None:
        """Pick the configured home, else the home named in the entity's id or friendly name."""
        homes = response.get("prices")
        if not isinstance(homes, Mapping):
            return None
        if self._tibber_home in homes:
            return self._tibber_home
        state = self.hass.states.get(self.entity_id)
        label = " ".join(
            [self.entity_id, str(state.attributes.get("friendly_name", "")) if state else ""]
        ).lower()
        for name in homes:
            if str(name).lower() in label or str(name).lower().replace(" ", "_") in label:
                return str(name)
        return None


def _currency_attribute(attributes: Mapping[str, Any]) -> str | None:
    currency = attributes.get("currency")
    return str(currency).upper() if isinstance(currency, str) and len(currency) == 3 else None


def _nordpool_unit(attributes: Mapping[str, Any]) -> str | None:
    """Nord Pool custom attributes `currency`, `unit` ("kWh") and `price_in_cents`."""
    currency = attributes.get("currency")
    if not currency:
        return None
    energy = attributes.get("unit") or "kWh"
    if attributes.get("price_in_cents"):
        return f"{_CENT_NAMES.get(str(currency).upper(), 'c')}/{energy}"
    return f"{currency}/{energy}"


def _eds_unit(attributes: Mapping[str, Any]) -> str | None:
    currency = attributes.get("currency")
    if not currency:
        return None
    if attributes.get("use_cent"):
        return f"{_CENT_NAMES.get(str(currency).upper(), 'c')}/kWh"
    return f"{currency}/kWh"


_CENT_NAMES = {"SEK": "öre", "DKK": "øre", "NOK": "øre", "EUR": "c", "GBP": "p"}
