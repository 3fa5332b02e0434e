"""Config flow: pick how to reach the charger; options for vehicle and site; reconfigure."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_NAME, UnitOfEnergy, UnitOfPower
from homeassistant.core import callback
from homeassistant.helpers import selector
from homeassistant.util import slugify
import voluptuous as vol

from .const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGER_KIND,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
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

DEFAULT_SIMULATED_NAME = "Simulated charger"


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

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick how the charger is reached."""
        return self.async_show_menu(step_id="user", menu_options=[ChargerKind.SIMULATED.value])

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
                    options=dict(DEFAULT_OPTIONS),
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME, default=DEFAULT_SIMULATED_NAME): selector.TextSelector(),
                **_simulated_hardware_schema(user_input or {}),
            }
        )
        return self.async_show_form(step_id="simulated", data_schema=schema, errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the charger is reached (for the simulation: its hardware)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None and not (errors := _hardware_errors(user_input)):
            return self.async_update_reload_and_abort(
                entry,
                data_updates={key: float(value) for key, value in user_input.items()},
            )
        schema = vol.Schema(_simulated_hardware_schema(user_input or dict(entry.data)))
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders={"name": entry.title},
        )


class V2GOptionsFlow(OptionsFlowWithReload):
    """Vehicle and site settings that change rarely."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form for the vehicle's battery and the site's grid connection."""
        errors: dict[str, str] = {}
        if user_input is not None:
            return self.async_create_entry(data={**self.config_entry.options, **user_input})
        current = {**DEFAULT_OPTIONS, **self.config_entry.options}
        schema = vol.Schema(
            {
                vol.Required(
                    OPT_CHARGE_EFFICIENCY_PCT, default=current[OPT_CHARGE_EFFICIENCY_PCT]
                ): _number_selector(50, 100, 0.5, "%"),
                vol.Required(
                    OPT_DISCHARGE_EFFICIENCY_PCT, default=current[OPT_DISCHARGE_EFFICIENCY_PCT]
                ): _number_selector(50, 100, 0.5, "%"),
                vol.Required(
                    OPT_WEAR_COST_PER_KWH, default=current[OPT_WEAR_COST_PER_KWH]
                ): _number_selector(0, 1, 0.001),
                vol.Required(
                    OPT_MAX_V2G_SOC_PCT, default=current[OPT_MAX_V2G_SOC_PCT]
                ): _number_selector(10, 100, 1, "%"),
                vol.Required(
                    OPT_GRID_IMPORT_LIMIT_W, default=current[OPT_GRID_IMPORT_LIMIT_W]
                ): _power_selector(200_000),
                vol.Required(
                    OPT_GRID_EXPORT_LIMIT_W, default=current[OPT_GRID_EXPORT_LIMIT_W]
                ): _power_selector(200_000),
                vol.Required(
                    OPT_EXPORT_ALLOWED, default=current[OPT_EXPORT_ALLOWED]
                ): selector.BooleanSelector(),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)
