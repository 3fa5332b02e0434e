"""The register maps of the Modbus chargers we support, one `ChargerModel` table each.

Sources (read, not copied; the facts are credited per table):
- [VL-Q] V2G Liberty, `chargers/wallbox_quasar_1.py` and `charger-mocks/quasar/states.py` in
  github.com/V2G-liberty/addon-v2g-liberty: the Wallbox Quasar 1 map, as provided by Wallbox
  Chargers S.L. to that project.
- [VL-E] V2G Liberty, `chargers/evtec_bidipro.py` and `dev_tools/charger_scenarios_evtec.py`
  in the same repository: the EVtec BiDiPro "ECP4 / Modbus 2.0" map, described there as the
  hardware-tested contract of a production proxy against a live BiDiPro (provided by EV2Grid).

Both chargers are tested against our simulator only (simulator/modbus_charger.py).
"""

from __future__ import annotations

from types import MappingProxyType

from .registers import (
    ChargerModel,
    Control,
    DataType,
    Register,
    StateCode,
    StateKind,
    WordOrder,
)

_K = StateKind

WALLBOX_QUASAR_1 = ChargerModel(
    key="wallbox_quasar_1",
    manufacturer="Wallbox",
    model="Quasar 1",
    default_port=502,
    default_unit_id=1,
    # [VL-Q] register 537 and states.py: the meaning of every state code.
    state=Register(537),
    states=MappingProxyType(
        {
            0: StateCode("no car connected", _K.DISCONNECTED, canonical=True),
            1: StateCode("charging", _K.CHARGING, canonical=True),
            2: StateCode("connected, waiting for car demand", _K.CONNECTED),
            3: StateCode("connected, controlled by the Wallbox app schedule", _K.CONNECTED),
            4: StateCode("connected, paused", _K.CONNECTED, canonical=True),
            5: StateCode("connected, end of schedule", _K.CONNECTED),
            6: StateCode("no car connected, charger locked", _K.DISCONNECTED),
            7: StateCode("error", _K.FAULT, canonical=True),
            8: StateCode("connected, queued by power sharing", _K.CONNECTED),
            9: StateCode("error: power sharing not configured", _K.FAULT),
            10: StateCode("connected, queued by power boost", _K.CONNECTED),
            11: StateCode("discharging", _K.DISCHARGING, canonical=True),
        }
    ),
    # [VL-Q] 526 actual power, W, signed; 260 power setpoint, W, signed 16 bit (a negative
    # value is written as 65536 + P), used when 83 (setpoint type) = 1 (power).
    power=Register(526, DataType.INT16),
    setpoint=Register(260, DataType.INT16),
    # [VL-Q] 538 car SoC, %; the Quasar reports 0 while no power flows (read as unknown).
    soc=Register(538),
    # [VL-Q] 257 action: 1 start charging, 2 stop charging.
    action=Register(257),
    action_start=1,
    action_stop=2,
    # [VL-Q] 81 control: 0 user, 1 remote (every other setting needs remote); 82 autostart on
    # connect: 0 disabled (must be disabled under remote control); 83 setpoint type: 0 current,
    # 1 power. Giving control back (81 = 0) resets 82 to enabled, 83 to current and 88 to 0.
    take_control=(
        Control(Register(81), on=1, off=0),
        Control(Register(82), on=0),
        Control(Register(83), on=1),
    ),
    # [VL-Q] 88 Modbus idle timeout, s: without Modbus traffic for that long the charger stops
    # (dis)charging by itself. A 16-bit register; 0 disables it, so at least 1 s.
    idle_timeout=Register(88),
    idle_timeout_min_s=1,
    idle_timeout_max_s=65_535,
    # [VL-Q] 514 maximum available power (AC, by phase), W, 1380-7400; V2G Liberty uses it as
    # the limit for both directions.
    charge_limit=Register(514),
    discharge_limit=Register(514),
    max_charge_power_w=7_400.0,
    max_discharge_power_w=7_400.0,
    # [VL-Q] 539-542 error registers (0: no error); 1 firmware version, 2-3 serial number
    # (high word, low word).
    errors=(Register(539), Register(540), Register(541), Register(542)),
    firmware=Register(1),
    serial_number=Register(2, DataType.UINT32),
    # No documented minimum power: the register range starts at 1 W.
    min_charge_power_w=0.0,
    min_discharge_power_w=0.0,
    # [VL-Q] V2G Liberty polls 526-542 in one request; 514 is read on its own.
    max_read_gap=10,
    sources=("V2G Liberty chargers/wallbox_quasar_1.py", "V2G Liberty charger-mocks/quasar"),
)

