"""Config flows: a site with its first charger; chargers as subentries; the site's options.

Every step that concerns one kind of charger is asked of the kind (`kinds/`): the flows show
`KINDS` as a menu and route `async_step_<kind>` to the kind's form, so a new kind needs no change
here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
import voluptuous as vol

from .const import (
    CONF_IDENTITY,
    DEFAULT_INPUT_OPTIONS,
    DEFAULT_LOAD_CONSTANT_W,
    DEFAULT_LOAD_HISTORY_WEEKS,
    DEFAULT_OPTIONS,
    DEFAULT_PRICE_FIXED_PER_KWH,
    DEFAULT_SITE_NAME,
    DOMAIN,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_EXPORT_ALLOWED,
    OPT_EXPORT_PRICE_ENTITY,
    OPT_EXPORT_PRICE_FACTOR,
    OPT_EXPORT_PRICE_FEE_PER_KWH,
    OPT_EXPORT_PRICE_FIXED_PER_KWH,
    OPT_EXPORT_PRICE_SOURCE,
    OPT_EXPORT_PRICE_UNIT,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    OPT_GRID_POWER_ENTITY,
    OPT_GRID_POWER_INVERT,
    OPT_LOAD_CONSTANT_W,
    OPT_LOAD_ENTITY,
    OPT_LOAD_EXCLUDE_ENTITY,
    OPT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_SOURCE,
    OPT_MAX_V2G_SOC_PCT,
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
    OPT_WEAR_COST_PER_KWH,
    SUBENTRY_CHARGER,
)
from .form import entity, number_selector, power_selector, select
from .inputs import (
    ExportPriceSource,
    InputsConfig,
    InvalidInputsConfigError,
    LoadSource,
    PriceSource,
    SolarSource,
)
from .kinds import KINDS, ChargerKindSpec, Errors, Fields, kind_of
from .kinds.ocpp import KIND as OCPP_KIND, hubs

type StepHandler = Callable[[dict[str, Any] | None], Coroutine[Any, Any, Any]]


def _new_site_options() -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **DEFAULT_INPUT_OPTIONS}


def _sites(hass: HomeAssistant) -> list[ConfigEntry]:
    return hass.config_entries.async_entries(DOMAIN)


def _charger_exists(hass: HomeAssistant, unique_id: str) -> bool:
    """Whether any site already has a charger with this unique id."""
    return any(
        subentry.unique_id == unique_id
        for entry in _sites(hass)
        for subentry in entry.subentries.values()
    )


def _site_fields(hass: HomeAssistant, defaults: Mapping[str, Any]) -> Fields:
    """Every kind's site settings (the OCPP server's port and TLS files)."""
    fields: Fields = {}
    for spec in KINDS.values():
        if spec.site_fields is not None:
            fields |= spec.site_fields(hass, defaults)
    return fields


async def _async_site_errors(
    hass: HomeAssistant, user_input: Mapping[str, Any], site: ConfigEntry | None
) -> Errors:
    errors: Errors = {}
    for spec in KINDS.values():
        if spec.site_fields is not None:
            errors |= await spec.async_validate_site(hass, user_input, site)
    return errors


def _split(fields: Fields, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a form's answer that belongs to these fields."""
    keys = {str(marker) for marker in fields}
    return {key: value for key, value in user_input.items() if key in keys}


class _KindSteps:
    """`async_step_<kind>` for every registered kind, routed to one form handler."""

    def __getattr__(self, name: str) -> StepHandler:
        kind = name.removeprefix("async_step_")
        if name.startswith("async_step_") and kind in KINDS:
            return partial(self._async_step_kind, KINDS[kind])
        raise AttributeError(name)

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> Any:
        raise NotImplementedError


