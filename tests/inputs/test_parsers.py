"""Pure parsers against real payloads and the shapes integrations write into attributes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.v2g.inputs import parsers
from custom_components.v2g.inputs.model import (
    Interval,
    PriceUnit,
    Series,
    clean_intervals,
    intervals_from_starts,
    is_naive_time,
    parse_price_unit,
    parse_time,
    same_wall_time_days_before,
    to_float,
)
from custom_components.v2g.optimizer.slots import make_grid, resample

from .helpers import entsoe_attributes, entsoe_xml_points, load_json

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BRUSSELS = ZoneInfo("Europe/Brussels")
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
LONDON = ZoneInfo("Europe/London")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def hourly_means(intervals: list[Interval], start: str, hours: int) -> list[float]:
    grid = make_grid(utc(start), utc(start) + timedelta(hours=hours), 3600)
    values, covered = resample(intervals, grid)
    assert covered.all()
    return [round(float(v), 2) for v in values]


# --- Nord Pool -----------------------------------------------------------------------------


def test_nordpool_core_action_response() -> None:
    response = load_json("ha_core_nordpool_service_get_prices_for_date_response.json")
    parsed = parsers.parse_nordpool_core_response(response, "se3")
    assert parsed.skipped == 0
    assert len(parsed.intervals) == 24
    first = parsed.intervals[0]
    assert first == Interval(
        utc("2024-11-04T23:00:00+00:00"), utc("2024-11-05T00:00:00+00:00"), 250.73
    )
    assert parsed.intervals[-1].end == utc("2024-11-05T23:00:00+00:00")
    # Without an area the only one is used.
    assert parsers.parse_nordpool_core_response(response).intervals == parsed.intervals
    assert parsers.parse_nordpool_core_response({}).intervals == []


def test_nordpool_action_response_matches_api_answer() -> None:
    """The action response is the API answer of the same day, area SE3, SEK/MWh."""
    response = load_json("ha_core_nordpool_service_get_prices_for_date_response.json")
    api = load_json("ha_core_nordpool_delivery_period_today.json")
    from_action = parsers.parse_nordpool_core_response(response, "SE3").intervals
    from_api = parsers.parse_nordpool_api(api, "SE3").intervals
    assert from_action == from_api
    # SE3's daily average in the answer is the mean of its hours.
    assert Series("x", "SEK/MWh", from_api).mean() == pytest.approx(900.74, abs=0.01)


def test_pynordpool_example_se3_eur() -> None:
    payload = load_json("pynordpool_example_delivery_period_SE3_EUR_2024-11-05.json")
    parsed = parsers.parse_nordpool_api(payload, "SE3")
    assert len(parsed.intervals) == 24
    assert parsed.intervals[0].value == 21.54
    assert Series("x", "EUR/MWh", parsed.intervals).mean() == pytest.approx(77.38, abs=0.01)
    # Local delivery day 2024-11-05 in Stockholm = 23:00Z .. 23:00Z.
    assert parsed.intervals[0].start.astimezone(STOCKHOLM).hour == 0


def _nordpool_custom_day(day: str, tz: ZoneInfo, minutes: int, values: list[float]) -> list[dict]:
    start = datetime.fromisoformat(day).replace(tzinfo=tz).astimezone(UTC)
    step = timedelta(minutes=minutes)
    return [
        {
            "start": (start + i * step).astimezone(tz),
            "end": (start + (i + 1) * step).astimezone(tz),
            "value": value,
        }
        for i, value in enumerate(values)
    ]


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2024-10-27", 25), ("2024-03-31", 23), ("2024-11-05", 24)],
)
def test_nordpool_custom_dst_days(day: str, hours: int) -> None:
    """raw_today holds aware local datetimes; 23/25-hour days have 23/25 entries."""
    raw = _nordpool_custom_day(day, STOCKHOLM, 60, [float(i) for i in range(hours)])
    parsed = parsers.parse_nordpool_custom({"raw_today": raw, "raw_tomorrow": []}, STOCKHOLM)
    assert len(parsed.intervals) == hours
    span = parsed.intervals[-1].end - parsed.intervals[0].start
    assert span == timedelta(hours=hours)
    assert [iv.value for iv in parsed.intervals] == [float(i) for i in range(hours)]


def test_nordpool_custom_as_iso_strings_with_15_minute_slots() -> None:
    """Over the API the datetimes are ISO strings with offset; 15-minute data since 2025-10."""
    raw = _nordpool_custom_day("2025-10-26", STOCKHOLM, 15, [float(i) for i in range(100)])
    as_json = [
        {"start": r["start"].isoformat(), "end": r["end"].isoformat(), "value": r["value"]}
        for r in raw
    ]
    parsed = parsers.parse_nordpool_custom({"raw_today": as_json, "raw_tomorrow": None}, UTC)
    assert len(parsed.intervals) == 100  # a 25-hour day of quarters
    assert parsed.intervals[0].start == utc("2025-10-25T22:00:00+00:00")


# --- ENTSO-e -------------------------------------------------------------------------------


def test_entsoe_hourly_attributes() -> None:
    points = entsoe_xml_points("hass_entsoe_api_BE_60M.xml")
    today = datetime(2024, 10, 8, tzinfo=BRUSSELS)
    attributes = entsoe_attributes(points, BRUSSELS, today)
    assert attributes["prices_today"][0] == {"time": "2024-10-08 00:00:00+02:00", "price": 0.06498}
    parsed = parsers.parse_entsoe(attributes, UTC)
    assert len(parsed.intervals) == 24
    assert parsed.intervals[0] == Interval(
        utc("2024-10-07T22:00:00+00:00"), utc("2024-10-07T23:00:00+00:00"), 0.06498
    )
    assert parsed.intervals[-1].value == 0.05


def test_entsoe_mixed_15_and_60_minutes() -> None:
    """Two days of quarters then a day of hours; hourly means match the integration's test."""
    points = entsoe_xml_points("hass_entsoe_api_BE_60M_15M_mix.xml")
    attributes = entsoe_attributes(points, BRUSSELS, datetime(2024, 10, 6, tzinfo=BRUSSELS))
    parsed = parsers.parse_entsoe(attributes, BRUSSELS)
    assert len(parsed.intervals) == 96 + 96 + 24
    kwh = parsed.intervals
    quarters = [iv for iv in kwh if iv.end - iv.start == timedelta(minutes=15)]
    assert len(quarters) == 192
    means = hourly_means(
        [iv._replace(value=iv.value * 1000) for iv in kwh], "2024-10-05T22:00:00+00:00", 72
    )
    assert means[0] == pytest.approx((55.35 * 4) / 4)  # all four quarters repeat 55.35
    assert means[48:] == [
        64.98, 57.86, 53.73, 47.52, 47.05, 56.89, 77.77, 88.24, 100.0, 84.92, 74.6, 68.82,
        60.56, 63.86, 68.1, 68.37, 76.35, 54.04, 98.97, 115.47, 86.85, 69.59, 57.42, 50.0,
    ]  # fmt: skip


