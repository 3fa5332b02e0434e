"""A Wallbox Quasar 1 over Modbus TCP, added through the UI, discharging on plan.

The charger is the repository's Modbus simulator (simulator/modbus_charger.py) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest

from custom_components.v2g.const import DEFAULT_OPTIONS, DOMAIN
from simulator.modbus_charger import ModbusChargerSim, ModbusSimConfig, ModbusSimServer


async def _until(condition: Callable[[], bool], within_s: float = 30.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
async def quasar(socket_enabled: None) -> AsyncGenerator[ModbusSimServer]:
    """A simulated Wallbox Quasar 1 with a 70 % EV, listening on a free port."""
    server = ModbusSimServer(ModbusChargerSim(ModbusSimConfig(port=0, soc_pct=70.0)))
    await server.start()
    yield server
    await server.stop()


QUASAR_FORM = {
    "model": "wallbox_quasar_1",
    "host": "127.0.0.1",
    "plug": 1,
    "idle_timeout_s": 60,
    "max_charge_power_w": 7_400,
    "max_discharge_power_w": 7_400,
    "capacity_kwh": 60,
}


async def test_quasar_added_through_the_ui_discharges_on_plan(
    hass: HomeAssistant, quasar: ModbusSimServer
) -> None:
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Home"})
    assert "modbus" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "modbus"}
    )
    assert result["step_id"] == "modbus"
    # Nothing answers on the wrong port: the form says so and keeps what was typed.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**QUASAR_FORM, "port": quasar.port + 1}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**QUASAR_FORM, "plug": 3, "port": quasar.port}
    )
    assert result["errors"] == {"base": "invalid_modbus"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**QUASAR_FORM, "port": quasar.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: ConfigEntry = result["result"]
    [charger] = entry.subentries.values()
    assert charger.title.endswith("127.0.0.1")
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    name = charger.title.lower().replace(" ", "_").replace(".", "_")

    # Expensive now, cheap in three hours, departure in eight: sell now, buy back later.
    hour = dt_util.now().hour
    hass.config_entries.async_update_entry(
        entry,
        options={
            **DEFAULT_OPTIONS,
            "price_source": "schedule",
            "price_schedule": f"{(hour + 3) % 24:02d}:00-{(hour + 6) % 24:02d}:00=0.05",
            "price_schedule_default_per_kwh": 0.60,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.50,
        },
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "time",
        "set_value",
        {"entity_id": f"time.{name}_ev_departure_time", "time": f"{(hour + 8) % 24:02d}:00:00"},
        blocking=True,
    )
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": f"switch.{name}_allow_vehicle_to_grid"}, blocking=True
    )
    sim = quasar.sim
    await _until(lambda: sim.power_w < -100)  # how much now is the plan's choice
    assert sim.remote_control
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(f"sensor.{name}_power").state) < -100
    assert hass.states.get(f"binary_sensor.{name}_ev_discharging").state == "on"

    # Unloading stops it and gives control back to the user.
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await _until(lambda: abs(sim.power_w) < 1)
    assert not sim.remote_control