class V2GConfigFlow(_KindSteps, ConfigFlow, domain=DOMAIN):
    """Create a site with its first charger; reconfigure a site; adopt a discovered charger."""

    VERSION = 2
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> V2GOptionsFlow:
        """The site's grid connection, prices, solar and house load."""
        return V2GOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Chargers are added to a site from its page."""
        return {SUBENTRY_CHARGER: ChargerSubentryFlow}

    def __init__(self) -> None:
        self._name = DEFAULT_SITE_NAME
        self._site_data: dict[str, Any] = {}
        self._charger: dict[str, Any] = {}
        self._spec: ChargerKindSpec | None = None
        self._discovered: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the site (the home or depot behind one grid connection)."""
        errors: Errors = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip() or DEFAULT_SITE_NAME
            if any(site.title == name for site in _sites(self.hass)):
                errors[CONF_NAME] = "site_exists"
            else:
                self._name = name
                return await self.async_step_charger()
        taken = {site.title for site in _sites(self.hass)}
        suggested = next(
            name
            for n in range(1, 100)
            if (name := DEFAULT_SITE_NAME if n == 1 else f"{DEFAULT_SITE_NAME} {n}") not in taken
        )
        schema = vol.Schema(
            {vol.Required(CONF_NAME, default=(user_input or {}).get(CONF_NAME, suggested)): str}
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which kind of charger the site's first charger is."""
        return self.async_show_menu(step_id="charger", menu_options=list(KINDS))

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """The first charger's form, with the site settings its kind needs."""
        charger_fields = spec.fields(self.hass, user_input or self._discovered, False)
        site_fields = spec.site_fields(self.hass, user_input or {}) if spec.site_fields else {}
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, None, user_input, None)
            if site_fields:
                errors |= await spec.async_validate_site(self.hass, user_input, None)
            data = spec.to_data(_split(charger_fields, user_input), None) if not errors else {}
            if data and _charger_exists(self.hass, spec.unique_id(data)):
                errors["base"] = "charger_exists"
            if not errors:
                self._spec, self._charger = spec, data
                self._site_data = _split(site_fields, user_input)
                if spec.connect_placeholders is not None:
                    return await self.async_step_connect()
                return self._async_create_site()
        return self.async_show_form(
            step_id=spec.kind,
            data_schema=vol.Schema(charger_fields | site_fields),
            errors=errors,
            description_placeholders={"remote": self._discovered.get("remote", "")},
        )

    async def async_step_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what to type into the charger; the site is created when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        if user_input is not None:
            return self._async_create_site()
        return self.async_show_form(
            step_id="connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, self._site_data, self._charger
            ),
        )

    def _async_create_site(self) -> ConfigFlowResult:
        assert self._spec is not None
        return self.async_create_entry(
            title=self._name,
            data=self._site_data,
            options=_new_site_options(),
            subentries=[
                ConfigSubentryData(
                    data=self._charger,
                    subentry_type=SUBENTRY_CHARGER,
                    title=self._spec.title(self._charger),
                    unique_id=self._spec.unique_id(self._charger),
                )
            ],
        )

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """A charger with an unknown identity tried to connect to an OCPP server."""
        identity = str(discovery_info[CONF_IDENTITY])
        await self.async_set_unique_id(f"{OCPP_KIND}_{identity}")
        self._abort_if_unique_id_configured()
        if _charger_exists(self.hass, f"{OCPP_KIND}_{identity}"):
            return self.async_abort(reason="already_configured")
        self._discovered = {CONF_IDENTITY: identity, "remote": str(discovery_info["remote"])}
        self.context["title_placeholders"] = {"name": identity}
        hub = hubs(self.hass).get(int(discovery_info[CONF_PORT]))
        site_ids = {entry_id for entry_id, _ in hub.chargers.values()} if hub else set()
        self._discovered["sites"] = sorted(site_ids)
        return await self.async_step_discovered()

    async def async_step_discovered(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the discovered charger to the site whose OCPP server it connected to."""
        spec = KINDS[OCPP_KIND]
        sites = [
            site for site in _sites(self.hass) if site.entry_id in self._discovered.get("sites", [])
        ]
        if not sites:
            return await self._async_step_kind(spec, None)
        charger_fields = spec.fields(self.hass, user_input or self._discovered, False)
        site_field: Fields = {}
        if len(sites) > 1:
            site_field[vol.Required("site")] = selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[
                        selector.SelectOptionDict(value=s.entry_id, label=s.title) for s in sites
                    ]
                )
            )
        errors: Errors = {}
        if user_input is not None:
            site = next(
                (s for s in sites if s.entry_id == user_input.get("site", sites[0].entry_id)),
                sites[0],
            )
            errors = await spec.async_validate(self.hass, site, user_input, None)
            if not errors:
                self._spec = spec
                self._charger = spec.to_data(_split(charger_fields, user_input), None)
                self._site_data = dict(site.data)
                self._discovered["site"] = site.entry_id
                return await self.async_step_discovered_connect()
        return self.async_show_form(
            step_id="discovered",
            data_schema=vol.Schema(site_field | charger_fields),
            errors=errors,
            description_placeholders={
                "remote": self._discovered.get("remote", ""),
                "site": sites[0].title,
            },
        )

    async def async_step_discovered_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the password; the charger joins the site when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        site = self.hass.config_entries.async_get_known_entry(self._discovered["site"])
        if user_input is not None:
            self.hass.config_entries.async_add_subentry(
                site,
                ConfigSubentry(
                    data=self._charger,  # type: ignore[arg-type]
                    subentry_type=SUBENTRY_CHARGER,
                    title=self._spec.title(self._charger),
                    unique_id=self._spec.unique_id(self._charger),
                ),
            )
            return self.async_abort(
                reason="charger_added", description_placeholders={"site": site.title}
            )
        return self.async_show_form(
            step_id="discovered_connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, site.data, self._charger
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The site's own settings: the OCPP server its chargers connect to."""
        entry = self._get_reconfigure_entry()
        errors: Errors = {}
        if user_input is not None:
            errors = await _async_site_errors(self.hass, user_input, entry)
            if not errors:
                # Optional fields left empty are cleared, not kept from before.
                kept = {k: v for k, v in entry.data.items() if k not in _site_fields(self.hass, {})}
                return self.async_update_and_abort(entry, data=kept | user_input)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema(_site_fields(self.hass, user_input or entry.data)),
            errors=errors,
            description_placeholders={"name": entry.title},
        )


