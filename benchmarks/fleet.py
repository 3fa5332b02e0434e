"""The depot's vans, shared by depot.py (Home Assistant) and depot_year.py (the year simulation).

Each van is one user of the Norwegian residential data set (Sørensen et al. 2024): the users with
the most sessions in their busiest 365-day window, that window's sessions. The data are loaded by
run.py's helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
import statistics

from run import RawSession, best_window, load_all_sessions

VAN_CAPACITY_KWH = 75.0
VAN_POWER_W = 11_000.0
TARGET_PCT = 80.0
IMPORT_LIMIT_W = 200_000.0
"""The depot's connection: 200 kW, about 290 A at 400 V three-phase (a 315 A main fuse)."""


def fleet(count: int) -> list[tuple[str, list[RawSession]]]:
    """The ``count`` users with the most sessions in a 365-day window, and those sessions."""
    by_user = load_all_sessions()
    ranked = sorted(by_user, key=lambda user: (-best_window(by_user[user])[0], user))
    chosen = []
    for user in ranked[:count]:
        sessions, first = best_window(by_user[user])
        chosen.append((user, by_user[user][first : first + sessions]))
    return chosen


@dataclass(frozen=True)
class VanDay:
    """One van's usual day at the depot: when it comes back and leaves, what a trip uses."""

    user: str
    arrival: time
    departure: time
    trip_energy_kwh: float


def typical_day(user: str, sessions: list[RawSession]) -> VanDay:
    """The user's session of median energy among those of 2 to 20 hours, as a daily routine.

    The energy is capped so the van arrives with at least 5 % (a trip uses what was charged).
    """
    usable = [s for s in sessions if 2 * 3600 <= (s[1] - s[0]).total_seconds() <= 20 * 3600]
    usable.sort(key=lambda s: (s[2], s[0]))
    plug_in, plug_out, energy = usable[len(usable) // 2]
    cap = (TARGET_PCT - 5.0) / 100.0 * VAN_CAPACITY_KWH
    return VanDay(
        user=user,
        arrival=plug_in.time().replace(second=0, microsecond=0),
        departure=plug_out.time().replace(second=0, microsecond=0),
        trip_energy_kwh=round(min(energy, cap), 2),
    )


def describe_days(days: list[VanDay]) -> dict[str, object]:
    """Median arrival, departure and trip energy of the vans' days (for the report)."""

    def minutes(moment: time) -> int:
        return moment.hour * 60 + moment.minute

    def clock(value: float) -> str:
        minutes = round(value) % (24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        "median_arrival": clock(statistics.median(minutes(d.arrival) for d in days)),
        "median_departure": clock(statistics.median(minutes(d.departure) for d in days)),
        "median_trip_energy_kwh": round(statistics.median(d.trip_energy_kwh for d in days), 2),
        "trip_energy_kwh_total": round(sum(d.trip_energy_kwh for d in days), 1),
    }
