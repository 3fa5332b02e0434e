"""Modbus TCP chargers: one backend for every model, one register table per model.

Free of Home Assistant imports. `MODELS` lists the supported models by key ("wallbox_quasar_1",
"evtec_bidipro_10").
"""

from .models import EVTEC_BIDIPRO_10, MODELS, WALLBOX_QUASAR_1
from .registers import ChargerModel

__all__ = ["EVTEC_BIDIPRO_10", "MODELS", "WALLBOX_QUASAR_1", "ChargerModel"]
