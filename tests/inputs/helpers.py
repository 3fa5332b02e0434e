"""Fixture loading and builders of the attribute shapes price integrations produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
import json
from pathlib import Path
from typing import Any
import xml.etree.ElementTree as ET

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _strip_ns(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element:
    for child in element.iter():
        if _strip_ns(child.tag) == name:
            return child
    raise KeyError(name)


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element.iter() if _strip_ns(child.tag) == name]


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def entsoe_xml_points(name: str) -> dict[datetime, float]:
    """EUR/MWh per interval start (UTC) from an ENTSO-e A44 answer.

    Mirrors what the ENTSO-e integration does: periods in document order, a period whose start was
    already seen is skipped (overlapping resolutions: the first wins), positions are 1-based, and
    curve type A03 leaves out positions that repeat the previous price (forward-filled here).
    """
    root = ET.fromstring((FIXTURES / name).read_text(encoding="utf-8"))
    points: dict[datetime, float] = {}
    seen: set[datetime] = set()
    for period in _children(root, "Period"):
        interval = _child(period, "timeInterval")
        start = _utc(_child(interval, "start").text or "")
        end = _utc(_child(interval, "end").text or "")
        resolution = _child(period, "resolution").text
        step = timedelta(minutes=15 if resolution == "PT15M" else 60)
        if start in seen:
            continue
        seen.add(start)
        given = {
            int(_child(p, "position").text or 0): float(_child(p, "price.amount").text or "nan")
            for p in _children(period, "Point")
        }
        last = given[min(given)]
        position = 1
        while start + (position - 1) * step < end or position in given:
            last = given.get(position, last)
            points[start + (position - 1) * step] = last
            position += 1
    return dict(sorted(points.items()))


def entsoe_attributes(
    points: dict[datetime, float], host_tz: tzinfo, today: datetime
) -> dict[str, Any]:
    """The `avg_price` sensor attributes of the ENTSO-e integration (energy scale kWh).

    `time` is `str(datetime)` in the host's zone (space separator, offset), price EUR/kWh rounded
    to 5 decimals; `today` is a local midnight (aware) that splits today/tomorrow.
    """
    tomorrow = today + timedelta(days=1)
    day_after = today + timedelta(days=2)

    def rows(lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        return [
            {"time": str(start.astimezone(host_tz)), "price": round(value / 1000, 5)}
            for start, value in points.items()
            if lo <= start < hi
        ]

    return {
        "prices_today": rows(today, tomorrow),
        "prices_tomorrow": rows(tomorrow, day_after),
        "prices": rows(min(points), max(points) + timedelta(hours=1)),
        "unit_of_measurement": "€/kWh",
    }
