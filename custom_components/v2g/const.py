"""Constants for V2G Smart Charging."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "v2g"
LOGGER = logging.getLogger(__package__)

UPDATE_INTERVAL: Final = timedelta(seconds=30)

# A site is one config entry (one grid connection); each charger with its EV is a subentry.
SUBENTRY_CHARGER: Final = "charger"

# Site entry data: the OCPP server its chargers connect to (CONF_HOST and CONF_PORT from HA).
CONF_TLS_CERTFILE: Final = "tls_certfile"
CONF_TLS_KEYFILE: Final = "tls_keyfile"
CONF_MIGRATED: Final = "migrated"
"""Set on sites made from a single-charger entry of version 1 (they may be merged on request)."""
DEFAULT_OCPP_PORT: Final = 9000
DEFAULT_SITE_NAME: Final = "Home"

# Charger subentry data
CONF_CHARGER_KIND: Final = "charger_kind"
CONF_MAX_CHARGE_POWER_W: Final = "max_charge_power_w"
CONF_MAX_DISCHARGE_POWER_W: Final = "max_discharge_power_w"
CONF_CAPACITY_KWH: Final = "capacity_kwh"
CONF_IDENTITY: Final = "identity"
CONF_DECLARED_BIDIRECTIONAL: Final = "declared_bidirectional"
CONF_SKIP_SCHEMA_VALIDATION: Final = "skip_schema_validation"
CONF_PHASES: Final = "phases"
CONF_CONNECTOR_ID: Final = "connector_id"
# Simulated charger: when its EV comes home and leaves (local time), and what a trip uses.
CONF_ARRIVAL: Final = "arrival"
CONF_DEPARTURE: Final = "departure"
CONF_TRIP_ENERGY_KWH: Final = "trip_energy_kwh"
CONF_EV_SOC_ENTITY: Final = "ev_soc_entity"
"""Optional, every kind: the EV's state of charge from another integration (the car's own)."""


class Priority(StrEnum):
    """Who gets scarce power first when the EVs of a site compete for it."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


PRIORITY_WEIGHTS: Final = {Priority.LOW: 0.5, Priority.NORMAL: 1.0, Priority.HIGH: 2.0}
"""The optimizer weighs each EV's missed target by this (higher: served first)."""


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
OPT_GRID_IMPORT_LIMITED: Final = "grid_import_limited"
"""False: the connection has no import limit to respect (the limit's value is then ignored)."""

# Options: where prices, solar and house load come from (see inputs/config.py for their meaning).
OPT_PRICE_SOURCE: Final = "price_source"
OPT_PRICE_ENTITY: Final = "price_entity"
OPT_PRICE_UNIT: Final = "price_unit"
OPT_PRICE_FEE_PER_KWH: Final = "price_fee_per_kwh"
OPT_PRICE_VAT_PCT: Final = "price_vat_pct"
OPT_PRICE_FIXED_PER_KWH: Final = "price_fixed_per_kwh"
OPT_PRICE_SCHEDULE: Final = "price_schedule"
OPT_PRICE_SCHEDULE_DEFAULT_PER_KWH: Final = "price_schedule_default_per_kwh"
OPT_NORDPOOL_AREA: Final = "nordpool_area"
OPT_TIBBER_HOME: Final = "tibber_home"
OPT_EXPORT_PRICE_SOURCE: Final = "export_price_source"
OPT_EXPORT_PRICE_ENTITY: Final = "export_price_entity"
OPT_EXPORT_PRICE_UNIT: Final = "export_price_unit"
OPT_EXPORT_PRICE_FACTOR: Final = "export_price_factor"
OPT_EXPORT_PRICE_FEE_PER_KWH: Final = "export_price_fee_per_kwh"
OPT_EXPORT_PRICE_FIXED_PER_KWH: Final = "export_price_fixed_per_kwh"
OPT_SOLAR_SOURCE: Final = "solar_source"
OPT_SOLAR_FORECAST_ENTRIES: Final = "solar_forecast_entries"
OPT_SOLAR_FORECAST_ENTITIES: Final = "solar_forecast_entities"
OPT_LOAD_SOURCE: Final = "load_source"
OPT_LOAD_ENTITY: Final = "load_entity"
OPT_LOAD_EXCLUDE_ENTITY: Final = "load_exclude_entity"
OPT_LOAD_HISTORY_WEEKS: Final = "load_history_weeks"
OPT_LOAD_CONSTANT_W: Final = "load_constant_w"
OPT_GRID_POWER_ENTITY: Final = "grid_power_entity"
OPT_GRID_POWER_INVERT: Final = "grid_power_invert"
OPT_OPERATOR_LIMIT_ENTITY: Final = "operator_limit_entity"
OPT_OPERATOR_CHARGER_LIMIT_W: Final = "operator_charger_limit_w"
DEFAULT_OPERATOR_CHARGER_LIMIT_W: Final = 4_200.0
"""Germany's §14a EnWG: the grid operator may dim each controllable charger to 4.2 kW."""
OPT_FREQ_SENSOR: Final = "frequency_sensor"
OPT_FREQ_DEADBAND_MHZ: Final = "frequency_deadband_mhz"
OPT_FREQ_FULL_MHZ: Final = "frequency_full_response_mhz"
OPT_FREQ_MAX_UP_W: Final = "frequency_max_up_w"
OPT_FREQ_MAX_DOWN_W: Final = "frequency_max_down_w"
OPT_FREQ_START: Final = "frequency_start"
OPT_FREQ_END: Final = "frequency_end"
OPT_FREQ_DURATION_MIN: Final = "frequency_duration_min"
OPT_FREQ_PRICE_ENTITY: Final = "frequency_reserve_price"
OPT_FLEX_EVENT_ENTITIES: Final = "flex_event_entities"
OPT_FLEX_POINTS_PER_CURRENCY: Final = "flex_points_per_currency"
# Options: the site's OpenADR 3 VEN (off while no VTN URL is set; see openadr_ven.py).
OPT_OPENADR_VTN_URL: Final = "openadr_vtn_url"
OPT_OPENADR_CLIENT_ID: Final = "openadr_client_id"
OPT_OPENADR_CLIENT_SECRET: Final = "openadr_client_secret"
OPT_OPENADR_TOKEN_URL: Final = "openadr_token_url"
OPT_OPENADR_VEN_NAME: Final = "openadr_ven_name"
OPT_OPENADR_PROGRAMS: Final = "openadr_programs"

