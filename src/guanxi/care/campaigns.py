"""Campaigns (群发): a message template sent through one channel to an audience, at most once.

An audience is a saved segment and/or filters (home store, tier, tags, a category of interest,
days since the last purchase, explicit customers), all of which must hold; it is kept in
``Campaign.audience`` as JSON and evaluated when the campaign is dry-run or queued, in one SQL
query. A campaign made by a manager is tied to the manager's store.

- ``save_campaign`` keeps a draft (audited).
- ``dry_run`` says who would get what (a rendered preview per recipient), who is excluded and
  why (``care.outbox.exclusions``: consent, address, erasure, frequency cap…) and who would be
  held out.
- ``queue_campaign`` draws the holdout (a random share of the eligible audience, drawn with the
  campaign's seed, so the same audience always gives the same holdout), renders each message
  (``care.templating``) and hands the drafts to ``care.outbox.queue`` with the dedupe key
  ``campaign:<id>:<customer>``; the campaign row is locked, so queueing twice (or two clicks at
  once) queues nothing new. Audited as ``campaign.queued``.
- ``winback_report`` compares reactivation (a purchase within the window after queueing) of the
  treated customers against the holdout: the uplift with a 95 % interval (``care.uplift``).

Message templates (``MessageTemplate``) are kept here too: ``save_template`` checks the text with
``care.templating.check_template`` and is audited; ``preview_template`` renders it for a sample
customer.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, exists, func, insert, select, update
from sqlalchemy.orm import Session

from guanxi.care import interests, outbox, templating
from guanxi.care.uplift import Uplift, uplift
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.services.segments import latest_month, members_select, parse_rules
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Campaign,
    CampaignHoldout,
    Customer,
    CustomerTag,
    CustomerTier,
    Message,
    MessageTemplate,
    Purchase,
    Segment,
    Store,
)

CHANNELS = ("sms", "email", "wechat")
KINDS = ("regular", "winback", "interest", "greeting")
STATUSES = ("draft", "queued", "done", "cancelled")
MAX_HOLDOUT_PERCENT = 90
WINBACK_WINDOW_DAYS = 60
PREVIEW_LIMIT = 50
_IN_LIMIT = 500  # explicit ids beyond this are matched in Python, not in an SQL IN list


def dedupe_key(campaign_id: int, customer_id: int) -> str:
    """The outbox key of one campaign message: at most one per customer and campaign."""
    return f"campaign:{campaign_id}:{customer_id}"


# --- audiences -----------------------------------------------------------------------------------


@dataclass
class Audience:
    """Who a campaign is for: every filter set must hold (an empty audience: every customer)."""

    segment_id: int | None = None
    store_id: int | None = None
    tier: str | None = None
    tags: list[str] = field(default_factory=list)
    interest: str | None = None
    lapsed_days: int | None = None
    customer_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        """An audience as stored (unknown keys ignored, types checked)."""
        data = data or {}

        def opt_int(key: str) -> int | None:
            value = data.get(key)
            if value is None or value == "":
                return None
            try:
                return int(value)
            except (TypeError, ValueError) as error:
                raise InvalidInput(f"{key}: {value!r} is not a whole number") from error

        def opt_text(key: str) -> str | None:
            value = data.get(key)
            text = str(value).strip() if value is not None else ""
            return text or None

        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = tags.split(",")
        ids = data.get("customer_ids") or []
        if isinstance(ids, str):
            ids = ids.replace(",", " ").split()
        try:
            customer_ids = sorted({int(i) for i in ids})
        except (TypeError, ValueError) as error:
            raise InvalidInput("customer_ids: give customer numbers") from error
        return cls(
            segment_id=opt_int("segment_id"),
            store_id=opt_int("store_id"),
            tier=opt_text("tier"),
            tags=sorted({str(t).strip() for t in tags if str(t).strip()}),
            interest=opt_text("interest"),
            lapsed_days=opt_int("lapsed_days"),
            customer_ids=customer_ids,
        )

    @property
    def is_everyone(self) -> bool:
        return not any((self.segment_id, self.store_id, self.tier, self.tags, self.interest,
                        self.lapsed_days, self.customer_ids))  # fmt: skip


def _conditions(
    session: Session, audience: Audience, *, scope: int | None, now: datetime
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
    if scope is not None:
        where.append(Customer.home_store_id == scope)
    if audience.store_id is not None:
        where.append(Customer.home_store_id == audience.store_id)
    if audience.segment_id is not None:
        segment = session.get(Segment, audience.segment_id)
        if segment is None:
            raise NotFound(f"segment {audience.segment_id} does not exist")
        month = latest_month(session)
        if month is None:  # no scores yet: every segment is empty
            where.append(Customer.id.is_(None))
        else:
            members = members_select(parse_rules(segment.rules), month, store_scope=scope)
            where.append(Customer.id.in_(members))
    if audience.tier is not None:
        where.append(Customer.id.in_(
            select(CustomerTier.customer_id).where(CustomerTier.tier_key == audience.tier)
        ))  # fmt: skip
    for tag in audience.tags:
        where.append(Customer.id.in_(
            select(CustomerTag.customer_id).where(CustomerTag.name == tag)
        ))  # fmt: skip
    if audience.interest is not None:
        where.append(Customer.id.in_(interests.interested_select(audience.interest)))
    if audience.lapsed_days is not None:
        cutoff = now - timedelta(days=audience.lapsed_days)
        lapsed = (
            select(Purchase.customer_id)
            .group_by(Purchase.customer_id)
            .having(func.max(Purchase.purchased_at) <= cutoff)
        )
        where.append(Customer.id.in_(lapsed))
    if audience.customer_ids and len(audience.customer_ids) <= _IN_LIMIT:
        where.append(Customer.id.in_(audience.customer_ids))
    return where


def audience_members(
    session: Session, audience: Audience, *, scope: int | None, now: datetime | None = None
) -> list[tuple[int, str]]:
    """(id, name) of every customer in the audience now, by id; one query."""
    now = now or datetime.now(UTC)
    where = _conditions(session, audience, scope=scope, now=now)
    rows = [
        (int(i), str(n))
        for i, n in session.execute(
            select(Customer.id, Customer.name).where(*where).order_by(Customer.id)
        )
    ]
    if len(audience.customer_ids) > _IN_LIMIT:
        wanted = set(audience.customer_ids)
        rows = [row for row in rows if row[0] in wanted]
    return rows


def audience_ids(
    session: Session, audience: Audience, *, scope: int | None, now: datetime | None = None
) -> list[int]:
    """The ids of the audience's customers within the store ``scope`` (None: every store)."""
    return [cid for cid, _ in audience_members(session, audience, scope=scope, now=now)]


