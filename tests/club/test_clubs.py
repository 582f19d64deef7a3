"""Clubs: rules (tier and above, segment), sync joins and ends memberships, invitation clubs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from guanxi.club.clubs import change_members, check_rule, list_clubs, save_club, sync_members
from guanxi.errors import Conflict, InvalidInput
from guanxi.loyalty.tiers import Tier, tiers_as_json
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    ClubMember,
    CustomerScore,
    CustomerTier,
    LoyaltyProgram,
    Segment,
)
from tests.club.conftest import NOW
from tests.factories import make_customer

TIERS = [
    Tier("normal", "普通", 0),
    Tier("silver", "银卡", 1000),
    Tier("gold", "金卡", 5000),
    Tier("diamond", "钻石", 20000),
]


def _tiers(db: Database, held: dict[int, str]) -> None:
    with db.write() as s:
        s.add(LoyaltyProgram(rules={}, tiers=tiers_as_json(TIERS)))
        s.add_all(
            CustomerTier(
                customer_id=c, tier_key=k, since=date(2026, 1, 1), evaluated_on=date(2026, 1, 1)
            )
            for c, k in held.items()
        )


def _members(db: Database, club_id: int) -> dict[int, bool]:
    with db.read() as s:
        rows = s.execute(
            select(ClubMember.customer_id, ClubMember.left_at).where(ClubMember.club_id == club_id)
        ).all()
    return {cid: left is None for cid, left in rows}


def test_a_tier_club_takes_that_tier_and_above_and_sync_ends_those_who_fell(
    db: Database, manager: StaffMember
) -> None:
    silver, gold, diamond = (make_customer(db) for _ in range(3))
    _tiers(db, {silver: "silver", gold: "gold", diamond: "diamond"})
    club = save_club(db, manager, name="VIP俱乐部", rule={"tier": "gold"})
    first = sync_members(db, club.id, now=NOW, actor_id=manager.id)
    assert (first.joined, first.left, first.members) == (2, 0, 2)
    assert _members(db, club.id) == {gold: True, diamond: True}
    again = sync_members(db, club.id, now=NOW)
    assert (again.joined, again.left) == (0, 0)  # idempotent
    with db.write() as s:
        row = s.get(CustomerTier, gold)
        assert row is not None
        row.tier_key = "silver"
    later = sync_members(db, club.id, now=NOW + timedelta(days=1))
    assert (later.joined, later.left) == (0, 1)
    assert _members(db, club.id) == {gold: False, diamond: True}  # history kept
    with db.read() as s:
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions.count("club.members_changed") == 2  # the no-op sync records nothing
    assert "club.saved" in actions


def test_a_segment_club_follows_the_segment(db: Database, manager: StaffMember) -> None:
    a, b = make_customer(db), make_customer(db)
    with db.write() as s:
        for cid, rung in ((a, "loyal"), (b, "lapsed")):
            s.add(
                CustomerScore(
                    customer_id=cid,
                    month=date(2026, 10, 1),
                    computed_on=date(2026, 10, 31),
                    rung=rung,
                )
            )
        seg = Segment(name="忠诚客户", rules=[{"field": "rung", "op": "in", "value": ["loyal"]}])
        s.add(seg)
        s.flush()
        seg_id = seg.id
    club = save_club(db, manager, name="茶友会", rule={"segment_id": seg_id})
    assert sync_members(db, club.id, now=NOW).members == 1
    assert _members(db, club.id) == {a: True}


def test_rules_are_checked(db: Database, manager: StaffMember) -> None:
    _tiers(db, {})
    with db.read() as s:
        assert check_rule(s, {"invitation": True}) == {"invitation": True}
        for bad in (
            {},
            {"tier": "platinum"},
            {"segment_id": 999},
            {"tier": "gold", "invitation": True},
        ):
            with pytest.raises(InvalidInput):
                check_rule(s, bad)
    save_club(db, manager, name="妈妈俱乐部", rule={"invitation": True})
    with pytest.raises(Conflict):
        save_club(db, manager, name="妈妈俱乐部", rule={"invitation": True})


def test_staff_add_and_remove_members_of_an_invitation_club(
    db: Database, manager: StaffMember, store: int
) -> None:
    a, b = make_customer(db, home_store_id=store), make_customer(db, home_store_id=store)
    elsewhere = make_customer(db)
    club = save_club(db, manager, name="户外俱乐部", rule={"invitation": True})
    done = change_members(db, manager, club.id, add=[a, b], now=NOW, scope=store)
    assert (done.joined, done.members) == (2, 2)
    assert change_members(db, manager, club.id, add=[a], now=NOW, scope=store).joined == 0
    gone = change_members(db, manager, club.id, remove=[b], now=NOW, scope=store)
    assert (gone.left, gone.members) == (1, 1)
    back = change_members(db, manager, club.id, add=[b], now=NOW, scope=store)
    assert back.joined == 1 and _members(db, club.id) == {a: True, b: True}
    with pytest.raises(Exception, match="does not exist"):
        change_members(db, manager, club.id, add=[elsewhere], now=NOW, scope=store)
    assert sync_members(db, club.id, now=NOW).joined == 0  # by hand only
    assert [c.members for c in list_clubs_of(db)] == [2]


def list_clubs_of(db: Database) -> list:  # type: ignore[type-arg]
    with db.read() as s:
        return list_clubs(s)
