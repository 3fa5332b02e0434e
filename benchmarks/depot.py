"""Benchmark: a depot of 50 simulated vans on one 200 kW connection, in a real Home Assistant.

Run from the repository root:

    .venv/bin/python benchmarks/depot.py            # 50 vans, 200 updates, about 4 minutes
    .venv/bin/python benchmarks/depot.py --quick    # 50 vans, 12 updates, < 2 minutes

Home Assistant runs in this process (its own bootstrap, a temporary configuration directory,
offline, with the recorder on SQLite), as benchmarks/frequency_latency.py does:

1. The site "Depot" is created with its first van through the config flow, its connection (a
   200 kW import limit), a time-of-use price (a real DK2 day, spot + fee) and no other load or
   solar are set, and the other 49 vans are added through the charger subentry flow one by one,
   as a user would. Each van is a simulated 11 kW charge-only charger with a 75 kWh van whose
   daily arrival, departure and trip energy are a real residential session (fleet.py); each
   van's departure time entity is set to its departure (``time.set_value``).
2. **Setup**: the site is reloaded (every charger and entity set up again, the first update
   included), timed.
3. Every van's simulation restarts from 24 hours ago at 80 %, away: each van comes back at its
   arrival of the last day with its trip's energy used, as if the depot had run all along with
   nothing charging. The depot's clock is shifted so that now is 02:00 depot time (when most
   vans are plugged in).
4. **Updates**: the coordinator's refresh (read every charger, collect the inputs, plan all
   plugged-in vans jointly, apply each van's setpoint, write the entities) is run N times one
   after the other and timed (wall and CPU of the process). After each: the plan's status and
   solve time, the sum of the setpoints the vans were sent against the site's limit, the plan's
   peak import, and each van's planned SoC at its departure against its 80 % target.
5. **Memory** (RSS of the process) before Home Assistant, after the site is added, after the
   updates; **recorder**: state rows written per update, and whether any stored attributes hold
   a plan schedule (they must not: the schedules are excluded from the recorder).

Results are printed and written to ``benchmarks/results/depot[_quick].json``. Nothing is
asserted on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
import json
import os
from pathlib import Path
import platform
import pstats
import re
import sqlite3
import sys
import tempfile
import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from fleet import (
    IMPORT_LIMIT_W,
    TARGET_PCT,
    VAN_CAPACITY_KWH,
    VAN_POWER_W,
    VanDay,
    describe_days,
    fleet,
    typical_day,
)
from homeassistant import bootstrap, runner
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import numpy as np
from run import FULL, REPO, load_prices

TZ_NAME = "Europe/Copenhagen"
TZ = ZoneInfo(TZ_NAME)
SITE_NAME = "Depot"
DEPOT_NOW = time(2, 0)
"""The depot time the benchmark runs at (most vans are plugged in and need energy)."""
PRICE_DAY = date(2019, 3, 13)
"""The DK2 day whose hourly prices (plus the fee) are the depot's daily time-of-use price."""
IMPORT_FEE_PER_KWH = 0.10
MISSED_BY_PCT = 0.5
"""A planned departure SoC more than this below the target counts as a missed target."""


def log(message: str) -> None:
    print(f"[depot {datetime.now(TZ):%H:%M:%S}] {message}", flush=True)


def rss_mb() -> float:
    """This process's resident memory (Home Assistant runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats(values: list[float], digits: int = 3) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    array = np.asarray(values)
    return {
        "count": len(values),
        "p50": round(float(np.percentile(array, 50)), digits),
        "p95": round(float(np.percentile(array, 95)), digits),
        "max": round(float(array.max()), digits),
    }


# --------------------------------------------------------------------------- the depot's day


@dataclass(frozen=True)
class DepotClock:
    """Home Assistant's local time = depot time + shift (so that now is DEPOT_NOW)."""

    shift: timedelta

    @classmethod
    def now_at(cls, local: datetime) -> DepotClock:
        minutes = (local.hour * 60 + local.minute) - (DEPOT_NOW.hour * 60 + DEPOT_NOW.minute)
        return cls(timedelta(minutes=minutes % (24 * 60)))

    def local(self, depot: time) -> time:
        return (datetime.combine(date(2000, 1, 1), depot) + self.shift).time()