# Options: battery care (a separate step; not in DEFAULT_OPTIONS, whose keys are the
# "vehicle_site" step's fields).
OPT_CARE_SOC_PCT: Final = "care_soc_pct"
OPT_CARE_COST_PER_KWH_H: Final = "care_cost_per_kwh_h"
OPT_CHARGE_LATE: Final = "charge_late"
OPT_FINISH_MARGIN_MIN: Final = "finish_margin_min"
OPT_BATTERY_PRICE: Final = "battery_price"
OPT_BATTERY_USABLE_KWH: Final = "battery_usable_kwh"
OPT_BATTERY_CYCLE_LIFE: Final = "battery_cycle_life"
CARE_DEFAULTS: Final[dict[str, float | bool]] = {
    OPT_CARE_SOC_PCT: 80.0,
    OPT_CARE_COST_PER_KWH_H: 0.0,
    OPT_CHARGE_LATE: False,
    OPT_FINISH_MARGIN_MIN: 0.0,
}
"""Defaults that keep the plans of existing installations: no care cost, ties charge early, no
margin. (Issue 12 asks for late charging on ties as the default; turning it on changes what 30
tests of the suite expect from a flat price, left for a separate change.)"""

OPT_CAPACITY_TARIFF: Final = "capacity_tariff"
OPT_CAPACITY_WINDOW_MINUTES: Final = "capacity_window_minutes"
OPT_CAPACITY_PRICE_PER_KW: Final = "capacity_price_per_kw"
OPT_CAPACITY_MINIMUM_KW: Final = "capacity_minimum_kw"
OPT_CAPACITY_STEPS: Final = "capacity_steps"
OPT_CAPACITY_TOP_N: Final = "capacity_top_n"
OPT_CAPACITY_DISTINCT_DAYS: Final = "capacity_distinct_days"
OPT_CAPACITY_WINTER_WEEKDAYS: Final = "capacity_winter_weekdays"
OPT_CAPACITY_HOURS_START: Final = "capacity_hours_start"
OPT_CAPACITY_HOURS_END: Final = "capacity_hours_end"
OPT_CAPACITY_NIGHT_HALF: Final = "capacity_night_half"
CAPACITY_OPTIONS: Final = (
    OPT_CAPACITY_WINDOW_MINUTES,
    OPT_CAPACITY_PRICE_PER_KW,
    OPT_CAPACITY_MINIMUM_KW,
    OPT_CAPACITY_STEPS,
    OPT_CAPACITY_TOP_N,
    OPT_CAPACITY_DISTINCT_DAYS,
    OPT_CAPACITY_WINTER_WEEKDAYS,
    OPT_CAPACITY_HOURS_START,
    OPT_CAPACITY_HOURS_END,
    OPT_CAPACITY_NIGHT_HALF,
)


class CapacityKind(StrEnum):
    """The site's monthly capacity tariff (option `capacity_tariff`; default none)."""

    NONE = "none"
    MONTHLY_PEAK = "monthly_peak"
    NORWAY = "norway"
    SWEDEN = "sweden"


DEFAULT_PRICE_FIXED_PER_KWH: Final = 0.30
DEFAULT_LOAD_CONSTANT_W: Final = 400.0
DEFAULT_LOAD_HISTORY_WEEKS: Final = 4

DEFAULT_OPTIONS: Final[dict[str, float | bool]] = {
    OPT_CHARGE_EFFICIENCY_PCT: 92.0,
    OPT_DISCHARGE_EFFICIENCY_PCT: 92.0,
    OPT_WEAR_COST_PER_KWH: 0.04,
    OPT_MAX_V2G_SOC_PCT: 90.0,
    OPT_GRID_IMPORT_LIMITED: True,
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