def test_entsoe_overlapping_resolutions_first_wins() -> None:
    points = entsoe_xml_points("hass_entsoe_api_DE_60M_15M_overlap.xml")
    attributes = entsoe_attributes(points, BRUSSELS, datetime(2024, 10, 6, tzinfo=BRUSSELS))
    parsed = parsers.parse_entsoe(attributes, BRUSSELS)
    assert len(parsed.intervals) == 48
    by_start = {iv.start: iv.value for iv in parsed.intervals}
    assert by_start[utc("2024-10-07T16:00:00+00:00")] == 0.23765
    assert by_start[utc("2024-10-06T12:00:00+00:00")] == -0.00001  # A03 forward fill


def test_entsoe_15_minute_forward_fill_and_averages() -> None:
    """Out-of-order and missing positions (curve A03): hourly means as the integration computes."""
    points = entsoe_xml_points("hass_entsoe_api_BE_15M_avg.xml")
    attributes = entsoe_attributes(points, BRUSSELS, datetime(2024, 10, 6, tzinfo=BRUSSELS))
    parsed = parsers.parse_entsoe(attributes, BRUSSELS)
    eur_mwh = [iv._replace(value=iv.value * 1000) for iv in parsed.intervals]
    assert hourly_means(eur_mwh, "2024-10-05T22:00:00+00:00", 3) == [39.06, 44.22, 36.3]
    exact = entsoe_xml_points("hass_entsoe_api_BE_15M_exact4.xml")
    assert sum(exact.values()) / 4 == pytest.approx(42.94, abs=0.01)


