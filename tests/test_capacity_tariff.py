"""Capacity tariffs in Home Assistant: options, the month's peaks from the recorder, sensors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.v2g.capacity import (
    PeakHistory,
    parse_steps,
    status,
    tariff_from_options,
    with_history,
)
from custom_components.v2g.const import (
    OPT_CAPACITY_MINIMUM_KW,
    OPT_CAPACITY_PRICE_PER_KW,
    OPT_CAPACITY_STEPS,
    OPT_CAPACITY_TARIFF,
    OPT_CAPACITY_WINDOW_MINUTES,
    CapacityKind,
)
from custom_components.v2g.optimizer import CapacityTariff, billed_peaks_kw, make_grid

OSLO = ZoneInfo("Europe/Oslo")
HOUR = timedelta(hours=1)
# Thursday 2025-12-04 12:00 in Oslo.
NOW = datetime(2025, 12, 4, 12, tzinfo=OSLO).astimezone(UTC)
STEPS = "2=11, 5=18, 10=29, 15=43, 20=56, 25=70"


def grid_kw(start: datetime) -> float:
    """1 kW, with a 7 kW hour on 2 December, 6 kW on 3 December, 9 kW on 30 November."""
    local = start.astimezone(OSLO)
    if (local.month, local.day, local.hour) == (12, 2, 18):
        return 7.0
    if (local.month, local.day, local.hour) == (12, 3, 8):
        return 6.0
    if (local.month, local.day, local.hour) == (11, 30, 18):
        return 9.0
    return 1.0


async def _import_grid(hass: HomeAssistant) -> None:
    rows = []
    cursor = NOW - timedelta(days=6)
    while cursor < NOW:
        kw = grid_kw(cursor)
        rows.append({"start": cursor, "mean": kw, "min": kw, "max": kw})
        cursor += HOUR
    metadata: Any = {
        "mean_type": StatisticMeanType.ARITHMETIC,
        "has_sum": False,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.grid_power",
        "unit_class": "power",
        "unit_of_measurement": "kW",
    }
    async_import_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """Override the root conftest's autouse fixture: the recorder must start before `hass`."""


@pytest.fixture
async def oslo(recorder_mock: Recorder, hass: HomeAssistant) -> HomeAssistant:
    await hass.config.async_set_time_zone("Europe/Oslo")
    return hass


async def test_norway_history_from_recorder_statistics(oslo: HomeAssistant) -> None:
    hass = oslo
    await _import_grid(hass)
    tariff = tariff_from_options(
        {OPT_CAPACITY_TARIFF: CapacityKind.NORWAY, OPT_CAPACITY_STEPS: STEPS}, "Europe/Oslo"
    )
    assert tariff is not None
    peaks = PeakHistory(hass, "sensor.grid_power")
    with_month = await peaks.async_tariff(tariff, NOW)
    # December so far: 7 kW (2nd), 6 kW (3rd), 1 kW (1st and 4th); November's 9 kW is not
    # this month. Mean of the three days: (7 + 6 + 1) / 3.
    grid = make_grid(NOW, NOW + HOUR, 900)
    assert billed_peaks_kw(with_month, grid) == {(2025, 12): pytest.approx(14 / 3)}
    # A plan hour of 8 kW today replaces the 1 kW day: (8 + 7 + 6) / 3 = 7 kW, one step up.
    assert billed_peaks_kw(with_month, grid, np.full(4, 8000.0)) == {(2025, 12): pytest.approx(7.0)}
    # Statistics are read at most every 15 minutes.
    await peaks.async_tariff(tariff, NOW + timedelta(minutes=5))
    assert peaks.queries == 1
    await peaks.async_tariff(tariff, NOW + timedelta(minutes=20))
    assert peaks.queries == 2


async def test_monthly_peak_history_and_live_meter(oslo: HomeAssistant) -> None:
    hass = oslo
    await _import_grid(hass)
    tariff = tariff_from_options(
        {
            OPT_CAPACITY_TARIFF: CapacityKind.MONTHLY_PEAK,
            OPT_CAPACITY_WINDOW_MINUTES: "15",
            OPT_CAPACITY_PRICE_PER_KW: 4.0,
            OPT_CAPACITY_MINIMUM_KW: 2.5,
        },
        "Europe/Oslo",
    )
    assert tariff == CapacityTariff(
        window_minutes=15, price_per_kw=4.0, minimum_kw=2.5, timezone="Europe/Oslo"
    )
    peaks = PeakHistory(hass, "sensor.grid_power", invert=False)
    # The live meter in the current quarter-hour: 3 kW for 5 minutes so far.
    now = NOW + timedelta(minutes=5)
    peaks.add_live(NOW, 3000.0)
    peaks.add_live(NOW + timedelta(minutes=2), 3000.0)
    priced = await peaks.async_tariff(tariff, now)
    assert priced.current_window_kwh == pytest.approx(0.25)
    grid = make_grid(now, NOW + timedelta(minutes=15), 300)
    assert billed_peaks_kw(priced, grid) == {(2025, 12): 7.0}  # the hourly mean of 2 Dec
    # The sensors' view: a plan that keeps import below 7 kW adds nothing; charge-now at 11 kW
    # would raise the peak to 11.x kW.
    plan_grid = make_grid(now, now + 8 * HOUR, 900)
    n = len(plan_grid)

    class _Plan:
        grid = plan_grid
        grid_import_w = np.full(n, 5000.0)

    seen = status(priced, now, _Plan(), np.full(n, 12_000.0))  # type: ignore[arg-type]
    assert seen.billed_peak_kw == 7.0
    assert seen.projected_peak_kw == 7.0
    assert seen.cost_avoided == pytest.approx(4.0 * (12.0 - 7.0))


