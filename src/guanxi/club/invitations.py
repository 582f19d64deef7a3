"""Inviting customers to an event: a club's members, a saved segment, or a member tier.

``plan_invitations`` is the dry run: how many are in the audience, how many are invited
already, and how many cannot get a message now and why (``care.outbox.exclusions``: an
invitation is marketing, so consent on the channel and the weekly cap apply).
``send_invitations`` puts everyone in the audience on the guest list (``EventRsvp`` 'invited';
existing answers are kept) and, to those who may get it, queues one message each with their
own RSVP link (``feedback.links``, purpose 'rsvp', a few uses so they can change their answer,
expiring when the event ends). The message's dedupe key ``event:<event>:<customer>`` makes a
second send queue nothing twice: only people not messaged before (say, consent given since)
get one. Customers the viewer may not see (another store) are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.care import outbox
from guanxi.care.templating import contexts, shop_name
from guanxi.club import messages
from guanxi.club.clubs import member_ids, segment_members, tier_members
from guanxi.club.events import lock_event, open_for_answers, zone_of
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.links import issue_links, link_path
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Club,
    ClubEvent,
    Customer,
    EventRsvp,
    Message,
    Segment,
)

LINK_USES = 5  # a guest may change their answer a few times
_CHUNK = 900


@dataclass(frozen=True)
class Audience:
    """Who to invite: exactly one of a club, a saved segment or a member tier (and above)."""

    club_id: int | None = None
    segment_id: int | None = None
    tier: str | None = None

    def check(self) -> None:
        given = [x for x in (self.club_id, self.segment_id, self.tier) if x not in (None, "")]
        if len(given) != 1:
            raise InvalidInput("invite one audience: a club, a segment or a member tier")


@dataclass
class InvitationPlan:
    """The dry run of an invitation (or what a send did)."""

    audience: int = 0
    already_invited: int = 0  # on the guest list before
    already_messaged: int = 0  # got this event's invitation before
    excluded: Counter[str] = field(default_factory=Counter)  # reason -> how many
    to_message: int = 0
    queued: int = 0


def audience_ids(session: Session, audience: Audience, *, scope: int | None) -> list[int]:
    """The customers of an audience, in ``scope``, never erased ones (ascending)."""
    audience.check()
    if audience.segment_id is not None:
        if session.get(Segment, audience.segment_id) is None:
            raise NotFound(f"segment {audience.segment_id} does not exist")
        found = segment_members(session, audience.segment_id, store_id=scope)
        return [] if found is None else sorted(session.execute(found).scalars())
    if audience.tier not in (None, ""):
        tiered = tier_members(session, str(audience.tier), store_id=scope)
        if tiered is None:
            keys = [t.key for t in defined_tiers(session)]
            raise InvalidInput(f"no member tier {audience.tier!r}: use one of "
                               f"{', '.join(keys) or '(none)'}")  # fmt: skip
        return sorted(session.execute(tiered).scalars())
    assert audience.club_id is not None
    if session.get(Club, audience.club_id) is None:
        raise NotFound(f"club {audience.club_id} does not exist")
    ids = member_ids(session, audience.club_id)
    stmt = select(Customer.id).where(Customer.erased_at.is_(None))
    if scope is not None:
        stmt = stmt.where(Customer.home_store_id == scope)
    kept: list[int] = []
    for n in range(0, len(ids), _CHUNK):
        kept.extend(session.execute(stmt.where(Customer.id.in_(ids[n : n + _CHUNK]))).scalars())
    return sorted(kept)


def _existing(session: Session, event_id: int, ids: list[int]) -> tuple[set[int], set[int]]:
    """(on the guest list, messaged before) among ``ids``."""
    listed: set[int] = set()
    keys = {f"event:{event_id}:{cid}": cid for cid in ids}
    messaged: set[int] = set()
    for n in range(0, len(ids), _CHUNK):
        chunk = ids[n : n + _CHUNK]
        listed.update(session.execute(
            select(EventRsvp.customer_id)
            .where(EventRsvp.event_id == event_id, EventRsvp.customer_id.in_(chunk))
        ).scalars())  # fmt: skip
        wanted = [f"event:{event_id}:{cid}" for cid in chunk]
        messaged.update(keys[k] for k in session.execute(
            select(Message.dedupe_key).where(Message.dedupe_key.in_(wanted))
        ).scalars())  # fmt: skip
    return listed, messaged


def _plan(session: Session, event_id: int, ids: list[int], channel: str,
          now: datetime) -> tuple[InvitationPlan, list[int], set[int]]:  # fmt: skip
    listed, messaged = _existing(session, event_id, ids)
    fresh = [cid for cid in ids if cid not in messaged]
    excluded = outbox.exclusions(session, fresh, channel, now=now, is_marketing=True)
    plan = InvitationPlan(audience=len(ids), already_invited=len(listed),
                          already_messaged=len(messaged),
                          excluded=Counter(excluded.values()))  # fmt: skip
    to_message = [cid for cid in fresh if cid not in excluded]
    plan.to_message = len(to_message)
    return plan, to_message, listed


def plan_invitations(db: Database, event_id: int, audience: Audience, *, channel: str,
                     now: datetime, scope: int | None = None) -> InvitationPlan:  # fmt: skip
    """The dry run: counts only, nothing written."""
    with db.read() as session:
        ev = session.get(ClubEvent, event_id)
        if ev is None:
            raise NotFound(f"event {event_id} does not exist")
        ids = audience_ids(session, audience, scope=scope)
        return _plan(session, event_id, ids, channel, now)[0]


def send_invitations(
    db: Database,
    actor: StaffMember,
    event_id: int,
    audience: Audience,
    *,
    channel: str,
    now: datetime,
    locale: str = "zh_CN",
    public_url: str = "",
    shop: str | None = None,
    scope: int | None = None,
) -> InvitationPlan:
    """Put the audience on the guest list and queue their invitations (module docstring);
    audited as EVENT_SAVED with the counts (there is no action of its own for invitations)."""
    if locale not in messages.LOCALES:
        raise InvalidInput(f"locale is one of {', '.join(messages.LOCALES)}, not {locale!r}")
    with db.write() as session:
        ev = lock_event(session, event_id)
        if not open_for_answers(ev, now):
            raise Conflict(f"event {ev.name!r} is {ev.status} or over: invite to a planned one")
        ids = audience_ids(session, audience, scope=scope)
        plan, to_message, listed = _plan(session, event_id, ids, channel, now)
        session.add_all(EventRsvp(event_id=event_id, customer_id=cid, status="invited",
                                  invited_at=now) for cid in ids if cid not in listed)  # fmt: skip
        session.flush()
        plan.queued = _queue(session, ev, to_message, channel=channel, now=now, locale=locale,
                             public_url=public_url, shop=shop)  # fmt: skip
        audit.record(session, audit.Action.EVENT_SAVED, actor_id=actor.id, target_type="event",
                     target_id=event_id,
                     detail={"invited": plan.audience - plan.already_invited,
                             "messages": plan.queued, "channel": channel,
                             "audience": {k: v for k, v in vars(audience).items() if v},
                             "excluded": dict(plan.excluded)})  # fmt: skip
        return plan


def _queue(session: Session, ev: ClubEvent, ids: list[int], *, channel: str, now: datetime,
           locale: str, public_url: str, shop: str | None) -> int:  # fmt: skip
    if not ids:
        return 0
    end = ev.ends_at or ev.starts_at + timedelta(hours=4)  # the link lives until the event ends
    tokens = issue_links(session, "rsvp", ids, now=now, max_uses=LINK_USES, event_id=ev.id,
                         expires_at=min(end, now + timedelta(days=366)),
                         store_id=ev.store_id)  # fmt: skip
    zone = zone_of(session, ev.store_id)
    extra = {"event": ev.name, "when": messages.when_text(ev.starts_at, zone, locale),
             "place": ev.location or ""}  # fmt: skip
    values = contexts(session, ids, locale=locale, shop=shop_name(session, shop), now=now)
    base = public_url.rstrip("/")
    drafts = []
    for cid, token in zip(ids, tokens, strict=True):
        variables = {**values[cid], **extra, "link": base + link_path("rsvp", token)}
        subject, body = messages.render_text(messages.INVITATION[locale], variables)
        drafts.append(outbox.Draft(cid, channel, subject, body, f"event:{ev.id}:{cid}"))
    return outbox.queue(session, drafts, now=now)
