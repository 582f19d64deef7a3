"""Satisfaction reports: NPS per month, CSAT, expectation gaps, importance vs performance, the
satisfaction × loyalty grid and the signals for the loyalty-type scoring (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert

from guanxi.feedback import satisfaction as sat
from guanxi.feedback import surveys
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerScore, Store, SurveyAnswer, SurveyResponse
from tests.factories import make_customer

AS_OF = date(2026, 11, 30)


def respond(db: Database, survey_id: int, customer_id: int | None, at: datetime,
            scores: dict[str, tuple[int, int]] | None = None, **values: int) -> int:  # fmt: skip
    with db.write() as session:
        row = SurveyResponse(survey_id=survey_id, customer_id=customer_id, submitted_at=at,
                             **values)  # fmt: skip
        session.add(row)
        session.flush()
        if scores:
            session.execute(insert(SurveyAnswer), [
                {"response_id": row.id, "attribute": a, "expected": e, "perceived": p}
                for a, (e, p) in scores.items()
            ])  # fmt: skip
        return row.id


def score(db: Database, customer_id: int, p_alive: float | None, days: int,
          month: date = date(2026, 11, 1)) -> None:  # fmt: skip
    with db.write() as session:
        session.add(CustomerScore(customer_id=customer_id, month=month, computed_on=month,
                                  rung="repeat", purchase_days=days, p_alive=p_alive))  # fmt: skip


def test_pure_figures() -> None:
    assert sat.compute_nps(0, 0, 0) is None
    assert sat.compute_nps(6, 2, 2) == pytest.approx(40.0)
    assert sat.compute_nps(0, 1, 3) == pytest.approx(-75.0)
    assert sat.normalised(10, None, None) == 1.0 and sat.normalised(None, 1, None) == 0.0
    assert sat.normalised(None, None, 4) == pytest.approx(0.5)
    assert sat.normalised(None, None, None) is None
    assert sat.is_satisfied(9, None, None) and not sat.is_satisfied(8, 5, 7)
    assert sat.is_satisfied(None, 4, None) and sat.is_satisfied(None, None, 5)
    assert sat.is_satisfied(None, None, 4) is False
    assert sat.correlation([1, 2], [1, 2]) is None and sat.correlation([3, 3, 3], [1, 2, 3]) is None
    assert sat.correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert sat.quadrant(0.9, 3, importance_cut=0.5, performance_cut=4) == "concentrate_here"
    assert sat.quadrant(0.9, 6, importance_cut=0.5, performance_cut=4) == "keep_up"
    assert sat.quadrant(0.1, 3, importance_cut=0.5, performance_cut=4) == "low_priority"
    assert sat.quadrant(0.1, 6, importance_cut=0.5, performance_cut=4) == "possible_overkill"
    assert sat.is_loyal(0.5, 2) and not sat.is_loyal(0.49, 9) and not sat.is_loyal(0.9, 1)
    assert not sat.is_loyal(None, 5)


def test_nps_by_month_uses_the_shops_months(db: Database) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    cid = make_customer(db)
    # 2026-10-31 17:00 UTC is 1 November 01:00 in Shanghai
    respond(db, sid, cid, datetime(2026, 10, 31, 17, 0, tzinfo=UTC), nps=10)
    respond(db, sid, cid, datetime(2026, 10, 31, 15, 0, tzinfo=UTC), nps=3)
    respond(db, sid, None, datetime(2026, 11, 5, tzinfo=UTC), nps=8)
    respond(db, sid, cid, datetime(2026, 12, 1, tzinfo=UTC), nps=0)  # after as_of
    respond(db, sid, cid, datetime(2025, 11, 1, tzinfo=UTC), nps=0)  # 13 months back
    with db.read() as session:
        months = sat.nps_by_month(session, as_of=AS_OF)
    assert len(months) == 12 and months[0].month == date(2025, 12, 1)
    assert months[-1].month == date(2026, 11, 1)
    nov, octo = months[-1], months[-2]
    assert (nov.promoters, nov.passives, nov.detractors, nov.nps) == (1, 1, 0, 50.0)
    assert (octo.detractors, octo.nps) == (1, -100.0)
    assert months[0].nps is None


def test_report_csat_attributes_and_scope(db: Database) -> None:
    with db.write() as session:
        a, b = Store(code="A", name="A"), Store(code="B", name="B")
        session.add_all([a, b])
        session.flush()
        store_a, store_b = a.id, b.id
    csat = surveys.save_survey(db, name="CSAT", kind="csat", actor_id=None)
    exp = surveys.save_survey(db, name="期望", kind="expectation",
                              attributes=["speed", "price_fairness"], actor_id=None)  # fmt: skip
    at = datetime(2026, 11, 10, tzinfo=UTC)
    for value, store in ((5, store_a), (4, store_a), (2, store_a), (1, store_b)):
        respond(db, csat, make_customer(db, home_store_id=store), at, csat=value)
    # speed moves with overall (important) and is weak; price is strong and does not matter
    rows = [(1, 2, 6, 2), (2, 3, 6, 6), (3, 4, 6, 3), (4, 5, 6, 5)]
    for overall, speed, price, _noise in rows:
        respond(
            db,
            exp,
            make_customer(db, home_store_id=store_a),
            at,
            overall=overall,
            repurchase=3,
            scores={"speed": (6, speed), "price_fairness": (5, price)},
        )
    with db.read() as session:
        everyone = sat.satisfaction_report(session, as_of=AS_OF)
        only_b = sat.satisfaction_report(session, as_of=AS_OF, scope=store_b)
        one = sat.satisfaction_report(session, as_of=AS_OF, survey_id=csat)
    assert everyone.responses == 8 and only_b.responses == 1 and one.responses == 4
    assert everyone.csat_mean == pytest.approx(3.0) and everyone.csat_count == 4
    assert everyone.csat_satisfied == pytest.approx(0.5)
    assert only_b.csat_mean == pytest.approx(1.0) and only_b.attributes == []
    figures = {f.attribute: f for f in everyone.attributes}
    speed, price = figures["speed"], figures["price_fairness"]
    assert (speed.responses, speed.expected, speed.perceived) == (4, 6.0, 3.5)
    assert speed.gap == pytest.approx(-2.5) and price.gap == pytest.approx(1.0)
    assert speed.importance == pytest.approx(1.0)
    assert price.importance is None  # a constant score correlates with nothing
    assert speed.quadrant is not None and price.quadrant is None
    data = everyone.as_json()
    assert data["csat"]["mean"] == pytest.approx(3.0) and len(data["months"]) == 12


def test_quadrants_split_at_the_means(db: Database) -> None:
    exp = surveys.save_survey(db, name="期望", kind="expectation",
                              attributes=["speed", "environment"], actor_id=None)  # fmt: skip
    at = datetime(2026, 11, 10, tzinfo=UTC)
    for overall, speed, env in ((1, 1, 7), (4, 4, 5), (7, 7, 6), (2, 3, 6)):
        respond(
            db,
            exp,
            make_customer(db),
            at,
            overall=overall,
            repurchase=3,
            scores={"speed": (5, speed), "environment": (5, env)},
        )
    with db.read() as session:
        figures = {f.attribute: f for f in sat.attribute_figures(session, as_of=AS_OF)}
    assert figures["speed"].importance > figures["environment"].importance
    assert figures["speed"].quadrant == "concentrate_here"  # matters, weaker than environment
    assert figures["environment"].quadrant == "possible_overkill"


def test_loyalty_grid_and_signals(db: Database) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    csat = surveys.save_survey(db, name="CSAT", kind="csat", actor_id=None)
    at = datetime(2026, 11, 10, tzinfo=UTC)
    happy_loyal, happy_leaving, sad_staying, sad_leaving, later = (
        make_customer(db) for _ in range(5)
    )
    respond(db, sid, happy_loyal, at, nps=9)
    score(db, happy_loyal, 0.8, 4)
    respond(db, sid, happy_leaving, at, nps=3)
    respond(db, csat, happy_leaving, datetime(2026, 11, 20, tzinfo=UTC), csat=5)  # latest wins
    score(db, happy_leaving, 0.2, 6)
    respond(db, sid, sad_staying, at, nps=10)
    respond(db, sid, sad_staying, datetime(2026, 11, 11, tzinfo=UTC), nps=6)
    score(db, sad_staying, 0.3, 3, month=date(2026, 10, 1))  # an older month...
    score(db, sad_staying, 0.9, 3)  # ...and the latest, which counts
    respond(db, sid, sad_leaving, at, nps=0)  # no score at all: not behaviourally loyal
    respond(db, sid, later, datetime(2026, 12, 2, tzinfo=UTC), nps=10)  # after as_of
    with db.read() as session:
        grid = sat.loyalty_grid(session, as_of=AS_OF)
        signals = sat.satisfaction_signals(session, [happy_loyal, happy_leaving, sad_staying,
                                                     later, 999_999], AS_OF)  # fmt: skip
    counts = (grid.satisfied_loyal, grid.satisfied_leaving, grid.dissatisfied_staying,
              grid.dissatisfied_leaving)  # fmt: skip
    assert counts == (1, 1, 1, 1)
    assert [p.customer_id for p in grid.leaving] == [happy_leaving]
    assert grid.leaving[0].csat == 5 and grid.leaving[0].p_alive == pytest.approx(0.2)
    assert [p.customer_id for p in grid.staying] == [sad_staying]
    assert signals == {happy_loyal: (pytest.approx(0.9), True), happy_leaving: (1.0, False),
                       sad_staying: (pytest.approx(0.6), False)}  # fmt: skip