def test_entsoe_space_separated_times_in_host_zone() -> None:
    """The host zone may differ from Home Assistant's; the offset in the string decides."""
    attributes = {"prices_today": [{"time": "2024-11-05 00:00:00+01:00", "price": 0.1}]}
    parsed = parsers.parse_entsoe(attributes, LONDON)
    assert parsed.intervals[0].start == utc("2024-11-04T23:00:00+00:00")


# --- Tibber, Octopus, Energi Data Service, generic -----------------------------------------


def test_tibber_response() -> None:
    response = {
        "prices": {
            "Home": [
                {"start_time": "2021-03-15T00:00:00+01:00", "price": 0.36914, "level": "CHEAP"},
                {"start_time": "2021-03-15T01:00:00+01:00", "price": 0.36914, "level": "CHEAP"},
            ],
            "Cabin": [{"start_time": "2021-03-15T00:00:00+01:00", "price": 0.5}],
        }
    }
    home = parsers.parse_tibber_response(response, "Home")
    assert [iv.start for iv in home.intervals] == [
        utc("2021-03-14T23:00:00+00:00"),
        utc("2021-03-15T00:00:00+00:00"),
    ]
    assert home.intervals[-1].end == utc("2021-03-15T01:00:00+00:00")
    cabin = parsers.parse_tibber_response(response, "Cabin")
    assert cabin.intervals[0].value == 0.5
    assert parsers.parse_tibber_response(response, "Nope").intervals == home.intervals
    assert parsers.parse_tibber_response({"prices": {}}).intervals == []


def test_octopus_agile_rates_30_minutes() -> None:
    start = datetime(2024, 10, 27, tzinfo=LONDON)  # 25-hour day: 50 half hours
    rates = []
    cursor = start.astimezone(UTC)
    for i in range(50):
        rates.append(
            {
                "start": cursor.astimezone(LONDON),
                "end": (cursor + timedelta(minutes=30)).astimezone(LONDON),
                "value_inc_vat": 0.1 + i / 1000,
                "is_capped": False,
                "is_intelligent_adjusted": False,
            }
        )
        cursor += timedelta(minutes=30)
    parsed = parsers.parse_octopus_rates(rates, LONDON)
    assert len(parsed.intervals) == 50
    assert parsed.intervals[-1].end - parsed.intervals[0].start == timedelta(hours=25)


def test_energidataservice_quarters_with_hour_key_and_forecast() -> None:
    day = datetime(2025, 10, 26, tzinfo=COPENHAGEN).astimezone(UTC)
    quarter = timedelta(minutes=15)
    raw_today = [
        {"hour": (day + i * quarter).astimezone(COPENHAGEN), "price": 1.0 + i / 100}
        for i in range(100)
    ]
    forecast = [
        {"hour": (day + timedelta(days=1, hours=h)).astimezone(COPENHAGEN), "price": 2.0}
        for h in range(48)
    ]
    attributes = {"raw_today": raw_today, "raw_tomorrow": None, "forecast": forecast}
    parsed = parsers.parse_energidataservice(attributes, COPENHAGEN)
    quarters = [iv for iv in parsed.intervals if iv.end - iv.start == quarter]
    assert len(quarters) == 100
    assert parsed.intervals[-1].end == day + timedelta(days=1, hours=48)
    without = parsers.parse_energidataservice(attributes, COPENHAGEN, include_forecast=False)
    assert without.intervals[-1].end == day + timedelta(hours=25)


