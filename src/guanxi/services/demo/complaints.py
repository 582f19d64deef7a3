"""The demo shop's complaints (投诉): 40 over the six months before the demo's last day (``end``),
in every state, so the list, the clocks, the agenda and the report have something to show.

* 28 older ones, resolved within hours or days (a few late) with each kind of recovery
  (apology, replacement, refund, a coupon of the 投诉补偿券 campaign, points through the
  ledger); most closed, many rated by the customer through their satisfaction link;
* 12 recent ones around ``end`` (judged at noon, shop time): open with the first response
  due within hours, open and overdue (escalated to the store's manager with a task on their
  agenda, as ``guanxi daily`` does), in progress (one reopened), resolved and waiting for the
  customer's rating.

Runs after the scores (``build_complaints(db, end, seed=...)``) in one transaction, inserting the
complaints and their events directly with timestamps from ``end``; the points and coupons go
through the loyalty services (their entries carry the build's time, as the demo's other points
do). Links' tokens come from the seeded generator (only their hashes are stored). Deterministic:
one ``random.Random`` seeded from the demo's seed draws over rows read in id order.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.care.tasks import ensure_tasks
from guanxi.feedback.complaint_steps import RECOVERY_ACTIONS
from guanxi.feedback.complaints import DEFAULT_POLICY, add_event
from guanxi.feedback.escalation import ESCALATION_TITLE
from guanxi.feedback.links import token_hash
from guanxi.feedback.sla import compute_deadlines
from guanxi.loyalty import coupons, ledger
from guanxi.services.demo.context import SHANGHAI
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Complaint,
    CouponCampaign,
    Customer,
    PublicLink,
    Purchase,
    Staff,
)

OLD, RECENT = 28, 12
DAYS = 180
CAMPAIGN = "投诉补偿券"
SUMMARIES = {
    "product": ("买的龙井有受潮的味道，要求换货。", "紫砂壶到手发现壶盖有裂纹。",
                "礼盒里少了一罐茶。", "白茶饼有霉点，很担心。"),
    "service": ("店员泡茶时态度敷衍，问了几次都不理。", "预约的品鉴会被临时取消，没人通知。",
                "电话咨询一直没人回。"),
    "price": ("同款茶叶比网店贵了不少。", "会员价没有生效，多付了钱。"),
    "delivery": ("快递送晚了三天，错过了送礼的日子。", "礼盒在运输中被压坏了。"),
    "environment": ("周末店里太吵，没法安静品茶。", "洗手间不干净。"),
    "other": ("积分没有到账。", "发票开错了抬头。"),
}  # fmt: skip
RESPONSES = ("已致电客户致歉，了解了详细情况。", "已加客户微信，请客户发照片。",
             "已回电说明处理方案，客户同意等待。")  # fmt: skip
RESOLUTIONS = {
    "apology": "店长当面致歉，客户表示理解。",
    "replacement": "已为客户更换新品并送到家。",
    "refund": "已按原价退款。",
    "coupon": "致歉并赠送一张补偿券。",
    "points": "致歉并补偿积分。",
}
CATEGORY_WEIGHTS = (("product", 40), ("service", 25), ("delivery", 12), ("price", 10),
                    ("environment", 6), ("other", 7))  # fmt: skip
SEVERITY_WEIGHTS = (("low", 20), ("medium", 45), ("high", 27), ("critical", 8))
CHANNEL_WEIGHTS = (("counter", 35), ("phone", 30), ("wechat", 25), ("email", 5), ("link", 5))


@dataclass
class ComplaintsDemo:
    """What the demo's complaints hold: counts for the CLI's summary and the tests."""

    by_status: dict[str, int] = field(default_factory=dict)
    escalated: int = 0
    rated: int = 0
    recoveries: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        states = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.by_status.items()))
        return [("Complaints", f"{sum(self.by_status.values())} ({states}); "
                               f"{self.escalated} escalated, {self.rated} rated")]  # fmt: skip


@dataclass(frozen=True)
class _People:
    customers: list[tuple[int, int]]  # (customer, store) of buyers, in id order
    clerks: dict[int, list[int]]
    managers: dict[int, int]
    owner: int


def _pick(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weights], [w for _, w in weights])[0]


def _people(session: Session) -> _People:
    buyers = session.execute(
        select(Customer.id, Customer.home_store_id)
        .where(Customer.erased_at.is_(None), Customer.home_store_id.is_not(None),
               select(Purchase.id).where(Purchase.customer_id == Customer.id).exists())
        .order_by(Customer.id)
    ).all()  # fmt: skip
    clerks: dict[int, list[int]] = {}
    managers: dict[int, int] = {}
    owner = 0
    for sid, role, store in session.execute(
        select(Staff.id, Staff.role, Staff.store_id).where(Staff.is_active.is_(True))
        .order_by(Staff.id)
    ):  # fmt: skip
        if role == "owner" and not owner:
            owner = sid
        elif role == "manager" and store is not None:
            managers.setdefault(store, sid)
        elif role == "clerk" and store is not None:
            clerks.setdefault(store, []).append(sid)
    return _People([(int(c), int(s)) for c, s in buyers if s is not None], clerks, managers, owner)


def _campaign(session: Session) -> int:
    found = session.execute(
        select(CouponCampaign.id).where(CouponCampaign.name == CAMPAIGN)
    ).scalar()
    if found is not None:
        return int(found)
    row = CouponCampaign(name=CAMPAIGN, kind="fixed", value=Decimal(30), is_active=True,
                         min_spend=Decimal(100), uses_per_code=1)  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


class _Builder:
    def __init__(self, session: Session, end: date, rng: random.Random) -> None:
        self.s, self.rng = session, rng
        self.noon = datetime.combine(end, time(12), SHANGHAI).astimezone(UTC)
        self.people = _people(session)
        self.campaign = _campaign(session)
        self.report = ComplaintsDemo()
        self.turn = 0

    def staff(self, store: int) -> tuple[int, int]:
        """(clerk, manager) of a store (the owner stands in for a missing one)."""
        manager = self.people.managers.get(store, self.people.owner)
        clerks = self.people.clerks.get(store) or [manager]
        return self.rng.choice(clerks), manager

    def open(self, customer: int, store: int, at: datetime) -> Complaint:
        category = _pick(self.rng, CATEGORY_WEIGHTS)
        severity = _pick(self.rng, SEVERITY_WEIGHTS)
        first, resolution = compute_deadlines(at, severity, DEFAULT_POLICY)
        clerk, _ = self.staff(store)
        row = Complaint(
            customer_id=customer, store_id=store, category=category, severity=severity,
            channel=_pick(self.rng, CHANNEL_WEIGHTS),
            summary=self.rng.choice(SUMMARIES[category]), status="open", opened_at=at,
            first_response_due_at=first, resolution_due_at=resolution, recovery_points=0,
            created_by_staff_id=clerk,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        add_event(self.s, row.id, "opened", at=at, actor_id=clerk)
        return row

    def respond(self, row: Complaint, at: datetime) -> None:
        clerk, _ = self.staff(row.store_id or 0)
        row.first_response_at, row.status = at, "in_progress"
        add_event(self.s, row.id, "responded", at=at, actor_id=clerk,
                  note=self.rng.choice(RESPONSES))  # fmt: skip

    def resolve(self, row: Complaint, at: datetime, action: str) -> None:
        _, manager = self.staff(row.store_id or 0)
        if action == "points":
            points = self.rng.choice((100, 200, 300, 500))
            ledger.earn(self.s, row.customer_id or 0, points, source_type="complaint",
                        source_id=row.id, expires_on=None, reason=f"complaint #{row.id} recovery",
                        explanation={"complaint_id": row.id},
                        idempotency_key=f"complaint:{row.id}:points", actor_id=manager)  # fmt: skip
            row.recovery_points = points
        elif action == "coupon":
            issued = coupons.issue_in(self.s, self.campaign, row.customer_id or 0,
                                      actor_id=manager)  # fmt: skip
            row.recovery_coupon_id = issued.id
        note = RESOLUTIONS[action]
        if action == "refund":
            note = f"refund {Decimal(self.rng.choice((38, 68, 128, 258))):.2f}: {note}"
        row.status, row.resolved_at, row.recovery_action = "resolved", at, action
        row.resolution_note = RESOLUTIONS[action]
        add_event(self.s, row.id, "resolved", at=at, actor_id=manager, note=note)
        self.report.recoveries[action] = self.report.recoveries.get(action, 0) + 1

    def link(self, row: Complaint, at: datetime, *, used: bool) -> None:
        token = base64.urlsafe_b64encode(self.rng.randbytes(24)).decode("ascii")
        self.s.add(PublicLink(token_hash=token_hash(token), purpose="satisfaction",
                              customer_id=row.customer_id, store_id=row.store_id,
                              complaint_id=row.id, max_uses=1, uses=1 if used else 0,
                              created_at=at, expires_at=at + timedelta(days=14),
                              last_used_at=at + timedelta(hours=20) if used else None))  # fmt: skip

    def escalate(self, row: Complaint) -> None:
        _, manager = self.staff(row.store_id or 0)
        at = row.first_response_due_at + timedelta(hours=1)
        row.escalated_at, row.escalated_to_staff_id = at, manager
        add_event(self.s, row.id, "escalated", at=at, actor_id=None, note="SLA")
        ensure_tasks(self.s, [{
            "kind": "other", "customer_id": row.customer_id, "assignee_staff_id": manager,
            "store_id": row.store_id, "due_on": at.astimezone(SHANGHAI).date(),
            "title": ESCALATION_TITLE.format(id=row.id),
            "source_key": f"complaint-escalation:{row.id}",
        }])  # fmt: skip
        self.report.escalated += 1

    def next_recovery(self) -> str:
        self.turn += 1
        return RECOVERY_ACTIONS[self.turn % len(RECOVERY_ACTIONS)]


def _old(b: _Builder, customer: int, store: int, days_ago: float) -> Complaint:
    """A complaint of weeks or months ago: answered, resolved, mostly closed and rated."""
    at = b.noon - timedelta(days=days_ago, hours=b.rng.uniform(0, 8))
    row = b.open(customer, store, at)
    first = at + timedelta(hours=b.rng.choice((1, 2, 3, 5, 8, 20, 30)))
    b.respond(row, first)
    budget = (row.resolution_due_at - at).total_seconds() / 3600
    done = first + timedelta(hours=budget * b.rng.uniform(0.2, 1.3))
    b.resolve(row, done, b.next_recovery())
    rated = b.rng.random() < 0.7
    b.link(row, done, used=rated)
    if rated:
        row.satisfaction = b.rng.choices((1, 2, 3, 4, 5), (5, 8, 20, 37, 30))[0]
        add_event(b.s, row.id, "satisfaction", at=done + timedelta(hours=20), actor_id=None,
                  note=str(row.satisfaction))  # fmt: skip
        b.report.rated += 1
    if b.rng.random() < 0.8:
        row.status, row.closed_at = "closed", done + timedelta(days=2)
        add_event(b.s, row.id, "closed", at=row.closed_at, actor_id=None)
    return row


def _recent(b: _Builder, n: int, customer: int, store: int) -> Complaint:
    """The twelve recent ones, by their place in the list (see the module docstring)."""
    hours_ago = (20, 21, 22, 30, 36, 44, 10, 40, 60, 50, 70, 80)[n]
    row = b.open(customer, store, b.noon - timedelta(hours=hours_ago))
    if n in (3, 4, 5):  # open, first response overdue: escalated by the daily run
        b.escalate(row)
    elif n in (6, 7, 8, 11):  # in progress
        b.respond(row, row.opened_at + timedelta(hours=2))
        if n == 11:  # resolved, then reopened
            b.resolve(row, row.opened_at + timedelta(hours=20), "apology")
            row.status, row.resolved_at = "in_progress", None
            add_event(b.s, row.id, "reopened", at=row.opened_at + timedelta(hours=40),
                      actor_id=row.created_by_staff_id, note="客户说问题还在。")  # fmt: skip
    elif n in (9, 10):  # resolved, waiting for the rating
        b.respond(row, row.opened_at + timedelta(hours=1))
        done = row.opened_at + timedelta(hours=30)
        b.resolve(row, done, b.next_recovery())
        b.link(row, done, used=False)
    return row


def build_complaints(db: Database, end: date, *, seed: int = 42) -> ComplaintsDemo:
    """Give the demo shop its complaints as of ``end`` (module docstring)."""
    rng = random.Random(seed * 1_000_003 + 11)
    with db.write() as session:
        b = _Builder(session, end, rng)
        if not b.people.customers or not b.people.owner:
            return b.report
        chosen = rng.sample(b.people.customers, min(OLD + RECENT, len(b.people.customers)))
        ages = sorted((rng.uniform(15, DAYS) for _ in range(OLD)), reverse=True)
        rows = [_old(b, c, s, age) for (c, s), age in zip(chosen[:OLD], ages, strict=False)]
        rows += [_recent(b, n, c, s) for n, (c, s) in enumerate(chosen[OLD:])]
        for row in rows:
            b.report.by_status[row.status] = b.report.by_status.get(row.status, 0) + 1
    return b.report