class ChargerSubentryFlow(_KindSteps, ConfigSubentryFlow):
    """Add a charger (with its EV) to a site, or reconfigure one."""

    def __init__(self) -> None:
        self._spec: ChargerKindSpec | None = None
        self._data: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Which kind of charger to add."""
        return self.async_show_menu(step_id="user", menu_options=list(KINDS))

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        site = self._get_entry()
        fields = spec.fields(self.hass, user_input or {}, False)
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, site, user_input, None)
            data = spec.to_data(user_input, None) if not errors else {}
            if data and _charger_exists(self.hass, spec.unique_id(data)):
                errors["base"] = "charger_exists"
            if not errors:
                self._spec, self._data = spec, data
                if spec.connect_placeholders is not None:
                    return await self.async_step_connect()
                return self._async_create()
        return self.async_show_form(
            step_id=spec.kind,
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders={"site": site.title, "remote": ""},
        )

    async def async_step_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show what to type into the charger; it is added when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        if user_input is not None:
            return self._async_create()
        return self.async_show_form(
            step_id="connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, self._get_entry().data, self._data
            ),
        )

    def _async_create(self) -> SubentryFlowResult:
        assert self._spec is not None
        return self.async_create_entry(
            title=self._spec.title(self._data),
            data=self._data,
            unique_id=self._spec.unique_id(self._data),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a charger's limits or connection (it reconnects; its EV keeps its settings)."""
        site = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        spec = kind_of(subentry.data)
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, site, user_input, subentry)
            if not errors:
                data = spec.to_data(user_input, subentry.data)
                return self.async_update_and_abort(site, subentry, data=data)
        placeholders = {"name": subentry.title, "url": "", "identity": "", "password": ""}
        if spec.connect_placeholders is not None:
            placeholders |= spec.connect_placeholders(self.hass, site.data, subentry.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema(spec.fields(self.hass, user_input or subentry.data, True)),
            errors=errors,
            description_placeholders=placeholders,
        )


# What the inputs layer uses when an option is not set, shown in the forms as suggestions.
INPUT_FORM_DEFAULTS: dict[str, Any] = {
    OPT_PRICE_FIXED_PER_KWH: DEFAULT_PRICE_FIXED_PER_KWH,
    OPT_PRICE_FEE_PER_KWH: 0.0,
    OPT_PRICE_VAT_PCT: 0.0,
    OPT_EXPORT_PRICE_FACTOR: 1.0,
    OPT_EXPORT_PRICE_FEE_PER_KWH: 0.0,
    OPT_EXPORT_PRICE_FIXED_PER_KWH: 0.0,
    OPT_LOAD_HISTORY_WEEKS: DEFAULT_LOAD_HISTORY_WEEKS,
    OPT_LOAD_CONSTANT_W: DEFAULT_LOAD_CONSTANT_W,
}

SOLAR_FORECAST_DOMAINS = ("forecast_solar", "solcast_solar", "open_meteo_solar_forecast")


def _price_selector(step: float = 0.001) -> selector.NumberSelector:
    return number_selector(-10, 100, step)


