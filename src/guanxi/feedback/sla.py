"""SLA clocks of a complaint: when the first response and the resolution are due, and how each
clock stands now (met, running, near, breached). Pure functions: no database, no clock.

By default every hour counts, weekends included (a shop is open at weekends). With
``pause_weekends`` the hours of Saturday and Sunday in the store's zone do not count: a
complaint opened on Friday 20:00 with 24 hours to answer is due on Monday 20:00.

A clock is "near" when what is left is at most ``near_hours`` or at most ``near_share`` of its
budget, whichever is more (4 h of a 24 h budget is less than its 25 %, 6 h, so 6 h warns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

SEVERITIES = ("low", "medium", "high", "critical")
DEFAULT_RESOLUTION_HOURS: Mapping[str, float] = MappingProxyType(
    {"critical": 24.0, "high": 48.0, "medium": 72.0, "low": 120.0}
)


class ClockState(StrEnum):
    """How one SLA clock stands."""

    MET = "met"  # done before it was due
    RUNNING = "running"  # not done, plenty of time
    NEAR = "near"  # not done, due soon
    BREACHED = "breached"  # done late, or not done and overdue


@dataclass(frozen=True)
class SlaPolicy:
    """The shop's SLA: hours to the first response, hours to resolve per severity."""

    first_response_hours: float = 24.0
    resolution_hours: Mapping[str, float] = field(default_factory=lambda: DEFAULT_RESOLUTION_HOURS)
    pause_weekends: bool = False
    near_hours: float = 4.0
    near_share: float = 0.25
    timezone: str = "Asia/Shanghai"

    def resolution_budget(self, severity: str) -> float:
        if severity not in self.resolution_hours:
            raise ValueError(f"no resolution hours for severity {severity!r}")
        return self.resolution_hours[severity]


@dataclass(frozen=True)
class Clock:
    """One clock of one complaint at a moment: its due time, when it stopped (if it did),
    its state and the counted time left (negative: overdue by that much)."""

    name: str  # first_response | resolution
    due_at: datetime
    done_at: datetime | None
    state: ClockState
    left: timedelta


def parse_resolution_hours(text: str) -> dict[str, float]:
    """'critical:24,high:48,medium:72,low:120' -> {severity: hours}; every severity once.

    Raises ValueError naming what was found and what is expected.
    """
    hours: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in SEVERITIES:
            raise ValueError(
                f"GUANXI_SLA_RESOLUTION_HOURS: {part!r} is not severity:hours with a severity "
                f"of {', '.join(SEVERITIES)} (e.g. critical:24,high:48,medium:72,low:120)"
            )
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 < number <= 24 * 366:
            raise ValueError(
                f"GUANXI_SLA_RESOLUTION_HOURS: hours for {name} must be a number above 0 "
                f"(found {value.strip()!r})"
            )
        if name in hours:
            raise ValueError(f"GUANXI_SLA_RESOLUTION_HOURS names {name} twice")
        hours[name] = number
    missing = [s for s in SEVERITIES if s not in hours]
    if missing:
        raise ValueError(
            f"GUANXI_SLA_RESOLUTION_HOURS lacks {', '.join(missing)} (found {text!r}); give all "
            "four, e.g. critical:24,high:48,medium:72,low:120"
        )
    return hours


def _next_midnight(moment: datetime, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The next local midnight after ``moment`` (as UTC-aware) and whether ``moment``'s local
    day is a Saturday or Sunday."""
    local = moment.astimezone(zone)
    nxt = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return nxt.astimezone(moment.tzinfo), local.weekday() >= 5


def add_counted_hours(
    start: datetime, hours: float, *, zone: str, pause_weekends: bool
) -> datetime:
    """``start`` plus ``hours`` of counted time (weekend hours skipped when paused)."""
    left = timedelta(hours=hours)
    if not pause_weekends:
        return start + left
    tz = ZoneInfo(zone)
    cursor = start
    while True:
        day_end, weekend = _next_midnight(cursor, tz)
        if not weekend:
            if left <= day_end - cursor:
                return cursor + left
            left -= day_end - cursor
        cursor = day_end


def counted_between(
    start: datetime, end: datetime, *, zone: str, pause_weekends: bool
) -> timedelta:
    """Counted time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    if end < start:
        return -counted_between(end, start, zone=zone, pause_weekends=pause_weekends)
    if not pause_weekends:
        return end - start
    tz = ZoneInfo(zone)
    total = timedelta(0)
    cursor = start
    while cursor < end:
        day_end, weekend = _next_midnight(cursor, tz)
        stop = min(day_end, end)
        if not weekend:
            total += stop - cursor
        cursor = stop
    return total


def compute_deadlines(
    opened_at: datetime, severity: str, policy: SlaPolicy, *, zone: str | None = None
) -> tuple[datetime, datetime]:
    """(first response due, resolution due) of a complaint opened at ``opened_at``."""
    tz = zone or policy.timezone
    first = add_counted_hours(
        opened_at, policy.first_response_hours, zone=tz, pause_weekends=policy.pause_weekends
    )
    resolution = add_counted_hours(
        opened_at, policy.resolution_budget(severity), zone=tz,
        pause_weekends=policy.pause_weekends,
    )  # fmt: skip
    return first, resolution


def near_window(budget_hours: float, policy: SlaPolicy) -> timedelta:
    """How long before its due time a clock counts as near."""
    return timedelta(hours=max(policy.near_hours, policy.near_share * budget_hours))


def compute_clock(
    name: str,
    *,
    due_at: datetime,
    done_at: datetime | None,
    budget_hours: float,
    now: datetime,
    policy: SlaPolicy,
    zone: str | None = None,
) -> Clock:
    """The state of one clock at ``now``."""
    tz = zone or policy.timezone
    if done_at is not None:
        left = counted_between(done_at, due_at, zone=tz, pause_weekends=policy.pause_weekends)
        state = ClockState.MET if done_at <= due_at else ClockState.BREACHED
        return Clock(name, due_at, done_at, state, left)
    left = counted_between(now, due_at, zone=tz, pause_weekends=policy.pause_weekends)
    if now >= due_at:
        state = ClockState.BREACHED
    elif left <= near_window(budget_hours, policy):
        state = ClockState.NEAR
    else:
        state = ClockState.RUNNING
    return Clock(name, due_at, None, state, left)


def policy_of(
    *,
    first_response_hours: float,
    resolution_hours: str,
    pause_weekends: bool,
    near_hours: float,
    near_share: float,
    timezone: str,
) -> SlaPolicy:
    """The policy from the settings' values (``sla_policy(settings)`` in the services)."""
    return SlaPolicy(
        first_response_hours=first_response_hours,
        resolution_hours=MappingProxyType(parse_resolution_hours(resolution_hours)),
        pause_weekends=pause_weekends, near_hours=near_hours, near_share=near_share,
        timezone=timezone,
    )  # fmt: skip