@pytest.mark.parametrize(
    ("entry_keys", "attribute"),
    [
        (("start", "end", "price"), "prices"),
        (("startsAt", None, "total"), "today"),
        (("from", "till", "value"), "data"),
        (("time", None, "value"), "today_interval_prices"),
        (("start_time", "end_time", "price_per_kwh"), "rates"),
        (("datetime", None, "electricity_price"), "forecast"),
    ],
)
def test_generic_key_spellings(entry_keys: tuple[str, str | None, str], attribute: str) -> None:
    start_key, end_key, value_key = entry_keys
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    entries = []
    for i in range(4):
        entry = {start_key: (t0 + timedelta(hours=i)).isoformat(), value_key: i}
        if end_key:
            entry[end_key] = (t0 + timedelta(hours=i + 1)).isoformat()
        entries.append(entry)
    parsed = parsers.parse_generic({attribute: entries, "friendly_name": "x"}, UTC)
    assert [iv.value for iv in parsed.intervals] == [0, 1, 2, 3]
    assert parsed.intervals[-1].end == t0 + timedelta(hours=4)


def test_generic_naive_local_strings_on_a_25_hour_day() -> None:
    """Naive local times repeat 02:00-03:00 when clocks go back; the repeat is the second hour."""
    local = [f"2024-10-27 {h:02d}:00:00" for h in (0, 1, 2, 2, 3, 4)]
    entries = [{"start": t, "price": i} for i, t in enumerate(local)]
    parsed = parsers.parse_entries(entries, STOCKHOLM)
    starts = [iv.start for iv in parsed.intervals]
    assert len(set(starts)) == 6
    assert starts[2] == utc("2024-10-27T00:00:00+00:00")
    assert starts[3] == utc("2024-10-27T01:00:00+00:00")
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))


def test_bad_entries_are_skipped_and_counted() -> None:
    entries = [
        {"start": "2025-01-01T00:00:00+00:00", "price": 1.0},
        {"start": "not a time", "price": 2.0},
        {"start": "2025-01-01T01:00:00+00:00", "price": float("nan")},
        {"start": "2025-01-01T02:00:00+00:00", "price": "unavailable"},
        "junk",
        {"start": "2025-01-01T03:00:00+00:00", "price": "1,5"},
    ]
    parsed = parsers.parse_entries(entries, UTC)
    assert parsed.skipped == 4
    assert [iv.value for iv in parsed.intervals] == [1.0, 1.5]
    assert parsers.parse_entries(None, UTC).intervals == []


def test_find_list_attribute_order() -> None:
    assert parsers.find_list_attribute({"raw_today": [], "prices": [1]}) == [
        "raw_today",
        "raw_tomorrow",
    ]
    assert parsers.find_list_attribute({"unrelated": [1, 2], "state_class": "x"}) == []
    assert parsers.find_list_attribute({"my_list": [{"hour": 1, "value": 2}]}) == ["my_list"]


# --- time-of-use and flat ------------------------------------------------------------------


def test_tou_schedule_shapes_and_errors() -> None:
    text = parsers.parse_tou_schedule("00:30-04:30=0.12; 17:00-20:00=0,45\n22:00-24:00=0.2")
    assert [(w.start.hour, w.start.minute, w.end.hour, w.price) for w in text] == [
        (0, 30, 4, 0.12),
        (17, 0, 20, 0.45),
        (22, 0, 0, 0.2),
    ]
    assert parsers.parse_tou_schedule({"00:30-04:30": 0.12}) == text[:1]
    listed = parsers.parse_tou_schedule([{"start": "00:30", "end": "04:30", "price": 0.12}])
    assert listed == text[:1]
    assert parsers.parse_tou_schedule(None) == []
    for bad in ("00:30-04:30", "25:00-01:00=1", "a-b=1", "00:00-24:30=1", 5, ["x"]):
        with pytest.raises(ValueError, match=r"\w"):
            parsers.parse_tou_schedule(bad)


def test_tou_intervals_on_a_23_hour_day() -> None:
    windows = parsers.parse_tou_schedule("00:30-04:30=0.12; 22:00-06:00=0.2")
    start = datetime(2024, 3, 31, tzinfo=STOCKHOLM).astimezone(UTC)
    end = datetime(2024, 4, 1, tzinfo=STOCKHOLM).astimezone(UTC)
    intervals = parsers.tou_intervals(windows, 0.3, start, end, STOCKHOLM)
    assert intervals[0].start == start
    assert intervals[-1].end == end
    total = sum((iv.end - iv.start for iv in intervals), timedelta())
    assert total == timedelta(hours=23)
    # 00:00-06:00 local is the night window (later window wins over 00:30-04:30).
    night = Series("s", "/kWh", intervals)
    assert night.value_at(datetime(2024, 3, 31, 1, 0, tzinfo=STOCKHOLM)) == 0.2
    assert night.value_at(datetime(2024, 3, 31, 12, 0, tzinfo=STOCKHOLM)) == 0.3
    assert night.value_at(datetime(2024, 3, 31, 23, 0, tzinfo=STOCKHOLM)) == 0.2
    assert parsers.flat_intervals(1.0, end, start) == []


