"""The site's monthly capacity tariff: options, the month's measured peaks, what the plan adds.

Options (all optional; without `capacity_tariff`, or with "none", nothing changes):

- `capacity_tariff`: "none" | "monthly_peak" | "norway" | "sweden";
- monthly peak (Flanders-like): `capacity_window_minutes` (15 or 60), `capacity_price_per_kw`
  (per kW of the month's peak), `capacity_minimum_kw` (Flanders: 2.5);
- Norway: `capacity_steps` ("upper kW = monthly price" pairs separated by commas, e.g.
  "2=11, 5=18, 10=29"; the last step also covers everything above it); the mean of the three
  highest hours on three different days;
- Sweden: `capacity_price_per_kw`, `capacity_top_n` (mean of that many highest hours),
  `capacity_distinct_days`, `capacity_winter_weekdays` (only November-March, Monday-Friday),
  `capacity_hours_start` / `capacity_hours_end` (local hours that count, e.g. 7-19; equal: all
  day), `capacity_night_half` (22-06 at half weight).

The month's peaks so far come from the recorder's statistics of the grid meter
(`grid_power_entity`, import positive): 5-minute means where the recorder still has them (it
keeps them for `purge_keep_days`, 10 days by default), hourly means before that (for 15-minute
windows these are a lower bound of the real peak, so the plan may pay for raising a peak it had
already paid). Statistics are read at most every 15 minutes; the live meter fills in the
current window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import numpy as np

from .const import (
    OPT_CAPACITY_DISTINCT_DAYS,
    OPT_CAPACITY_HOURS_END,
    OPT_CAPACITY_HOURS_START,
    OPT_CAPACITY_MINIMUM_KW,
    OPT_CAPACITY_NIGHT_HALF,
    OPT_CAPACITY_PRICE_PER_KW,
    OPT_CAPACITY_STEPS,
    OPT_CAPACITY_TARIFF,
    OPT_CAPACITY_TOP_N,
    OPT_CAPACITY_WINDOW_MINUTES,
    OPT_CAPACITY_WINTER_WEEKDAYS,
    CapacityKind,
)
from .optimizer import CapacityTariff, Plan, SlotGrid, billed_peaks_kw, horizon_charge
from .optimizer.model import FloatArray

_LOGGER = logging.getLogger(__name__)

REFRESH = timedelta(minutes=15)
"""How often the month's statistics are read again."""
WINTER = (11, 12, 1, 2, 3)


def parse_steps(text: str) -> tuple[tuple[float, float], ...]:
    """Steps from text: "2=11, 5=18" gives ((2.0, 11.0), (5.0, 18.0)).

    Raises:
        ValueError: not pairs of numbers, or the upper bounds do not increase.

    """
    steps: list[tuple[float, float]] = []
    for part in text.replace(";", ",").replace("\n", ",").split(","):
        if not part.strip():
            continue
        upper, sep, price = part.partition("=")
        if not sep:
            upper, sep, price = part.partition(":")
        if not sep:
            msg = f"{part.strip()!r} is not 'upper kW = price'"
            raise ValueError(msg)
        steps.append((float(upper), float(price)))
    if not steps:
        msg = "no steps"
        raise ValueError(msg)
    CapacityTariff(steps=tuple(steps))  # checks the order
    return tuple(steps)


def tariff_from_options(options: Mapping[str, Any], timezone: str) -> CapacityTariff | None:
    """The site's tariff (without the month's history), or None."""
    kind = options.get(OPT_CAPACITY_TARIFF, CapacityKind.NONE)
    price = float(options.get(OPT_CAPACITY_PRICE_PER_KW, 0.0))
    if kind == CapacityKind.MONTHLY_PEAK:
        return CapacityTariff(
            window_minutes=int(options.get(OPT_CAPACITY_WINDOW_MINUTES, 15)),
            price_per_kw=price,
            minimum_kw=float(options.get(OPT_CAPACITY_MINIMUM_KW, 0.0)),
            timezone=timezone,
        )
    if kind == CapacityKind.NORWAY:
        return CapacityTariff(
            window_minutes=60,
            top_n=3,
            distinct_days=True,
            steps=parse_steps(str(options.get(OPT_CAPACITY_STEPS, ""))),
            timezone=timezone,
        )
    if kind == CapacityKind.SWEDEN:
        start = int(options.get(OPT_CAPACITY_HOURS_START, 0))
        end = int(options.get(OPT_CAPACITY_HOURS_END, 0))
        winter = bool(options.get(OPT_CAPACITY_WINTER_WEEKDAYS, False))
        half = bool(options.get(OPT_CAPACITY_NIGHT_HALF, False))
        return CapacityTariff(
            window_minutes=60,
            top_n=int(options.get(OPT_CAPACITY_TOP_N, 1)),
            distinct_days=bool(options.get(OPT_CAPACITY_DISTINCT_DAYS, False)),
            price_per_kw=price,
            months=WINTER if winter else (),
            weekdays_only=winter,
            hours=None if start == end else (start, end),
            night_hours=(22, 6) if half else None,
            night_weight=0.5 if half else 1.0,
            timezone=timezone,
        )
    return None


@dataclass(frozen=True, slots=True)
class CapacityStatus:
    """What the site's sensors show."""

    billed_peak_kw: float
    """This month's billed peak so far (before the minimum)."""
    projected_peak_kw: float
    """This month's billed peak with the plan (the measured one without a plan)."""
    cost_avoided: float | None
    """What "Charge now" would add to the capacity charge minus what the plan adds."""


