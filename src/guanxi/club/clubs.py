"""Clubs (俱乐部): who belongs, by a rule (a member tier, a saved segment) or by invitation.

A club's ``rule`` is one of:

* ``{"tier": "gold"}``: customers holding that member tier **or a higher one** (a VIP club for
  金卡 and above keeps its 钻石 members);
* ``{"segment_id": 3}``: the members of a saved segment now (over the latest scores);
* ``{"invitation": true}``: staff add and remove members by hand.

``sync_members`` brings a rule club up to date: customers who meet the rule join (``source``
'rule'), members who no longer meet it leave (``left_at``; the row keeps the history and a
customer who qualifies again rejoins). A club with a store takes that store's customers only.
Saving a club and every change of its members is audited (member ids only, no names).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, true, update
from sqlalchemy.orm import Session

from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services import audit
from guanxi.services.segments import latest_month, members_select, parse_rules
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Club, ClubMember, Customer, CustomerTier, Segment, Store

RULE_KINDS = ("tier", "segment", "invitation")
_CHUNK = 900


@dataclass(frozen=True)
class ClubView:
    """One club as pages and the CLI show it."""

    id: int
    name: str
    description: str | None
    rule: dict[str, Any]
    store_id: int | None
    is_active: bool
    members: int

    @property
    def rule_kind(self) -> str:
        return rule_kind(self.rule)

    @property
    def is_invitation(self) -> bool:
        return self.rule_kind == "invitation"


@dataclass(frozen=True)
class SyncResult:
    """What ``sync_members`` changed."""

    club_id: int
    joined: int
    left: int
    members: int


def rule_kind(rule: dict[str, Any]) -> str:
    """'tier', 'segment' or 'invitation'."""
    if "tier" in rule:
        return "tier"
    if "segment_id" in rule:
        return "segment"
    return "invitation"


def check_rule(session: Session, rule: dict[str, Any]) -> dict[str, Any]:
    """The rule, normalised; InvalidInput names what is wrong with it."""
    kinds = [k for k in ("tier", "segment_id", "invitation") if rule.get(k) not in (None, "")]
    if len(kinds) != 1:
        raise InvalidInput(
            'a club rule is one of {"tier": <tier code>}, {"segment_id": <id>} or '
            f'{{"invitation": true}} (found {rule!r})'
        )
    if kinds[0] == "tier":
        key = str(rule["tier"]).strip()
        known = [t.key for t in defined_tiers(session)]
        if key not in known:
            raise InvalidInput(f"no member tier {key!r}: use one of {', '.join(known) or '(none)'}")
        return {"tier": key}
    if kinds[0] == "segment_id":
        try:
            segment_id = int(rule["segment_id"])
        except (TypeError, ValueError):
            raise InvalidInput(f"segment_id must be a number, not {rule['segment_id']!r}") from None
        if session.get(Segment, segment_id) is None:
            raise InvalidInput(f"segment {segment_id} does not exist: save the segment first")
        return {"segment_id": segment_id}
    return {"invitation": True}


def _member_counts(session: Session, club_ids: list[int] | None = None) -> dict[int, int]:
    """Current members per club (one grouped query; ``club_ids`` None: every club)."""
    stmt = (select(ClubMember.club_id, func.count()).where(ClubMember.left_at.is_(None))
            .group_by(ClubMember.club_id))  # fmt: skip
    if club_ids is not None:
        stmt = stmt.where(ClubMember.club_id.in_(club_ids))
    return {int(c): int(n) for c, n in session.execute(stmt)}


def _view(session: Session, club: Club, members: int | None = None) -> ClubView:
    if members is None:
        members = _member_counts(session, [club.id]).get(club.id, 0)
    return ClubView(club.id, club.name, club.description, dict(club.rule or {}), club.store_id,
                    club.is_active, members)  # fmt: skip


def visible(scope: int | None) -> Any:
    """The clubs a viewer limited to ``scope`` sees: the shop-wide ones and their store's."""
    return true() if scope is None else (Club.store_id.is_(None)) | (Club.store_id == scope)


def list_clubs(session: Session, *, scope: int | None = None) -> list[ClubView]:
    """Clubs by name; a store's viewer sees the shop-wide clubs and their store's."""
    rows = list(session.execute(select(Club).where(visible(scope)).order_by(Club.name)).scalars())
    counts = _member_counts(session) if rows else {}
    return [_view(session, c, counts.get(c.id, 0)) for c in rows]


def get_club(session: Session, club_id: int, *, scope: int | None = None) -> ClubView:
    club = session.get(Club, club_id)
    if club is None or (scope is not None and club.store_id not in (None, scope)):
        raise NotFound(f"club {club_id} does not exist")
    return _view(session, club)


