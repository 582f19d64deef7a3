"""The demo shop's surveys (问卷): an NPS survey sent in six monthly waves and an expectation-vs-
perception survey sent in three, with about 300 answers by the demo's last day (``end``).

Runs after the scores are computed (``build_surveys(db, end, seed=...)``), in one transaction,
inserting rows directly: the two surveys, one single-use link per invited customer (the token
drawn from the seeded generator, only its hash stored, as ``feedback.links`` does), the used
links' responses and the per-attribute answers.

Answers follow behaviour: customers who bought on more days and more recently (before the wave)
are likelier promoters; among the attributes, speed and service attitude move overall
satisfaction most, price fairness and speed fall short of expectations, service and quality
exceed them. Deterministic: one ``random.Random`` seeded from the demo's seed draws over rows
read in id order; every timestamp comes from ``end``, never the clock.
"""

from __future__ import annotations

import base64
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from guanxi.feedback.links import token_hash
from guanxi.feedback.surveys import DEFAULT_ATTRIBUTES
from guanxi.services.demo.context import SHANGHAI
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    PublicLink,
    Purchase,
    Survey,
    SurveyAnswer,
    SurveyResponse,
)

NPS_WAVES = (150, 120, 90, 60, 30, 10)  # days before the end each NPS wave went out
EXPECTATION_WAVES = (100, 55, 20)
NPS_PER_WAVE, EXPECTATION_PER_WAVE = 55, 60
ANSWER_RATE = {"nps": 0.6, "expectation": 0.55}
LINK_DAYS = 30
# how each attribute compares with expectations, and how much it moves overall satisfaction
BIAS = {"product_quality": 0.3, "price_fairness": -0.6, "service_attitude": 0.5, "speed": -0.8,
        "environment": 0.2}  # fmt: skip
WEIGHT = {"product_quality": 0.3, "price_fairness": 0.1, "service_attitude": 0.45, "speed": 0.5,
          "environment": 0.05}  # fmt: skip
COMMENTS = {
    "promoter": ("茶很好，店员也很专业，会推荐给朋友。", "每次来都很舒服，泡茶的小姐姐很耐心。",
                 "礼盒包装很体面，送人有面子。"),
    "passive": ("总体不错，价格再实惠一点就好了。", "茶不错，就是周末人多要等。"),
    "detractor": ("上次买的茶有点受潮，希望改进。", "结账等了很久，店员不太理人。",
                  "价格比网上贵不少。"),
}  # fmt: skip


@dataclass(frozen=True)
class SurveysDemo:
    """What the demo's surveys hold: counts for the CLI's summary and the tests."""

    surveys: int
    links: int
    responses: int
    promoters: int
    detractors: int

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        return [("Surveys (NPS, expectation vs perception)",
                 f"{self.links:,} links sent, {self.responses:,} answers "
                 f"({self.promoters} promoters, {self.detractors} detractors)")]  # fmt: skip


@dataclass(frozen=True)
class _Buyer:
    id: int
    store_id: int | None
    days: list[date]  # purchase days, in order


def _buyers(session: Session) -> list[_Buyer]:
    days: dict[int, set[date]] = defaultdict(set)
    stores: dict[int, int | None] = {}
    rows = session.execute(
        select(Purchase.customer_id, Purchase.purchased_at, Customer.home_store_id)
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(Customer.erased_at.is_(None)).order_by(Purchase.customer_id, Purchase.id)
    )  # fmt: skip
    for cid, at, store in rows:
        days[int(cid)].add(at.astimezone(SHANGHAI).date())
        stores[int(cid)] = store
    return [_Buyer(cid, stores[cid], sorted(days[cid])) for cid in sorted(days)]


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _loyalty(buyer: _Buyer, day: date) -> float:
    """0–1: purchase days before ``day`` and how recent the last one was."""
    before = [d for d in buyer.days if d <= day]
    if not before:
        return 0.0
    recency = max(0.0, 1 - (day - before[-1]).days / 365)
    return min(1.0, len(before) / 6) * 0.6 + recency * 0.4


