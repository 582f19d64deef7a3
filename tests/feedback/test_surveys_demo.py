"""The demo's surveys: about 300 answers, deterministic, following the customers' behaviour."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from guanxi.feedback import satisfaction, surveys
from guanxi.services.demo import build_demo
from guanxi.services.demo.surveys import build_surveys
from guanxi.storage.db import Database
from guanxi.storage.models import Purchase, SurveyResponse

END = date(2026, 10, 31)


def _shop(db: Database) -> None:
    build_demo(db, seed=7, customers=400, end=END)


def _answers(db: Database) -> list[tuple[int | None, int | None, int | None, str | None]]:
    with db.read() as session:
        rows = session.execute(
            select(SurveyResponse.customer_id, SurveyResponse.nps, SurveyResponse.overall,
                   SurveyResponse.comment).order_by(SurveyResponse.id))  # fmt: skip
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_demo_surveys(db: Database, tmp_path: Path) -> None:
    _shop(db)
    made = build_surveys(db, END, seed=7)
    assert 250 <= made.responses <= 380 and made.links > made.responses
    assert made.promoters > 0 and made.detractors > 0
    assert made.rows()[0][1].startswith(f"{made.links:,} links")
    with db.read() as session:
        listed = surveys.list_surveys(session)
        report = satisfaction.satisfaction_report(session, as_of=END)
        days = dict(session.execute(
            select(Purchase.customer_id, func.count(Purchase.id)).group_by(Purchase.customer_id)
        ).all())  # fmt: skip
        last = session.execute(select(func.max(SurveyResponse.submitted_at))).scalar_one()
    assert {s.kind for s in listed} == {"nps", "expectation"}
    assert sum(s.responses for s in listed) == made.responses == report.responses
    assert report.promoters == made.promoters and report.nps is not None
    assert last.date() <= END
    figures = {a.attribute: a for a in report.attributes}
    assert set(figures) == set(surveys.DEFAULT_ATTRIBUTES)
    assert figures["speed"].gap < 0 < figures["service_attitude"].gap
    assert figures["speed"].importance > figures["environment"].importance
    answers = _answers(db)
    promoters = [days[c] for c, nps, _, _ in answers if nps is not None and nps >= 9 and c]
    detractors = [days[c] for c, nps, _, _ in answers if nps is not None and nps <= 6 and c]
    assert sum(promoters) / len(promoters) > sum(detractors) / len(detractors)
    other = Database(f"sqlite:///{tmp_path / 'again.db'}")
    other.migrate()
    _shop(other)
    assert build_surveys(other, END, seed=7) == made
    assert _answers(other) == answers
    other.dispose()
