"""Satisfaction reports over survey responses, and satisfaction against behavioural loyalty.

- **NPS** per month (the last 12, by the shop's business date): promoters answered 9–10,
  passives 7–8, detractors 0–6; NPS = % promoters − % detractors (−100 to 100).
- **CSAT**: the mean of the 1–5 answers, and the share answering 4 or 5.
- **Expectation vs perception** per attribute: mean expected, mean perceived and the gap
  (perceived − expected; below zero the shop falls short of what customers expect).
- **Importance vs performance**: an attribute's importance is the Pearson correlation, over the
  responses, between its perceived score and the overall satisfaction (derived importance:
  what moves overall satisfaction matters); its performance is the mean perceived score. The
  quadrants split at the means over the attributes (Martilla & James 1977, "Importance-
  performance analysis", Journal of Marketing 41(1)): *concentrate here* (important, weak),
  *keep up the good work* (important, strong), *low priority* (neither), *possible overkill*
  (strong where it matters little).
- **Satisfaction × behavioural loyalty**: a customer is *satisfied* when their latest response
  says so (NPS ≥ 9, or CSAT ≥ 4, or overall ≥ 5) and *behaviourally loyal* when their latest
  score has P(alive) ≥ 0.5 and at least 2 purchase days. "Satisfied but leaving" and
  "dissatisfied but staying" are listed: the first need a reason to come back, the second are
  held by habit or convenience and go when a competitor offers it.

``satisfaction_signals`` gives the analytics loyalty-type scoring each customer's latest
normalised satisfaction (0–1) and whether they are a promoter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.feedback.surveys import nps_group
from guanxi.storage.models import (
    Customer,
    CustomerScore,
    Survey,
    SurveyAnswer,
    SurveyResponse,
)

MONTHS = 12
P_ALIVE_LOYAL = 0.5
MIN_PURCHASE_DAYS = 2
LIST_LIMIT = 100
QUADRANTS = {
    "concentrate_here": gettext_noop("Concentrate here"),
    "keep_up": gettext_noop("Keep up the good work"),
    "low_priority": gettext_noop("Low priority"),
    "possible_overkill": gettext_noop("Possible overkill"),
}


def compute_nps(promoters: int, passives: int, detractors: int) -> float | None:
    """% promoters − % detractors (None without answers)."""
    total = promoters + passives + detractors
    return None if total == 0 else 100.0 * (promoters - detractors) / total


def normalised(nps: int | None, csat: int | None, overall: int | None) -> float | None:
    """One response's satisfaction on 0–1: NPS/10, else (CSAT−1)/4, else (overall−1)/6."""
    if nps is not None:
        return nps / 10
    if csat is not None:
        return (csat - 1) / 4
    return None if overall is None else (overall - 1) / 6


def is_satisfied(nps: int | None, csat: int | None, overall: int | None) -> bool | None:
    """NPS ≥ 9, else CSAT ≥ 4, else overall ≥ 5 (None: the response says nothing)."""
    if nps is not None:
        return nps >= 9
    if csat is not None:
        return csat >= 4
    return None if overall is None else overall >= 5


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None with fewer than 3 pairs or a constant series."""
    if len(xs) < 3:
        return None
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if float(x.std()) == 0.0 or float(y.std()) == 0.0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def quadrant(importance: float, performance: float, *, importance_cut: float,
             performance_cut: float) -> str:  # fmt: skip
    """The importance–performance quadrant (a key of ``QUADRANTS``)."""
    if importance >= importance_cut:
        return "keep_up" if performance >= performance_cut else "concentrate_here"
    return "possible_overkill" if performance >= performance_cut else "low_priority"


# --- reading responses ---------------------------------------------------------------------------


def _scoped(query: Any, scope: int | None) -> Any:
    if scope is None:
        return query
    return query.join(Customer, Customer.id == SurveyResponse.customer_id).where(
        Customer.home_store_id == scope
    )


def _end_of(day: date, zone: str) -> datetime:
    """The first instant after ``day`` in the shop's zone, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True)
