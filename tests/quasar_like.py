"""A small integration registered in tests: a bidirectional charger as core `wallbox` shows it.

Its "maximum charging current" number has no unit and goes from -32 A to 32 A (negative
discharges), its status sensor uses Wallbox's status texts, its power sensor shows kW without a
sign, and a pause/resume switch turns it on and off. A second device is the car, with its own
battery sensor. The charger runs on 230 V, one phase (DC behind a CHAdeMO plug).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeassistant.components.number import NumberEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.components.switch import SwitchEntity
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import PERCENTAGE, Platform, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_integration,
    mock_platform,
)

DOMAIN = "quasar_like"
CONTROL = "number.quasar_maximum_charging_current"
STATUS = "sensor.quasar_status_description"
POWER = "sensor.quasar_charging_power"
ENERGY_CHARGED = "sensor.quasar_added_energy"
ENERGY_DISCHARGED = "sensor.quasar_discharged_energy"
PAUSE = "switch.quasar_pause_resume"
CAR_SOC = "sensor.car_battery"

CHARGER = DeviceInfo(
    identifiers={(DOMAIN, "QS-123")}, name="Quasar", manufacturer="Wallbox", model="Quasar"
)
CAR = DeviceInfo(identifiers={(DOMAIN, "car")}, name="Car", manufacturer="Nissan", model="Leaf")


@dataclass
class QuasarLike:
    """The charger and the car behind the entities (what a cloud API would report)."""

    current_a: float = 0.0
    paused: bool = False
    plugged_in: bool = True
    soc_pct: float = 70.0
    charged_kwh: float = 120.0
    discharged_kwh: float = 30.0
    unavailable: set[str] = field(default_factory=set)
    """Keys of entities to show unavailable ("current", "status", ...)."""
    written: list[float] = field(default_factory=list)
    """Every current set through the number, in order."""
    cloud_down: bool = False
    """Setting the current fails (the vendor's cloud does not answer)."""
    entities: list[_QuasarEntity] = field(default_factory=list)

    @property
    def status(self) -> str:
        """Wallbox's status description."""
        if not self.plugged_in:
            return "Ready"
        if self.paused:
            return "Paused"
        if self.current_a > 0:
            return "Charging"
        if self.current_a < 0:
            return "Discharging"
        return "Waiting for car demand"

    @property
    def power_kw(self) -> float:
        """What flows, without a sign (as the cloud reports it)."""
        flowing = self.plugged_in and not self.paused
        return round(abs(self.current_a) * 230 / 1000, 3) if flowing else 0.0

    def update(self) -> None:
        """Write every entity's state (a coordinator refresh)."""
        for entity in self.entities:
            entity.async_write_ha_state()


class _QuasarEntity(Entity):
    _attr_has_entity_name = True
    _attr_should_poll = False
    key = ""

    def __init__(self, charger: QuasarLike, device: DeviceInfo) -> None:
        self.charger = charger
        self._attr_device_info = device
        self._attr_unique_id = f"{DOMAIN}_{self.key}"
        charger.entities.append(self)

    @property
    def available(self) -> bool:
        return self.key not in self.charger.unavailable


class QuasarCurrent(_QuasarEntity, NumberEntity):
    key = "current"
    _attr_name = "Maximum charging current"
    _attr_native_min_value = -32
    _attr_native_max_value = 32
    _attr_native_step = 1

    @property
    def native_value(self) -> float:
        return self.charger.current_a

    async def async_set_native_value(self, value: float) -> None:
        if self.charger.cloud_down:
            raise HomeAssistantError("The Wallbox cloud does not answer")
        self.charger.current_a = value
        self.charger.written.append(value)
        self.charger.update()


class QuasarStatus(_QuasarEntity, SensorEntity):
    key = "status"
    _attr_name = "Status description"

    @property
    def native_value(self) -> str:
        return self.charger.status


class QuasarPower(_QuasarEntity, SensorEntity):
    key = "power"
    _attr_name = "Charging power"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    @property
    def native_value(self) -> float:
        return self.charger.power_kw


class QuasarEnergy(_QuasarEntity, SensorEntity):
    _attr_device_class = SensorDeviceClass.ENERGY
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_native_unit_of_measurement = UnitOfEnergy.KILO_WATT_HOUR

    def __init__(self, charger: QuasarLike, key: str, name: str) -> None:
        self.key = key
        self._attr_name = name
        super().__init__(charger, CHARGER)

    @property
    def native_value(self) -> float:
        return getattr(self.charger, f"{self.key}_kwh")  # type: ignore[no-any-return]


class QuasarPause(_QuasarEntity, SwitchEntity):
    key = "pause"
    _attr_name = "Pause/resume"

    @property
    def is_on(self) -> bool:
        return not self.charger.paused

    async def async_turn_on(self, **kwargs: Any) -> None:
        self.charger.paused = False
        self.charger.update()

    async def async_turn_off(self, **kwargs: Any) -> None:
        self.charger.paused = True
        self.charger.update()


class CarBattery(_QuasarEntity, SensorEntity):
    key = "car"
    _attr_name = "Battery"
    _attr_device_class = SensorDeviceClass.BATTERY
    _attr_native_unit_of_measurement = PERCENTAGE

    @property
    def native_value(self) -> float:
        return self.charger.soc_pct


class QuasarFlow(ConfigFlow):
    """Set up in tests only; registered with `mock_config_flow` while a test runs."""

    VERSION = 1


def _platform(build: Callable[[QuasarLike], list[Entity]], charger: QuasarLike) -> MockPlatform:
    async def async_setup_entry(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add(build(charger))

    return MockPlatform(async_setup_entry=async_setup_entry)


async def async_setup_quasar(hass: HomeAssistant) -> QuasarLike:
    """Register the integration, set it up with one charger and one car, return their model.

    Call it within `mock_config_flow(DOMAIN, QuasarFlow)`.
    """
    charger = QuasarLike()

    async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(
            entry, [Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]
        )
        return True

    mock_integration(hass, MockModule(DOMAIN, async_setup_entry=async_setup_entry))
    mock_platform(hass, f"{DOMAIN}.config_flow", None)
    mock_platform(
        hass, f"{DOMAIN}.number", _platform(lambda c: [QuasarCurrent(c, CHARGER)], charger)
    )
    mock_platform(
        hass,
        f"{DOMAIN}.sensor",
        _platform(
            lambda c: [
                QuasarStatus(c, CHARGER),
                QuasarPower(c, CHARGER),
                QuasarEnergy(c, "charged", "Added energy"),
                QuasarEnergy(c, "discharged", "Discharged energy"),
                CarBattery(c, CAR),
            ],
            charger,
        ),
    )
    mock_platform(hass, f"{DOMAIN}.switch", _platform(lambda c: [QuasarPause(c, CHARGER)], charger))
    entry = MockConfigEntry(domain=DOMAIN, title="Wallbox")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for entity_id in (CONTROL, STATUS, POWER, ENERGY_CHARGED, ENERGY_DISCHARGED, PAUSE, CAR_SOC):
        assert hass.states.get(entity_id) is not None, entity_id
    return charger
