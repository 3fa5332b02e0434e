"""Constants for V2G Smart Charging."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "v2g"
LOGGER = logging.getLogger(__package__)

UPDATE_INTERVAL: Final = timedelta(seconds=30)

# Config entry data
CONF_CHARGER_KIND: Final = "charger_kind"
CONF_MAX_CHARGE_POWER_W: Final = "max_charge_power_w"
CONF_MAX_DISCHARGE_POWER_W: Final = "max_discharge_power_w"
CONF_CAPACITY_KWH: Final = "capacity_kwh"
CONF_IDENTITY: Final = "identity"
CONF_DECLARED_BIDIRECTIONAL: Final = "declared_bidirectional"
CONF_SKIP_SCHEMA_VALIDATION: Final = "skip_schema_validation"
CONF_PHASES: Final = "phases"
CONF_TLS_CERTFILE: Final = "tls_certfile"
CONF_TLS_KEYFILE: Final = "tls_keyfile"
DEFAULT_OCPP_PORT: Final = 9000


class ChargerKind(StrEnum):
    """How the integration reaches the charger (the config flow's menu)."""

    SIMULATED = "simulated"
    OCPP = "ocpp"


class Mode(StrEnum):
    """What the coordinator does with the charger."""

    SMART = "smart"
    """The optimizer: cheapest and greenest hours, vehicle-to-grid when allowed."""
    SMART_CHARGE_ONLY = "smart_charge_only"
    """The optimizer, never discharging."""
    CHARGE_NOW = "charge_now"
    """Full power until the target, as a plain charger does."""
    OFF = "off"


SMART_MODES: Final = frozenset({Mode.SMART, Mode.SMART_CHARGE_ONLY})


# Options (vehicle and site settings)
OPT_CHARGE_EFFICIENCY_PCT: Final = "charge_efficiency_pct"
OPT_DISCHARGE_EFFICIENCY_PCT: Final = "discharge_efficiency_pct"
OPT_WEAR_COST_PER_KWH: Final = "wear_cost_per_kwh"
OPT_MAX_V2G_SOC_PCT: Final = "max_v2g_soc_pct"
OPT_GRID_IMPORT_LIMIT_W: Final = "grid_import_limit_w"
OPT_GRID_EXPORT_LIMIT_W: Final = "grid_export_limit_w"
OPT_EXPORT_ALLOWED: Final = "export_allowed"

DEFAULT_OPTIONS: Final[dict[str, float | bool]] = {
    OPT_CHARGE_EFFICIENCY_PCT: 92.0,
    OPT_DISCHARGE_EFFICIENCY_PCT: 92.0,
    OPT_WEAR_COST_PER_KWH: 0.04,
    OPT_MAX_V2G_SOC_PCT: 90.0,
    OPT_GRID_IMPORT_LIMIT_W: 17_250.0,
    OPT_GRID_EXPORT_LIMIT_W: 11_000.0,
    OPT_EXPORT_ALLOWED: True,
}
# New entries earn nothing for exported energy until a feed-in price is chosen in the options:
# "derived" from a flat or time-of-use retail price would pay the retail price for exports.
DEFAULT_INPUT_OPTIONS: Final[dict[str, str | float]] = {
    "export_price_source": "fixed",
    "export_price_fixed_per_kwh": 0.0,
}

# A setpoint change smaller than this is not sent to the charger.
SETPOINT_DEADBAND_W: Final = 50.0
