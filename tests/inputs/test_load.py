"""House load forecast from real recorder statistics; live grid power."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.v2g.inputs.load import (
    LoadForecaster,
    LoadProfile,
    read_power_w,
    samples_from_rows,
)
from custom_components.v2g.inputs.model import ProblemKey

STOCKHOLM = ZoneInfo("Europe/Stockholm")
HOUR = timedelta(hours=1)
# Wednesday 2025-01-29 12:00 in Stockholm.
NOW = datetime(2025, 1, 29, 12, tzinfo=STOCKHOLM).astimezone(UTC)
WEDNESDAY = 2


def house_power_w(start: datetime) -> float:
    """300 W + 100 W per local hour of day, plus 2 kW on Wednesday evenings at 18:00."""
    local = start.astimezone(STOCKHOLM)
    extra = 2000.0 if local.weekday() == WEDNESDAY and local.hour == 18 else 0.0
    return 300.0 + 100.0 * local.hour + extra


def _power_metadata(statistic_id: str) -> Any:
    return {
        "mean_type": StatisticMeanType.ARITHMETIC,
        "has_sum": False,
        "name": None,
        "source": "recorder",
        "statistic_id": statistic_id,
        "unit_class": "power",
        "unit_of_measurement": "kW",
    }


async def _import_power(
    hass: HomeAssistant,
    statistic_id: str,
    weeks: float,
    power_w: Callable[[datetime], float] = house_power_w,
) -> None:
    start = NOW - timedelta(weeks=weeks)
    rows = []
    cursor = start
    while cursor < NOW:
        kw = power_w(cursor) / 1000
        rows.append({"start": cursor, "mean": kw, "min": kw, "max": kw})
        cursor += HOUR
    async_import_statistics(hass, _power_metadata(statistic_id), rows)
    await async_wait_recording_done(hass)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """Override the root conftest's autouse fixture: the recorder must start before `hass`."""


@pytest.fixture
async def stockholm(recorder_mock: Recorder, hass: HomeAssistant) -> HomeAssistant:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    return hass


async def test_weekday_aware_profile_from_power_statistics(stockholm: HomeAssistant) -> None:
    hass = stockholm
    hass.states.async_set("sensor.house_power", "1.2", {"unit_of_measurement": "kW"})
    await _import_power(hass, "sensor.house_power", 3)
    forecaster = LoadForecaster(hass, "sensor.house_power", history_weeks=3)
    start = NOW
    end = NOW + 48 * HOUR
    series = await forecaster.async_read(NOW, start, end)
    assert series.problems == []
    wednesday_18 = datetime(2025, 1, 29, 18, tzinfo=STOCKHOLM).astimezone(UTC)
    thursday_18 = wednesday_18 + 24 * HOUR
    assert series.value_at(wednesday_18) == pytest.approx(4100.0)  # kW statistics read as W
    assert series.value_at(thursday_18) == pytest.approx(2100.0)
    assert series.value_at(NOW) == pytest.approx(1500.0)
    assert series.intervals[0].start == NOW
    assert series.end == end
    # The profile is built once per hour, however often the coordinator asks.
    await forecaster.async_read(NOW + timedelta(minutes=10), start, end)
    assert forecaster.queries == 1
    await forecaster.async_read(NOW + HOUR, start, end)
    assert forecaster.queries == 2


async def test_few_weekday_samples_fall_back_to_all_days(stockholm: HomeAssistant) -> None:
    hass = stockholm
    hass.states.async_set("sensor.house_power", "1.2", {"unit_of_measurement": "kW"})
    await _import_power(hass, "sensor.house_power", 1)
    series = await LoadForecaster(hass, "sensor.house_power", 4).async_read(
        NOW, NOW, NOW + 24 * HOUR
    )
    wednesday_18 = datetime(2025, 1, 29, 18, tzinfo=STOCKHOLM).astimezone(UTC)
    # One Wednesday among seven days at 18:00.
    assert series.value_at(wednesday_18) == pytest.approx((6 * 2100 + 4100) / 7)


def ev_charging_w(start: datetime) -> float:
    """The EV charged 3 kW every night at 02:00 local."""
    return 3000.0 if start.astimezone(STOCKHOLM).hour == 2 else 0.0


def second_ev_charging_w(start: datetime) -> float:
    """A second EV of the site charged 2 kW every evening at 23:00 local."""
    return 2000.0 if start.astimezone(STOCKHOLM).hour == 23 else 0.0