def audience_count(
    session: Session, audience: Audience, *, scope: int | None, now: datetime | None = None
) -> int:
    return len(audience_members(session, audience, scope=scope, now=now))


# --- templates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateRow:
    id: int
    name: str
    channel: str
    locale: str
    occasion: str | None
    subject: str | None
    body: str
    is_marketing: bool
    is_active: bool
    updated_at: datetime | None


def _template_row(t: MessageTemplate) -> TemplateRow:
    return TemplateRow(t.id, t.name, t.channel, t.locale, t.occasion, t.subject, t.body,
                       t.is_marketing, t.is_active, t.updated_at)  # fmt: skip


def list_templates(
    session: Session, *, channel: str | None = None, active_only: bool = False
) -> list[TemplateRow]:
    stmt = select(MessageTemplate).order_by(MessageTemplate.channel, MessageTemplate.name,
                                            MessageTemplate.id)  # fmt: skip
    if channel is not None:
        stmt = stmt.where(MessageTemplate.channel == channel)
    if active_only:
        stmt = stmt.where(MessageTemplate.is_active.is_(True))
    return [_template_row(t) for t in session.execute(stmt).scalars()]


def get_template(session: Session, template_id: int) -> TemplateRow:
    found = session.get(MessageTemplate, template_id)
    if found is None:
        raise NotFound(f"template {template_id} does not exist")
    return _template_row(found)


