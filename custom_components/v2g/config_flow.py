"""Config flow: pick how to reach the charger; options for vehicle and site; reconfigure."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
from homeassistant.util import slugify
import voluptuous as vol

from .chargers.ocpp import build_ssl_context, generate_password
from .const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_DECLARED_BIDIRECTIONAL,
    CONF_IDENTITY,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    CONF_PHASES,
    CONF_SKIP_SCHEMA_VALIDATION,
    CONF_TLS_CERTFILE,
    CONF_TLS_KEYFILE,
    DEFAULT_INPUT_OPTIONS,
    DEFAULT_OCPP_PORT,
    DEFAULT_OPTIONS,
    DOMAIN,
    OPT_CHARGE_EFFICIENCY_PCT,
    OPT_DISCHARGE_EFFICIENCY_PCT,
    OPT_EXPORT_ALLOWED,
    OPT_GRID_EXPORT_LIMIT_W,
    OPT_GRID_IMPORT_LIMIT_W,
    OPT_MAX_V2G_SOC_PCT,
    OPT_WEAR_COST_PER_KWH,
    ChargerKind,
)
from .coordinator import V2GConfigEntry
from .inputs import (
    CONF_EXPORT_PRICE_ENTITY,
    CONF_EXPORT_PRICE_FACTOR,
    CONF_EXPORT_PRICE_FEE_PER_KWH,
    CONF_EXPORT_PRICE_FIXED_PER_KWH,
    CONF_EXPORT_PRICE_SOURCE,
    CONF_EXPORT_PRICE_UNIT,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_INVERT,
    CONF_LOAD_CONSTANT_W,
    CONF_LOAD_ENTITY,
    CONF_LOAD_EXCLUDE_ENTITY,
    CONF_LOAD_HISTORY_WEEKS,
    CONF_LOAD_SOURCE,
    CONF_PRICE_ENTITY,
    CONF_PRICE_FEE_PER_KWH,
    CONF_PRICE_FIXED_PER_KWH,
    CONF_PRICE_SCHEDULE,
    CONF_PRICE_SCHEDULE_DEFAULT_PER_KWH,
    CONF_PRICE_SOURCE,
    CONF_PRICE_UNIT,
    CONF_PRICE_VAT_PCT,
    CONF_SOLAR_FORECAST_ENTITIES,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_SOLAR_SOURCE,
    DEFAULT_LOAD_CONSTANT_W,
    DEFAULT_LOAD_HISTORY_WEEKS,
    DEFAULT_PRICE_FIXED_PER_KWH,
    ExportPriceSource,
    InputsConfig,
    InvalidInputsConfigError,
    LoadSource,
    PriceSource,
    SolarSource,
)
from .ocpp_hub import DATA_OCPP, charger_url, listen_key

DEFAULT_SIMULATED_NAME = "Simulated charger"
CONF_NEW_PASSWORD = "new_password"
OCPP_OPTIONAL_FIELDS = frozenset({CONF_HOST, CONF_TLS_CERTFILE, CONF_TLS_KEYFILE})
# What OCPP-J allows in a charger identity (the last segment of its URL).
OCPP_IDENTITY = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")


def _new_entry_options() -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **DEFAULT_INPUT_OPTIONS}


def _power_selector(maximum: int = 50_000) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=0,
            max=maximum,
            step=100,
            unit_of_measurement=UnitOfPower.WATT,
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def _number_selector(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> selector.NumberSelector:
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def _simulated_hardware_schema(defaults: dict[str, Any]) -> dict[vol.Marker, Any]:
    return {
        vol.Required(
            CONF_MAX_CHARGE_POWER_W, default=defaults.get(CONF_MAX_CHARGE_POWER_W, 11_000)
        ): _power_selector(),
        vol.Required(
            CONF_MAX_DISCHARGE_POWER_W, default=defaults.get(CONF_MAX_DISCHARGE_POWER_W, 11_000)
        ): _power_selector(),
        vol.Required(
            CONF_CAPACITY_KWH, default=defaults.get(CONF_CAPACITY_KWH, 60)
        ): _number_selector(5, 250, 0.5, UnitOfEnergy.KILO_WATT_HOUR),
    }


def _hardware_errors(user_input: dict[str, Any]) -> dict[str, str]:
    if float(user_input[CONF_MAX_CHARGE_POWER_W]) <= 0:
        return {CONF_MAX_CHARGE_POWER_W: "charge_power_required"}
    return {}


class V2GConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a charger and the EV behind it."""

    VERSION = 1
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: V2GConfigEntry) -> V2GOptionsFlow:
        """Vehicle and site settings."""
        return V2GOptionsFlow()

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._discovered: dict[str, str] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick how the charger is reached."""
        return self.async_show_menu(
            step_id="user", menu_options=[ChargerKind.OCPP.value, ChargerKind.SIMULATED.value]
        )

    async def async_step_simulated(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A simulated bidirectional charger with an EV, for trying the integration out."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip() or DEFAULT_SIMULATED_NAME
            await self.async_set_unique_id(f"{ChargerKind.SIMULATED}_{slugify(name)}")
            self._abort_if_unique_id_configured()
            if not (errors := _hardware_errors(user_input)):
                return self.async_create_entry(
                    title=name,
                    data={
                        CONF_CHARGER_KIND: ChargerKind.SIMULATED.value,
                        CONF_MAX_CHARGE_POWER_W: float(user_input[CONF_MAX_CHARGE_POWER_W]),
                        CONF_MAX_DISCHARGE_POWER_W: float(user_input[CONF_MAX_DISCHARGE_POWER_W]),
                        CONF_CAPACITY_KWH: float(user_input[CONF_CAPACITY_KWH]),
                    },
                    options=_new_entry_options(),
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME, default=DEFAULT_SIMULATED_NAME): selector.TextSelector(),
                **_simulated_hardware_schema(user_input or {}),
            }
        )
        return self.async_show_form(step_id="simulated", data_schema=schema, errors=errors)

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """A charger with an unknown identity tried to connect to the OCPP server."""
        identity = str(discovery_info[CONF_IDENTITY])
        await self.async_set_unique_id(f"{ChargerKind.OCPP}_{identity}")
        self._abort_if_unique_id_configured()
        self._discovered = {CONF_IDENTITY: identity, "remote": str(discovery_info["remote"])}
        self.context["title_placeholders"] = {"name": identity}
        return await self.async_step_ocpp()

    async def async_step_ocpp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """An OCPP 1.6, 2.0.1 or 2.1 charger that connects to Home Assistant's OCPP server."""
        errors: dict[str, str] = {}
        if user_input is not None:
            identity = str(user_input[CONF_IDENTITY]).strip()
            await self.async_set_unique_id(f"{ChargerKind.OCPP}_{identity}")
            self._abort_if_unique_id_configured()
            errors = await self._async_ocpp_errors(identity, user_input)
            if not errors:
                self._data = {
                    CONF_CHARGER_KIND: ChargerKind.OCPP.value,
                    **user_input,
                    CONF_IDENTITY: identity,
                    CONF_PASSWORD: generate_password(),
                }
                return await self.async_step_ocpp_connect()
        defaults = user_input or {
            CONF_IDENTITY: self._discovered.get(CONF_IDENTITY, ""),
            **self._running_server_fields(),
        }
        return self.async_show_form(
            step_id="ocpp",
            data_schema=self.add_suggested_values_to_schema(_ocpp_schema(), defaults),
            errors=errors,
            description_placeholders={
                "remote": self._discovered.get("remote", ""),
            },
        )

    async def async_step_ocpp_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what to type into the charger; the entry is created when the user confirms."""
        if user_input is not None:
            return self.async_create_entry(
                title=self._data[CONF_IDENTITY],
                data=self._data,
                options=_new_entry_options(),
            )
        return self.async_show_form(
            step_id="ocpp_connect",
            data_schema=vol.Schema({}),
            description_placeholders=_connect_placeholders(self.hass, self._data),
        )

    def _running_server_fields(self) -> dict[str, Any]:
        """The shared server's settings, so a second charger's form starts with them."""
        if (hub := self.hass.data.get(DATA_OCPP)) is None:
            return {}
        host, port, certfile, keyfile = hub.listen
        fields = {CONF_PORT: port, CONF_HOST: None if host == "0.0.0.0" else host}
        fields |= {CONF_TLS_CERTFILE: certfile, CONF_TLS_KEYFILE: keyfile}
        return {key: value for key, value in fields.items() if value is not None}

    async def _async_ocpp_errors(self, identity: str, user_input: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not OCPP_IDENTITY.match(identity):
            errors[CONF_IDENTITY] = "invalid_identity"
        # One OCPP server per Home Assistant: other chargers fix how it listens.
        hub = self.hass.data.get(DATA_OCPP)
        if hub is not None and hub.identities - {identity}:
            wanted = listen_key(user_input)
            if wanted[1] != hub.listen[1]:
                errors[CONF_PORT] = "port_mismatch"
            elif wanted != hub.listen:
                errors[CONF_TLS_CERTFILE] = "server_mismatch"
        if certfile := user_input.get(CONF_TLS_CERTFILE):
            try:
                await self.hass.async_add_executor_job(
                    build_ssl_context, certfile, user_input.get(CONF_TLS_KEYFILE) or None
                )
            except (OSError, ValueError):
                errors[CONF_TLS_CERTFILE] = "tls_invalid"
        return errors | _hardware_errors(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the simulated hardware (OCPP entries go to their own form)."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_CHARGER_KIND] == ChargerKind.OCPP:
            return await self.async_step_reconfigure_ocpp()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := _hardware_errors(user_input)):
            return self.async_update_reload_and_abort(
                entry, data_updates={key: float(value) for key, value in user_input.items()}
            )
        schema = vol.Schema(_simulated_hardware_schema(user_input or dict(entry.data)))
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    async def async_step_reconfigure_ocpp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change an OCPP charger's limits, server settings or password."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await self._async_ocpp_errors(entry.data[CONF_IDENTITY], user_input)
            if not errors:
                updates = dict(user_input)
                if updates.pop(CONF_NEW_PASSWORD, False):
                    updates[CONF_PASSWORD] = generate_password()
                # Optional fields left empty are cleared, not kept from before.
                kept = {k: v for k, v in entry.data.items() if k not in OCPP_OPTIONAL_FIELDS}
                return self.async_update_reload_and_abort(entry, data=kept | updates)
        return self.async_show_form(
            step_id="reconfigure_ocpp",
            data_schema=self.add_suggested_values_to_schema(
                _ocpp_schema(reconfigure=True), user_input or dict(entry.data)
            ),
            errors=errors,
            description_placeholders={
                "name": entry.title,
                **_connect_placeholders(self.hass, dict(entry.data)),
            },
        )


def _ocpp_schema(*, reconfigure: bool = False) -> vol.Schema:
    fields: dict[vol.Marker, Any] = {}
    if not reconfigure:
        fields[vol.Required(CONF_IDENTITY)] = selector.TextSelector()
    fields |= {
        vol.Required(CONF_MAX_CHARGE_POWER_W, default=11_000): _power_selector(),
        vol.Required(CONF_MAX_DISCHARGE_POWER_W, default=0): _power_selector(),
        vol.Required(CONF_PHASES, default="3"): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=["1", "3"],
                translation_key=CONF_PHASES,
                mode=selector.SelectSelectorMode.LIST,
            )
        ),
        vol.Required(CONF_DECLARED_BIDIRECTIONAL, default=False): selector.BooleanSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_OCPP_PORT): _number_selector(1, 65535, 1),
        vol.Optional(CONF_HOST): selector.TextSelector(),
        vol.Optional(CONF_TLS_CERTFILE): selector.TextSelector(),
        vol.Optional(CONF_TLS_KEYFILE): selector.TextSelector(),
        vol.Required(CONF_SKIP_SCHEMA_VALIDATION, default=False): selector.BooleanSelector(),
    }
    if reconfigure:
        fields[vol.Required(CONF_NEW_PASSWORD, default=False)] = selector.BooleanSelector()
    return vol.Schema(fields)


def _connect_placeholders(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, str]:
    return {
        "url": charger_url(hass, data),
        CONF_IDENTITY: str(data[CONF_IDENTITY]),
        CONF_PASSWORD: str(data[CONF_PASSWORD]),
    }


# What the inputs layer uses when an option is not set, shown in the forms as suggestions.
INPUT_FORM_DEFAULTS: dict[str, Any] = {
    CONF_PRICE_FIXED_PER_KWH: DEFAULT_PRICE_FIXED_PER_KWH,
    CONF_PRICE_FEE_PER_KWH: 0.0,
    CONF_PRICE_VAT_PCT: 0.0,
    CONF_EXPORT_PRICE_FACTOR: 1.0,
    CONF_EXPORT_PRICE_FEE_PER_KWH: 0.0,
    CONF_EXPORT_PRICE_FIXED_PER_KWH: 0.0,
    CONF_LOAD_HISTORY_WEEKS: DEFAULT_LOAD_HISTORY_WEEKS,
    CONF_LOAD_CONSTANT_W: DEFAULT_LOAD_CONSTANT_W,
}

SOLAR_FORECAST_DOMAINS = ("forecast_solar", "solcast_solar", "open_meteo_solar_forecast")


def _select(options: list[str], key: str, *, multiple: bool = False) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options,
            translation_key=key,
            multiple=multiple,
            mode=selector.SelectSelectorMode.DROPDOWN
            if multiple or len(options) > 4
            else selector.SelectSelectorMode.LIST,
        )
    )


def _entity(
    domain: list[str], device_class: list[str] | None = None, *, multiple: bool = False
) -> selector.EntitySelector:
    config = selector.EntitySelectorConfig(domain=domain, multiple=multiple)
    if device_class:
        config["device_class"] = device_class
    return selector.EntitySelector(config)


def _price_selector(step: float = 0.001) -> selector.NumberSelector:
    return _number_selector(-10, 100, step)


class V2GOptionsFlow(OptionsFlowWithReload):
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
                vol.Required(OPT_CHARGE_EFFICIENCY_PCT): _number_selector(50, 100, 0.5, "%"),
                vol.Required(OPT_DISCHARGE_EFFICIENCY_PCT): _number_selector(50, 100, 0.5, "%"),
                vol.Required(OPT_WEAR_COST_PER_KWH): _number_selector(0, 1, 0.001),
                vol.Required(OPT_MAX_V2G_SOC_PCT): _number_selector(10, 100, 1, "%"),
                vol.Required(OPT_GRID_IMPORT_LIMIT_W): _power_selector(200_000),
                vol.Required(OPT_GRID_EXPORT_LIMIT_W): _power_selector(200_000),
                vol.Required(OPT_EXPORT_ALLOWED): selector.BooleanSelector(),
            }
        )
        return await self._async_save("vehicle_site", schema, user_input)

    async def async_step_prices(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the import price comes from."""
        schema = vol.Schema(
            {
                vol.Required(CONF_PRICE_SOURCE, default="fixed"): _select(
                    [source.value for source in PriceSource], CONF_PRICE_SOURCE
                ),
                vol.Optional(CONF_PRICE_ENTITY): _entity(["sensor", "event"]),
                vol.Optional(CONF_PRICE_UNIT): selector.TextSelector(),
                vol.Optional(CONF_PRICE_FEE_PER_KWH): _price_selector(),
                vol.Optional(CONF_PRICE_VAT_PCT): _number_selector(0, 100, 0.1, "%"),
                vol.Optional(CONF_PRICE_FIXED_PER_KWH): _price_selector(),
                vol.Optional(CONF_PRICE_SCHEDULE): selector.TextSelector(
                    selector.TextSelectorConfig(multiline=True)
                ),
                vol.Optional(CONF_PRICE_SCHEDULE_DEFAULT_PER_KWH): _price_selector(),
            }
        )
        return await self._async_save("prices", schema, user_input)

    async def async_step_export_price(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What exported energy earns."""
        schema = vol.Schema(
            {
                vol.Required(CONF_EXPORT_PRICE_SOURCE, default="derived"): _select(
                    [source.value for source in ExportPriceSource], CONF_EXPORT_PRICE_SOURCE
                ),
                vol.Optional(CONF_EXPORT_PRICE_ENTITY): _entity(["sensor", "event"]),
                vol.Optional(CONF_EXPORT_PRICE_UNIT): selector.TextSelector(),
                vol.Optional(CONF_EXPORT_PRICE_FACTOR): _number_selector(0, 10, 0.01),
                vol.Optional(CONF_EXPORT_PRICE_FEE_PER_KWH): _price_selector(),
                vol.Optional(CONF_EXPORT_PRICE_FIXED_PER_KWH): _price_selector(),
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
                vol.Required(CONF_SOLAR_SOURCE, default="none"): _select(
                    [source.value for source in SolarSource], CONF_SOLAR_SOURCE
                ),
                vol.Optional(CONF_SOLAR_FORECAST_ENTRIES): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=forecasts, multiple=True)
                ),
                vol.Optional(CONF_SOLAR_FORECAST_ENTITIES): _entity(["sensor"], multiple=True),
                vol.Required(CONF_LOAD_SOURCE, default="constant"): _select(
                    [source.value for source in LoadSource], CONF_LOAD_SOURCE
                ),
                vol.Optional(CONF_LOAD_ENTITY): _entity(["sensor"], ["power", "energy"]),
                vol.Optional(CONF_LOAD_EXCLUDE_ENTITY): _entity(["sensor"], ["power", "energy"]),
                vol.Optional(CONF_LOAD_HISTORY_WEEKS): _number_selector(1, 52, 1),
                vol.Optional(CONF_LOAD_CONSTANT_W): _power_selector(50_000),
                vol.Optional(CONF_GRID_POWER_ENTITY): _entity(["sensor"], ["power"]),
                vol.Optional(CONF_GRID_POWER_INVERT): selector.BooleanSelector(),
            }
        )
        return await self._async_save("solar_load", schema, user_input)
