"""OCPP central system for V2G Smart Charging: chargers connect to Home Assistant.

Free of Home Assistant imports. One `OcppServer` serves every charger; each registered identity
gets an `OcppStation`, which implements `ChargerBackend`.

    server = OcppServer(port=9000, on_unknown_identity=discovered)
    station = server.register_station("garage", generate_password(), StationOptions())
    await station.async_start()              # starts the shared server if needed
    remove = station.add_event_listener(lambda station, event: ...)
    await station.async_apply_setpoint(-3_000)  # discharge 3 kW (OCPP 2.1 V2X stations)
    await station.async_stop()               # clears our charging profiles
    await server.unregister_station("garage")
    await server.stop()
"""

from .base import BootInfo, StationConfig
from .options import StationOptions
from .readings import EvChargingNeeds
from .server import (
    DEFAULT_PORT,
    IDENTITY_PATTERN,
    SUBPROTOCOLS,
    OcppServer,
    UnknownIdentityCallback,
    build_ssl_context,
    generate_password,
    valid_identity,
)
from .station import OcppStation, StationEvent, StationListener

__all__ = [
    "DEFAULT_PORT",
    "IDENTITY_PATTERN",
    "SUBPROTOCOLS",
    "BootInfo",
    "EvChargingNeeds",
    "OcppServer",
    "OcppStation",
    "StationConfig",
    "StationEvent",
    "StationListener",
    "StationOptions",
    "UnknownIdentityCallback",
    "build_ssl_context",
    "generate_password",
    "valid_identity",
]