def template_problems(subject: str | None, body: str) -> list[str]:
    """What is wrong with a template's subject and body, in words (empty: usable)."""
    problems = [] if body.strip() else ["the message text is empty"]
    problems += templating.check_template(body)
    if subject:
        problems += [f"subject: {p}" for p in templating.check_template(subject)]
    return problems


def save_template(
    db: Database,
    *,
    name: str,
    channel: str,
    body: str,
    subject: str | None = None,
    locale: str = "zh_CN",
    occasion: str | None = None,
    is_marketing: bool = True,
    is_active: bool = True,
    template_id: int | None = None,
    actor_id: int | None,
) -> int:
    """Create (or, with ``template_id``, change) a message template; checked and audited."""
    name = name.strip()
    if not name:
        raise InvalidInput("give the template a name")
    if len(name) > 100:
        raise InvalidInput("the name is longer than 100 characters")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    subject = (subject or "").strip() or None
    if subject is not None and len(subject) > 200:
        raise InvalidInput("the subject is longer than 200 characters")
    problems = template_problems(subject, body)
    if problems:
        raise InvalidInput("; ".join(problems))
    values = {"name": name, "channel": channel, "locale": locale.strip() or "zh_CN",
              "occasion": (occasion or "").strip() or None, "subject": subject, "body": body,
              "is_marketing": is_marketing, "is_active": is_active}  # fmt: skip
    with db.write() as session:
        before = None
        if template_id is None:
            template = MessageTemplate(**values)
            session.add(template)
        else:
            found = session.get(MessageTemplate, template_id)
            if found is None:
                raise NotFound(f"template {template_id} does not exist")
            template = found
            before = {k: getattr(template, k) for k in values}
            for key, value in values.items():
                setattr(template, key, value)
        session.flush()
        audit.record(session, audit.Action.TEMPLATE_SAVED, actor_id=actor_id,
                     target_type="message_template", target_id=template.id,
                     detail={"before": before, "after": values})  # fmt: skip
        return template.id


