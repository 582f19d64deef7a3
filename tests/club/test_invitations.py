"""Invitations: the guest list, one message each with a working link, consent, idempotency."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from guanxi.club.clubs import change_members, save_club
from guanxi.club.invitations import Audience, plan_invitations, send_invitations
from guanxi.club.rsvp import respond, respond_by_link
from guanxi.errors import InvalidInput
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import EventRsvp, Message, PublicLink
from tests.club.conftest import NOW, grant, make_event
from tests.factories import make_customer


def _club_of(db: Database, manager: StaffMember, ids: list[int]) -> int:
    club = save_club(db, manager, name="茶友会", rule={"invitation": True})
    change_members(db, manager, club.id, add=ids, now=NOW)
    return club.id


def test_the_members_are_listed_and_the_consenting_ones_get_a_link(
    db: Database, manager: StaffMember
) -> None:
    ids = [make_customer(db, name=f"张{n}", gender="female") for n in range(4)]
    grant(db, ids[:3])
    club = _club_of(db, manager, ids)
    event = make_event(db, manager)
    respond(db, event, ids[0], "confirm", now=NOW)
    audience = Audience(club_id=club)
    plan = plan_invitations(db, event, audience, channel="sms", now=NOW)
    assert (plan.audience, plan.already_invited, plan.to_message) == (4, 1, 3)
    assert dict(plan.excluded) == {"no_consent": 1}
    sent = send_invitations(
        db,
        manager,
        event,
        audience,
        channel="sms",
        now=NOW,
        public_url="https://shop.example/",
        shop="静心茶舍",
    )
    assert sent.queued == 3
    with db.read() as s:
        rsvps = dict(
            s.execute(
                select(EventRsvp.customer_id, EventRsvp.status).where(EventRsvp.event_id == event)
            ).all()
        )
        messages = s.execute(select(Message).order_by(Message.customer_id)).scalars().all()
        links = s.execute(select(PublicLink)).scalars().all()
    assert rsvps == {
        ids[0]: "confirmed",
        ids[1]: "invited",
        ids[2]: "invited",
        ids[3]: "invited",
    }  # existing answers are kept
    assert [m.customer_id for m in messages] == ids[:3]
    assert all(
        m.is_marketing and m.dedupe_key == f"event:{event}:{m.customer_id}" for m in messages
    )
    body = messages[1].body
    assert "秋季品茶会" in body and "静心茶舍" in body and "静安店二楼茶室" in body
    assert "11月9日 10:00" in body  # the local time
    assert {(link.purpose, link.event_id, link.max_uses) for link in links} == {("rsvp", event, 5)}
    token = re.search(r"https://shop\.example/e/([A-Za-z0-9_-]{32})", body)
    assert token is not None
    assert respond_by_link(db, token.group(1), "confirm", now=NOW).customer_id == ids[1]


def test_sending_again_queues_only_the_newly_reachable(db: Database, manager: StaffMember) -> None:
    ids = [make_customer(db) for _ in range(3)]
    grant(db, ids[:1])
    club = _club_of(db, manager, ids)
    event = make_event(db, manager)
    audience = Audience(club_id=club)
    assert send_invitations(db, manager, event, audience, channel="sms", now=NOW).queued == 1
    assert send_invitations(db, manager, event, audience, channel="sms", now=NOW).queued == 0
    grant(db, ids[1:2])
    again = plan_invitations(db, event, audience, channel="sms", now=NOW)
    assert (again.already_invited, again.already_messaged, again.to_message) == (3, 1, 1)
    assert send_invitations(db, manager, event, audience, channel="sms", now=NOW).queued == 1
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(EventRsvp)).scalar_one() == 3
        assert s.execute(select(func.count()).select_from(PublicLink)).scalar_one() == 2


def test_one_audience_at_a_time(db: Database, manager: StaffMember) -> None:
    event = make_event(db, manager)
    with pytest.raises(InvalidInput):
        plan_invitations(db, event, Audience(), channel="sms", now=NOW)
    with pytest.raises(InvalidInput):
        plan_invitations(db, event, Audience(club_id=1, tier="gold"), channel="sms", now=NOW)