def status(
    tariff: CapacityTariff,
    now: datetime,
    plan: Plan | None,
    baseline_import_w: FloatArray | None = None,
) -> CapacityStatus:
    """The sensors' values: the month so far, with the plan, and against "Charge now"."""
    start = dt_util.as_utc(now).replace(second=0, microsecond=0)
    one = SlotGrid(
        np.array([np.datetime64(start.replace(tzinfo=None), "s")]), np.array([60], np.int64)
    )
    month = next(iter(billed_peaks_kw(tariff, one).items()))
    billed = month[1]
    if plan is None:
        return CapacityStatus(billed, billed, None)
    projected = billed_peaks_kw(tariff, plan.grid, plan.grid_import_w).get(month[0], billed)
    avoided = None
    if baseline_import_w is not None:
        avoided = horizon_charge(tariff, plan.grid, baseline_import_w / 1000.0) - horizon_charge(
            tariff, plan.grid, plan.grid_import_w / 1000.0
        )
    return CapacityStatus(billed, projected, avoided)


class PeakHistory:
    """The month's measured window averages of the grid meter, from the recorder and live."""

    def __init__(self, hass: HomeAssistant, entity_id: str, invert: bool = False) -> None:
        self.hass = hass
        self.entity_id = entity_id
        self.sign = -1.0 if invert else 1.0
        self._rows: list[Row] = []
        """This month's statistics: hourly rows, then the 5-minute rows the recorder keeps."""
        self._read_at: datetime | None = None
        self._live: dict[datetime, list[float]] = {}
        """Live readings (kW) per 5-minute slot since the last statistics read."""
        self.queries = 0

    def add_live(self, now: datetime, grid_power_w: float | None) -> None:
        """Record a live meter reading (import positive, W)."""
        if grid_power_w is None:
            return
        slot = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        self._live.setdefault(dt_util.as_utc(slot), []).append(max(0.0, grid_power_w / 1000.0))

    async def async_tariff(self, tariff: CapacityTariff, now: datetime) -> CapacityTariff:
        """``tariff`` with this month's window averages so far (and the current window's kWh)."""
        now = dt_util.as_utc(now)
        local = dt_util.as_local(now)
        month_start = dt_util.as_utc(
            local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        )
        if self._read_at is None or now - self._read_at >= REFRESH or self._read_at < month_start:
            await self._async_read(month_start, now)
        return with_history(tariff, self._rows, self._live, now, month_start)

    async def _async_read(self, month_start: datetime, now: datetime) -> None:
        self.queries += 1
        ids = {self.entity_id}
        units = {"power": UnitOfPower.KILO_WATT}
        try:
            recorder = get_instance(self.hass)
            hourly = await recorder.async_add_executor_job(
                statistics_during_period,
                self.hass,
                month_start,
                now,
                ids,
                "hour",
                units,
                {"mean"},
            )
            fine = await recorder.async_add_executor_job(
                statistics_during_period,
                self.hass,
                month_start,
                now,
                ids,
                "5minute",
                units,
                {"mean"},
            )
        except Exception as err:  # a database error must not stop the loop
            _LOGGER.debug("Statistics of %s could not be read: %s", self.entity_id, err)
            return
        fine_rows = _rows(fine.get(self.entity_id, []), self.sign, 300)
        first_fine = fine_rows[0][0] if fine_rows else now
        hourly_rows = _rows(hourly.get(self.entity_id, []), self.sign, 3600)
        self._rows = [r for r in hourly_rows if r[0] + timedelta(hours=1) <= first_fine]
        self._rows += fine_rows
        self._read_at = now
        last = self._rows[-1][0] if self._rows else month_start
        self._live = {k: v for k, v in self._live.items() if k > last}


Row = tuple[datetime, float, int]
"""(start, mean import kW, length in seconds)."""


def _rows(stats: list[Any], sign: float, length_s: int) -> list[Row]:
    out: list[Row] = []
    for row in stats:
        mean = row.get("mean")
        if mean is None:
            continue
        start = dt_util.utc_from_timestamp(float(row["start"]))
        out.append((start, max(0.0, sign * float(mean)), length_s))
    return out


def with_history(
    tariff: CapacityTariff,
    rows: list[Row],
    live: dict[datetime, list[float]],
    now: datetime,
    month_start: datetime,
) -> CapacityTariff:
    """``tariff`` with the averages of this month's completed windows and the current one's kWh.

    A row longer than the window (an hourly mean, 15-minute windows) stands for each of its
    windows; shorter rows add up their energy per window (missing rows count as no import).
    """
    window_s = tariff.window_minutes * 60
    current = int(now.timestamp()) // window_s * window_s
    energy: dict[int, float] = {}
    history: list[tuple[datetime, float]] = []
    samples = list(rows)
    last = rows[-1][0] if rows else month_start
    samples += [(start, sum(v) / len(v), 300) for start, v in live.items() if v and start > last]
    for start, kw, length_s in samples:
        if start < month_start:
            continue
        first = int(start.timestamp())
        if length_s > window_s:
            history.extend(
                (dt_util.utc_from_timestamp(first + k), kw) for k in range(0, length_s, window_s)
            )
            continue
        key = first // window_s * window_s
        energy[key] = energy.get(key, 0.0) + kw * length_s / 3600.0
    history.extend(
        (dt_util.utc_from_timestamp(key), kwh / (window_s / 3600.0))
        for key, kwh in energy.items()
        if key < current
    )
    return replace(
        tariff, history=tuple(sorted(history)), current_window_kwh=energy.get(current, 0.0)
    ).compact()
