"""How a Modbus charger's register map is described: one table (a `ChargerModel`) per model.

A model is data, not code: register addresses, data types, word order, scale factors, the meaning
of each state code, capabilities and the idle-timeout register with its limits. The backend in
`base.py` and the simulator read these tables; a third charger model is a new table in
`models.py`, not a new module.

All registers are holding registers (function codes 3, 6 and 16). Addresses are the 0-based
protocol addresses, as the sources quote them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import struct


class DataType(StrEnum):
    """How a value is laid out in 16-bit registers."""

    UINT16 = "uint16"
    INT16 = "int16"
    """Two's complement: -P is carried as 65536 - P."""
    UINT32 = "uint32"
    INT32 = "int32"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    STRING = "string"
    """ASCII, two characters per register, first character in the high byte, NUL padded."""


class WordOrder(StrEnum):
    """Which register of a multi-register value comes first."""

    BIG = "big"
    """High word first (the register at the lower address holds the most significant word)."""
    LITTLE = "little"
    """Low word first."""


_STRUCT: dict[DataType, tuple[str, int]] = {
    DataType.UINT16: ("H", 1),
    DataType.INT16: ("h", 1),
    DataType.UINT32: ("I", 2),
    DataType.INT32: ("i", 2),
    DataType.UINT64: ("Q", 4),
    DataType.FLOAT32: ("f", 2),
}


@dataclass(frozen=True, slots=True)
class Register:
    """One value in a register map: where it lives and how it is encoded."""

    address: int
    """The protocol address; for a `per_plug` register, the offset inside the plug's block."""
    data_type: DataType = DataType.UINT16
    scale: float = 1.0
    """Engineering value = raw value x scale (for example 0.1 turns per mille into percent)."""
    length: int = 0
    """Registers of a STRING; other types know their own length."""
    per_plug: bool = False
    """The address is relative to the plug's block: absolute = address + plug x plug stride."""

    def __post_init__(self) -> None:
        """Reject a string without a length and a scale of zero."""
        if self.data_type is DataType.STRING and self.length < 1:
            raise ValueError("a STRING register needs a length")
        if self.scale == 0:
            raise ValueError("scale must not be zero")

    @property
    def count(self) -> int:
        """How many 16-bit registers the value occupies."""
        if self.data_type is DataType.STRING:
            return self.length
        return _STRUCT[self.data_type][1]


def encode(value: float | int | str, data_type: DataType, word_order: WordOrder) -> list[int]:
    """A raw value (already divided by the scale) as 16-bit registers.

    Integers are rounded and must fit the type: out-of-range values raise ValueError rather than
    wrap around, so a setpoint can never change sign on the wire.
    """
    if data_type is DataType.STRING:
        raise ValueError("strings are read, never written")
    fmt, count = _STRUCT[data_type]
    # + 0.0 turns -0.0 (from a scale of -1) into 0.0.
    number: float | int = float(value) + 0.0
    if data_type is not DataType.FLOAT32:
        number = round(number)
    try:
        packed = struct.pack(">" + fmt, number)
    except struct.error as err:
        raise ValueError(f"{value!r} does not fit {data_type}") from err
    words = list(struct.unpack(f">{count}H", packed))
    return words if word_order is WordOrder.BIG else words[::-1]


def decode(words: Sequence[int], data_type: DataType, word_order: WordOrder) -> int | float | str:
    """16-bit registers as a raw value (before the scale)."""
    if data_type is DataType.STRING:
        raw = struct.pack(f">{len(words)}H", *words)
        return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    fmt, count = _STRUCT[data_type]
    if len(words) != count:
        raise ValueError(f"{data_type} takes {count} registers, got {len(words)}")
    ordered = list(words) if word_order is WordOrder.BIG else list(words)[::-1]
    value: int | float = struct.unpack(">" + fmt, struct.pack(f">{count}H", *ordered))[0]
    return value


class StateKind(StrEnum):
    """What a charger's state code means for us."""

    DISCONNECTED = "disconnected"
    """No EV plugged in (or not usable yet, as the charger sees it)."""
    CONNECTED = "connected"
    """EV plugged in, no energy flowing (waiting, paused, finished)."""
    CHARGING = "charging"
    DISCHARGING = "discharging"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class StateCode:
    """One value of the state register."""

    label: str
    kind: StateKind
    canonical: bool = False
    """The code the simulator reports for this kind (exactly one per kind)."""

    @property
    def plugged_in(self) -> bool:
        """Whether an EV is plugged in."""
        return self.kind in (StateKind.CONNECTED, StateKind.CHARGING, StateKind.DISCHARGING)


@dataclass(frozen=True, slots=True)
class Control:
    """A register written with one value to take control and another to give it back."""

    register: Register
    on: int
    """Written when the integration takes control (remote mode, power setpoints, autostart off)."""
    off: int | None = None
    """Written when control is given back; None: left alone (the charger resets it itself)."""


@dataclass(frozen=True, slots=True)
class ChargerModel:
    """A charger model's register map and what the charger can do: one table per model."""

    key: str
    """Stable identifier stored in config entries, for example "wallbox_quasar_1"."""
    manufacturer: str
    model: str
    default_port: int
    states: Mapping[int, StateCode]
    power: Register
    """Measured power, W, signed: positive into the EV."""
    setpoint: Register
    """Power setpoint, W, signed (negative discharges)."""
    idle_timeout: Register
    """Seconds without Modbus traffic after which the charger stops on its own."""
    idle_timeout_min_s: int
    idle_timeout_max_s: int
    state: Register
    max_charge_power_w: float
    max_discharge_power_w: float
    default_unit_id: int = 1
    word_order: WordOrder = WordOrder.BIG
    plug_stride: int = 0
    """Registers per plug block (0: the charger has one plug and absolute addresses)."""
    max_plug: int = 1
    soc: Register | None = None
    """The EV's state of charge, % after scaling; 0 reads as unknown."""
    action: Register | None = None
    action_start: int = 1
    action_stop: int = 0
    take_control: tuple[Control, ...] = ()
    """Written in this order before the first setpoint (the first one is the remote-control
    switch the charger may refuse); their `off` values in reverse order give control back."""
    charge_limit: Register | None = None
    """The charger's present charging limit, W (the setpoint is clamped to it)."""
    discharge_limit: Register | None = None
    """The charger's present discharging limit, W as a magnitude (0: not offered now)."""
    energy_charged: Register | None = None
    """Energy into the EV, kWh after scaling; without it the backend integrates the power."""
    energy_discharged: Register | None = None
    errors: tuple[Register, ...] = ()
    firmware: Register | None = None
    serial_number: Register | None = None
    bidirectional: bool = True
    min_charge_power_w: float = 0.0
    min_discharge_power_w: float = 0.0
    max_read_gap: int = 0
    """Registers up to this far apart are read in one request (never across a plug block)."""
    sources: tuple[str, ...] = field(default=())
    """Where the register facts come from."""

    def canonical_code(self, kind: StateKind) -> int:
        """The state code the simulator reports for `kind`."""
        for code, state in self.states.items():
            if state.kind is kind and state.canonical:
                return code
        raise KeyError(kind)

    def absolute(self, register: Register, plug: int) -> int:
        """The protocol address of `register` for this plug."""
        return register.address + plug * self.plug_stride if register.per_plug else register.address