# --- solar ---------------------------------------------------------------------------------


def test_wh_hours_to_watts() -> None:
    """Forecast.Solar style: Wh per hour keyed by UTC start, night hours left out."""
    forecast = {
        "wh_hours": {
            "2021-06-27T04:00:00+00:00": 100,
            "2021-06-27T05:00:00+00:00": 500,
            "2021-06-27T13:00:00+00:00": 1200,
            "bad": 5,
        }
    }
    parsed = parsers.parse_wh_hours(forecast)
    assert parsed.skipped == 1
    assert [(iv.start.hour, iv.end.hour, iv.value) for iv in parsed.intervals] == [
        (4, 5, 100.0),
        (5, 6, 500.0),
        (13, 14, 1200.0),
    ]
    half_hours = {"wh_hours": {"2021-06-27T04:00:00+00:00": 100, "2021-06-27T04:30:00+00:00": 50}}
    assert [iv.value for iv in parsers.parse_wh_hours(half_hours).intervals] == [200.0, 100.0]
    assert parsers.parse_wh_hours(None).intervals == []
    assert parsers.parse_wh_hours({"wh_hours": 3}).intervals == []


def test_solcast_api_response() -> None:
    payload = load_json("emhass_testdata_solcast_api_response_multiday.json")
    parsed = parsers.parse_solcast_api(payload)
    assert parsed.skipped == 0
    assert len(parsed.intervals) == len(payload["forecasts"])
    first = parsed.intervals[0]
    assert first.start == utc("2024-12-26T17:00:00+00:00")
    assert first.end == utc("2024-12-26T17:30:00+00:00")
    peak = max(payload["forecasts"], key=lambda f: f["pv_estimate"])
    assert max(iv.value for iv in parsed.intervals) == pytest.approx(peak["pv_estimate"] * 1000)
    assert parsers.parse_solcast_api({"forecasts": [{"period_end": "x"}, 3]}).skipped == 2


def test_solcast_detailed_forecast_attribute() -> None:
    attributes = {
        "detailedForecast": [
            {"period_start": "2026-02-06T06:00:00+01:00", "pv_estimate": 0.5, "pv_estimate10": 0.1},
            {"period_start": "2026-02-06T06:30:00+01:00", "pv_estimate": 1.0, "pv_estimate10": 0.2},
        ]
    }
    parsed = parsers.parse_solar_attribute(attributes, UTC, "kWh")
    assert [iv.value for iv in parsed.intervals] == [500.0, 1000.0]
    assert parsed.intervals[1].end == utc("2026-02-06T06:00:00+00:00")
    generic = {"forecast": [{"start": "2026-02-06T06:00:00+00:00", "value": 2.0}]}
    assert parsers.parse_solar_attribute(generic, UTC, "kW").intervals[0].value == 2000.0
    assert parsers.parse_solar_attribute(generic, UTC, "W").intervals[0].value == 2.0
    assert parsers.parse_solar_attribute({"forecast": [{"start": "x", "q": 1}]}, UTC, None).skipped
    assert parsers.parse_solar_attribute({}, UTC, None).intervals == []
    hourly = {"detailedHourly": [{"period_start": "2026-02-06T06:00:00+00:00", "power_kw": 1.5}]}
    assert parsers.parse_solar_attribute(hourly, UTC, None).intervals[0].value == 1500.0


def test_open_meteo_style_mappings() -> None:
    wh = {"wh_period": {"2026-02-06T10:00:00+00:00": 800, "2026-02-06T11:00:00+00:00": 900}}
    assert [iv.value for iv in parsers.parse_solar_attribute(wh, UTC, "kWh").intervals] == [
        800.0,
        900.0,
    ]
    watts = {"watts": {"2026-02-06T10:00:00+00:00": 1200, "2026-02-06T10:15:00+00:00": 1300}}
    parsed = parsers.parse_solar_attribute(watts, UTC, "kWh")
    assert [(iv.end - iv.start, iv.value) for iv in parsed.intervals] == [
        (timedelta(minutes=15), 1200.0),
        (timedelta(minutes=15), 1300.0),
    ]