def sample_customer(
    session: Session, *, scope: int | None, customer_id: int | None = None
) -> int | None:
    """The customer a template preview is rendered for: the one asked for (when in scope),
    else the first customer of the scope."""
    stmt = select(Customer.id).where(Customer.erased_at.is_(None))
    if scope is not None:
        stmt = stmt.where(Customer.home_store_id == scope)
    if customer_id is not None:
        found = session.execute(stmt.where(Customer.id == customer_id)).scalar_one_or_none()
        if found is not None:
            return int(found)
    first = session.execute(stmt.order_by(Customer.id).limit(1)).scalar_one_or_none()
    return None if first is None else int(first)


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one customer, or what stops it."""

    customer_id: int | None
    subject: str | None
    body: str
    problems: list[str]


def preview_template(
    session: Session,
    *,
    body: str,
    subject: str | None = None,
    locale: str = "zh_CN",
    customer_id: int | None = None,
    scope: int | None = None,
) -> Rendered:
    """``body`` (and ``subject``) rendered for a sample customer (see ``sample_customer``)."""
    problems = template_problems(subject, body)
    if problems:
        return Rendered(None, None, "", problems)
    sample = sample_customer(session, scope=scope, customer_id=customer_id)
    context: dict[str, object] = {}
    if sample is not None:
        context = dict(templating.contexts(session, [sample], locale=locale).get(sample, {}))
    try:
        text = templating.render(body, context)
        title = templating.render(subject, context) if subject else None
    except InvalidInput as error:
        return Rendered(sample, None, "", [str(error)])
    return Rendered(sample, title, text, [])


# --- campaigns -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    kind: str
    channel: str
    template_id: int
    template_name: str
    audience: Audience
    holdout_percent: int
    seed: int
    is_marketing: bool
    status: str
    recipients: int
    excluded: int
    created_at: datetime
    queued_at: datetime | None


def _row(campaign: Campaign, template_name: str) -> CampaignRow:
    return CampaignRow(campaign.id, campaign.name, campaign.kind, campaign.channel,
                       campaign.template_id, template_name, Audience.from_json(campaign.audience),
                       campaign.holdout_percent, campaign.seed, campaign.is_marketing,
                       campaign.status, campaign.recipients, campaign.excluded,
                       campaign.created_at, campaign.queued_at)  # fmt: skip


def _in_scope(campaign: Campaign, scope: int | None) -> bool:
    return scope is None or (campaign.audience or {}).get("store_id") == scope


def _campaign(
    session: Session, campaign_id: int, scope: int | None, *, lock: bool = False
) -> Campaign:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        stmt = stmt.with_for_update()
    campaign = session.execute(stmt).scalar_one_or_none()
    if campaign is None or not _in_scope(campaign, scope):
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


def get_campaign(session: Session, campaign_id: int, *, scope: int | None) -> CampaignRow:
    campaign = _campaign(session, campaign_id, scope)
    template = session.get(MessageTemplate, campaign.template_id)
    return _row(campaign, template.name if template else "")


def list_campaigns(session: Session, *, scope: int | None, limit: int = 200) -> list[CampaignRow]:
    """The newest campaigns first (a manager's: their store's)."""
    rows = session.execute(
        select(Campaign, MessageTemplate.name)
        .join(MessageTemplate, MessageTemplate.id == Campaign.template_id)
        .order_by(Campaign.id.desc())
    ).all()  # fmt: skip
    found = [_row(c, n) for c, n in rows if _in_scope(c, scope)]
    return found[:limit]


def check_audience(session: Session, audience: Audience, scope: int | None) -> Audience:
    """The audience checked for a viewer limited to ``scope`` (a manager's is their store's
    customers; a store they name must be theirs) and for stores and segments that exist;
    InvalidInput naming the field otherwise."""
    if scope is not None:
        if audience.store_id not in (None, scope):
            raise InvalidInput("store: you can only message your own store's customers")
        audience.store_id = scope
    if audience.store_id is not None and session.get(Store, audience.store_id) is None:
        raise InvalidInput(f"store: store {audience.store_id} does not exist")
    if audience.segment_id is not None and session.get(Segment, audience.segment_id) is None:
        raise InvalidInput(f"segment: segment {audience.segment_id} does not exist")
    if audience.lapsed_days is not None and not 1 <= audience.lapsed_days <= 36600:
        raise InvalidInput("lapsed_days: give a number of days from 1")
    return audience


def save_campaign(
    db: Database,
    *,
    name: str,
    template_id: int,
    audience: Audience,
    channel: str | None = None,
    kind: str = "regular",
    holdout_percent: int = 0,
    seed: int | None = None,
    campaign_id: int | None = None,
    actor_id: int | None,
    scope: int | None = None,
) -> int:
    """Keep a draft campaign (new, or a change to a draft); audited as ``campaign.saved``.

    The channel is the template's (``channel``, when given, must agree); a manager's campaign
    (``scope``) is tied to their store. The holdout seed is drawn once and kept. A campaign is
    always marketing (consent, the frequency cap and the opt-out text apply), even with a
    template marked as a service message.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("give the campaign a name")
    if len(name) > 100:
        raise InvalidInput("the name is longer than 100 characters")
    if kind not in KINDS:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not 0 <= holdout_percent <= MAX_HOLDOUT_PERCENT:
        raise InvalidInput(f"holdout: give a share from 0 to {MAX_HOLDOUT_PERCENT} %")
    with db.write() as session:
        template = session.get(MessageTemplate, template_id)
        if template is None:
            raise InvalidInput(f"template: template {template_id} does not exist")
        if not template.is_active:
            raise InvalidInput(f"template: {template.name!r} is switched off")
        if channel is not None and channel != template.channel:
            raise InvalidInput(f"channel: the template {template.name!r} is for "
                               f"{template.channel}, not {channel}")  # fmt: skip
        audience = check_audience(session, audience, scope)
        values: dict[str, Any] = {
            "name": name, "kind": kind, "channel": template.channel, "template_id": template.id,
            "audience": audience.as_json(), "holdout_percent": holdout_percent,
            # A bulk message is marketing whatever the template says: consent always applies.
            "is_marketing": True,
        }  # fmt: skip
        before = None
        if campaign_id is None:
            values["seed"] = seed if seed is not None else secrets.randbelow(2**31 - 1)
            campaign = Campaign(status="draft", created_by_staff_id=actor_id, **values)
            session.add(campaign)
        else:
            campaign = _campaign(session, campaign_id, scope, lock=True)
            if campaign.status != "draft":
                raise Conflict(f"campaign {campaign_id} is {campaign.status}: only drafts change")
            before = _audit_view(campaign)
            if seed is not None:
                values["seed"] = seed
            for key, value in values.items():
                setattr(campaign, key, value)
        session.flush()
        audit.record(session, audit.Action.CAMPAIGN_SAVED, actor_id=actor_id,
                     target_type="campaign", target_id=campaign.id,
                     detail={"before": before, "after": _audit_view(campaign)})  # fmt: skip
        return campaign.id