def test_history_from_five_minute_rows() -> None:
    tariff = CapacityTariff(window_minutes=15, top_n=2, price_per_kw=1.0)
    start = datetime(2025, 12, 4, 8, tzinfo=UTC)
    rows = [(start + timedelta(minutes=5 * k), kw, 300) for k, kw in enumerate([3, 6, 9, 1, 1, 1])]
    # At 08:20: the first quarter-hour is complete, (3 + 6 + 9) / 3 = 6 kW; the second has
    # 5 minutes at 1 kW so far.
    priced = with_history(tariff, rows[:4], {}, start + timedelta(minutes=20), start.replace(day=1))
    assert priced.history == ((start, pytest.approx(6.0)),)
    assert priced.current_window_kwh == pytest.approx(1 / 12)
    later = with_history(tariff, rows, {}, start + timedelta(minutes=40), start.replace(day=1))
    assert [kw for _, kw in later.history] == [pytest.approx(6.0), pytest.approx(1.0)]
    # Only what can be billed is kept: the two highest quarter-hours of the month.
    rows += [(start + timedelta(hours=1), 0.5, 300)]
    kept = with_history(tariff, rows, {}, start + timedelta(hours=2), start.replace(day=1))
    assert [kw for _, kw in kept.history] == [pytest.approx(6.0), pytest.approx(1.0)]


def test_steps_text() -> None:
    assert parse_steps("2=11, 5=18;10:29\n") == ((2.0, 11.0), (5.0, 18.0), (10.0, 29.0))
    with pytest.raises(ValueError, match="upper kW"):
        parse_steps("2-11")
    with pytest.raises(ValueError, match="no steps"):
        parse_steps(" , ")
    with pytest.raises(ValueError, match="increasing"):
        parse_steps("5=1, 2=2")
    assert tariff_from_options({}, "UTC") is None


async def test_options_steps_and_sensors(
    oslo: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    hass = oslo
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # Without a tariff (existing installs) the sensors mean nothing: unavailable.
    for sensor in ("billed_peak_this_month", "projected_billed_peak", "capacity_cost_avoided"):
        assert hass.states.get(f"sensor.home_{sensor}").state == "unavailable"
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert "capacity_tariff" in result["menu_options"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity_tariff"}
    )
    assert result["menu_options"] == [
        "capacity_none",
        "capacity_monthly",
        "capacity_norway",
        "capacity_sweden",
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity_norway"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {OPT_CAPACITY_STEPS: "5=1, 2=2"}
    )
    assert result["errors"] == {OPT_CAPACITY_STEPS: "invalid_steps"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {OPT_CAPACITY_STEPS: STEPS}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options[OPT_CAPACITY_TARIFF] == CapacityKind.NORWAY
    coordinator = mock_config_entry.runtime_data.coordinator
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    # No grid meter: nothing measured this month yet, the billed peak is 0 kW so far.
    assert float(hass.states.get("sensor.home_billed_peak_this_month").state) == 0.0
    assert hass.states.get("sensor.home_projected_billed_peak").state != "unavailable"
    # Back to none: the tariff's options are dropped.
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity_tariff"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "capacity_none"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert mock_config_entry.options[OPT_CAPACITY_TARIFF] == CapacityKind.NONE
    assert OPT_CAPACITY_STEPS not in mock_config_entry.options
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_billed_peak_this_month").state == "unavailable"


async def test_options_monthly_and_sweden(
    oslo: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    hass = oslo
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    for step, values, kind in (
        (
            "capacity_monthly",
            {
                OPT_CAPACITY_WINDOW_MINUTES: "15",
                OPT_CAPACITY_PRICE_PER_KW: 4.0,
                OPT_CAPACITY_MINIMUM_KW: 2.5,
            },
            CapacityKind.MONTHLY_PEAK,
        ),
        (
            "capacity_sweden",
            {
                OPT_CAPACITY_PRICE_PER_KW: 8.0,
                "capacity_top_n": 3,
                "capacity_distinct_days": True,
                "capacity_winter_weekdays": True,
                "capacity_hours_start": 7,
                "capacity_hours_end": 19,
                "capacity_night_half": False,
            },
            CapacityKind.SWEDEN,
        ),
    ):
        result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "capacity_tariff"}
        )
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
        assert result["step_id"] == step
        result = await hass.config_entries.options.async_configure(result["flow_id"], values)
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert mock_config_entry.options[OPT_CAPACITY_TARIFF] == kind
    # The Swedish tariff as the plan sees it; the monthly peak's options are gone.
    assert OPT_CAPACITY_MINIMUM_KW not in mock_config_entry.options
    tariff = tariff_from_options(mock_config_entry.options, "Europe/Stockholm")
    assert tariff == CapacityTariff(
        window_minutes=60,
        top_n=3,
        distinct_days=True,
        price_per_kw=8.0,
        months=(11, 12, 1, 2, 3),
        weekdays_only=True,
        hours=(7, 19),
        timezone="Europe/Stockholm",
    )
    coordinator = mock_config_entry.runtime_data.coordinator
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_billed_peak_this_month").state == "0.0"
