"""Bidirectional chargers driven over Modbus TCP (Wallbox Quasar 1, EVtec BiDiPro 10).

The charger is tried when the form is submitted (it must answer and be readable), and its own
idle timeout is set so that it stops by itself if Home Assistant goes silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.util import dt as dt_util, slugify
import voluptuous as vol

from ..chargers import ChargerBackend, ChargerUnavailableError
from ..chargers.modbus import DEFAULT_IDLE_TIMEOUT_S, MODELS, ModbusCharger, ModbusChargerConfig
from ..const import CONF_CHARGER_KIND, CONF_MAX_CHARGE_POWER_W, CONF_MAX_DISCHARGE_POWER_W
from ..form import ev_data, ev_errors, ev_fields, number_selector, select
from .spec import ChargerKindSpec, Errors, Fields

KIND = "modbus"
CONF_MODEL = "model"
CONF_UNIT_ID = "unit_id"
CONF_PLUG = "plug"
CONF_IDLE_TIMEOUT_S = "idle_timeout_s"
MIN_IDLE_TIMEOUT_S = 60
"""Two missed updates (30 s each) must not make the charger give up control."""
TRY_TIMEOUT_S = 5.0


def _optional_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _config(data: Mapping[str, Any]) -> ModbusChargerConfig:
    """The backend's configuration from a form or a subentry (ValueError when unusable)."""
    return ModbusChargerConfig(
        host=str(data.get(CONF_HOST, "")).strip(),
        model=str(data.get(CONF_MODEL, "")),
        port=_optional_int(data.get(CONF_PORT)),
        unit_id=_optional_int(data.get(CONF_UNIT_ID)),
        plug=int(data.get(CONF_PLUG, 1)),
        idle_timeout_s=int(data.get(CONF_IDLE_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S)),
        timeout_s=TRY_TIMEOUT_S,
        max_charge_power_w=float(data.get(CONF_MAX_CHARGE_POWER_W, 0)) or None,
        max_discharge_power_w=float(data.get(CONF_MAX_DISCHARGE_POWER_W, 0)) or None,
    )


def _fields(hass: HomeAssistant, defaults: Mapping[str, Any], reconfigure: bool) -> Fields:
    fields: Fields = {
        vol.Required(CONF_MODEL, default=defaults.get(CONF_MODEL, next(iter(MODELS)))): select(
            list(MODELS), "modbus_model"
        ),
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): selector.TextSelector(),
    }
    for key, maximum in ((CONF_PORT, 65_535), (CONF_UNIT_ID, 247)):
        fields[vol.Optional(key, description={"suggested_value": defaults.get(key)})] = (
            number_selector(0 if key == CONF_UNIT_ID else 1, maximum, 1)
        )
    fields |= {
        vol.Required(CONF_PLUG, default=defaults.get(CONF_PLUG, 1)): number_selector(1, 10, 1),
        vol.Required(
            CONF_IDLE_TIMEOUT_S, default=defaults.get(CONF_IDLE_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S)
        ): number_selector(MIN_IDLE_TIMEOUT_S, 600, 1, "s"),
    }
    return fields | ev_fields(
        {CONF_MAX_CHARGE_POWER_W: 7_400, CONF_MAX_DISCHARGE_POWER_W: 7_400, **defaults}
    )


async def _async_validate(
    hass: HomeAssistant,
    site: ConfigEntry | None,
    user_input: Mapping[str, Any],
    subentry: ConfigSubentry | None,
) -> Errors:
    """The values make sense for the model, and the charger answers."""
    errors = ev_errors(hass, user_input)
    if errors:
        return errors
    try:
        config = _config(user_input)
    except ValueError:
        return {"base": "invalid_modbus"}
    if subentry is not None and dict(subentry.data).get(CONF_HOST) == config.host:
        return {}  # the running backend holds the connection; it is rebuilt after the form
    charger = ModbusCharger(config, dt_util.utcnow)
    try:
        await charger.async_start()
        await charger.async_read_state()
    except ChargerUnavailableError:
        return {"base": "cannot_connect"}
    finally:
        await charger.async_release()
    return {}


def _to_data(
    hass: HomeAssistant, user_input: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    config = _config(user_input)
    return {
        CONF_CHARGER_KIND: KIND,
        CONF_MODEL: config.model,
        CONF_HOST: config.host,
        CONF_PORT: config.port,
        CONF_UNIT_ID: config.unit_id,
        CONF_PLUG: config.plug,
        CONF_IDLE_TIMEOUT_S: config.idle_timeout_s,
        **ev_data(user_input),
    }


def _unique_id(data: Mapping[str, Any]) -> str:
    model = MODELS[str(data[CONF_MODEL])]
    port = data.get(CONF_PORT) or model.default_port
    return f"{KIND}_{slugify(str(data[CONF_HOST]))}_{port}_{data.get(CONF_PLUG, 1)}"


def _title(data: Mapping[str, Any]) -> str:
    model = MODELS[str(data[CONF_MODEL])]
    plug = f" plug {data[CONF_PLUG]}" if model.max_plug > 1 else ""
    return f"{model.model} {data[CONF_HOST]}{plug}"


async def _async_create(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry
) -> ChargerBackend:
    return ModbusCharger(_config(subentry.data), dt_util.utcnow)


SPEC = ChargerKindSpec(
    kind=KIND,
    model="Modbus charger",
    fields=_fields,
    async_validate=_async_validate,
    to_data=_to_data,
    unique_id=_unique_id,
    title=_title,
    async_create=_async_create,
)
