"""Register encodings, the model tables and the configuration's checks (no network)."""

from __future__ import annotations

import math

import pytest

from custom_components.v2g.chargers.modbus import (
    EVTEC_BIDIPRO_10,
    MODELS,
    WALLBOX_QUASAR_1,
    ModbusChargerConfig,
)
from custom_components.v2g.chargers.modbus.base import _merge
from custom_components.v2g.chargers.modbus.registers import (
    DataType,
    Register,
    StateKind,
    WordOrder,
    decode,
    encode,
)

BIG, LITTLE = WordOrder.BIG, WordOrder.LITTLE


def test_negative_int16_is_65536_plus_p() -> None:
    # The Wallbox's signed setpoint: -3000 W travels as 65536 - 3000.
    assert encode(-3000, DataType.INT16, BIG) == [62_536]
    assert decode([62_536], DataType.INT16, BIG) == -3000
    assert encode(7400, DataType.INT16, BIG) == [7400]
    assert decode([65_535], DataType.UINT16, BIG) == 65_535


def test_int32_and_float32_word_order() -> None:
    # High word first (big) or low word first (little).
    assert encode(-3000, DataType.INT32, BIG) == [0xFFFF, 0xF448]
    assert encode(-3000, DataType.INT32, LITTLE) == [0xF448, 0xFFFF]
    assert decode([0xF448, 0xFFFF], DataType.INT32, LITTLE) == -3000
    assert encode(70_000, DataType.UINT32, BIG) == [1, 4464]
    assert encode(-1500.5, DataType.FLOAT32, BIG) == [0xC4BB, 0x9000]
    assert decode([0xC4BB, 0x9000], DataType.FLOAT32, BIG) == -1500.5
    assert decode([0x9000, 0xC4BB], DataType.FLOAT32, LITTLE) == -1500.5
    assert decode([0, 0, 0x1, 0x0], DataType.UINT64, BIG) == 65_536


def test_values_that_do_not_fit_are_refused() -> None:
    # Never wrap around: a large charge request must not turn into a discharge on the wire.
    with pytest.raises(ValueError, match="does not fit"):
        encode(40_000, DataType.INT16, BIG)
    with pytest.raises(ValueError, match="does not fit"):
        encode(-1, DataType.UINT16, BIG)
    with pytest.raises(ValueError, match="never written"):
        encode("x", DataType.STRING, BIG)
    with pytest.raises(ValueError, match="takes 2 registers"):
        decode([1], DataType.INT32, BIG)


def test_integers_are_rounded_and_strings_decoded() -> None:
    assert encode(1399.6, DataType.INT16, BIG) == [1400]
    words = [int.from_bytes(b"EV"), int.from_bytes(b"te"), int.from_bytes(b"c\x00"), 0]
    assert decode(words, DataType.STRING, BIG) == "EVtec"
    assert math.isnan(float(decode(encode(math.nan, DataType.FLOAT32, BIG), DataType.FLOAT32, BIG)))


def test_register_checks_and_counts() -> None:
    assert Register(1).count == 1
    assert Register(1, DataType.UINT64).count == 4
    assert Register(1, DataType.STRING, length=10).count == 10
    with pytest.raises(ValueError, match="length"):
        Register(1, DataType.STRING)
    with pytest.raises(ValueError, match="scale"):
        Register(1, scale=0)


@pytest.mark.parametrize("model", MODELS.values(), ids=list(MODELS))
def test_tables_are_consistent(model: object) -> None:
    from custom_components.v2g.chargers.modbus.registers import ChargerModel

    assert isinstance(model, ChargerModel)
    assert MODELS[model.key] is model
    for kind in StateKind:
        canonical = [s for s in model.states.values() if s.kind is kind and s.canonical]
        assert len(canonical) == 1, kind
        assert model.states[model.canonical_code(kind)].kind is kind
    assert model.states[model.canonical_code(StateKind.CHARGING)].plugged_in
    assert not model.states[model.canonical_code(StateKind.FAULT)].plugged_in
    assert model.idle_timeout_min_s >= 1
    with pytest.raises(KeyError):
        model.canonical_code("no such kind")  # type: ignore[arg-type]
    assert model.sources
    # The setpoint is signed and takes a full discharge.
    encode(-model.max_discharge_power_w, model.setpoint.data_type, model.word_order)


def test_the_register_facts_of_both_models() -> None:
    quasar, evtec = WALLBOX_QUASAR_1, EVTEC_BIDIPRO_10
    assert (quasar.default_port, quasar.default_unit_id) == (502, 1)
    assert [c.register.address for c in quasar.take_control] == [81, 82, 83]
    assert quasar.setpoint == Register(260, DataType.INT16)
    assert (quasar.action.address if quasar.action else None, quasar.action_start) == (257, 1)
    assert quasar.action_stop == 2
    assert quasar.states[1].kind is StateKind.CHARGING
    assert quasar.states[11].kind is StateKind.DISCHARGING
    assert quasar.idle_timeout.address == 88
    assert evtec.default_port == 5020
    # Plug x 100: plug 1's state at 100, power at 110, SoC at 112, setpoint at 186, action at 188.
    addresses = [
        evtec.absolute(r, 1) for r in (evtec.state, evtec.power, evtec.soc, evtec.setpoint)
    ]
    assert addresses == [100, 110, 112, 186]
    assert evtec.action is not None
    assert evtec.absolute(evtec.action, 2) == 288
    assert evtec.absolute(evtec.idle_timeout, 2) == 42
    assert evtec.states[8].kind is StateKind.DISCHARGING
    assert evtec.idle_timeout_max_s == 600
    assert evtec.power.data_type is DataType.FLOAT32
    assert evtec.word_order is WordOrder.BIG


def test_reads_are_merged_within_a_gap_and_a_plug_block() -> None:
    # The Quasar: 514 alone, 526..542 in one request.
    assert _merge([(514, 1), (526, 1), (537, 1), (538, 1), (539, 4)], 10, 0) == [
        (514, 1),
        (526, 17),
    ]
    # The EVtec: never across the charge point / plug boundary at 100.
    assert _merge([(42, 2), (100, 2), (110, 2)], 60, 100) == [(42, 2), (100, 12)]
    # At most 125 registers per request.
    assert _merge([(0, 100), (100, 30)], 10, 0) == [(0, 100), (100, 30)]
    assert _merge([(0, 10), (2, 2)], 0, 0) == [(0, 10)]


def test_config_defaults_and_checks() -> None:
    config = ModbusChargerConfig(host="192.0.2.1", model="evtec_bidipro_10", plug=2)
    assert config.port is None
    assert config.idle_timeout_s == 180
    with pytest.raises(ValueError, match="unknown Modbus charger model"):
        ModbusChargerConfig(host="192.0.2.1", model="nope")
    bad: list[dict[str, object]] = [
        {"host": ""},
        {"port": 0},
        {"unit_id": 300},
        {"plug": 11, "model": "evtec_bidipro_10"},
        {"plug": 2},
        {"idle_timeout_s": 601, "model": "evtec_bidipro_10"},
        {"idle_timeout_s": 0},
        {"timeout_s": 0},
        {"reconnect_min_s": 5, "reconnect_max_s": 1},
        {"max_charge_power_w": -1},
    ]
    for options in bad:
        settings: dict[str, object] = {"host": "192.0.2.1", "model": "wallbox_quasar_1"}
        settings.update(options)
        with pytest.raises(ValueError):  # noqa: PT011 - one message per field
            ModbusChargerConfig(**settings)  # type: ignore[arg-type]