def test_sum_power_of_two_arrays() -> None:
    t0 = datetime(2025, 6, 1, 10, tzinfo=UTC)
    a = parsers.Parsed([Interval(t0, t0 + timedelta(hours=2), 1000.0)])
    b = parsers.Parsed([Interval(t0 + timedelta(hours=1), t0 + timedelta(hours=3), 500.0)])
    total = parsers.sum_power([a, b]).intervals
    assert [iv.value for iv in total] == [1000.0, 1500.0, 500.0]


# --- model helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("EUR/kWh", PriceUnit("EUR", 1.0)),
        ("€/kWh", PriceUnit("EUR", 1.0)),
        ("EUR/MWh", PriceUnit("EUR", 0.001)),
        ("DKK/MWh", PriceUnit("DKK", 0.001)),
        ("SEK/kWh", PriceUnit("SEK", 1.0)),
        ("öre/kWh", PriceUnit("SEK", 0.01)),
        ("øre/kWh", PriceUnit(None, 0.01)),
        ("c/kWh", PriceUnit("EUR", 0.01)),
        ("ct/kWh", PriceUnit("EUR", 0.01)),
        ("p/kWh", PriceUnit("GBP", 0.01)),
        ("GBP/kWh", PriceUnit("GBP", 1.0)),
        ("kr/kWh", PriceUnit(None, 1.0)),
        ("NOK", PriceUnit("NOK", 1.0)),
        ("EUR/Wh", PriceUnit("EUR", 1000.0)),
        ("W", None),
        ("EUR/kW", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_price_unit(unit: str | None, expected: PriceUnit | None) -> None:
    result = parse_price_unit(unit)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert result.currency == expected.currency
        assert result.per_kwh_factor == pytest.approx(expected.per_kwh_factor)


def test_parse_time_conventions() -> None:
    assert parse_time("2024-12-26T17:30:00.0000000Z", UTC) == utc("2024-12-26T17:30:00+00:00")
    assert parse_time("2024-11-05 00:00:00+01:00", UTC) == utc("2024-11-04T23:00:00+00:00")
    assert parse_time("2024-11-05T00:00", STOCKHOLM) == utc("2024-11-04T23:00:00+00:00")
    assert parse_time(datetime(2024, 11, 5), STOCKHOLM) == utc("2024-11-04T23:00:00+00:00")
    assert parse_time(12345, UTC) is None
    assert parse_time("tomorrow", UTC) is None
    assert is_naive_time("2024-11-05 00:00")
    assert not is_naive_time("2024-11-05T00:00Z")
    assert not is_naive_time("x")
    assert not is_naive_time(3)
    assert is_naive_time(datetime(2024, 1, 1))


def test_same_wall_time_across_dst() -> None:
    after = datetime(2024, 3, 31, 12, 0, tzinfo=STOCKHOLM).astimezone(UTC)
    before = same_wall_time_days_before(after, 1, STOCKHOLM)
    assert before.astimezone(STOCKHOLM).hour == 12
    assert after - before == timedelta(hours=23)


def test_to_float() -> None:
    assert to_float("1,5") == 1.5
    assert to_float(True) is None
    assert to_float(float("inf")) is None
    assert to_float([1]) is None
    assert to_float(3) == 3.0


def test_clean_intervals_first_wins() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    first = Interval(t0 + hour, t0 + 2 * hour, 1.0)
    second = Interval(t0, t0 + 3 * hour, 2.0)
    cleaned = clean_intervals([first, second, Interval(t0, t0, 5.0)])
    assert cleaned == [
        Interval(t0, t0 + hour, 2.0),
        first,
        Interval(t0 + 2 * hour, t0 + 3 * hour, 2.0),
    ]
    assert intervals_from_starts([]) == []
    assert np.isnan(resample([], make_grid(t0, t0 + hour))[0]).all()