def save_club(
    db: Database,
    actor: StaffMember,
    *,
    name: str,
    rule: dict[str, Any],
    club_id: int | None = None,
    description: str | None = None,
    store_id: int | None = None,
    is_active: bool = True,
) -> ClubView:
    """Create a club (``club_id`` None) or change one; audited (CLUB_SAVED)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("a club needs a name of 1 to 100 characters")
    with db.write() as session:
        clean = check_rule(session, rule)
        if store_id is not None and session.get(Store, store_id) is None:
            raise InvalidInput(f"store {store_id} does not exist")
        clash = session.execute(select(Club.id).where(Club.name == name)).scalar()
        if clash is not None and clash != club_id:
            raise Conflict(f"a club named {name!r} exists already (club {clash})")
        if club_id is None:
            club = Club(name=name, rule=clean)
            session.add(club)
        else:
            found = session.get(Club, club_id)
            if found is None:
                raise NotFound(f"club {club_id} does not exist")
            club = found
        before = None if club_id is None else {"name": club.name, "rule": club.rule,
                                               "store_id": club.store_id,
                                               "is_active": club.is_active}  # fmt: skip
        club.name, club.rule, club.store_id, club.is_active = name, clean, store_id, is_active
        club.description = (description or "").strip() or None
        session.flush()
        after = {"name": name, "rule": clean, "store_id": store_id, "is_active": is_active}
        audit.record(session, audit.Action.CLUB_SAVED, actor_id=actor.id, target_type="club",
                     target_id=club.id, detail={"before": before, "after": after})  # fmt: skip
        return _view(session, club)


def tier_members(session: Session, tier: str, *,
                 store_id: int | None = None) -> Select[Any] | None:  # fmt: skip
    """The ids of the customers holding ``tier`` or a higher one (of ``store_id``; never erased
    ones); None when there is no such tier. Clubs' rules and invitations both use it."""
    keys = [t.key for t in defined_tiers(session)]
    if tier not in keys:
        return None
    stmt = (
        select(Customer.id).join(CustomerTier, CustomerTier.customer_id == Customer.id)
        .where(CustomerTier.tier_key.in_(keys[keys.index(tier):]), Customer.erased_at.is_(None))
    )  # fmt: skip
    if store_id is not None:
        stmt = stmt.where(Customer.home_store_id == store_id)
    return stmt


def segment_members(session: Session, segment_id: int, *,
                    store_id: int | None = None) -> Select[Any] | None:  # fmt: skip
    """The ids of a saved segment's members over the latest scores (of ``store_id``); None when
    the segment does not exist or nothing is scored yet."""
    segment = session.get(Segment, segment_id)
    month = latest_month(session)
    if segment is None or month is None:
        return None
    return members_select(parse_rules(segment.rules), month, store_scope=store_id)


def rule_member_ids(session: Session, club: Club) -> set[int]:
    """The customers who meet a tier or segment club's rule now (erased ones never)."""
    rule = dict(club.rule or {})
    kind = rule_kind(rule)
    if kind == "invitation":
        raise InvalidInput(f"club {club.id} is joined by invitation: add members by hand")
    if kind == "tier":
        stmt = tier_members(session, str(rule["tier"]), store_id=club.store_id)
    else:
        stmt = segment_members(session, int(rule["segment_id"]), store_id=club.store_id)
    return set() if stmt is None else set(session.execute(stmt).scalars())


def _active_ids(session: Session, club_id: int) -> set[int]:
    return set(session.execute(
        select(ClubMember.customer_id)
        .where(ClubMember.club_id == club_id, ClubMember.left_at.is_(None))
    ).scalars())  # fmt: skip


def _join(session: Session, club_id: int, ids: Collection[int], *, source: str,
          now: datetime) -> None:  # fmt: skip
    """Join ``ids`` (not members now): rejoin former members, add the others."""
    ordered = sorted(ids)
    former: set[int] = set()
    for n in range(0, len(ordered), _CHUNK):
        chunk = ordered[n : n + _CHUNK]
        former.update(session.execute(
            select(ClubMember.customer_id)
            .where(ClubMember.club_id == club_id, ClubMember.customer_id.in_(chunk))
        ).scalars())  # fmt: skip
        session.execute(
            update(ClubMember)
            .where(ClubMember.club_id == club_id, ClubMember.customer_id.in_(chunk))
            .values(left_at=None, joined_at=now, source=source)
        )  # fmt: skip
    session.add_all(ClubMember(club_id=club_id, customer_id=cid, source=source, joined_at=now)
                    for cid in ordered if cid not in former)  # fmt: skip
    session.flush()