EVTEC_BIDIPRO_10 = ChargerModel(
    key="evtec_bidipro_10",
    manufacturer="EVtec",
    model="BiDiPro 10",
    default_port=5020,
    default_unit_id=1,
    # [VL-E] multi-register values are big-endian: the high word at the lower address
    # (int32/float32 in 2 registers, 64-bit in 4, strings 2 characters per register).
    word_order=WordOrder.BIG,
    # [VL-E] the charge point object at 0-43; connector X's object at X x 100 (1 to 10).
    plug_stride=100,
    max_plug=10,
    # [VL-E] X+0 connector state, int32: 8 is feeding the grid.
    state=Register(0, DataType.INT32, per_plug=True),
    states=MappingProxyType(
        {
            0: StateCode("starting up", _K.DISCONNECTED),
            1: StateCode("ready, no car connected", _K.DISCONNECTED, canonical=True),
            2: StateCode("unavailable", _K.FAULT),
            3: StateCode("connected, reserved by another system", _K.CONNECTED),
            4: StateCode("connected, authorising", _K.CONNECTED),
            5: StateCode("connected, preparing", _K.CONNECTED),
            6: StateCode("connected, initialising the session", _K.CONNECTED),
            7: StateCode("charging", _K.CHARGING, canonical=True),
            8: StateCode("feeding the grid", _K.DISCHARGING, canonical=True),
            9: StateCode("connected, session stopped", _K.CONNECTED),
            10: StateCode("connected, waiting for the grid", _K.CONNECTED, canonical=True),
            11: StateCode("connected, charging ended", _K.CONNECTED),
            12: StateCode("error", _K.FAULT, canonical=True),
        }
    ),
    # [VL-E] X+10 measured power, float32 W, signed; X+12 SoC, int32 per mille.
    power=Register(10, DataType.FLOAT32, per_plug=True),
    soc=Register(12, DataType.INT32, scale=0.1, per_plug=True),
    # [VL-E] X+86 power setpoint, int32 W, negative discharges; X+88 "suspend mode" (1 start,
    # 0 stop): documented as the on/off gate but a no-op on the real charger, so a stop always
    # writes the setpoint 0 first (as the backend does for every model).
    setpoint=Register(86, DataType.INT32, per_plug=True),
    action=Register(88, DataType.INT32, per_plug=True),
    action_start=1,
    action_stop=0,
    # [VL-E] 42 communication timeout, int32 s: the charger idles without traffic; 600 at most.
    idle_timeout=Register(42, DataType.INT32),
    idle_timeout_min_s=1,
    idle_timeout_max_s=600,
    # [VL-E] X+22 lower limit potential, float32 W: below 0 the station offers discharging down
    # to that power (read as a magnitude here); 0 or above: no discharging offered right now.
    # X+30 (upper limit) is not used: it reads 0 W until the car is ready to charge.
    discharge_limit=Register(22, DataType.FLOAT32, scale=-1.0, per_plug=True),
    max_charge_power_w=10_000.0,
    max_discharge_power_w=10_000.0,
    # [VL-E] X+18 / X+20 charged / discharged energy, float32 Wh.
    energy_charged=Register(18, DataType.FLOAT32, scale=0.001, per_plug=True),
    energy_discharged=Register(20, DataType.FLOAT32, scale=0.001, per_plug=True),
    # [VL-E] X+54 error bitmask (40 bits, read unsigned, 0: no error); 0 version string
    # (16 registers), 16 serial number string (10 registers).
    errors=(Register(54, DataType.UINT64, per_plug=True),),
    firmware=Register(0, DataType.STRING, length=16),
    serial_number=Register(16, DataType.STRING, length=10),
    # [VL-E] V2G Liberty reads X+0 to X+57 in one request (never across an object).
    max_read_gap=40,
    sources=("V2G Liberty chargers/evtec_bidipro.py", "V2G Liberty charger_scenarios_evtec.py"),
)

MODELS: MappingProxyType[str, ChargerModel] = MappingProxyType(
    {model.key: model for model in (WALLBOX_QUASAR_1, EVTEC_BIDIPRO_10)}
)
"""Every supported model by its key (the value a config entry stores)."""
