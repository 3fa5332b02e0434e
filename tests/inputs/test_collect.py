"""The coordinator's entry point: options -> InputsConfig -> Inputs on the slot grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any
from unittest.mock import AsyncMock, Mock, patch
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_integration,
    mock_platform,
)

from custom_components.v2g.inputs import (
    PROBLEM_TEXTS,
    InputCollector,
    InputsConfig,
    InvalidInputsConfigError,
    PriceFormat,
    ProblemKey,
)
from custom_components.v2g.optimizer.slots import make_grid

from .helpers import entsoe_attributes, entsoe_xml_points

BRUSSELS = ZoneInfo("Europe/Brussels")
HOUR = timedelta(hours=1)
# 2024-10-07 12:00 Brussels; the mixed fixture has prices through 2024-10-08 (local).
NOW = datetime(2024, 10, 7, 10, tzinfo=UTC)
PRICE_ENTITY = "sensor.average_electricity_price"


def test_options_defaults_and_errors() -> None:
    config = InputsConfig.from_options({})
    assert config.price_source == "fixed"
    assert config.solar_source == "none"
    assert config.load_source == "constant"
    config = InputsConfig.from_options(
        {
            "price_entity": PRICE_ENTITY,
            "price_vat_pct": "25",
            "price_fee_per_kwh": 0.1,
            "solar_forecast_entries": ["abc"],
            "load_entity": "sensor.house_power",
            "load_history_weeks": 6,
            "export_price_factor": 0.9,
        }
    )
    assert config.price_source == "entity"
    assert config.price_vat_pct == 25.0
    assert config.solar_source == "energy"
    assert config.load_source == "statistics"
    assert config.load_history_weeks == 6
    assert InputsConfig.from_options({"solar_forecast_entities": "sensor.a"}).solar_source == (
        "entity"
    )
    bad: list[tuple[dict[str, Any], str]] = [
        ({"price_source": "entity"}, "price_entity"),
        ({"price_source": "schedule"}, "price_schedule"),
        ({"price_schedule": "00:00-25:00=1"}, "price_schedule"),
        ({"price_source": "magic"}, "price_source"),
        ({"price_vat_pct": "lots"}, "price_vat_pct"),
        ({"price_vat_pct": float("nan")}, "price_vat_pct"),
        ({"export_price_source": "entity"}, "export_price_entity"),
        ({"solar_source": "energy"}, "solar_forecast_entries"),
        ({"solar_source": "entity"}, "solar_forecast_entities"),
        ({"load_source": "statistics"}, "load_entity"),
        ({"load_history_weeks": 0}, "load_history_weeks"),
    ]
    for options, key in bad:
        with pytest.raises(InvalidInputsConfigError) as err:
            InputsConfig.from_options(options)
        assert err.value.option == key


def test_every_problem_key_has_a_text() -> None:
    assert set(PROBLEM_TEXTS) == set(ProblemKey)
    for text in PROBLEM_TEXTS.values():
        assert "{entity_id}" in text


@pytest.fixture
async def brussels(hass: HomeAssistant) -> HomeAssistant:
    await hass.config.async_set_time_zone("Europe/Brussels")
    points = entsoe_xml_points("hass_entsoe_api_BE_60M_15M_mix.xml")
    attributes = entsoe_attributes(points, BRUSSELS, datetime(2024, 10, 7, tzinfo=BRUSSELS))
    hass.states.async_set(PRICE_ENTITY, "0.05", attributes)
    return hass


def _solar_platform(hass: HomeAssistant, forecast: Any) -> MockConfigEntry:
    mock_integration(hass, MockModule("fake_solar"))
    mock_platform(
        hass, "fake_solar.energy", Mock(async_get_solar_forecast=AsyncMock(return_value=forecast))
    )
    entry = MockConfigEntry(domain="fake_solar", state=ConfigEntryState.LOADED)
    entry.add_to_hass(hass)
    return entry


async def test_collect_entsoe_solar_load_grid(brussels: HomeAssistant) -> None:
    hass = brussels
    solar_start = datetime(2024, 10, 7, 6, tzinfo=UTC)
    forecast = {"wh_hours": {(solar_start + h * HOUR).isoformat(): 1000.0 for h in range(10)}}
    entry = _solar_platform(hass, forecast)
    hass.states.async_set("sensor.grid_power", "1.2", {"unit_of_measurement": "kW"})
    config = InputsConfig.from_options(
        {
            "price_entity": PRICE_ENTITY,
            "price_fee_per_kwh": 0.1,
            "price_vat_pct": 21,
            "export_price_factor": 0.8,
            "export_price_fee_per_kwh": 0.01,
            "solar_forecast_entries": [entry.entry_id],
            "load_constant_w": 350,
            "grid_power_entity": "sensor.grid_power",
        }
    )
    collector = InputCollector(hass, config)
    grid = make_grid(NOW, NOW + 48 * HOUR, 900)
    inputs = await collector.async_collect(grid, NOW)
    assert inputs.problems == ()
    assert inputs.price_format is PriceFormat.ENTSOE
    assert inputs.currency == "EUR"
    assert len(inputs.import_price_per_kwh) == len(grid) == 192
    # 2024-10-07 10:00Z: 56.02 EUR/MWh (15-minute data; the first quarter).
    spot = 0.05602
    # (spot + fee) * (1 + VAT) and spot * factor - fee.
    assert inputs.import_price_per_kwh[0] == pytest.approx((spot + 0.1) * 1.21)
    assert inputs.export_price_per_kwh[0] == pytest.approx(spot * 0.8 - 0.01)
    # Known through 2024-10-08 22:00Z, estimated after.
    known_until = grid.index_at(datetime(2024, 10, 8, 22, tzinfo=UTC))
    assert not inputs.price_estimated[:known_until].any()
    assert inputs.price_estimated[known_until:].all()
    assert inputs.export_price_estimated[known_until:].all()
    assert inputs.solar_power_w[grid.index_at(datetime(2024, 10, 7, 12, tzinfo=UTC))] == 1000.0
    # Tomorrow repeats today's forecast (the forecast ends today), flagged as estimated.
    tomorrow_noon = grid.index_at(datetime(2024, 10, 8, 12, tzinfo=UTC))
    assert inputs.solar_power_w[tomorrow_noon] == 1000.0
    assert inputs.solar_estimated[tomorrow_noon]
    assert np.all(inputs.base_load_power_w == 350.0)
    assert inputs.grid_power_w == 1200.0
    summary = inputs.summary()
    assert summary["estimated_price_slots"] == int(inputs.price_estimated.sum())
    assert summary["problems"] == []


async def test_problems_logged_once_and_resolved(
    brussels: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    hass = brussels
    config = InputsConfig.from_options(
        {"price_entity": PRICE_ENTITY, "grid_power_entity": "sensor.grid_power"}
    )
    collector = InputCollector(hass, config)
    grid = make_grid(NOW, NOW + 24 * HOUR, 900)
    good = hass.states.get(PRICE_ENTITY)
    assert good is not None
    hass.states.async_set(PRICE_ENTITY, "unavailable", {})
    caplog.set_level(logging.INFO, logger="custom_components.v2g.inputs")
    first = await collector.async_collect(grid, NOW)
    second = await collector.async_collect(grid, NOW + timedelta(minutes=1))
    keys = {(p.key, p.entity_id) for p in second.problems}
    assert keys == {
        (ProblemKey.PRICE_SOURCE_UNAVAILABLE, PRICE_ENTITY),
        (ProblemKey.GRID_POWER_UNAVAILABLE, "sensor.grid_power"),
    }
    assert first.problems == second.problems
    assert second.resolved == ()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per problem, not one per update
    # No prices at all: the fixed fallback price, every slot estimated.
    assert np.all(second.import_price_per_kwh == 0.30)
    assert second.price_estimated.all()

    hass.states.async_set(PRICE_ENTITY, good.state, good.attributes)
    hass.states.async_set("sensor.grid_power", "-300", {"unit_of_measurement": "W"})
    third = await collector.async_collect(grid, NOW + timedelta(minutes=2))
    assert third.problems == ()
    assert {p.key for p in third.resolved} == {
        ProblemKey.PRICE_SOURCE_UNAVAILABLE,
        ProblemKey.GRID_POWER_UNAVAILABLE,
    }
    assert third.grid_power_w == -300.0
    assert sum("resolved" in r.getMessage() for r in caplog.records) == 2


async def test_schedule_fixed_export_and_solar_entities(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Brussels")
    hass.states.async_set(
        "sensor.solcast_forecast_today",
        "12.3",
        {
            "unit_of_measurement": "kWh",
            "detailedForecast": [
                {"period_start": (NOW + i * HOUR / 2).isoformat(), "pv_estimate": 2.0}
                for i in range(8)
            ],
        },
    )
    config = InputsConfig.from_options(
        {
            "price_source": "schedule",
            "price_schedule": "00:00-07:00=0.10",
            "price_schedule_default_per_kwh": 0.40,
            "price_vat_pct": 25,
            "export_price_source": "fixed",
            "export_price_fixed_per_kwh": 0.05,
            "solar_forecast_entities": ["sensor.solcast_forecast_today", "sensor.solcast_missing"],
            "load_source": "none",
        }
    )
    grid = make_grid(NOW, NOW + 24 * HOUR, 3600)
    inputs = await InputCollector(hass, config).async_collect(grid, NOW)
    local_hours = [s.astimezone(BRUSSELS).hour for s in grid.start_datetimes()]
    for hour, price in zip(local_hours, inputs.import_price_per_kwh, strict=True):
        assert price == (0.10 if hour < 7 else 0.40)  # final prices: no fee or VAT added
    assert not inputs.price_estimated.any()
    assert np.all(inputs.export_price_per_kwh == 0.05)
    assert inputs.solar_power_w[:4].tolist() == [2000.0] * 4
    assert np.all(inputs.base_load_power_w == 0.0)
    assert [(p.key, p.entity_id) for p in inputs.problems] == [
        (ProblemKey.SOLAR_SOURCE_UNAVAILABLE, "sensor.solcast_missing")
    ]
    assert inputs.price_format is None


async def test_export_entity_and_none(brussels: HomeAssistant) -> None:
    hass = brussels
    hass.states.async_set(
        "sensor.feed_in",
        "5",
        {
            "unit_of_measurement": "c/kWh",
            "prices": [{"start": (NOW + h * HOUR).isoformat(), "price": 5.0 + h} for h in range(4)],
        },
    )
    config = InputsConfig.from_options(
        {
            "price_source": "fixed",
            "price_fixed_per_kwh": 0.25,
            "export_price_source": "entity",
            "export_price_entity": "sensor.feed_in",
        }
    )
    grid = make_grid(NOW, NOW + 4 * HOUR, 3600)
    inputs = await InputCollector(hass, config).async_collect(grid, NOW)
    assert inputs.export_price_per_kwh.tolist() == pytest.approx([0.05, 0.06, 0.07, 0.08])
    assert np.all(inputs.import_price_per_kwh == 0.25)
    assert inputs.currency == hass.config.currency  # a fixed price has no currency of its own
    none = InputsConfig.from_options({"export_price_source": "none"})
    inputs = await InputCollector(hass, none).async_collect(grid, NOW)
    assert np.all(inputs.export_price_per_kwh == 0.0)
    assert inputs.grid_power_w is None


async def test_grid_power_inverted(hass: HomeAssistant) -> None:
    hass.states.async_set("sensor.meter", "800", {"unit_of_measurement": "W"})
    config = InputsConfig.from_options(
        {"grid_power_entity": "sensor.meter", "grid_power_invert": True}
    )
    assert InputCollector(hass, config).read_grid_power_w() == -800.0


async def test_solar_energy_platform_failures(hass: HomeAssistant) -> None:
    empty = _solar_platform(hass, None)
    hass.config_entries.async_update_entry(empty, title="Forecast.Solar Roof")
    not_loaded = MockConfigEntry(domain="fake_solar")
    not_loaded.add_to_hass(hass)
    config = InputsConfig.from_options(
        {"solar_forecast_entries": [empty.entry_id, not_loaded.entry_id, "missing"]}
    )
    grid = make_grid(NOW, NOW + 2 * HOUR, 900)
    inputs = await InputCollector(hass, config).async_collect(grid, NOW)
    assert {p.entity_id for p in inputs.problems} == {
        empty.entry_id,
        not_loaded.entry_id,
        "missing",
    }
    assert {p.key for p in inputs.problems} == {ProblemKey.SOLAR_SOURCE_UNAVAILABLE}
    assert not inputs.solar_power_w.any()
    labelled = next(p for p in inputs.problems if p.entity_id == empty.entry_id)
    assert labelled.placeholders == {"entity_id": "Forecast.Solar Roof"}
    assert labelled.text.startswith("The solar forecast Forecast.Solar Roof is unavailable")


async def test_stale_solar_forecast(hass: HomeAssistant) -> None:
    past = NOW - 48 * HOUR
    entry = _solar_platform(hass, {"wh_hours": {past.isoformat(): 500}})
    config = InputsConfig.from_options({"solar_forecast_entries": [entry.entry_id]})
    inputs = await InputCollector(hass, config).async_collect(make_grid(NOW, NOW + HOUR), NOW)
    assert [p.key for p in inputs.problems] == [ProblemKey.SOLAR_DATA_STALE]


async def test_unexpected_errors_become_problems(brussels: HomeAssistant) -> None:
    hass = brussels
    hass.states.async_set("sensor.house_power", "500", {"unit_of_measurement": "W"})
    config = InputsConfig.from_options(
        {
            "price_entity": PRICE_ENTITY,
            "solar_forecast_entities": ["sensor.solar"],
            "load_entity": "sensor.house_power",
            "load_constant_w": 123,
        }
    )
    collector = InputCollector(hass, config)
    boom = AsyncMock(side_effect=RuntimeError("boom"))
    with (
        patch("custom_components.v2g.inputs.collector.PriceReader.async_read", boom),
        patch(
            "custom_components.v2g.inputs.collector.read_solar_entities",
            side_effect=KeyError("x"),
        ),
        patch("custom_components.v2g.inputs.collector.LoadForecaster.async_read", boom),
    ):
        inputs = await collector.async_collect(make_grid(NOW, NOW + HOUR), NOW)
    assert {(p.key, p.entity_id) for p in inputs.problems} == {
        (ProblemKey.PRICE_SOURCE_UNAVAILABLE, PRICE_ENTITY),
        (ProblemKey.SOLAR_SOURCE_UNAVAILABLE, "sensor.solar"),
        (ProblemKey.LOAD_HISTORY_MISSING, "sensor.house_power"),
    }
    assert np.all(inputs.import_price_per_kwh == 0.30)
    assert np.all(inputs.base_load_power_w == 123.0)