class _Builder:
    def __init__(self, session: Session, end: date, rng: random.Random) -> None:
        self.session, self.end, self.rng = session, end, rng
        self.links: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []

    def at(self, day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour, self.rng.randrange(60)), SHANGHAI).astimezone(UTC)

    def survey(self, name: str, kind: str, attributes: list[str], days_before: int) -> int:
        row = Survey(name=name, kind=kind, attributes=attributes, is_active=True,
                     intro="感谢您抽出一分钟，您的意见会帮助我们做得更好。",
                     created_at=self.at(self.end - timedelta(days=days_before), 9))  # fmt: skip
        self.session.add(row)
        self.session.flush()
        return row.id

    def invite(self, survey_id: int, kind: str, buyer: _Buyer, sent: date) -> None:
        """One link; answered (used) at the kind's rate, a few days after, by the end."""
        sent_at = self.at(sent, 10)
        answered_on = sent + timedelta(days=self.rng.randrange(0, 6))
        answers = self.rng.random() < ANSWER_RATE[kind] and answered_on <= self.end
        token = base64.urlsafe_b64encode(self.rng.randbytes(24)).decode()
        link_id = len(self.links)  # an index until the links are inserted
        used_at = self.at(answered_on, self.rng.randrange(10, 21)) if answers else None
        if used_at is not None and used_at <= sent_at:
            used_at = sent_at + timedelta(hours=2)
        self.links.append({
            "token_hash": token_hash(token), "purpose": "survey",
            "customer_id": buyer.id, "store_id": buyer.store_id, "survey_id": survey_id,
            "event_id": None, "complaint_id": None, "max_uses": 1, "uses": 1 if answers else 0,
            "created_at": sent_at, "expires_at": sent_at + timedelta(days=LINK_DAYS),
            "last_used_at": used_at,
        })  # fmt: skip
        if used_at is not None:
            loyalty = _loyalty(buyer, sent)
            if kind == "nps":
                self._nps(survey_id, buyer.id, link_id, used_at, loyalty)
            else:
                self._expectation(survey_id, buyer.id, link_id, used_at, loyalty)

    def _response(self, values: dict[str, Any]) -> int:
        rid = len(self.responses)  # an index until the responses are inserted
        base = {"nps": None, "csat": None, "overall": None, "repurchase": None,
                "share_of_wallet": None, "comment": None, "complaint_id": None}  # fmt: skip
        self.responses.append({**base, **values})
        return rid

    def _nps(self, sid: int, cid: int, link: int, at: datetime, loyalty: float) -> None:
        score = _clip(5.8 + 4.0 * loyalty + self.rng.gauss(0, 1.7), 0, 10)
        group = "promoter" if score >= 9 else "detractor" if score <= 6 else "passive"
        comment = self.rng.choice(COMMENTS[group]) if self.rng.random() < 0.35 else None
        self._response({"survey_id": sid, "customer_id": cid, "link_id": link,
                        "submitted_at": at, "nps": score, "comment": comment})  # fmt: skip

    def _expectation(self, sid: int, cid: int, link: int, at: datetime, loyalty: float) -> None:
        person = 1.2 * (loyalty - 0.4) + self.rng.gauss(0, 0.5)
        gaps: dict[str, tuple[int, int]] = {}
        for attribute in DEFAULT_ATTRIBUTES:
            expected = _clip(self.rng.gauss(5.4, 0.8), 1, 7)
            perceived = _clip(expected + BIAS[attribute] + person + self.rng.gauss(0, 0.9), 1, 7)
            gaps[attribute] = (expected, perceived)
        drive = sum(WEIGHT[a] * (p - 4) for a, (_, p) in gaps.items())
        overall = _clip(4.3 + drive + self.rng.gauss(0, 0.6), 1, 7)
        rid = self._response({
            "survey_id": sid, "customer_id": cid, "link_id": link, "submitted_at": at,
            "overall": overall, "repurchase": _clip(overall * 5 / 7 + self.rng.gauss(0, 0.6), 1, 5),
            "share_of_wallet": _clip(15 + 9 * overall + self.rng.gauss(0, 12), 0, 100),
        })  # fmt: skip
        self.answers += [{"response_id": rid, "attribute": a, "expected": e, "perceived": p}
                         for a, (e, p) in gaps.items()]  # fmt: skip

    def flush(self) -> None:
        """Insert the links, then the responses with their links' ids, then the answers."""
        link_ids = self._insert(PublicLink, self.links)
        for r in self.responses:
            r["link_id"] = link_ids[r["link_id"]]
        response_ids = self._insert(SurveyResponse, self.responses)
        for a in self.answers:
            a["response_id"] = response_ids[a["response_id"]]
        if self.answers:
            self.session.execute(insert(SurveyAnswer), self.answers)

    def _insert(self, table: type[PublicLink] | type[SurveyResponse], rows: list[dict[str, Any]]
                ) -> list[int]:  # fmt: skip
        if not rows:
            return []
        stmt = insert(table).returning(table.id, sort_by_parameter_order=True)
        return [int(i) for i in self.session.execute(stmt, rows).scalars()]


def _waves(builder: _Builder, buyers: list[_Buyer], survey_id: int, kind: str,
           waves: tuple[int, ...], per_wave: int) -> None:  # fmt: skip
    """Each wave invites customers who bought before it and were not invited yet."""
    invited: set[int] = set()
    for days_before in waves:
        sent = builder.end - timedelta(days=days_before)
        fresh = [b for b in buyers if b.id not in invited and b.days[0] < sent]
        for buyer in builder.rng.sample(fresh, min(per_wave, len(fresh))):
            invited.add(buyer.id)
            builder.invite(survey_id, kind, buyer, sent)


def build_surveys(db: Database, end: date, *, seed: int = 42) -> SurveysDemo:
    """Give the demo shop its surveys and answers as of ``end`` (module docstring)."""
    rng = random.Random(seed * 1_000_003 + 7)
    with db.write() as session:
        builder = _Builder(session, end, rng)
        buyers = _buyers(session)
        nps = builder.survey("顾客推荐意愿（NPS）", "nps", [], max(NPS_WAVES) + 5)
        attributes = list(DEFAULT_ATTRIBUTES)
        expectation = builder.survey("购物体验：期望与感知", "expectation", attributes,
                                     max(EXPECTATION_WAVES) + 5)  # fmt: skip
        _waves(builder, buyers, nps, "nps", NPS_WAVES, NPS_PER_WAVE)
        _waves(builder, buyers, expectation, "expectation", EXPECTATION_WAVES,
               EXPECTATION_PER_WAVE)  # fmt: skip
        builder.flush()
    scores = [r["nps"] for r in builder.responses if r["nps"] is not None]
    promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
    return SurveysDemo(2, len(builder.links), len(builder.responses), promoters, detractors)