class NpsMonth:
    month: date
    promoters: int
    passives: int
    detractors: int

    @property
    def total(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float | None:
        return compute_nps(self.promoters, self.passives, self.detractors)


def nps_by_month(
    session: Session, *, as_of: date, scope: int | None = None, zone: str = "Asia/Shanghai",
    survey_id: int | None = None, months: int = MONTHS,
) -> list[NpsMonth]:  # fmt: skip
    """Promoters, passives and detractors of each of the ``months`` months up to ``as_of``."""
    first = add_months(as_of.replace(day=1), -(months - 1))
    start = datetime.combine(first, time(), ZoneInfo(zone)).astimezone(UTC)
    query = _scoped(select(SurveyResponse.submitted_at, SurveyResponse.nps), scope).where(
        SurveyResponse.nps.is_not(None), SurveyResponse.submitted_at >= start,
        SurveyResponse.submitted_at < _end_of(as_of, zone),
    )  # fmt: skip
    if survey_id is not None:
        query = query.where(SurveyResponse.survey_id == survey_id)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for at, score in session.execute(query):
        month = at.astimezone(ZoneInfo(zone)).date().replace(day=1)
        counts[month][nps_group(int(score))] += 1
    out = []
    for i in range(months):
        month = add_months(first, i)
        c = counts.get(month, {})
        out.append(NpsMonth(month, c.get("promoter", 0), c.get("passive", 0),
                            c.get("detractor", 0)))  # fmt: skip
    return out


@dataclass(frozen=True)
class AttributeFigures:
    """Expectation vs perception of one attribute, and its place in the IPA chart."""

    attribute: str
    responses: int
    expected: float
    perceived: float
    importance: float | None
    quadrant: str | None = None

    @property
    def gap(self) -> float:
        return self.perceived - self.expected


def attribute_figures(
    session: Session, *, as_of: date, scope: int | None = None, zone: str = "Asia/Shanghai",
    survey_id: int | None = None,
) -> list[AttributeFigures]:  # fmt: skip
    """Per attribute: means, gap, derived importance and quadrant (module docstring)."""
    query = _scoped(
        select(SurveyAnswer.attribute, SurveyAnswer.expected, SurveyAnswer.perceived,
               SurveyResponse.overall)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id), scope,
    ).where(SurveyResponse.submitted_at < _end_of(as_of, zone))  # fmt: skip
    if survey_id is not None:
        query = query.where(SurveyResponse.survey_id == survey_id)
    rows: dict[str, list[tuple[int, int, int | None]]] = defaultdict(list)
    for attribute, expected, perceived, overall in session.execute(query):
        rows[str(attribute)].append((int(expected), int(perceived), overall))
    found = []
    for attribute, answers in sorted(rows.items()):
        paired = [(p, o) for _, p, o in answers if o is not None]
        found.append(AttributeFigures(
            attribute, len(answers), float(np.mean([e for e, _, _ in answers])),
            float(np.mean([p for _, p, _ in answers])),
            correlation([p for p, _ in paired], [o for _, o in paired]),
        ))  # fmt: skip
    rated = [f for f in found if f.importance is not None]
    if not rated:
        return found
    imp_cut = float(np.mean([f.importance for f in rated if f.importance is not None]))
    perf_cut = float(np.mean([f.perceived for f in rated]))
    return [
        f if f.importance is None else AttributeFigures(
            f.attribute, f.responses, f.expected, f.perceived, f.importance,
            quadrant(f.importance, f.perceived, importance_cut=imp_cut, performance_cut=perf_cut))
        for f in found
    ]  # fmt: skip


@dataclass(frozen=True)
class Latest:
    """A customer's latest response (as of the report's day)."""

    customer_id: int
    response_id: int
    submitted_at: datetime
    nps: int | None
    csat: int | None
    overall: int | None


def latest_responses(
    session: Session, *, before: datetime, scope: int | None = None,
    customer_ids: Iterable[int] | None = None,
) -> dict[int, Latest]:  # fmt: skip
    """Each customer's latest response submitted before ``before`` (answered ones only)."""
    query = _scoped(
        select(SurveyResponse.customer_id, SurveyResponse.id, SurveyResponse.submitted_at,
               SurveyResponse.nps, SurveyResponse.csat, SurveyResponse.overall), scope,
    ).where(SurveyResponse.customer_id.is_not(None),
            SurveyResponse.submitted_at < before)  # fmt: skip
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    out: dict[int, Latest] = {}
    parts = [None] if wanted is None else [wanted[i : i + 5000] for i in range(0, len(wanted),
                                                                             5000)]  # fmt: skip
    for part in parts:
        q = query if part is None else query.where(SurveyResponse.customer_id.in_(part))
        for cid, rid, at, nps, csat, overall in session.execute(
            q.order_by(SurveyResponse.submitted_at, SurveyResponse.id)
        ):
            if is_satisfied(nps, csat, overall) is not None:
                out[int(cid)] = Latest(int(cid), int(rid), at, nps, csat, overall)
    return out


def satisfaction_signals(
    session: Session, customer_ids: Sequence[int], as_of: date, *, zone: str = "Asia/Shanghai"
) -> dict[int, tuple[float | None, bool]]:
    """customer → (normalised satisfaction 0–1 of the latest response up to ``as_of``, whether
    that response is a promoter's); customers who never answered are left out."""
    latest = latest_responses(session, before=_end_of(as_of, zone), customer_ids=customer_ids)
    return {cid: (normalised(r.nps, r.csat, r.overall), r.nps is not None and r.nps >= 9)
            for cid, r in latest.items()}  # fmt: skip