def price_schedule(depot_clock: DepotClock) -> tuple[str, dict[str, float]]:
    """The DK2 day's hourly import prices (spot + fee) as time-of-use windows in local time."""
    spec = FULL[0]
    prices = load_prices(spec.column, spec.filename, spec.name)
    day_start = datetime.combine(PRICE_DAY, time(0), tzinfo=TZ)
    windows = []
    hourly: dict[str, float] = {}
    for hour in range(24):
        moment = int((day_start + timedelta(hours=hour)).timestamp())
        spot = float(prices.eur_per_kwh[(moment - prices.start_s) // 3600])
        price = round(spot + IMPORT_FEE_PER_KWH, 4)
        start = depot_clock.local(time(hour))
        end = depot_clock.local(time((hour + 1) % 24))
        windows.append(f"{start:%H:%M}-{end:%H:%M}={price}")
        hourly[f"{hour:02d}"] = price
    return "; ".join(windows), hourly


def van_form(index: int, day: VanDay, depot_clock: DepotClock) -> dict[str, Any]:
    """The simulated charger form of van `index`, as a user fills it in."""
    return {
        "name": f"Van {index + 1:02d}",
        "max_charge_power_w": VAN_POWER_W,
        "max_discharge_power_w": 0,
        "capacity_kwh": VAN_CAPACITY_KWH,
        "arrival": depot_clock.local(day.arrival).isoformat(),
        "departure": depot_clock.local(day.departure).isoformat(),
        "trip_energy_kwh": day.trip_energy_kwh,
    }


# --------------------------------------------------------------------------- Home Assistant


def prepare(config_dir: Path) -> None:
    """A configuration directory with this repository's integration and the recorder."""
    (config_dir / "custom_components").mkdir()
    (config_dir / "custom_components" / "v2g").symlink_to(REPO / "custom_components" / "v2g")
    (config_dir / "configuration.yaml").write_text(
        f"homeassistant:\n  time_zone: {TZ_NAME}\n  currency: EUR\n  country: DK\n"
        "recorder:\n  commit_interval: 5\n"
        "logger:\n  default: warning\n",
        encoding="utf-8",
    )


async def start_home_assistant(config_dir: Path) -> HomeAssistant:
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(config_dir=str(config_dir), skip_pip=True, safe_mode=False)
    )
    if hass is None:
        raise SystemExit("Home Assistant did not start")
    await hass.async_start()
    return hass


async def create_depot(
    hass: HomeAssistant, days: list[VanDay], depot_clock: DepotClock, schedule: str
) -> tuple[ConfigEntry, list[float]]:
    """The site with its first van (config flow), its options, then the other vans (subentries)."""
    flows = hass.config_entries.flow
    started = clock.perf_counter()
    flow = await flows.async_init("v2g", context={"source": "user"})
    flow = await flows.async_configure(flow["flow_id"], {"name": SITE_NAME})
    await flows.async_configure(flow["flow_id"], {"next_step_id": "simulated"})
    result = await flows.async_configure(flow["flow_id"], van_form(0, days[0], depot_clock))
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the site was not created: {result}")
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    adds = [clock.perf_counter() - started]
    hass.config_entries.async_update_entry(
        entry,
        options={
            **entry.options,
            "grid_import_limited": True,
            "grid_import_limit_w": IMPORT_LIMIT_W,
            "export_allowed": False,
            "price_source": "schedule",
            "price_schedule": schedule,
            "price_schedule_default_per_kwh": 0.3,
            "load_source": "none",
            "solar_source": "none",
        },
    )
    await hass.async_block_till_done()
    subentries = hass.config_entries.subentries
    for index, day in enumerate(days[1:], start=1):
        started = clock.perf_counter()
        sub = await subentries.async_init((entry.entry_id, "charger"), context={"source": "user"})
        await subentries.async_configure(sub["flow_id"], {"next_step_id": "simulated"})
        result = await subentries.async_configure(sub["flow_id"], van_form(index, day, depot_clock))
        if result.get("type") != "create_entry":
            raise RuntimeError(f"van {index + 1} was not added: {result}")
        await hass.async_block_till_done()
        adds.append(clock.perf_counter() - started)
        if (index + 1) % 10 == 0:
            log(f"  {index + 1} vans added (the last took {adds[-1]:.2f} s)")
    return entry, adds


def departure_entities(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, str]:
    """Each van's name -> its departure time entity."""
    registry = er.async_get(hass)
    by_unique = {
        item.unique_id: item.entity_id
        for item in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    return {
        charger.title: by_unique[f"{charger.unique_id}_departure_time"]
        for charger in entry.runtime_data.chargers.values()
    }


async def set_departures(
    hass: HomeAssistant, entry: ConfigEntry, days: list[VanDay], depot_clock: DepotClock
) -> None:
    """Each van's departure time entity to its departure (as a user or an automation would)."""
    entities = departure_entities(hass, entry)
    for index, day in enumerate(days):
        await hass.services.async_call(
            "time",
            "set_value",
            {
                "entity_id": entities[f"Van {index + 1:02d}"],
                "time": depot_clock.local(day.departure).isoformat(),
            },
            blocking=True,
        )


def start_from_yesterday(entry: ConfigEntry, now: datetime) -> None:
    """Every van's simulation restarts from 24 h ago, away and at its target.

    Each van then comes back at its arrival of the last day with its trip's energy used (and
    leaves again at its departure if that came after), nothing having charged meanwhile.
    """
    for charger in entry.runtime_data.chargers.values():
        charger.backend.restore(
            {
                "soc_pct": TARGET_PCT,
                "plugged_in": False,
                "energy_charged_kwh": 0.0,
                "energy_discharged_kwh": 0.0,
                "at": (now - timedelta(days=1)).isoformat(),
            }
        )


# --------------------------------------------------------------------------- updates


@dataclass
class Update:
    wall_s: float
    cpu_s: float
    solve_s: float
    status: str
    planned: int
    slots: int
    setpoints_w: float
    planned_peak_w: float
    planned_missed: int
    unreachable: int
    state_writes: int
    rss_mb: float = 0.0


async def refreshes(
    hass: HomeAssistant, entry: ConfigEntry, count: int, profiler: cProfile.Profile | None
) -> list[Update]:
    """Run the coordinator's update `count` times, one after the other."""
    coordinator = entry.runtime_data.coordinator
    writes = 0

    @callback
    def count_write(event: Event) -> None:
        nonlocal writes
        writes += 1

    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, count_write)
    updates = []
    try:
        for _ in range(count):
            await asyncio.sleep(0.5)  # the event loop's other work (the recorder) runs between
            await hass.async_block_till_done()
            writes = 0
            wall, cpu = clock.perf_counter(), clock.process_time()
            if profiler is not None:
                profiler.enable()
            await coordinator.async_refresh()
            if profiler is not None:
                profiler.disable()
            wall, cpu = clock.perf_counter() - wall, clock.process_time() - cpu
            if not coordinator.last_update_success:
                raise RuntimeError(f"the update failed: {coordinator.last_exception}")
            update = describe_update(entry, wall, cpu, writes)
            update.rss_mb = rss_mb()
            updates.append(update)
    finally:
        unsub()
    return updates


def describe_update(entry: ConfigEntry, wall_s: float, cpu_s: float, writes: int) -> Update:
    """What an update planned and sent."""
    coordinator = entry.runtime_data.coordinator
    result = coordinator.data.plan
    setpoints_w = sum(
        max(0.0, charger.backend.state().setpoint_w)
        for charger in entry.runtime_data.chargers.values()
    )
    if result is None:
        return Update(wall_s, cpu_s, 0.0, "no plan", 0, 0, setpoints_w, 0.0, 0, 0, writes)
    plan = result.plan
    missed = 0
    unreachable = 0
    for vehicle in plan.vehicles:
        if not vehicle.target_reachable:
            unreachable += 1
        elif (
            vehicle.departure_soc_pct is not None
            and vehicle.departure_soc_pct < TARGET_PCT - MISSED_BY_PCT
        ):
            missed += 1
    return Update(
        wall_s=wall_s,
        cpu_s=cpu_s,
        solve_s=plan.solve_time_s,
        status=plan.status,
        planned=len(plan.vehicles),
        slots=len(plan.grid),
        setpoints_w=setpoints_w,
        planned_peak_w=float(plan.grid_import_w.max()) if len(plan.grid) else 0.0,
        planned_missed=missed,
        unreachable=unreachable,
        state_writes=writes,
    )


def by_kind(entity_ids: list[str]) -> dict[str, int]:
    """`sensor.van_07_soc` and its siblings counted as one kind, `sensor.van_NN_soc`."""
    kinds: dict[str, int] = {}
    for entity_id in entity_ids:
        kind = re.sub(r"van_\d+_", "van_NN_", entity_id)
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda item: -item[1]))