async def test_every_ev_charger_is_subtracted(stockholm: HomeAssistant) -> None:
    """A house meter that includes two chargers: what both drew is not forecast as house load."""
    hass = stockholm
    hass.states.async_set("sensor.house_power", "1.2", {"unit_of_measurement": "kW"})
    hass.states.async_set("sensor.ev_power", "0", {"unit_of_measurement": "W"})
    hass.states.async_set("sensor.van_power", "0", {"unit_of_measurement": "kW"})
    await _import_power(
        hass,
        "sensor.house_power",
        2,
        lambda t: house_power_w(t) + ev_charging_w(t) + second_ev_charging_w(t),
    )
    await _import_power(hass, "sensor.ev_power", 2, ev_charging_w)
    await _import_power(hass, "sensor.van_power", 2, second_ev_charging_w)
    night = datetime(2025, 1, 30, 2, tzinfo=STOCKHOLM).astimezone(UTC)
    evening = datetime(2025, 1, 29, 23, tzinfo=STOCKHOLM).astimezone(UTC)
    with_ev = await LoadForecaster(hass, "sensor.house_power", 2).async_read(
        NOW, NOW, NOW + 24 * HOUR
    )
    assert with_ev.value_at(night) == pytest.approx(3500.0)
    assert with_ev.value_at(evening) == pytest.approx(house_power_w(evening) + 2000.0)
    without_ev = await LoadForecaster(
        hass, "sensor.house_power", 2, exclude_entity_ids=["sensor.ev_power", "sensor.van_power"]
    ).async_read(NOW, NOW, NOW + 24 * HOUR)
    assert without_ev.value_at(night) == pytest.approx(500.0)
    assert without_ev.value_at(evening) == pytest.approx(house_power_w(evening))


async def test_statistics_error_counts_as_missing_history(stockholm: HomeAssistant) -> None:
    hass = stockholm
    hass.states.async_set("sensor.house_power", "1.2", {"unit_of_measurement": "kW"})
    with patch(
        "custom_components.v2g.inputs.load.statistics_during_period",
        side_effect=RuntimeError("database is locked"),
    ):
        series = await LoadForecaster(hass, "sensor.house_power").async_read(NOW, NOW, NOW + HOUR)
    assert [p.key for p in series.problems] == [ProblemKey.LOAD_HISTORY_MISSING]


async def test_energy_sensor_changes_become_power(stockholm: HomeAssistant) -> None:
    hass = stockholm
    hass.states.async_set(
        "sensor.house_energy",
        "100",
        {"unit_of_measurement": "kWh", "state_class": "total_increasing"},
    )
    metadata: Any = {
        "mean_type": StatisticMeanType.NONE,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.house_energy",
        "unit_class": "energy",
        "unit_of_measurement": "kWh",
    }
    rows = []
    total = 0.0
    cursor = NOW - timedelta(weeks=2)
    while cursor < NOW:
        total += 0.5
        rows.append({"start": cursor, "state": total, "sum": total})
        cursor += HOUR
    async_import_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)
    series = await LoadForecaster(hass, "sensor.house_energy", 2).async_read(
        NOW, NOW, NOW + 24 * HOUR
    )
    assert series.problems == []
    values = {round(iv.value, 6) for iv in series.intervals}
    assert values == {500.0}


async def test_missing_history_and_wrong_unit(stockholm: HomeAssistant) -> None:
    hass = stockholm
    hass.states.async_set("sensor.new_meter", "300", {"unit_of_measurement": "W"})
    series = await LoadForecaster(hass, "sensor.new_meter").async_read(NOW, NOW, NOW + HOUR)
    assert [p.key for p in series.problems] == [ProblemKey.LOAD_HISTORY_MISSING]
    assert series.intervals == []
    hass.states.async_set("sensor.temperature", "21", {"unit_of_measurement": "°C"})
    series = await LoadForecaster(hass, "sensor.temperature").async_read(NOW, NOW, NOW + HOUR)
    assert [p.key for p in series.problems] == [ProblemKey.LOAD_UNIT_UNKNOWN]


def test_profile_and_rows_pure() -> None:
    assert LoadProfile.from_samples([], STOCKHOLM).power_w_at(NOW) is None
    assert LoadProfile.from_samples([], STOCKHOLM).intervals(NOW, NOW + HOUR) == []
    only_noon = LoadProfile.from_samples([(NOW, 800.0)], STOCKHOLM)
    assert only_noon.power_w_at(NOW + 5 * HOUR) == 800.0  # overall mean for unseen hours
    rows = [
        {"start": NOW.timestamp(), "mean": 1.0},
        {"start": NOW, "mean": float("nan")},
        {"start": "bad", "mean": 1.0},
    ]
    assert samples_from_rows(rows, "power") == [(NOW, 1.0)]
    assert samples_from_rows([{"start": NOW, "change": -3.0}], "energy") == []


async def test_read_power_w(hass: HomeAssistant) -> None:
    hass.states.async_set("sensor.grid", "1.5", {"unit_of_measurement": "kW"})
    assert read_power_w(hass, "sensor.grid") == 1500.0
    hass.states.async_set("sensor.grid", "-250", {"unit_of_measurement": "W"})
    assert read_power_w(hass, "sensor.grid") == -250.0
    hass.states.async_set("sensor.grid", "42", {})
    assert read_power_w(hass, "sensor.grid") == 42.0
    hass.states.async_set("sensor.grid", "42", {"unit_of_measurement": "kWh"})
    assert read_power_w(hass, "sensor.grid") is None
    hass.states.async_set("sensor.grid", "unavailable", {"unit_of_measurement": "W"})
    assert read_power_w(hass, "sensor.grid") is None
    hass.states.async_set("sensor.grid", "nan", {"unit_of_measurement": "W"})
    assert read_power_w(hass, "sensor.grid") is None
    assert read_power_w(hass, "sensor.none") is None