def _leave(session: Session, club_id: int, ids: Collection[int], *, now: datetime) -> None:
    ordered = sorted(ids)
    for n in range(0, len(ordered), _CHUNK):
        session.execute(
            update(ClubMember)
            .where(ClubMember.club_id == club_id, ClubMember.customer_id.in_(ordered[n:n + _CHUNK]),
                   ClubMember.left_at.is_(None))
            .values(left_at=now)
        )  # fmt: skip


def _audit_members(session: Session, club_id: int, actor_id: int | None, joined: Sequence[int],
                   left: Sequence[int], how: str) -> None:  # fmt: skip
    if joined or left:
        audit.record(session, audit.Action.CLUB_MEMBERS_CHANGED, actor_id=actor_id,
                     target_type="club", target_id=club_id,
                     detail={"how": how, "joined": sorted(joined)[:200], "left": sorted(left)[:200],
                             "joined_count": len(joined), "left_count": len(left)})  # fmt: skip


def sync_members(db: Database, club_id: int, *, now: datetime,
                 actor_id: int | None = None) -> SyncResult:  # fmt: skip
    """Bring a tier or segment club's members up to the rule (idempotent; audited when it
    changes anything). An invitation club is left alone (``SyncResult`` with no change)."""
    with db.write() as session:
        club = session.get(Club, club_id)
        if club is None:
            raise NotFound(f"club {club_id} does not exist")
        active = _active_ids(session, club_id)
        if rule_kind(dict(club.rule or {})) == "invitation":
            return SyncResult(club_id, 0, 0, len(active))
        wanted = rule_member_ids(session, club) if club.is_active else set()
        joined, left = sorted(wanted - active), sorted(active - wanted)
        _join(session, club_id, joined, source="rule", now=now)
        _leave(session, club_id, left, now=now)
        _audit_members(session, club_id, actor_id, joined, left, "sync")
        return SyncResult(club_id, len(joined), len(left), len(wanted))


def sync_all(db: Database, *, now: datetime) -> list[SyncResult]:
    """``sync_members`` of every active rule club (for the nightly run)."""
    with db.read() as session:
        ids = list(session.execute(
            select(Club.id).where(Club.is_active.is_(True)).order_by(Club.id)
        ).scalars())  # fmt: skip
    return [sync_members(db, i, now=now) for i in ids]


def change_members(
    db: Database,
    actor: StaffMember,
    club_id: int,
    *,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
    now: datetime,
    scope: int | None = None,
) -> SyncResult:
    """Staff add or remove members of an invitation club (customers in ``scope`` only)."""
    with db.write() as session:
        club = session.get(Club, club_id)
        if club is None or (scope is not None and club.store_id not in (None, scope)):
            raise NotFound(f"club {club_id} does not exist")
        if rule_kind(dict(club.rule or {})) != "invitation":
            raise InvalidInput(f"club {club.name!r} follows its rule: change the rule, or sync it")
        wanted = set(add) | set(remove)
        stmt = select(Customer.id).where(Customer.id.in_(sorted(wanted)),
                                         Customer.erased_at.is_(None))  # fmt: skip
        if scope is not None:
            stmt = stmt.where(Customer.home_store_id == scope)
        found = set(session.execute(stmt).scalars())
        if missing := sorted(wanted - found):
            raise NotFound(f"customer {missing[0]} does not exist")
        active = _active_ids(session, club_id)
        joined = sorted(set(add) - active)
        left = sorted((set(remove) & active) - set(add))
        _join(session, club_id, joined, source="staff", now=now)
        _leave(session, club_id, left, now=now)
        _audit_members(session, club_id, actor.id, joined, left, "staff")
        return SyncResult(club_id, len(joined), len(left), len((active | set(joined)) - set(left)))


@dataclass(frozen=True)
class MemberRow:
    """One current member as a club page lists them."""

    customer_id: int
    name: str
    phone: str | None
    owner_staff_id: int | None
    source: str
    joined_at: datetime


def club_members(session: Session, club_id: int, *, scope: int | None = None,
                 limit: int = 500) -> list[MemberRow]:  # fmt: skip
    """Current members (newest first), within ``scope``."""
    stmt = (
        select(Customer.id, Customer.name, Customer.phone, Customer.owner_staff_id,
               ClubMember.source, ClubMember.joined_at)
        .join(ClubMember, ClubMember.customer_id == Customer.id)
        .where(ClubMember.club_id == club_id, ClubMember.left_at.is_(None))
        .order_by(ClubMember.joined_at.desc(), Customer.id).limit(limit)
    )  # fmt: skip
    if scope is not None:
        stmt = stmt.where(Customer.home_store_id == scope)
    return [MemberRow(*row) for row in session.execute(stmt)]


def member_ids(session: Session, club_id: int) -> list[int]:
    """The ids of a club's current members (ascending)."""
    return sorted(_active_ids(session, club_id))