def _audit_view(campaign: Campaign) -> dict[str, Any]:
    """What the audit log keeps of a campaign (explicit customers as a count only)."""
    audience = dict(campaign.audience or {})
    ids = audience.pop("customer_ids", None) or []
    audience["customers"] = len(ids)
    return {"name": campaign.name, "kind": campaign.kind, "channel": campaign.channel,
            "template_id": campaign.template_id, "audience": audience,
            "holdout_percent": campaign.holdout_percent, "seed": campaign.seed}  # fmt: skip


def cancel_campaign(
    db: Database, campaign_id: int, *, actor_id: int | None, scope: int | None
) -> int:
    """Cancel a draft, or a queued campaign's messages not sent yet; returns how many
    messages were cancelled. Audited as ``campaign.cancelled``."""
    with db.write() as session:
        campaign = _campaign(session, campaign_id, scope, lock=True)
        if campaign.status == "cancelled":
            return 0
        cancelled = session.execute(
            update(Message)
            .where(Message.campaign_id == campaign_id, Message.status == "queued")
            .values(status="cancelled", reason="campaign cancelled")
        ).rowcount  # type: ignore[attr-defined]
        campaign.status = "cancelled"
        audit.record(session, audit.Action.CAMPAIGN_CANCELLED, actor_id=actor_id,
                     target_type="campaign", target_id=campaign_id,
                     detail={"messages_cancelled": int(cancelled or 0)})  # fmt: skip
        return int(cancelled or 0)


# --- dry run and queueing ------------------------------------------------------------------------


class Recipient(NamedTuple):
    customer_id: int
    name: str
    subject: str | None
    body: str


class Excluded(NamedTuple):
    customer_id: int
    name: str
    reason: str  # a key of care.outbox.EXCLUSION_REASONS


@dataclass
class DryRun:
    """Who would get what (previews of the first recipients), who is excluded and why, and
    who would be held out. Counts cover everyone; ``recipients`` only the first ``limit``."""

    campaign_id: int
    audience: int
    recipient_count: int
    recipients: list[Recipient]
    excluded: list[Excluded]
    holdout: list[int]
    reasons: dict[str, int]
    queued: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "audience": self.audience,
            "recipient_count": self.recipient_count,
            "recipients": [r._asdict() for r in self.recipients],
            "excluded": [e._asdict() for e in self.excluded],
            "holdout": self.holdout,
            "reasons": self.reasons,
            "queued": self.queued,
        }


def draw_holdout(customer_ids: Sequence[int], percent: int, seed: int) -> list[int]:
    """``percent`` % (rounded) of ``customer_ids`` drawn at random with ``seed``: the same ids,
    share and seed always give the same holdout, whatever order the ids come in."""
    ordered = np.array(sorted(set(customer_ids)), dtype=np.int64)
    size = round(len(ordered) * percent / 100)
    if size <= 0:
        return []
    chosen = np.random.default_rng(seed).choice(len(ordered), size=size, replace=False)
    return sorted(int(i) for i in ordered[chosen])


