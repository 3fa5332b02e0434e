"""The site's options: its grid connection, and where prices, solar and house load come from.

Each source has a menu with one step per kind of source, showing only that kind's fields. Saving
a step makes its kind the source and drops what other kinds of that source had set. Entities are
checked when chosen: a price must be a price (a power sensor is refused), a feed-in derived from
the import price needs a spot price to derive from, a time-of-use schedule names the window it
cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.helpers import selector
import voluptuous as vol

from .capacity import parse_steps
from .const import (
    CAPACITY_OPTIONS,
    CARE_DEFAULTS,
    DEFAULT_LOAD_CONSTANT_W,
    DEFAULT_LOAD_HISTORY_WEEKS,
    DEFAULT_OPERATOR_CHARGER_LIMIT_W,
    DEFAULT_OPTIONS,
    DEFAULT_PRICE_FIXED_PER_KWH,
    OPT_BATTERY_CYCLE_LIFE,
    OPT_BATTERY_PRICE,
    OPT_BATTERY_USABLE_KWH,
    OPT_CAPACITY_DISTINCT_DAYS,
    OPT_CAPACITY_HOURS_END,
    OPT_CAPACITY_HOURS_START,
    OPT_CAPACITY_MINIMUM_KW,
    OPT_CAPACITY_NIGHT_HALF,
    OPT_CAPACITY_PRICE_PER_KW,
    OPT_CAPACITY_STEPS,
    OPT_CAPACITY_TARIFF,
    OPT_CAPACITY_TOP_N,
    OPT_CAPACITY_WINDOW_MINUTES,
    OPT_CAPACITY_WINTER_WEEKDAYS,
    OPT_CARE_COST_PER_KWH_H,
    OPT_CARE_SOC_PCT,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_CHARGE_LATE,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_EXPORT_ALLOWED,
    OPT_EXPORT_PRICE_ENTITY,
    OPT_EXPORT_PRICE_FACTOR,
    OPT_EXPORT_PRICE_FEE_PER_KWH,
    OPT_EXPORT_PRICE_FIXED_PER_KWH,
    OPT_EXPORT_PRICE_SOURCE,
    OPT_EXPORT_PRICE_UNIT,
    OPT_FINISH_MARGIN_MIN,
    OPT_FLEX_EVENT_ENTITIES,
    OPT_FLEX_POINTS_PER_CURRENCY,
    OPT_FREQ_DEADBAND_MHZ,
    OPT_FREQ_DURATION_MIN,
    OPT_FREQ_END,
    OPT_FREQ_FULL_MHZ,
    OPT_FREQ_MAX_DOWN_W,
    OPT_FREQ_MAX_UP_W,
    OPT_FREQ_PRICE_ENTITY,
    OPT_FREQ_SENSOR,
    OPT_FREQ_START,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMITED,
    OPT_GRID_POWER_ENTITY,
    OPT_GRID_POWER_INVERT,
    OPT_LOAD_CONSTANT_W,
    OPT_LOAD_ENTITY,
    OPT_LOAD_EXCLUDE_ENTITY,
    OPT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_SOURCE,
    OPT_MAX_V2G_SOC_PCT,
    OPT_NORDPOOL_AREA,
    OPT_OPENADR_CLIENT_ID,
    OPT_OPENADR_CLIENT_SECRET,
    OPT_OPENADR_PROGRAMS,
    OPT_OPENADR_TOKEN_URL,
    OPT_OPENADR_VEN_NAME,
    OPT_OPENADR_VTN_URL,
    OPT_OPERATOR_CHARGER_LIMIT_W,
    OPT_OPERATOR_LIMIT_ENTITY,
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
    OPT_WEAR_COST_PER_KWH,
    CapacityKind,
)
from .form import entity, number_selector, power_selector
from .inputs import (
    ExportPriceSource,
    InputsConfig,
    InvalidInputsConfigError,
    LoadSource,
    PriceFormat,
    PriceSource,
    SolarSource,
    detect_price_format,
)
from .inputs.flex import DEFAULT_POINTS_PER_CURRENCY
from .inputs.model import parse_price_unit
from .inputs.parsers import TouScheduleError, parse_tou_schedule
from .openadr_ven import InvalidVenConfigError, ven_config

# What the inputs layer uses when an option is not set, shown in the forms as suggestions.
FORM_DEFAULTS: dict[str, Any] = {
    **DEFAULT_OPTIONS,
    **CARE_DEFAULTS,
    OPT_BATTERY_USABLE_KWH: 60.0,
    OPT_BATTERY_CYCLE_LIFE: 3000,
    OPT_GRID_IMPORT_LIMITED: True,
    OPT_PRICE_FIXED_PER_KWH: DEFAULT_PRICE_FIXED_PER_KWH,
    OPT_PRICE_FEE_PER_KWH: 0.0,
    OPT_PRICE_VAT_PCT: 0.0,
    OPT_EXPORT_PRICE_FACTOR: 1.0,
    OPT_EXPORT_PRICE_FEE_PER_KWH: 0.0,
    OPT_EXPORT_PRICE_FIXED_PER_KWH: 0.0,
    OPT_LOAD_HISTORY_WEEKS: DEFAULT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_CONSTANT_W: DEFAULT_LOAD_CONSTANT_W,
    OPT_FLEX_POINTS_PER_CURRENCY: DEFAULT_POINTS_PER_CURRENCY,
    OPT_OPERATOR_CHARGER_LIMIT_W: DEFAULT_OPERATOR_CHARGER_LIMIT_W,
    OPT_FREQ_DEADBAND_MHZ: 20,
    OPT_FREQ_FULL_MHZ: 200,
    OPT_FREQ_MAX_UP_W: 0,
    OPT_FREQ_MAX_DOWN_W: 0,
    OPT_FREQ_START: "00:00:00",
    OPT_FREQ_END: "00:00:00",
    OPT_FREQ_DURATION_MIN: 15,
}

SOLAR_FORECAST_DOMAINS = ("forecast_solar", "solcast_solar", "open_meteo_solar_forecast")

# Every option each kind of source may set: choosing one kind drops the others' options.
PRICE_OPTIONS = (
    OPT_PRICE_ENTITY,
    OPT_PRICE_UNIT,
    OPT_PRICE_FEE_PER_KWH,
    OPT_PRICE_VAT_PCT,
    OPT_PRICE_FIXED_PER_KWH,
    OPT_PRICE_SCHEDULE,
    OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH,
    OPT_NORDPOOL_AREA,
    OPT_TIBBER_HOME,
)
EXPORT_OPTIONS = (
    OPT_EXPORT_PRICE_ENTITY,
    OPT_EXPORT_PRICE_UNIT,
    OPT_EXPORT_PRICE_FACTOR,
    OPT_EXPORT_PRICE_FEE_PER_KWH,
    OPT_EXPORT_PRICE_FIXED_PER_KWH,
)
SOLAR_OPTIONS = (OPT_SOLAR_FORECAST_ENTRIES, OPT_SOLAR_FORECAST_ENTITIES)
LOAD_OPTIONS = (
    OPT_LOAD_ENTITY,
    OPT_LOAD_EXCLUDE_ENTITY,
    OPT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_CONSTANT_W,
)

# Formats read from a price integration's own attributes (their unit is known).
_KNOWN_PRICE_FORMATS = frozenset(PriceFormat) - {PriceFormat.STATE_ONLY, PriceFormat.UNAVAILABLE}


def _price(step: float = 0.001) -> selector.NumberSelector:
    return number_selector(-10, 100, step)


def wear_cost_per_kwh(options: Mapping[str, Any]) -> float | None:
    """Battery wear per kWh through the battery (either way): price / (2 x usable kWh x cycles).

    None without a battery price (or with a capacity or cycle life of 0).
    """
    try:
        price = float(options[OPT_BATTERY_PRICE])
        usable = float(options[OPT_BATTERY_USABLE_KWH])
        cycles = float(options[OPT_BATTERY_CYCLE_LIFE])
    except (KeyError, TypeError, ValueError):
        return None
    if price <= 0 or usable <= 0 or cycles <= 0:
        return None
    return price / (2.0 * usable * cycles)


class V2GOptionsFlow(OptionsFlow):
    """The site's grid connection and battery defaults; its price, solar and load sources."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Which group of settings to change."""
        return self.async_show_menu(
            step_id="init",
            menu_options=[
                "vehicle_site",
                "battery_care",
                "prices",
                "export_price",
                "solar",
                "house_load",
                "grid_operator",
                "flex_events",
                "openadr",
                "frequency",
                "capacity_tariff",
            ],
        )

    # --- saving ---------------------------------------------------------------------------

    async def _async_save(
        self,
        step_id: str,
        fields: dict[vol.Marker, Any],
        user_input: dict[str, Any] | None,
        *,
        source: tuple[str, str] | None = None,
        drops: Sequence[str] = (),
        errors: dict[str, str] | None = None,
        placeholders: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show the form, or check the merged options and save them (the site applies them).

        `source` is the (option, kind) this step chooses; `drops` the options of the other
        kinds of that source, removed unless this step set them.
        """
        schema = vol.Schema(fields)
        errors = dict(errors or {})
        placeholders = {"detail": "", **(placeholders or {})}
        if user_input is not None and not errors:
            keys = {str(marker) for marker in fields}
            # Optional fields left empty, and what other kinds of source had set, are removed.
            gone = keys | set(drops)
            options = {k: v for k, v in self.config_entry.options.items() if k not in gone}
            options |= user_input
            if source is not None:
                options[source[0]] = source[1]
            try:
                InputsConfig.from_options(options)
            except InvalidInputsConfigError as err:
                errors[err.option if err.option in keys else "base"] = "invalid_option"
                placeholders["detail"] = str(err)
            else:
                return self.async_create_entry(data=options)
        current = {**FORM_DEFAULTS, **self.config_entry.options, **(user_input or {})}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
            description_placeholders=placeholders,
        )

    # --- the grid connection ----------------------------------------------------------------

    async def async_step_vehicle_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The grid connection and the battery settings every EV of the site shares."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_GRID_IMPORT_LIMITED): selector.BooleanSelector(),
            vol.Required(OPT_GRID_IMPORT_LIMIT_W): power_selector(200_000),
            vol.Required(OPT_GRID_EXPORT_LIMIT_W): power_selector(200_000),
            vol.Required(OPT_EXPORT_ALLOWED): selector.BooleanSelector(),
            vol.Required(OPT_CHARGE_EFFICIENCY_PCT): number_selector(50, 100, 0.5, "%"),
            vol.Required(OPT_DISCHARGE_EFFICIENCY_PCT): number_selector(50, 100, 0.5, "%"),
            vol.Required(OPT_WEAR_COST_PER_KWH): number_selector(0, 1, 0.001),
            vol.Required(OPT_MAX_V2G_SOC_PCT): number_selector(10, 100, 1, "%"),
        }
        errors: dict[str, str] = {}
        if (
            user_input is not None
            and user_input.get(OPT_GRID_IMPORT_LIMITED, True)
            and float(user_input.get(OPT_GRID_IMPORT_LIMIT_W, 0)) <= 0
        ):
            errors[OPT_GRID_IMPORT_LIMIT_W] = "import_limit_zero"
        return await self._async_save("vehicle_site", fields, user_input, errors=errors)

    # --- battery care -----------------------------------------------------------------------

    async def async_step_battery_care(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Time at high state of charge, late charging, and the wear cost from a battery's price.

        With a battery price, its usable capacity and cycle life, saving sets the site's wear
        cost per kWh to price / (2 x capacity x cycles) (a kWh in and out is one cycle's half).
        """
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_CARE_SOC_PCT): number_selector(50, 100, 1, "%"),
            vol.Required(OPT_CARE_COST_PER_KWH_H): number_selector(0, 1, 0.001),
            vol.Required(OPT_CHARGE_LATE): selector.BooleanSelector(),
            vol.Required(OPT_FINISH_MARGIN_MIN): number_selector(0, 240, 1, "min"),
            vol.Optional(OPT_BATTERY_PRICE): number_selector(0, 100_000, 1),
            vol.Optional(OPT_BATTERY_USABLE_KWH): number_selector(1, 250, 0.1, "kWh"),
            vol.Optional(OPT_BATTERY_CYCLE_LIFE): number_selector(100, 20_000, 100),
        }
        current = {**FORM_DEFAULTS, **self.config_entry.options, **(user_input or {})}
        wear = wear_cost_per_kwh(current)
        if user_input is not None and wear is not None:
            user_input = {**user_input, OPT_WEAR_COST_PER_KWH: round(wear, 4)}
        shown = current.get(OPT_WEAR_COST_PER_KWH, DEFAULT_OPTIONS[OPT_WEAR_COST_PER_KWH])
        placeholders = {
            "wear_per_kwh": f"{wear:.4f}" if wear is not None else "-",
            "wear_now": f"{float(shown):.4f}",
        }
        return await self._async_save("battery_care", fields, user_input, placeholders=placeholders)

    # --- import price -----------------------------------------------------------------------

    async def async_step_prices(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the import price comes from."""
        return self.async_show_menu(
            step_id="prices", menu_options=["price_entity", "price_schedule", "price_fixed"]
        )

    async def async_step_price_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A price integration's entity, with fees and VAT."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_PRICE_ENTITY): entity(["sensor", "event"]),
            vol.Optional(OPT_PRICE_UNIT): selector.TextSelector(),
            vol.Optional(OPT_PRICE_FEE_PER_KWH): _price(),
            vol.Optional(OPT_PRICE_VAT_PCT): number_selector(0, 100, 0.1, "%"),
            vol.Optional(OPT_PRICE_FIXED_PER_KWH): _price(),
        }
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            errors, placeholders = self._price_entity_errors(
                user_input, OPT_PRICE_ENTITY, OPT_PRICE_UNIT
            )
        return await self._async_save(
            "price_entity",
            fields,
            user_input,
            source=(OPT_PRICE_SOURCE, PriceSource.ENTITY),
            drops=PRICE_OPTIONS,
            errors=errors,
            placeholders=placeholders,
        )

    async def async_step_price_schedule(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Time-of-use windows and the price outside them."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_PRICE_SCHEDULE): selector.TextSelector(
                selector.TextSelectorConfig(multiline=True)
            ),
            vol.Required(OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH): _price(),
        }
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                if not parse_tou_schedule(user_input.get(OPT_PRICE_SCHEDULE)):
                    errors[OPT_PRICE_SCHEDULE] = "schedule_empty"
            except TouScheduleError as err:
                errors[OPT_PRICE_SCHEDULE] = "schedule_invalid"
                placeholders["window"] = err.part
        return await self._async_save(
            "price_schedule",
            fields,
            user_input,
            source=(OPT_PRICE_SOURCE, PriceSource.SCHEDULE),
            drops=PRICE_OPTIONS,
            errors=errors,
            placeholders={"window": "", **placeholders},
        )

    async def async_step_price_fixed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One flat price."""
        fields: dict[vol.Marker, Any] = {vol.Required(OPT_PRICE_FIXED_PER_KWH): _price()}
        return await self._async_save(
            "price_fixed",
            fields,
            user_input,
            source=(OPT_PRICE_SOURCE, PriceSource.FIXED),
            drops=PRICE_OPTIONS,
        )

    def _price_entity_errors(
        self, user_input: Mapping[str, Any], entity_key: str, unit_key: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """A price entity must hold a price: a known price integration, or a price unit."""
        entity_id = str(user_input.get(entity_key) or "")
        if detect_price_format(self.hass, entity_id) in _KNOWN_PRICE_FORMATS:
            return {}, {}
        state = self.hass.states.get(entity_id)
        unit = user_input.get(unit_key) or (
            state.attributes.get("unit_of_measurement") if state else None
        )
        if parse_price_unit(unit) is not None or (state is None and user_input.get(unit_key)):
            return {}, {}
        if state is None:
            return {}, {}  # not there right now: its repair issue will say so if it stays away
        return {entity_key: "not_a_price"}, {"unit": str(unit or "no unit")}

    # --- export price -----------------------------------------------------------------------

    async def async_step_export_price(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What exported energy earns."""
        return self.async_show_menu(
            step_id="export_price",
            menu_options=["export_fixed", "export_derived", "export_entity", "export_none"],
        )

    async def async_step_export_fixed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A fixed feed-in price."""
        fields: dict[vol.Marker, Any] = {vol.Required(OPT_EXPORT_PRICE_FIXED_PER_KWH): _price()}
        return await self._async_save(
            "export_fixed",
            fields,
            user_input,
            source=(OPT_EXPORT_PRICE_SOURCE, ExportPriceSource.FIXED),
            drops=EXPORT_OPTIONS,
        )

    async def async_step_export_derived(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The import source's spot price times a factor, less a fee."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_EXPORT_PRICE_FACTOR): number_selector(0, 10, 0.01),
            vol.Required(OPT_EXPORT_PRICE_FEE_PER_KWH): _price(),
        }
        errors: dict[str, str] = {}
        import_source = self.config_entry.options.get(OPT_PRICE_SOURCE, PriceSource.FIXED)
        if user_input is not None and import_source != PriceSource.ENTITY:
            # A flat or time-of-use retail price is no spot price: exports would earn it all.
            errors["base"] = "derived_needs_spot"
        return await self._async_save(
            "export_derived",
            fields,
            user_input,
            source=(OPT_EXPORT_PRICE_SOURCE, ExportPriceSource.DERIVED),
            drops=EXPORT_OPTIONS,
            errors=errors,
        )

    async def async_step_export_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A feed-in price entity."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_EXPORT_PRICE_ENTITY): entity(["sensor", "event"]),
            vol.Optional(OPT_EXPORT_PRICE_UNIT): selector.TextSelector(),
            vol.Required(OPT_EXPORT_PRICE_FACTOR): number_selector(0, 10, 0.01),
            vol.Required(OPT_EXPORT_PRICE_FEE_PER_KWH): _price(),
            vol.Optional(OPT_EXPORT_PRICE_FIXED_PER_KWH): _price(),
        }
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            errors, placeholders = self._price_entity_errors(
                user_input, OPT_EXPORT_PRICE_ENTITY, OPT_EXPORT_PRICE_UNIT
            )
        return await self._async_save(
            "export_entity",
            fields,
            user_input,
            source=(OPT_EXPORT_PRICE_SOURCE, ExportPriceSource.ENTITY),
            drops=EXPORT_OPTIONS,
            errors=errors,
            placeholders=placeholders,
        )

    async def async_step_export_none(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Exports earn nothing."""
        return await self._async_save(
            "export_none",
            {},
            user_input,
            source=(OPT_EXPORT_PRICE_SOURCE, ExportPriceSource.NONE),
            drops=EXPORT_OPTIONS,
        )

    # --- solar ------------------------------------------------------------------------------

    async def async_step_solar(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the solar forecast comes from."""
        return self.async_show_menu(
            step_id="solar", menu_options=["solar_energy", "solar_entity", "solar_none"]
        )

    async def async_step_solar_energy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The forecast services the Energy dashboard uses."""
        forecasts = [
            selector.SelectOptionDict(value=entry.entry_id, label=entry.title)
            for domain in SOLAR_FORECAST_DOMAINS
            for entry in self.hass.config_entries.async_entries(domain)
        ]
        if not forecasts:
            return self.async_abort(reason="no_solar_forecast")
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_SOLAR_FORECAST_ENTRIES): selector.SelectSelector(
                selector.SelectSelectorConfig(options=forecasts, multiple=True)
            )
        }
        return await self._async_save(
            "solar_energy",
            fields,
            user_input,
            source=(OPT_SOLAR_SOURCE, SolarSource.ENERGY),
            drops=SOLAR_OPTIONS,
        )

    async def async_step_solar_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sensors with a forecast list attribute."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_SOLAR_FORECAST_ENTITIES): entity(["sensor"], multiple=True)
        }
        return await self._async_save(
            "solar_entity",
            fields,
            user_input,
            source=(OPT_SOLAR_SOURCE, SolarSource.ENTITY),
            drops=SOLAR_OPTIONS,
        )

    async def async_step_solar_none(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No solar."""
        return await self._async_save(
            "solar_none",
            {},
            user_input,
            source=(OPT_SOLAR_SOURCE, SolarSource.NONE),
            drops=SOLAR_OPTIONS,
        )

    # --- house load and the grid meter ------------------------------------------------------

    async def async_step_house_load(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the house's consumption forecast comes from, and the live grid meter."""
        return self.async_show_menu(
            step_id="house_load",
            menu_options=["load_statistics", "load_constant", "load_none", "grid_meter"],
        )

    async def async_step_load_statistics(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The house's own history."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_LOAD_ENTITY): entity(["sensor"], ["power", "energy"]),
            vol.Optional(OPT_LOAD_EXCLUDE_ENTITY): entity(
                ["sensor"], ["power", "energy"], multiple=True
            ),
            vol.Required(OPT_LOAD_HISTORY_WEEKS): number_selector(1, 52, 1),
            vol.Required(OPT_LOAD_CONSTANT_W): power_selector(50_000),
        }
        errors = (
            self._unit_errors(user_input, OPT_LOAD_ENTITY, _POWER_OR_ENERGY) if user_input else {}
        )
        return await self._async_save(
            "load_statistics",
            fields,
            user_input,
            source=(OPT_LOAD_SOURCE, LoadSource.STATISTICS),
            drops=LOAD_OPTIONS,
            errors=errors,
        )

    async def async_step_load_constant(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A constant house load."""
        fields: dict[vol.Marker, Any] = {vol.Required(OPT_LOAD_CONSTANT_W): power_selector(50_000)}
        return await self._async_save(
            "load_constant",
            fields,
            user_input,
            source=(OPT_LOAD_SOURCE, LoadSource.CONSTANT),
            drops=LOAD_OPTIONS,
        )

    async def async_step_load_none(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No house load (the site is only chargers)."""
        return await self._async_save(
            "load_none",
            {},
            user_input,
            source=(OPT_LOAD_SOURCE, LoadSource.NONE),
            drops=LOAD_OPTIONS,
        )

    async def async_step_grid_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The live grid power sensor (optional: empty removes it)."""
        fields: dict[vol.Marker, Any] = {
            vol.Optional(OPT_GRID_POWER_ENTITY): entity(["sensor"], ["power"]),
            vol.Optional(OPT_GRID_POWER_INVERT): selector.BooleanSelector(),
        }
        errors = (
            self._unit_errors(user_input, OPT_GRID_POWER_ENTITY, _POWER)
            if user_input and user_input.get(OPT_GRID_POWER_ENTITY)
            else {}
        )
        return await self._async_save("grid_meter", fields, user_input, errors=errors)

    async def async_step_grid_operator(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The grid operator's dimming signal (§14a EnWG) or allowed import (optional)."""
        fields: dict[vol.Marker, Any] = {
            vol.Optional(OPT_OPERATOR_LIMIT_ENTITY): entity(
                ["binary_sensor", "input_boolean", "sensor"]
            ),
            vol.Optional(OPT_OPERATOR_CHARGER_LIMIT_W): power_selector(22_000),
        }
        return await self._async_save("grid_operator", fields, user_input)

    async def async_step_frequency(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Frequency response (off while no frequency sensor is chosen)."""
        fields: dict[vol.Marker, Any] = {
            vol.Optional(OPT_FREQ_SENSOR): entity(["sensor"], ["frequency"]),
            vol.Required(OPT_FREQ_DEADBAND_MHZ): number_selector(0, 500, 1, "mHz"),
            vol.Required(OPT_FREQ_FULL_MHZ): number_selector(1, 2000, 1, "mHz"),
            vol.Required(OPT_FREQ_MAX_UP_W): power_selector(500_000),
            vol.Required(OPT_FREQ_MAX_DOWN_W): power_selector(500_000),
            vol.Required(OPT_FREQ_START): selector.TimeSelector(),
            vol.Required(OPT_FREQ_END): selector.TimeSelector(),
            vol.Optional(OPT_FREQ_DURATION_MIN): number_selector(0, 240, 1, "min"),
            vol.Optional(OPT_FREQ_PRICE_ENTITY): entity(["sensor", "input_number"]),
        }
        errors: dict[str, str] = {}
        if user_input is not None and float(user_input[OPT_FREQ_FULL_MHZ]) <= float(
            user_input[OPT_FREQ_DEADBAND_MHZ]
        ):
            errors[OPT_FREQ_FULL_MHZ] = "droop_inside_deadband"
        return await self._async_save("frequency", fields, user_input, errors=errors)

    async def async_step_flex_events(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The utility's flexibility sessions (Octopus Energy power-down and power-up events)."""
        fields: dict[vol.Marker, Any] = {
            vol.Optional(OPT_FLEX_EVENT_ENTITIES): entity(["event"], multiple=True),
            vol.Optional(OPT_FLEX_POINTS_PER_CURRENCY): number_selector(1, 10_000, 1),
        }
        return await self._async_save("flex_events", fields, user_input)

    async def async_step_openadr(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """An OpenADR 3 VTN: its prices and capacity limits enter the plan (optional)."""
        url = selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
        fields: dict[vol.Marker, Any] = {
            vol.Optional(OPT_OPENADR_VTN_URL): selector.TextSelector(url),
            vol.Optional(OPT_OPENADR_VEN_NAME): selector.TextSelector(),
            vol.Optional(OPT_OPENADR_CLIENT_ID): selector.TextSelector(),
            vol.Optional(OPT_OPENADR_CLIENT_SECRET): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
            ),
            vol.Optional(OPT_OPENADR_TOKEN_URL): selector.TextSelector(url),
            vol.Optional(OPT_OPENADR_PROGRAMS): selector.TextSelector(
                selector.TextSelectorConfig(multiple=True)
            ),
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                ven_config(user_input)
            except InvalidVenConfigError as err:
                errors[err.option] = err.error
        return await self._async_save("openadr", fields, user_input, errors=errors)

    # --- capacity tariff ----------------------------------------------------------------------

    async def async_step_capacity_tariff(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which kind of monthly capacity tariff the grid connection pays."""
        return self.async_show_menu(
            step_id="capacity_tariff",
            menu_options=[
                "capacity_none",
                "capacity_monthly",
                "capacity_norway",
                "capacity_sweden",
            ],
        )

    async def async_step_capacity_none(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No capacity tariff."""
        return await self._async_save(
            "capacity_none",
            {},
            user_input,
            source=(OPT_CAPACITY_TARIFF, CapacityKind.NONE),
            drops=CAPACITY_OPTIONS,
        )

    async def async_step_capacity_monthly(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The month's highest 15-minute (or hourly) import, priced per kW (Flanders)."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_CAPACITY_WINDOW_MINUTES, default="15"): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=["15", "60"], translation_key="capacity_window"
                )
            ),
            vol.Required(OPT_CAPACITY_PRICE_PER_KW): number_selector(0, 1000, 0.01),
            vol.Required(OPT_CAPACITY_MINIMUM_KW, default=2.5): number_selector(0, 100, 0.1, "kW"),
        }
        return await self._async_save(
            "capacity_monthly",
            fields,
            user_input,
            source=(OPT_CAPACITY_TARIFF, CapacityKind.MONTHLY_PEAK),
            drops=CAPACITY_OPTIONS,
        )

    async def async_step_capacity_norway(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Steps by the mean of the three highest hours on three different days (Norway)."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(
                OPT_CAPACITY_STEPS, default="2=11, 5=18, 10=29, 15=43, 20=56, 25=70"
            ): selector.TextSelector(),
        }
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                parse_steps(str(user_input.get(OPT_CAPACITY_STEPS, "")))
            except ValueError as err:
                errors[OPT_CAPACITY_STEPS] = "invalid_steps"
                placeholders["detail"] = str(err)
        return await self._async_save(
            "capacity_norway",
            fields,
            user_input,
            source=(OPT_CAPACITY_TARIFF, CapacityKind.NORWAY),
            drops=CAPACITY_OPTIONS,
            errors=errors,
            placeholders=placeholders,
        )

    async def async_step_capacity_sweden(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The month's highest hour(s), maybe winter weekdays only and night at half (Sweden)."""
        fields: dict[vol.Marker, Any] = {
            vol.Required(OPT_CAPACITY_PRICE_PER_KW): number_selector(0, 1000, 0.01),
            vol.Required(OPT_CAPACITY_TOP_N, default=1): number_selector(1, 5, 1),
            vol.Required(OPT_CAPACITY_DISTINCT_DAYS, default=False): selector.BooleanSelector(),
            vol.Required(OPT_CAPACITY_WINTER_WEEKDAYS, default=False): selector.BooleanSelector(),
            vol.Required(OPT_CAPACITY_HOURS_START, default=0): number_selector(0, 23, 1),
            vol.Required(OPT_CAPACITY_HOURS_END, default=0): number_selector(0, 24, 1),
            vol.Required(OPT_CAPACITY_NIGHT_HALF, default=False): selector.BooleanSelector(),
        }
        return await self._async_save(
            "capacity_sweden",
            fields,
            user_input,
            source=(OPT_CAPACITY_TARIFF, CapacityKind.SWEDEN),
            drops=CAPACITY_OPTIONS,
        )

    def _unit_errors(
        self, user_input: Mapping[str, Any], key: str, units: frozenset[str]
    ) -> dict[str, str]:
        state = self.hass.states.get(str(user_input.get(key)))
        unit = state.attributes.get("unit_of_measurement") if state else None
        if state is not None and unit not in units:
            return {key: "wrong_unit"}
        return {}


_POWER = frozenset({UnitOfPower.WATT, UnitOfPower.KILO_WATT})
_POWER_OR_ENERGY = _POWER | frozenset({UnitOfEnergy.WATT_HOUR, UnitOfEnergy.KILO_WATT_HOUR})