# --------------------------------------------------------------------------- the recorder


def recorder_figures(db: Path, since: float, until: float, updates: int) -> dict[str, Any]:
    """State rows written between two epoch times, and whether plan schedules were stored."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT COUNT(*) FROM states WHERE last_updated_ts >= ? AND last_updated_ts < ?",
            (since, until),
        ).fetchone()[0]
        schedules = con.execute(
            "SELECT COUNT(*) FROM state_attributes WHERE shared_attrs LIKE '%\"schedule\"%'"
        ).fetchone()[0]
        largest = con.execute("SELECT MAX(LENGTH(shared_attrs)) FROM state_attributes").fetchone()[
            0
        ]
    return {
        "state_rows_during_updates": int(rows),
        "state_rows_per_update": round(rows / max(1, updates), 1),
        "stored_attribute_sets_with_a_schedule": int(schedules),
        "largest_stored_attributes_chars": int(largest or 0),
    }


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Mode:
    name: str
    vans: int
    updates: int


FULL_MODE = Mode("full", 50, 200)
QUICK_MODE = Mode("quick", 50, 12)


async def run(mode: Mode, config_dir: Path, profile: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    days = [typical_day(user, sessions) for user, sessions in fleet(mode.vans)]
    depot_clock = DepotClock.now_at(datetime.now(TZ) + timedelta(minutes=2))
    schedule, hourly = price_schedule(depot_clock)
    results["vans"] = describe_days(days)
    results["price_day"] = {"date": PRICE_DAY.isoformat(), "import_per_kwh_by_hour": hourly}
    memory = {"before_home_assistant_mb": round(rss_mb(), 1)}

    started = clock.perf_counter()
    hass = await start_home_assistant(config_dir)
    results["home_assistant_start_s"] = round(clock.perf_counter() - started, 2)
    memory["home_assistant_without_the_depot_mb"] = round(rss_mb(), 1)
    try:
        log(f"adding the depot and its {mode.vans} vans through the flows")
        started = clock.perf_counter()
        entry, adds = await create_depot(hass, days, depot_clock, schedule)
        await set_departures(hass, entry, days, depot_clock)
        results["adding_the_vans"] = {
            "vans": len(adds),
            "wall_s": round(clock.perf_counter() - started, 1),
            "per_van_s": stats(adds),
            "last_van_s": round(adds[-1], 3),
        }
        memory["with_the_depot_mb"] = round(rss_mb(), 1)
        entities = len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id))
        log(f"{len(adds)} vans added in {results['adding_the_vans']['wall_s']} s; reloading")

        started = clock.perf_counter()
        if not await hass.config_entries.async_reload(entry.entry_id):
            raise RuntimeError("the site did not set up again")
        await hass.async_block_till_done()
        setup_s = clock.perf_counter() - started
        unavailable = [
            state.entity_id
            for state in hass.states.async_all()
            if state.entity_id.split(".")[1].startswith(("van_", "depot_"))
            and state.state == "unavailable"
        ]
        results["setup"] = {
            "site_reload_s": round(setup_s, 2),
            "entities": entities,
            "unavailable_after_setup": len(unavailable),
            "unavailable_by_kind": by_kind(unavailable),
        }
        log(f"setup of the site with {mode.vans} vans: {setup_s:.2f} s, {entities} entities")

        start_from_yesterday(entry, datetime.now(TZ))
        await entry.runtime_data.coordinator.async_refresh()  # every van's plug and SoC
        plugged = sum(
            1 for c in entry.runtime_data.chargers.values() if c.backend.state().plugged_in
        )
        log(f"{plugged} vans plugged in at 02:00 depot time; {mode.updates} updates")
        since = clock.time()
        profiler = cProfile.Profile() if profile else None
        updates = await refreshes(hass, entry, mode.updates, profiler)
        if profiler is not None:
            results["profile_event_loop_top"] = top_functions(profiler)
        until = clock.time()
        memory["after_the_updates_mb"] = round(rss_mb(), 1)
        results["plugged_in"] = plugged
        results["updates"] = summarize(updates)
    finally:
        await hass.async_stop()
    results["recorder"] = recorder_figures(
        config_dir / "home-assistant_v2.db", since, until, len(updates)
    )
    results["memory_rss"] = memory
    return results


def summarize(updates: list[Update]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for update in updates:
        statuses[update.status] = statuses.get(update.status, 0) + 1
    return {
        "count": len(updates),
        "update_s (read all, plan, apply, write entities)": stats([u.wall_s for u in updates]),
        "update_cpu_s": stats([u.cpu_s for u in updates]),
        "solve_s": stats([u.solve_s for u in updates]),
        "planned_vans": stats([float(u.planned) for u in updates], 0),
        "slots": stats([float(u.slots) for u in updates], 0),
        "plan_statuses": statuses,
        "site_limit_w": IMPORT_LIMIT_W,
        "max_sum_of_setpoints_w": round(max(u.setpoints_w for u in updates), 1),
        "updates_over_the_site_limit": sum(u.setpoints_w > IMPORT_LIMIT_W + 1 for u in updates),
        "max_planned_import_w": round(max(u.planned_peak_w for u in updates), 1),
        "planned_missed_reachable_targets_max": max(u.planned_missed for u in updates),
        "unreachable_targets_max": max(u.unreachable for u in updates),
        "state_writes_per_update": stats([float(u.state_writes) for u in updates], 0),
        "rss_mb_after_update": {
            str(n): round(updates[n - 1].rss_mb, 1)
            for n in sorted({1, *range(10, len(updates) + 1, 10), len(updates)})
        },
    }


def top_functions(profiler: cProfile.Profile, count: int = 25) -> dict[str, float]:
    """The functions of the event loop's side of the updates with the most cumulative time."""
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(
        (
            (cumulative, f"{Path(file).name}:{line} {name}")
            for (file, line, name), (_, _, _, cumulative, _) in table.items()
        ),
        reverse=True,
    )
    return {label: round(seconds, 3) for seconds, label in rows[:count]}