@dataclass
class _Plan:
    campaign: Campaign
    template: MessageTemplate
    members: list[tuple[int, str]]
    excluded: dict[int, str]
    holdout: list[int]
    treated: list[tuple[int, str]]


def _plan(session: Session, campaign: Campaign, *, now: datetime, scope: int | None) -> _Plan:
    template = session.get(MessageTemplate, campaign.template_id)
    if template is None:
        raise NotFound(f"template {campaign.template_id} does not exist")
    audience = Audience.from_json(campaign.audience)
    members = audience_members(session, audience, scope=scope, now=now)
    ids = [cid for cid, _ in members]
    excluded = outbox.exclusions(session, ids, campaign.channel, now=now,
                                 is_marketing=campaign.is_marketing) if ids else {}  # fmt: skip
    if campaign.status == "draft":
        eligible = [cid for cid in ids if cid not in excluded]
        holdout = draw_holdout(eligible, campaign.holdout_percent, campaign.seed)
    else:  # queued already: the holdout drawn then
        holdout = sorted(session.execute(
            select(CampaignHoldout.customer_id).where(CampaignHoldout.campaign_id == campaign.id)
        ).scalars())  # fmt: skip
    held = set(holdout)
    treated = [(cid, name) for cid, name in members if cid not in excluded and cid not in held]
    return _Plan(campaign, template, members, excluded, holdout, treated)


def _render(
    session: Session,
    template: MessageTemplate,
    people: Sequence[tuple[int, str]],
    now: datetime,
) -> list[Recipient]:
    contexts = templating.contexts(
        session, [cid for cid, _ in people], locale=template.locale, now=now
    )
    out = []
    for cid, name in people:
        context = contexts.get(cid, {})
        subject = templating.render(template.subject, context) if template.subject else None
        out.append(Recipient(cid, name, subject, templating.render(template.body, context)))
    return out


def dry_run(
    db: Database,
    campaign_id: int,
    *,
    now: datetime,
    scope: int | None,
    limit: int | None = PREVIEW_LIMIT,
) -> DryRun:
    """Who would get what now, who is excluded and why, who would be held out; changes nothing.

    Previews are rendered for the first ``limit`` recipients (None: all of them).
    """
    with db.read() as session:
        plan = _plan(session, _campaign(session, campaign_id, scope), now=now, scope=scope)
        shown = plan.treated if limit is None else plan.treated[:limit]
        recipients = _render(session, plan.template, shown, now)
        names = dict(plan.members)
        excluded = [Excluded(cid, names[cid], reason) for cid, reason in
                    sorted(plan.excluded.items())]  # fmt: skip
        return DryRun(campaign_id, len(plan.members), len(plan.treated), recipients, excluded,
                      plan.holdout, dict(Counter(plan.excluded.values())),
                      queued=plan.campaign.status != "draft")  # fmt: skip


@dataclass(frozen=True)
class QueueResult:
    """What queueing did: messages queued now, excluded (by reason), held out."""

    campaign_id: int
    queued: int
    excluded: int
    holdout: int
    reasons: dict[str, int]
    already_queued: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def queue_campaign(
    db: Database, campaign_id: int, *, now: datetime, actor_id: int | None, scope: int | None
) -> QueueResult:
    """Draw the holdout, render and queue one message per eligible customer; audited.

    Idempotent: the campaign row is locked and a campaign queued before is left as it is
    (``already_queued``), and the outbox skips existing dedupe keys.
    """
    with db.write() as session:
        campaign = _campaign(session, campaign_id, scope, lock=True)
        if campaign.status == "cancelled":
            raise Conflict(f"campaign {campaign_id} was cancelled")
        if campaign.status != "draft":
            holdout = session.execute(
                select(func.count()).select_from(CampaignHoldout)
                .where(CampaignHoldout.campaign_id == campaign_id)
            ).scalar_one()  # fmt: skip
            return QueueResult(campaign_id, 0, campaign.excluded, int(holdout), {},
                               already_queued=True)  # fmt: skip
        plan = _plan(session, campaign, now=now, scope=scope)
        rendered = _render(session, plan.template, plan.treated, now)
        drafts = [
            outbox.Draft(customer_id=r.customer_id, channel=campaign.channel, subject=r.subject,
                         body=r.body, dedupe_key=dedupe_key(campaign_id, r.customer_id),
                         is_marketing=campaign.is_marketing, campaign_id=campaign_id)
            for r in rendered
        ]  # fmt: skip
        queued = outbox.queue(session, drafts, now=now) if drafts else 0
        if plan.holdout:
            session.execute(insert(CampaignHoldout), [
                {"campaign_id": campaign_id, "customer_id": cid} for cid in plan.holdout
            ])  # fmt: skip
        reasons = dict(Counter(plan.excluded.values()))
        campaign.status = "queued"
        campaign.recipients = queued
        campaign.excluded = len(plan.excluded)
        campaign.queued_at = now
        audit.record(session, audit.Action.CAMPAIGN_QUEUED, actor_id=actor_id,
                     target_type="campaign", target_id=campaign_id,
                     detail={"audience": len(plan.members), "queued": queued,
                             "excluded": len(plan.excluded), "reasons": reasons,
                             "holdout": len(plan.holdout)})  # fmt: skip
        return QueueResult(campaign_id, queued, len(plan.excluded), len(plan.holdout), reasons)


