"""SLA clocks with frozen time: deadlines, weekends (counted by default, paused when set), the
near window, clock states, and the settings' parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from guanxi.config import Settings
from guanxi.feedback.sla import (
    ClockState,
    SlaPolicy,
    add_counted_hours,
    compute_clock,
    compute_deadlines,
    counted_between,
    near_window,
    parse_resolution_hours,
)

SH = "Asia/Shanghai"
FRIDAY_20H = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # Friday 20:00 in Shanghai
PAUSED = SlaPolicy(pause_weekends=True)


def test_weekends_count_by_default() -> None:
    first, resolution = compute_deadlines(FRIDAY_20H, "medium", SlaPolicy())
    assert first == FRIDAY_20H + timedelta(hours=24)  # Saturday 20:00
    assert resolution == FRIDAY_20H + timedelta(hours=72)  # Monday 20:00


def test_paused_weekends_skip_saturday_and_sunday_in_the_stores_zone() -> None:
    first, resolution = compute_deadlines(FRIDAY_20H, "medium", PAUSED, zone=SH)
    assert first == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # Monday 20:00 Shanghai
    assert resolution == datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # Wednesday 20:00
    # the same instant is Friday 07:00 in New York: 17 h on Friday, 7 h on Monday
    ny_first, _ = compute_deadlines(FRIDAY_20H, "medium", PAUSED, zone="America/New_York")
    assert ny_first == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # Monday 07:00 New York


def test_a_complaint_opened_on_saturday_starts_its_clock_on_monday() -> None:
    saturday = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # Saturday 10:00 Shanghai
    due = add_counted_hours(saturday, 4, zone=SH, pause_weekends=True)
    assert due == datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # Monday 04:00 Shanghai
    assert counted_between(saturday, due, zone=SH, pause_weekends=True) == timedelta(hours=4)
    assert counted_between(due, saturday, zone=SH, pause_weekends=True) == -timedelta(hours=4)


def test_resolution_hours_by_severity() -> None:
    policy = SlaPolicy()
    hours = {s: (compute_deadlines(FRIDAY_20H, s, policy)[1] - FRIDAY_20H).total_seconds() / 3600
             for s in ("critical", "high", "medium", "low")}  # fmt: skip
    assert hours == {"critical": 24, "high": 48, "medium": 72, "low": 120}


def test_the_near_window_is_4_hours_or_a_quarter_whichever_is_more() -> None:
    policy = SlaPolicy()
    assert near_window(24, policy) == timedelta(hours=6)
    assert near_window(8, policy) == timedelta(hours=4)
    assert near_window(120, policy) == timedelta(hours=30)


@pytest.mark.parametrize(
    ("hours_after", "done_after", "state"),
    [
        (1, None, ClockState.RUNNING),
        (18.5, None, ClockState.NEAR),  # 5.5 h left of 24: within 6 h
        (24, None, ClockState.BREACHED),
        (30, None, ClockState.BREACHED),
        (30, 23, ClockState.MET),  # answered in time, looked at later
        (30, 25, ClockState.BREACHED),  # answered late
    ],
)
def test_clock_states(hours_after: float, done_after: float | None, state: ClockState) -> None:
    due = FRIDAY_20H + timedelta(hours=24)
    done = None if done_after is None else FRIDAY_20H + timedelta(hours=done_after)
    now = FRIDAY_20H + timedelta(hours=hours_after)
    clock = compute_clock("first_response", due_at=due, done_at=done, budget_hours=24, now=now,
                          policy=SlaPolicy())  # fmt: skip
    assert clock.state is state
    if done is None:
        assert clock.left == due - now


def test_a_paused_weekend_keeps_a_clock_running_over_it() -> None:
    first, _ = compute_deadlines(FRIDAY_20H, "medium", PAUSED, zone=SH)
    sunday = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)  # Sunday noon
    clock = compute_clock("first_response", due_at=first, done_at=None, budget_hours=24,
                          now=sunday, policy=PAUSED, zone=SH)  # fmt: skip
    assert clock.state is ClockState.RUNNING
    assert clock.left == timedelta(hours=20)  # Monday 00:00 → 20:00 still to count


def test_parse_resolution_hours() -> None:
    assert parse_resolution_hours(" critical:12, high:24,medium:48 ,low:96") == {
        "critical": 12.0, "high": 24.0, "medium": 48.0, "low": 96.0,
    }  # fmt: skip
    for bad, says in [
        ("critical:24,high:48,medium:72", "lacks low"),
        ("critical:24,high:48,medium:72,low:0", "above 0"),
        ("critical:24,high:48,medium:72,low:x", "above 0"),
        ("urgent:4,critical:24,high:48,medium:72,low:120", "not severity:hours"),
        ("critical:24,critical:12,high:48,medium:72,low:120", "twice"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_resolution_hours(bad)


def test_settings_refuse_bad_resolution_hours_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="GUANXI_SLA_RESOLUTION_HOURS lacks low"):
        Settings(sla_resolution_hours="critical:24,high:48,medium:72")
    settings = Settings(sla_resolution_hours="critical:8,high:16,medium:24,low:48",
                        sla_pause_weekends=True)  # fmt: skip
    from guanxi.feedback.complaints import sla_policy

    policy = sla_policy(settings)
    assert policy.resolution_budget("low") == 48 and policy.pause_weekends
