"""The demo shop's clubs and member events (俱乐部与活动), as of the demo's last day ``end``.

Runs after the loyalty history (``start_loyalty``: the member tiers exist, the points programme
is on), through the club services, so every lock, cache and ledger rule holds:

1. **Three clubs**: the VIP club (金卡 and above, by rule, synced), the mothers' club (妈妈俱乐部)
   and the outdoor club (茶山行俱乐部), both by invitation, with members drawn from the first
   store's customers.
2. **A monthly tea tasting** (月度品茶会, the 15th at 19:00, capacity 12, 20 points) starting
   five months before ``end``: the past occurrences have their guests confirmed and checked in
   (points credited through the ledger) and are marked done; the next one has its RSVPs and a
   waitlist.
3. **An outdoor day** two months before ``end`` (past, with attendance) and **the year-end
   gala** (年终答谢会) on 20 December after ``end`` (capacity 30): the VIP club confirms, the
   rest wait.

Deterministic: the members and guests are drawn from a ``random.Random`` seeded from the demo's
seed over rows read in id order, and every RSVP and check-in moment comes from the demo's
calendar. The services stamp audit entries, ledger entries and ``created_at`` with the real
clock, as in ``guanxi.services.demo.loyalty``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from guanxi.club import checkin, clubs, events, rsvp
from guanxi.domain.dates import add_months
from guanxi.domain.staff import Role
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services.demo.context import ProgressFn
from guanxi.services.staff import StaffMember, list_staff
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Store

SHANGHAI = ZoneInfo("Asia/Shanghai")
TASTING_CAPACITY = 12
GALA_CAPACITY = 30
STAGES = 4


@dataclass(frozen=True)
class ClubsDemo:
    """What the demo's clubs hold: counts for the CLI's summary and the tests."""

    clubs: int
    members: int
    events: int
    past_events: int
    check_ins: int
    points: int
    confirmed: int  # of the upcoming events
    waitlisted: int

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        return [
            ("Clubs", f"{self.clubs} ({self.members} members)"),
            ("Member events", f"{self.events} ({self.past_events} past, {self.check_ins} "
                              f"check-ins, {self.points:,} points)"),
            ("Upcoming RSVPs", f"{self.confirmed} confirmed, {self.waitlisted} waitlisted"),
        ]  # fmt: skip


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


class _Shop:
    def __init__(self, db: Database, end: date, rng: random.Random) -> None:
        self.db, self.end, self.rng = db, end, rng
        staff = list_staff(db)
        with db.read() as session:
            self.store = session.execute(select(Store.id).order_by(Store.id).limit(1)).scalar()
            rows = session.execute(
                select(Customer.id, Customer.gender).where(
                    Customer.erased_at.is_(None), Customer.home_store_id == self.store
                ).order_by(Customer.id)
            ).all()  # fmt: skip
            top = [t.key for t in defined_tiers(session)][-2:]
        self.manager: StaffMember = next(
            (m for m in staff if m.role is Role.MANAGER and m.store_id == self.store),
            next(m for m in staff if m.role is Role.OWNER),
        )
        self.customers = [int(c) for c, _ in rows]
        self.women = [int(c) for c, g in rows if g == "female"]
        self.vip_tier = top[0] if top else None
        self.check_ins = 0
        self.points = 0

    def pick(self, pool: list[int], n: int) -> list[int]:
        return sorted(self.rng.sample(pool, min(n, len(pool))))

    def attend(self, event_id: int, guests: list[int], day: date) -> None:
        """Guests confirm a week before and check in at the door; the event is then done."""
        for n, cid in enumerate(guests):
            rsvp.respond(self.db, event_id, cid, "confirm", now=_at(day - timedelta(days=7), 12, n))
        for n, cid in enumerate(guests):
            if self.rng.random() < 0.85:  # a few confirmed guests do not come
                done = checkin.check_in(self.db, self.manager.id, event_id, cid,
                                        now=_at(day, 18, 40 + n % 20))  # fmt: skip
                self.check_ins += 1
                self.points += done.points
        events.set_status(self.db, self.manager, event_id, "done")


def _clubs(shop: _Shop) -> list[int]:
    rule = {"tier": shop.vip_tier} if shop.vip_tier else {"invitation": True}
    vip = clubs.save_club(shop.db, shop.manager, name="VIP俱乐部", rule=rule,
                          description="金卡及以上会员：新茶品鉴、年终答谢会。")  # fmt: skip
    mothers = clubs.save_club(
        shop.db,
        shop.manager,
        name="妈妈俱乐部",
        rule={"invitation": True},
        description="亲子茶艺课、育儿交流。",
        store_id=shop.store,
    )
    outdoor = clubs.save_club(shop.db, shop.manager, name="茶山行俱乐部", rule={"invitation": True},
                              description="春秋两季茶山采风。")  # fmt: skip
    now = _at(shop.end - timedelta(days=150), 10)
    if shop.vip_tier:
        clubs.sync_members(shop.db, vip.id, now=now, actor_id=shop.manager.id)
    else:
        clubs.change_members(shop.db, shop.manager, vip.id, add=shop.pick(shop.customers, 30),
                             now=now)  # fmt: skip
    clubs.change_members(shop.db, shop.manager, mothers.id, add=shop.pick(shop.women, 12),
                         now=now)  # fmt: skip
    clubs.change_members(shop.db, shop.manager, outdoor.id, add=shop.pick(shop.customers, 15),
                         now=now)  # fmt: skip
    return [vip.id, mothers.id, outdoor.id]


def _tastings(shop: _Shop, club_id: int) -> tuple[list[int], int, int]:
    """The monthly series; returns its ids, the first one after ``end`` and how many are past."""
    first = add_months(shop.end.replace(day=15), -5)
    ids = events.create_event(shop.db, shop.manager, events.EventInput(
        name="月度品茶会", kind="lecture", store_id=shop.store, club_id=club_id,
        location="一楼茶室", starts_at=_at(first, 19), ends_at=_at(first, 21),
        capacity=TASTING_CAPACITY, attendance_points=20, recurrence="monthly",
    ))  # fmt: skip
    past = [i for n, i in enumerate(ids) if add_months(first, n) <= shop.end]
    for n, event_id in enumerate(past):
        shop.attend(event_id, shop.pick(shop.customers, TASTING_CAPACITY - 2),
                    add_months(first, n))  # fmt: skip
    return ids, ids[len(past)], len(past)


def _answers(shop: _Shop, event_id: int, guests: list[int], day: date) -> None:
    for n, cid in enumerate(guests):
        answer = "decline" if shop.rng.random() < 0.1 else "confirm"
        rsvp.respond(shop.db, event_id, cid, answer, now=_at(day, 9 + n // 60, n % 60))


def build_clubs(
    db: Database, end: date, *, seed: int = 42, progress: ProgressFn | None = None
) -> ClubsDemo:
    """Give the demo shop its clubs and events as of ``end`` (module docstring)."""
    report = progress or (lambda stage, done, total: None)
    shop = _Shop(db, end, random.Random(seed * 1_000_003 + 7))
    report("Clubs and events", 0, STAGES)
    club_ids = _clubs(shop)
    report("Clubs and events", 1, STAGES)
    series, upcoming, past = _tastings(shop, club_ids[0])
    report("Clubs and events", 2, STAGES)
    outing_day = end - timedelta(days=60)
    outing = events.create_event(db, shop.manager, events.EventInput(
        name="秋季茶山行", kind="outdoor", club_id=club_ids[2], location="杭州龙井村",
        starts_at=_at(outing_day, 8), ends_at=_at(outing_day, 17), attendance_points=50,
    ))[0]  # fmt: skip
    with db.read() as session:
        outdoor = clubs.member_ids(session, club_ids[2])
        vips = clubs.member_ids(session, club_ids[0])
    shop.attend(outing, outdoor, outing_day)
    gala_day = date(end.year if end < date(end.year, 12, 20) else end.year + 1, 12, 20)
    gala = events.create_event(db, shop.manager, events.EventInput(
        name="年终答谢会", kind="gala", club_id=club_ids[0], location="静安香格里拉宴会厅",
        starts_at=_at(gala_day, 18), ends_at=_at(gala_day, 21), capacity=GALA_CAPACITY,
        attendance_points=100,
    ))[0]  # fmt: skip
    report("Clubs and events", 3, STAGES)
    _answers(
        shop, upcoming, shop.pick(shop.customers, TASTING_CAPACITY + 4), end - timedelta(days=3)
    )
    _answers(shop, gala, (vips + shop.pick(shop.customers, GALA_CAPACITY))[: GALA_CAPACITY + 10],
             end - timedelta(days=2))  # fmt: skip
    report("Clubs and events", STAGES, STAGES)
    with db.read() as session:
        members = sum(c.members for c in clubs.list_clubs(session))
        coming = [events.get_event(session, i) for i in (upcoming, gala)]
    return ClubsDemo(len(club_ids), members, len(series) + 2, past + 1, shop.check_ins,
                     shop.points, sum(e.confirmed for e in coming),
                     sum(e.waitlisted for e in coming))  # fmt: skip
