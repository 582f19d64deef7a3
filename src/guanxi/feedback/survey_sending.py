"""Sending a survey: a dry run (who gets it, who is excluded and why), then one single-use
survey link and one invitation per customer, through the outbox.

The audience is resolved exactly as campaigns resolve theirs (``care.campaigns.Audience``: a
saved segment, a tier, a store, explicit customers). A survey is marketing: consent, opt-out and
the weekly cap apply (``care.outbox.exclusions``). A customer already sent the survey (the
outbox key ``survey:<survey>:<customer>``) is not sent it again. Audited as ``survey.sent`` and
``links.issued``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.care import outbox, templating
from guanxi.care.campaigns import Audience, audience_members, check_audience
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.links import issue_links, link_path
from guanxi.feedback.surveys import CHANNELS, INVITATION, dedupe_key, texts
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Message, Survey

# --- sending -------------------------------------------------------------------------------------


@dataclass
class SendPlan:
    """Who a survey would go to now: recipients, who is excluded and why, who had it already."""

    survey_id: int
    channel: str
    audience: int
    recipients: list[tuple[int, str]]
    excluded: list[tuple[int, str, str]]  # id, name, reason (a key of outbox.EXCLUSION_REASONS)
    already: list[int]

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(reason for _, _, reason in self.excluded))

    def as_json(self) -> dict[str, Any]:
        return {"survey_id": self.survey_id, "channel": self.channel, "audience": self.audience,
                "recipients": len(self.recipients), "excluded": len(self.excluded),
                "reasons": self.reasons, "already_sent": len(self.already)}  # fmt: skip


def plan_send(
    session: Session,
    survey_id: int,
    audience: Audience,
    channel: str,
    *,
    now: datetime,
    scope: int | None,
) -> SendPlan:
    """The dry run: who gets the survey, who is excluded and why; changes nothing."""
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(f"survey {survey_id} does not exist")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    audience = check_audience(session, audience, scope)
    members = audience_members(session, audience, scope=scope, now=now)
    ids = [cid for cid, _ in members]
    excluded = outbox.exclusions(session, ids, channel, now=now, is_marketing=True) if ids else {}
    keys = {dedupe_key(survey_id, cid): cid for cid in ids if cid not in excluded}
    already: set[int] = set()
    for start in range(0, len(keys), outbox.CHUNK):
        part = list(keys)[start : start + outbox.CHUNK]
        already.update(keys[k] for k in session.execute(
            select(Message.dedupe_key).where(Message.dedupe_key.in_(part))
        ).scalars())  # fmt: skip
    return SendPlan(
        survey_id, channel, len(members),
        [(cid, name) for cid, name in members if cid not in excluded and cid not in already],
        [(cid, name, excluded[cid]) for cid, name in members if cid in excluded],
        sorted(already),
    )  # fmt: skip


@dataclass(frozen=True)
class SendResult:
    """What sending did: links issued and messages queued, excluded (by reason), sent before."""

    survey_id: int
    queued: int
    excluded: int
    reasons: dict[str, int]
    already_sent: int

    def as_json(self) -> dict[str, Any]:
        return {"survey_id": self.survey_id, "queued": self.queued, "excluded": self.excluded,
                "reasons": self.reasons, "already_sent": self.already_sent}  # fmt: skip


def send_survey(
    db: Database,
    survey_id: int,
    audience: Audience,
    channel: str,
    *,
    now: datetime,
    actor_id: int | None,
    scope: int | None,
    public_url: str,
    locale: str = "zh_CN",
    days: int | None = None,
) -> SendResult:
    """Issue one survey link per eligible customer and queue their invitations; audited.

    Needs the shop's public address (``GUANXI_PUBLIC_URL``): the links are sent as full URLs.
    Sending again reaches only the customers not sent this survey before.
    """
    base = public_url.strip().rstrip("/")
    if not base:
        raise InvalidInput("set the shop's public address (GUANXI_PUBLIC_URL) before sending "
                           "survey links: customers open them from their phones")  # fmt: skip
    with db.write() as session:
        survey = session.execute(
            select(Survey).where(Survey.id == survey_id).with_for_update()
        ).scalar_one_or_none()  # fmt: skip
        if survey is None:
            raise NotFound(f"survey {survey_id} does not exist")
        if not survey.is_active:
            raise Conflict(f"survey {survey_id} is switched off: switch it on to send it")
        plan = plan_send(session, survey_id, audience, channel, now=now, scope=scope)
        ids = [cid for cid, _ in plan.recipients]
        urls = _issue(session, survey_id, ids, now=now, days=days, base=base)
        contexts = templating.contexts(session, ids, locale=locale, now=now)
        text = texts(INVITATION, locale)
        drafts = [outbox.Draft(
            customer_id=cid, channel=channel, subject=survey.name if channel == "email" else None,
            body=text.format(salutation=contexts.get(cid, {}).get("salutation", ""),
                             shop=contexts.get(cid, {}).get("shop", ""), url=urls[cid]),
            dedupe_key=dedupe_key(survey_id, cid), is_marketing=True,
        ) for cid in ids]  # fmt: skip
        queued = outbox.queue(session, drafts, now=now) if drafts else 0
        detail = {**plan.as_json(), "queued": queued}
        audit.record(session, audit.Action.SURVEY_SENT, actor_id=actor_id, target_type="survey",
                     target_id=survey_id, detail=detail)  # fmt: skip
        if ids:
            audit.record(session, audit.Action.LINKS_ISSUED, actor_id=actor_id,
                         target_type="survey", target_id=survey_id,
                         detail={"purpose": "survey", "links": len(ids)})  # fmt: skip
        return SendResult(survey_id, queued, len(plan.excluded), plan.reasons, len(plan.already))


def _issue(
    session: Session, survey_id: int, ids: Sequence[int], *, now: datetime, days: int | None,
    base: str,
) -> dict[int, str]:  # fmt: skip
    """One survey link per customer (their home store on the link), as full URLs."""
    homes: dict[int, int | None] = {}
    for start in range(0, len(ids), outbox.CHUNK):
        part = list(ids[start : start + outbox.CHUNK])
        homes.update(dict(session.execute(
            select(Customer.id, Customer.home_store_id).where(Customer.id.in_(part))
        ).all()))  # fmt: skip
    by_store: dict[int | None, list[int]] = {}
    for cid in ids:
        by_store.setdefault(homes.get(cid), []).append(cid)
    urls: dict[int, str] = {}
    for store, people in by_store.items():
        tokens = issue_links(session, "survey", list(people), now=now, days=days,
                             store_id=store, survey_id=survey_id)  # fmt: skip
        urls.update({cid: base + link_path("survey", t)
                     for cid, t in zip(people, tokens, strict=True)})  # fmt: skip
    return urls
