"""The demo's complaints: about 40 in every state, recoveries through the loyalty engine,
consistent clocks, the same rows for the same seed (both DBs)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select

from guanxi.feedback.complaint_lists import Filters, list_complaints
from guanxi.feedback.complaints import DEFAULT_POLICY
from guanxi.feedback.sla import ClockState
from guanxi.services.demo import DEMO_END, build_demo
from guanxi.services.demo.complaints import build_complaints
from guanxi.services.demo.context import SHANGHAI
from guanxi.storage.db import Database
from guanxi.storage.models import CareTask, Complaint, ComplaintEvent, PointsEntry, PublicLink


def test_the_demo_has_complaints_in_every_state(db: Database) -> None:
    build_demo(db, customers=300)
    report = build_complaints(db, DEMO_END, seed=42)
    assert sum(report.by_status.values()) == 40
    assert set(report.by_status) == {"open", "in_progress", "resolved", "closed"}
    assert set(report.recoveries) == {"apology", "replacement", "refund", "coupon", "points"}
    assert report.escalated == 3 and report.rated > 10
    assert report.rows()[0][0] == "Complaints"
    noon = datetime.combine(DEMO_END, time(12), SHANGHAI).astimezone(UTC)
    with db.read() as s:
        rows = list_complaints(s, scope=None, filters=Filters(), now=noon, policy=DEFAULT_POLICY)
        states = {r.first.state for r in rows if r.status == "open"}
        points = s.execute(select(func.sum(PointsEntry.points))
                           .where(PointsEntry.source_type == "complaint")).scalar()  # fmt: skip
        given = s.execute(select(func.sum(Complaint.recovery_points))).scalar()
        tasks = s.execute(
            select(func.count()).select_from(CareTask)
            .where(CareTask.source_key.like("complaint-escalation:%"))
        ).scalar_one()  # fmt: skip
        links = s.execute(select(func.count()).select_from(PublicLink)
                          .where(PublicLink.purpose == "satisfaction")).scalar_one()  # fmt: skip
        late_events = s.execute(
            select(func.count()).select_from(ComplaintEvent)
            .where(ComplaintEvent.at > noon + timedelta(days=1))
        ).scalar_one()  # fmt: skip
    assert states == {ClockState.NEAR, ClockState.BREACHED}
    assert points == given and given > 0
    assert tasks == 3 and links >= 28
    assert late_events == 0  # nothing after the demo's day


def _complaints(database: Database) -> list[tuple[object, ...]]:
    with database.read() as s:
        return [tuple(r) for r in s.execute(
            select(Complaint.id, Complaint.customer_id, Complaint.category, Complaint.severity,
                   Complaint.opened_at, Complaint.status, Complaint.satisfaction,
                   Complaint.recovery_action).order_by(Complaint.id)
        )]  # fmt: skip


def test_the_same_seed_gives_the_same_complaints(
    db: Database, sqlite_template: Path, tmp_path: Path
) -> None:
    other_path = tmp_path / "other.db"
    shutil.copyfile(sqlite_template, other_path)
    other = Database(f"sqlite:///{other_path}")
    try:
        for database in (db, other):
            build_demo(database, customers=120)
            build_complaints(database, DEMO_END, seed=7)
        assert _complaints(db) == _complaints(other)
        assert len(_complaints(db)) == 40
    finally:
        other.dispose()