class V2GOptionsFlow(OptionsFlow):
    """Vehicle and site settings, and where prices, solar and load come from."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick which group of settings to change."""
        return self.async_show_menu(
            step_id="init", menu_options=["vehicle_site", "prices", "export_price", "solar_load"]
        )

    async def _async_save(
        self, step_id: str, schema: vol.Schema, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show the form, or check the merged options and save them (the entry reloads)."""
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None:
            fields = {str(marker) for marker in schema.schema}
            # Optional fields left empty are removed rather than kept from before.
            options = {k: v for k, v in self.config_entry.options.items() if k not in fields}
            options.update(user_input)
            try:
                InputsConfig.from_options(options)
            except InvalidInputsConfigError as err:
                errors[err.option if err.option in fields else "base"] = "invalid_option"
                placeholders["detail"] = str(err)
            else:
                return self.async_create_entry(data=options)
        current = {
            **DEFAULT_OPTIONS,
            **INPUT_FORM_DEFAULTS,
            **self.config_entry.options,
            **(user_input or {}),
        }
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_vehicle_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The vehicle's battery and the site's grid connection."""
        schema = vol.Schema(
            {
                vol.Required(OPT_CHARGE_EFFICIENCY_PCT): number_selector(50, 100, 0.5, "%"),
                vol.Required(OPT_DISCHARGE_EFFICIENCY_PCT): number_selector(50, 100, 0.5, "%"),
                vol.Required(OPT_WEAR_COST_PER_KWH): number_selector(0, 1, 0.001),
                vol.Required(OPT_MAX_V2G_SOC_PCT): number_selector(10, 100, 1, "%"),
                vol.Required(OPT_GRID_IMPORT_LIMIT_W): power_selector(200_000),
                vol.Required(OPT_GRID_EXPORT_LIMIT_W): power_selector(200_000),
                vol.Required(OPT_EXPORT_ALLOWED): selector.BooleanSelector(),
            }
        )
        return await self._async_save("vehicle_site", schema, user_input)

    async def async_step_prices(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the import price comes from."""
        schema = vol.Schema(
            {
                vol.Required(OPT_PRICE_SOURCE, default="fixed"): select(
                    [source.value for source in PriceSource], OPT_PRICE_SOURCE
                ),
                vol.Optional(OPT_PRICE_ENTITY): entity(["sensor", "event"]),
                vol.Optional(OPT_PRICE_UNIT): selector.TextSelector(),
                vol.Optional(OPT_PRICE_FEE_PER_KWH): _price_selector(),
                vol.Optional(OPT_PRICE_VAT_PCT): number_selector(0, 100, 0.1, "%"),
                vol.Optional(OPT_PRICE_FIXED_PER_KWH): _price_selector(),
                vol.Optional(OPT_PRICE_SCHEDULE): selector.TextSelector(
                    selector.TextSelectorConfig(multiline=True)
                ),
                vol.Optional(OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH): _price_selector(),
            }
        )
        return await self._async_save("prices", schema, user_input)

    async def async_step_export_price(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What exported energy earns."""
        schema = vol.Schema(
            {
                vol.Required(OPT_EXPORT_PRICE_SOURCE, default="derived"): select(
                    [source.value for source in ExportPriceSource], OPT_EXPORT_PRICE_SOURCE
                ),
                vol.Optional(OPT_EXPORT_PRICE_ENTITY): entity(["sensor", "event"]),
                vol.Optional(OPT_EXPORT_PRICE_UNIT): selector.TextSelector(),
                vol.Optional(OPT_EXPORT_PRICE_FACTOR): number_selector(0, 10, 0.01),
                vol.Optional(OPT_EXPORT_PRICE_FEE_PER_KWH): _price_selector(),
                vol.Optional(OPT_EXPORT_PRICE_FIXED_PER_KWH): _price_selector(),
            }
        )
        return await self._async_save("export_price", schema, user_input)

    async def async_step_solar_load(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The solar forecast, the house load and the live grid meter."""
        forecasts = [
            selector.SelectOptionDict(value=entry.entry_id, label=entry.title)
            for domain in SOLAR_FORECAST_DOMAINS
            for entry in self.hass.config_entries.async_entries(domain)
        ]
        schema = vol.Schema(
            {
                vol.Required(OPT_SOLAR_SOURCE, default="none"): select(
                    [source.value for source in SolarSource], OPT_SOLAR_SOURCE
                ),
                vol.Optional(OPT_SOLAR_FORECAST_ENTRIES): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=forecasts, multiple=True)
                ),
                vol.Optional(OPT_SOLAR_FORECAST_ENTITIES): entity(["sensor"], multiple=True),
                vol.Required(OPT_LOAD_SOURCE, default="constant"): select(
                    [source.value for source in LoadSource], OPT_LOAD_SOURCE
                ),
                vol.Optional(OPT_LOAD_ENTITY): entity(["sensor"], ["power", "energy"]),
                vol.Optional(OPT_LOAD_EXCLUDE_ENTITY): entity(["sensor"], ["power", "energy"]),
                vol.Optional(OPT_LOAD_HISTORY_WEEKS): number_selector(1, 52, 1),
                vol.Optional(OPT_LOAD_CONSTANT_W): power_selector(50_000),
                vol.Optional(OPT_GRID_POWER_ENTITY): entity(["sensor"], ["power"]),
                vol.Optional(OPT_GRID_POWER_INVERT): selector.BooleanSelector(),
            }
        )
        return await self._async_save("solar_load", schema, user_input)
