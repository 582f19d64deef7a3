"""The scoring job on a real database: snapshots per month, model reuse, prospects, thin data."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.analytics import ladder, loyalty_type, rfm
from guanxi.services.scoring import ScoringOptions, month_ends, run_scoring, score_history
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerScore,
    ModelFit,
    Product,
    Purchase,
    PurchaseLine,
    Store,
)
from tests.factories import make_customer

AS_OF = date(2025, 12, 31)


def _shop(db: Database, buyers: int, *, seed: int = 3, spend_varies: bool = True) -> dict[str, int]:
    """``buyers`` customers buying like a BG/NBD population over 2025, plus one prospect."""
    rng = random.Random(seed)
    ids: dict[str, int] = {}
    with db.write() as session:
        store = Store(code="S", name="S")
        tea = Product(sku="tea", name="Tea", category="tea")
        cup = Product(sku="cup", name="Cup", category="ware")
        session.add_all([store, tea, cup])
        session.flush()
        store_id, products = store.id, (tea.id, cup.id)
    ids["prospect"] = make_customer(
        db, created_at=datetime(2025, 1, 1, tzinfo=UTC), home_store_id=store_id
    )
    order = 0
    for n in range(buyers):
        customer = make_customer(
            db, created_at=datetime(2025, 1, 1, tzinfo=UTC), home_store_id=store_id
        )
        ids[f"c{n}"] = customer
        rate = rng.gammavariate(1.0, 1 / 25)  # purchases per day
        level = rng.gammavariate(4, 60)
        dropout = rng.betavariate(1, 6)
        day = datetime(2025, 1, 1, 3, tzinfo=UTC) + timedelta(days=rng.randrange(200))
        with db.write() as session:
            while day.date() <= AS_OF:
                order += 1
                drawn = round(rng.gammavariate(6, level / 6) + 10)  # same draws either way
                price = Decimal(drawn if spend_varies else 300)
                purchase = Purchase(store_id=store_id, external_order_id=f"o{order}",
                                    customer_id=customer, purchased_at=day, total_amount=price,
                                    is_promotion=rng.random() < 0.2)  # fmt: skip
                session.add(purchase)
                session.flush()
                session.add(PurchaseLine(purchase_id=purchase.id, line_no=1,
                                         product_id=rng.choice(products), quantity=Decimal(1),
                                         unit_price=price, amount=price))  # fmt: skip
                if rng.random() < dropout:
                    break
                day += timedelta(days=max(1, int(rng.expovariate(rate))))
    return ids


def _options(**overrides: object) -> ScoringOptions:
    return ScoringOptions(as_of=overrides.pop("as_of", AS_OF), **overrides)  # type: ignore[arg-type]


def test_scores_every_customer_with_models_and_reuses_the_fit(db: Database) -> None:
    ids = _shop(db, 120)
    first = run_scoring(db, _options(as_of=AS_OF - timedelta(days=5)))
    assert first.refitted and set(first.model) == {"bgnbd", "gamma_gamma"}
    assert first.customers == 121 and first.buyers == 120
    with db.read() as session:
        rows = {s.customer_id: s for s in session.execute(select(CustomerScore)).scalars()}
        fits = session.execute(select(func.count()).select_from(ModelFit)).scalar_one()
    assert fits == 2
    assert rows[ids["prospect"]].rung == "prospect"
    assert rows[ids["prospect"]].p_alive is None and rows[ids["prospect"]].r_score is None
    buyers = [rows[ids[f"c{n}"]] for n in range(120)]
    for s in buyers:
        assert s.month == date(2025, 12, 1) and s.computed_on == AS_OF - timedelta(days=5)
        assert s.rung in ladder.RUNG_KEYS and s.rung != "prospect"
        assert s.rfm_segment in rfm.SEGMENT_KEYS and s.china_class in rfm.CHINA_CLASS_KEYS
        assert s.loyalty_type in loyalty_type.LOYALTY_TYPE_KEYS
        assert s.p_alive is not None and 0 <= s.p_alive <= 1
        assert s.churn_risk is not None and 0 <= s.churn_risk <= 1
        assert s.p_active_12m is not None and 0 <= s.p_active_12m <= 1
        assert s.clv_12m is not None and s.clv_12m >= 0
        assert s.expected_purchases_90d is not None and s.expected_purchases_90d >= 0
        assert s.evidence["categories_total"] == 2
        assert 1 <= s.r_score <= 5  # type: ignore[operator]
    # A customer who has not bought for long is riskier than a frequent, recent one.
    recent = min(buyers, key=lambda s: (s.days_since_last or 0) - s.purchase_days)
    stale = max(buyers, key=lambda s: (s.days_since_last or 0) - s.purchase_days)
    assert recent.churn_risk is not None and stale.churn_risk is not None
    assert recent.churn_risk < stale.churn_risk

    # Again in the same month: the month's rows are replaced and the stored fit reused.
    again = run_scoring(db, _options())
    assert not again.refitted and "reused" in again.model_note
    assert again.model == first.model
    with db.read() as session:
        months = session.execute(
            select(CustomerScore.month, func.count()).group_by(CustomerScore.month)
        ).all()
        computed = set(session.execute(select(CustomerScore.computed_on)).scalars())
    assert months == [(date(2025, 12, 1), 121)]
    assert computed == {AS_OF}
    refit = run_scoring(db, _options(refit=True))
    assert refit.refitted


def test_spend_alike_for_everyone_gives_p_alive_without_clv(db: Database) -> None:
    _shop(db, 120, spend_varies=False)
    report = run_scoring(db, _options())
    assert set(report.model) == {"bgnbd"} and "no CLV" in report.model_note, report.model_note
    with db.read() as session:
        scores = session.execute(select(CustomerScore).where(CustomerScore.r_score.is_not(None)))
        rows = scores.scalars().all()
    assert rows and all(s.p_alive is not None and s.clv_12m is None for s in rows)


def test_thin_data_gives_rungs_without_model_figures(db: Database) -> None:
    ids = _shop(db, 5)
    report = run_scoring(db, _options())
    assert report.model == {} and "repeat buyers" in report.model_note
    with db.read() as session:
        scores = session.execute(select(CustomerScore)).scalars().all()
    assert len(scores) == 6
    assert all(s.p_alive is None and s.clv_12m is None for s in scores)
    assert {s.rung for s in scores if s.customer_id != ids["prospect"]} <= set(ladder.RUNG_KEYS)


def test_erased_and_later_customers_are_not_scored(db: Database) -> None:
    ids = _shop(db, 3)
    late = make_customer(db, created_at=datetime(2026, 3, 1, tzinfo=UTC))
    with db.write() as session:
        erased = session.get(Customer, ids["c0"])
        assert erased is not None
        erased.erased_at = datetime(2025, 12, 1, tzinfo=UTC)
    run_scoring(db, _options())
    with db.read() as session:
        scored = set(session.execute(select(CustomerScore.customer_id)).scalars())
    assert ids["c0"] not in scored and late not in scored
    assert {ids["c1"], ids["c2"], ids["prospect"]} <= scored


def test_history_writes_one_snapshot_per_month(db: Database) -> None:
    _shop(db, 30)
    progress: list[tuple[str, int, int]] = []
    reports = score_history(db, _options(), months=3, progress=lambda *a: progress.append(a))
    assert [r.as_of for r in reports] == [date(2025, 10, 31), date(2025, 11, 30), AS_OF]
    assert [p[1:] for p in progress] == [(1, 3), (2, 3), (3, 3)]
    with db.read() as session:
        months = session.execute(
            select(CustomerScore.month).distinct().order_by(CustomerScore.month)
        ).scalars()
        assert list(months) == [date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)]


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (date(2026, 3, 15), [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 15)]),
        (date(2024, 3, 31), [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]),
    ],
)
def test_month_ends(end: date, expected: list[date]) -> None:
    assert month_ends(end, 3) == expected


def test_a_shop_without_purchases_has_only_prospects(db: Database) -> None:
    for _ in range(3):
        make_customer(db, created_at=datetime(2025, 1, 1, tzinfo=UTC))
    report = run_scoring(db, _options())
    assert (report.customers, report.buyers, report.model) == (3, 0, {})
    with db.read() as session:
        rungs = session.execute(select(CustomerScore.rung)).scalars().all()
    assert rungs == ["prospect"] * 3


def test_the_shops_thresholds_decide_the_rungs(db: Database) -> None:
    from guanxi.analytics.ladder import LadderThresholds
    from guanxi.analytics.thresholds import Thresholds

    _shop(db, 60)
    run_scoring(db, _options())
    strict = Thresholds(ladder=LadderThresholds(active_days=20, lapsed_after_days=30,
                                                lost_after_days=40))  # fmt: skip
    run_scoring(db, _options(as_of=date(2026, 1, 31), thresholds=strict))
    with db.read() as session:
        rows = session.execute(
            select(CustomerScore.month, CustomerScore.rung, CustomerScore.days_since_last)
        ).all()
    for month, rung, since in rows:
        if month == date(2026, 1, 1) and since is not None and since > 40:
            assert rung == "lost"
    default_lost = sum(1 for m, r, _ in rows if m == date(2025, 12, 1) and r == "lost")
    strict_lost = sum(1 for m, r, _ in rows if m == date(2026, 1, 1) and r == "lost")
    assert strict_lost > default_lost


def test_promoters_and_event_goers_feed_the_ladder_and_the_loyalty_types(db: Database) -> None:
    """A survey promoter (NPS 9–10) who buys again is an advocate; attending member events and
    a high satisfaction are signs of emotional loyalty (issue 7 feeds the scores)."""
    from guanxi.storage.models import ClubEvent, EventRsvp, Survey, SurveyResponse

    ids = _shop(db, 30)
    run_scoring(db, _options())
    with db.read() as session:
        rows = session.execute(
            select(CustomerScore.customer_id, CustomerScore.rung)
            .where(CustomerScore.rung.in_(("repeat", "loyal")))
            .order_by(CustomerScore.customer_id)
        ).all()  # fmt: skip
    assert rows, "the shop needs a repeat buyer"
    fan = int(rows[0][0])
    at = datetime(2025, 12, 1, 4, tzinfo=UTC)
    with db.write() as session:
        survey = Survey(name="NPS", kind="nps", attributes=[])
        event = ClubEvent(name="品茶会", starts_at=at, kind="lecture")
        session.add_all([survey, event])
        session.flush()
        session.add(SurveyResponse(survey_id=survey.id, customer_id=fan, submitted_at=at, nps=10))
        session.add(EventRsvp(event_id=event.id, customer_id=fan, status="confirmed",
                              checked_in_at=at))  # fmt: skip
    run_scoring(db, _options())
    with db.read() as session:
        score = session.execute(
            select(CustomerScore).where(CustomerScore.customer_id == fan,
                                        CustomerScore.month == date(2025, 12, 1))
        ).scalar_one()  # fmt: skip
    assert score.rung == "advocate"
    assert ids["prospect"] != fan
    # the same customer scored before the answer and the event: not an advocate then
    assert dict(rows)[fan] in ("repeat", "loyal")
