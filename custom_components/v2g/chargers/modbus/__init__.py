"""Modbus TCP chargers: one backend for every model, one register table per model.

Free of Home Assistant imports.

    config = ModbusChargerConfig(host="192.0.2.10", model="wallbox_quasar_1", idle_timeout_s=180)
    charger = ModbusCharger(config, clock=lambda: datetime.now(UTC))
    await charger.async_start()                 # connects; ChargerUnavailableError if it cannot
    state = await charger.async_read_state()
    await charger.async_apply_setpoint(-3_000)  # discharge 3 kW (takes remote control first)
    await charger.async_stop()                  # setpoint 0, stop, control back to the user
    await charger.async_release()               # close the connection

`MODELS` lists the supported models by key ("wallbox_quasar_1", "evtec_bidipro_10").
"""

from .base import DEFAULT_IDLE_TIMEOUT_S, ModbusCharger, ModbusChargerConfig
from .models import EVTEC_BIDIPRO_10, MODELS, WALLBOX_QUASAR_1
from .registers import ChargerModel

__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "EVTEC_BIDIPRO_10",
    "MODELS",
    "WALLBOX_QUASAR_1",
    "ChargerModel",
    "ModbusCharger",
    "ModbusChargerConfig",
]