# --- satisfaction × behavioural loyalty ----------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A customer in one of the two telling cells of the grid."""

    customer_id: int
    name: str
    phone: str | None
    owner_staff_id: int | None
    nps: int | None
    csat: int | None
    overall: int | None
    p_alive: float | None
    purchase_days: int


@dataclass(frozen=True)
class LoyaltyGrid:
    """Counts of the 2×2 (satisfied × behaviourally loyal) and the two lists."""

    satisfied_loyal: int = 0
    satisfied_leaving: int = 0
    dissatisfied_staying: int = 0
    dissatisfied_leaving: int = 0
    leaving: list[Person] = field(default_factory=list)  # satisfied but leaving
    staying: list[Person] = field(default_factory=list)  # dissatisfied but staying


def _scores(session: Session, ids: Sequence[int], as_of: date) -> dict[int, tuple[Any, int]]:
    """customer → (p_alive, purchase_days) of the latest score computed up to ``as_of``."""
    out: dict[int, tuple[Any, int]] = {}
    for start in range(0, len(ids), 5000):
        part = list(ids[start : start + 5000])
        latest = (
            select(CustomerScore.customer_id, func.max(CustomerScore.month).label("month"))
            .where(CustomerScore.customer_id.in_(part), CustomerScore.computed_on <= as_of)
            .group_by(CustomerScore.customer_id).subquery()
        )  # fmt: skip
        rows = session.execute(
            select(CustomerScore.customer_id, CustomerScore.p_alive, CustomerScore.purchase_days)
            .join(latest, (latest.c.customer_id == CustomerScore.customer_id)
                  & (latest.c.month == CustomerScore.month))
        )  # fmt: skip
        out.update({int(c): (p, int(d or 0)) for c, p, d in rows})
    return out


def is_loyal(p_alive: float | None, purchase_days: int) -> bool:
    """Behaviourally loyal: P(alive) ≥ 0.5 and at least 2 purchase days."""
    return p_alive is not None and p_alive >= P_ALIVE_LOYAL and purchase_days >= MIN_PURCHASE_DAYS


def loyalty_grid(
    session: Session, *, as_of: date, scope: int | None = None, zone: str = "Asia/Shanghai",
    limit: int = LIST_LIMIT,
) -> LoyaltyGrid:  # fmt: skip
    """The satisfaction × behavioural loyalty grid of the customers who answered a survey."""
    latest = latest_responses(session, before=_end_of(as_of, zone), scope=scope)
    ids = sorted(latest)
    scores = _scores(session, ids, as_of)
    cells: dict[tuple[bool, bool], list[int]] = defaultdict(list)
    for cid in ids:
        r = latest[cid]
        p_alive, days = scores.get(cid, (None, 0))
        cells[(bool(is_satisfied(r.nps, r.csat, r.overall)), is_loyal(p_alive, days))].append(cid)
    people = _people(session, cells[(True, False)][:limit] + cells[(False, True)][:limit],
                     latest, scores)  # fmt: skip
    return LoyaltyGrid(
        len(cells[(True, True)]), len(cells[(True, False)]), len(cells[(False, True)]),
        len(cells[(False, False)]),
        [people[c] for c in cells[(True, False)][:limit] if c in people],
        [people[c] for c in cells[(False, True)][:limit] if c in people],
    )  # fmt: skip


def _people(
    session: Session, ids: list[int], latest: dict[int, Latest], scores: dict[int, tuple[Any, int]]
) -> dict[int, Person]:
    if not ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.name, Customer.phone, Customer.owner_staff_id)
        .where(Customer.id.in_(ids), Customer.erased_at.is_(None))
    )  # fmt: skip
    out = {}
    for cid, name, phone, owner in rows:
        r = latest[int(cid)]
        p_alive, days = scores.get(int(cid), (None, 0))
        out[int(cid)] = Person(int(cid), name, phone, owner, r.nps, r.csat, r.overall,
                               None if p_alive is None else float(p_alive), days)  # fmt: skip
    return out