def _default_out(mode: Mode) -> Path:
    suffix = "" if mode.name == "full" else f"_{mode.name}"
    return Path(__file__).parent / "results" / f"depot{suffix}.json"


def report(results: dict[str, Any]) -> None:
    updates = results["updates"]
    total = updates["update_s (read all, plan, apply, write entities)"]
    solve = updates["solve_s"]
    adding = results["adding_the_vans"]
    memory = results["memory_rss"]
    recorder = results["recorder"]
    print(f"\n== depot: {results['site']['vans']} vans on one 200 kW connection, in HA ==")
    print(
        f"adding the vans through the flows: {adding['wall_s']} s (per van p50 "
        f"{adding['per_van_s']['p50']} s, the last {adding['last_van_s']} s)"
    )
    print(
        f"setup (site reload): {results['setup']['site_reload_s']} s, "
        f"{results['setup']['entities']} entities, "
        f"{results['setup']['unavailable_after_setup']} unavailable"
    )
    print(
        f"{results['plugged_in']} vans plugged in; {updates['planned_vans']['p50']:.0f} planned "
        f"over {updates['slots']['p50']:.0f} slots (p50); statuses {updates['plan_statuses']}"
    )
    print(
        f"update (read all, plan, apply, write): p50 {total['p50']} s, p95 {total['p95']} s, "
        f"max {total['max']} s over {total['count']}; solve p50 {solve['p50']} s, "
        f"p95 {solve['p95']} s; CPU p50 {updates['update_cpu_s']['p50']} s"
    )
    print(
        f"site limit {IMPORT_LIMIT_W / 1000:.0f} kW: max sum of setpoints "
        f"{updates['max_sum_of_setpoints_w'] / 1000:.1f} kW, planned peak "
        f"{updates['max_planned_import_w'] / 1000:.1f} kW, updates over the limit "
        f"{updates['updates_over_the_site_limit']}; planned missed reachable targets "
        f"{updates['planned_missed_reachable_targets_max']} (unreachable "
        f"{updates['unreachable_targets_max']})"
    )
    print(
        f"memory RSS: {memory['before_home_assistant_mb']} MB before HA, "
        f"{memory['home_assistant_without_the_depot_mb']} MB HA alone, "
        f"{memory['with_the_depot_mb']} MB with the depot, {memory['after_the_updates_mb']} MB "
        f"after the updates (after update n: {updates['rss_mb_after_update']})"
    )
    for label, seconds in results.get("profile_event_loop_top", {}).items():
        print(f"  {seconds:8.3f} s  {label}")
    print(
        f"recorder: {recorder['state_rows_per_update']} state rows per update "
        f"({updates['state_writes_per_update']['p50']:.0f} state writes p50); "
        f"{recorder['stored_attribute_sets_with_a_schedule']} stored attribute sets with a "
        f"schedule; largest stored attributes {recorder['largest_stored_attributes_chars']} chars"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (< 2 min)")
    parser.add_argument("--out", default=None, help="results file")
    parser.add_argument("--updates", type=int, default=None, help="how many updates to time")
    parser.add_argument(
        "--profile", action="store_true", help="profile the updates' event loop side (cProfile)"
    )
    args = parser.parse_args(argv)
    mode = QUICK_MODE if args.quick else FULL_MODE
    if args.updates:
        mode = Mode(mode.name, mode.vans, args.updates)
    started = clock.perf_counter()
    load_avg = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="v2g-depot-") as tmp:
        prepare(Path(tmp))
        results = asyncio.run(run(mode, Path(tmp), args.profile))
    results = {
        "mode": mode.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average at start {load_avg[0]:.1f}",
        "site": {
            "vans": mode.vans,
            "import_limit_w": IMPORT_LIMIT_W,
            "van": f"{VAN_CAPACITY_KWH:.0f} kWh, {VAN_POWER_W / 1000:.0f} kW charge only, "
            f"target {TARGET_PCT:.0f} %",
            "prices": f"DK2 {PRICE_DAY} hourly spot + {IMPORT_FEE_PER_KWH} EUR/kWh as a daily "
            "time-of-use schedule (Energinet, CC BY 4.0)",
            "depot_time": DEPOT_NOW.isoformat(),
        },
        **results,
        "wall_s": round(clock.perf_counter() - started, 1),
        "load_average_end": round(os.getloadavg()[0], 1),
    }
    report(results)
    out = Path(args.out) if args.out else _default_out(mode)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"\nwall time {results['wall_s']} s; written {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