# --- win-back report -----------------------------------------------------------------------------


def _reactivated(customer_ids: Any, start: datetime, end: datetime) -> Any:
    return exists().where(
        Purchase.customer_id == customer_ids,
        Purchase.purchased_at > start,
        Purchase.purchased_at <= end,
    )


def winback_report(
    session: Session,
    campaign_id: int,
    *,
    window_days: int = WINBACK_WINDOW_DAYS,
    now: datetime | None = None,
    scope: int | None = None,
) -> Uplift:
    """Reactivation (a purchase within ``window_days`` after queueing) of the customers sent
    the campaign against its holdout: rates, the uplift and its 95 % interval.

    The treated group is every customer the campaign queued a message for, whatever became of
    the message (intention to treat: the holdout did not choose to stay out either).
    """
    campaign = _campaign(session, campaign_id, scope)
    if campaign.queued_at is None:
        return uplift(0, 0, 0, 0, window_days=window_days, complete=False)
    start = campaign.queued_at
    end = start + timedelta(days=window_days)
    now = now or datetime.now(UTC)
    treated_ids = select(Message.customer_id).where(Message.campaign_id == campaign_id)
    held_ids = select(CampaignHoldout.customer_id).where(CampaignHoldout.campaign_id == campaign_id)

    def counts(ids: Any) -> tuple[int, int]:
        sub = ids.distinct().subquery()
        total = session.execute(select(func.count()).select_from(sub)).scalar_one()
        bought = session.execute(
            select(func.count()).select_from(sub).where(_reactivated(sub.c.customer_id, start, end))
        ).scalar_one()
        return int(total), int(bought)

    treated, treated_back = counts(treated_ids)
    holdout, holdout_back = counts(held_ids)
    return uplift(treated, treated_back, holdout, holdout_back, window_days=window_days,
                  window_start=start, window_end=end, complete=now >= end)  # fmt: skip


def holdout_ids(session: Session, campaign_id: int) -> list[int]:
    return sorted(session.execute(
        select(CampaignHoldout.customer_id).where(CampaignHoldout.campaign_id == campaign_id)
    ).scalars())  # fmt: skip


def message_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """How many of the campaign's messages are in each outbox status."""
    return {str(s): int(n) for s, n in session.execute(
        select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
        .group_by(Message.status)
    )}  # fmt: skip


__all__ = [
    "Audience", "CampaignRow", "DryRun", "Excluded", "QueueResult", "Recipient", "Rendered",
    "TemplateRow", "audience_count", "audience_ids", "audience_members", "cancel_campaign",
    "dedupe_key", "draw_holdout", "dry_run", "get_campaign", "get_template", "holdout_ids",
    "list_campaigns", "list_templates", "message_counts", "preview_template", "queue_campaign",
    "sample_customer", "save_campaign", "save_template", "template_problems", "winback_report",
]  # fmt: skip