# --- the whole report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SatisfactionReport:
    """Everything the satisfaction page and ``guanxi surveys report`` show."""

    as_of: date
    months: list[NpsMonth]
    csat_mean: float | None
    csat_count: int
    csat_satisfied: float | None  # share answering 4 or 5
    attributes: list[AttributeFigures]
    grid: LoyaltyGrid
    responses: int

    @property
    def promoters(self) -> int:
        return sum(m.promoters for m in self.months)

    @property
    def passives(self) -> int:
        return sum(m.passives for m in self.months)

    @property
    def detractors(self) -> int:
        return sum(m.detractors for m in self.months)

    @property
    def nps(self) -> float | None:
        """NPS over the whole 12 months."""
        return compute_nps(self.promoters, self.passives, self.detractors)

    def as_json(self) -> dict[str, Any]:
        grid = asdict(self.grid)
        for key in ("leaving", "staying"):
            grid[key] = [{"customer_id": p["customer_id"], "name": p["name"]} for p in grid[key]]
        return {
            "as_of": self.as_of.isoformat(), "responses": self.responses,
            "nps": self.nps, "promoters": self.promoters, "passives": self.passives,
            "detractors": self.detractors,
            "months": [{"month": m.month.isoformat(), "promoters": m.promoters,
                        "passives": m.passives, "detractors": m.detractors, "nps": m.nps}
                       for m in self.months],
            "csat": {"mean": self.csat_mean, "responses": self.csat_count,
                     "satisfied_share": self.csat_satisfied},
            "attributes": [{**asdict(a), "gap": a.gap} for a in self.attributes],
            "loyalty": grid,
        }  # fmt: skip


def _csat(session: Session, where: list[ColumnElement[bool]], scope: int | None
          ) -> tuple[float | None, int, float | None]:  # fmt: skip
    rows = session.execute(
        _scoped(select(SurveyResponse.csat), scope).where(SurveyResponse.csat.is_not(None), *where)
    ).scalars().all()  # fmt: skip
    if not rows:
        return None, 0, None
    return float(np.mean(rows)), len(rows), sum(1 for c in rows if c >= 4) / len(rows)


def satisfaction_report(
    session: Session, *, as_of: date, scope: int | None = None, zone: str = "Asia/Shanghai",
    survey_id: int | None = None,
) -> SatisfactionReport:  # fmt: skip
    """NPS per month, CSAT, attributes and the loyalty grid as of ``as_of`` (module docstring).

    ``scope``: a store's customers only (a manager's view); ``survey_id``: one survey's answers
    (the loyalty grid always uses each customer's latest response to any survey).
    """
    months = nps_by_month(session, as_of=as_of, scope=scope, zone=zone, survey_id=survey_id)
    where: list[ColumnElement[bool]] = [SurveyResponse.submitted_at < _end_of(as_of, zone)]
    if survey_id is not None:
        where.append(SurveyResponse.survey_id == survey_id)
    total = session.execute(
        _scoped(select(func.count(SurveyResponse.id)), scope).where(*where)
    ).scalar_one()  # fmt: skip
    csat = _csat(session, where, scope)
    attributes = attribute_figures(session, as_of=as_of, scope=scope, zone=zone,
                                   survey_id=survey_id)  # fmt: skip
    grid = loyalty_grid(session, as_of=as_of, scope=scope, zone=zone)
    return SatisfactionReport(as_of, months, csat[0], csat[1], csat[2], attributes, grid,
                              int(total))  # fmt: skip


def survey_names(session: Session) -> dict[int, str]:
    return {int(i): str(n) for i, n in session.execute(select(Survey.id, Survey.name))}


# --- one customer's answers (the customer page) ----------------------------------------------


@dataclass(frozen=True)
class CustomerAnswer:
    """One of the customer's survey responses as the customer page shows it; ``gap`` is the
    mean of perceived − expected over the attributes answered (None without attributes)."""

    response_id: int
    survey: str
    kind: str
    submitted_at: datetime
    nps: int | None
    nps_group: str | None
    csat: int | None
    overall: int | None
    repurchase: int | None
    share_of_wallet: int | None
    gap: float | None
    comment: str | None


def customer_answers(
    session: Session, customer_id: int, *, limit: int = 10
) -> list[CustomerAnswer]:
    """The customer's latest survey responses, newest first (at most ``limit``)."""
    rows = session.execute(
        select(SurveyResponse, Survey.name, Survey.kind)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc())
        .limit(limit)
    ).all()  # fmt: skip
    ids = [r[0].id for r in rows]
    gaps: dict[int, float] = {}
    if ids:
        gaps = {int(rid): float(g) for rid, g in session.execute(
            select(SurveyAnswer.response_id,
                   func.avg(SurveyAnswer.perceived - SurveyAnswer.expected))
            .where(SurveyAnswer.response_id.in_(ids))
            .group_by(SurveyAnswer.response_id)
        )}  # fmt: skip
    return [
        CustomerAnswer(
            response_id=r.id, survey=str(name), kind=str(kind), submitted_at=r.submitted_at,
            nps=r.nps, nps_group=None if r.nps is None else nps_group(r.nps), csat=r.csat,
            overall=r.overall, repurchase=r.repurchase, share_of_wallet=r.share_of_wallet,
            gap=gaps.get(r.id), comment=r.comment,
        )
        for r, name, kind in rows
    ]  # fmt: skip
