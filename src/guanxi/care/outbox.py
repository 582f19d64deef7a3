"""The outbox (消息队列): messages queued for customers and sent at most once.

Life of a message: ``queued`` → ``sending`` (committed *before* the channel is called) →
``sent``; or ``skipped`` (checked again at send time: no consent, unsubscribed, no address,
erased, frequency cap), ``failed`` (the provider definitely refused it ``max_attempts``
times; a refusal before that puts it back in the queue with a growing delay), ``unknown``
(anything else went wrong while sending, or the process died: it may have been delivered, so
it is never resent automatically; a manager may requeue it after checking), ``exported``
(handed to an SMS or WeChat platform as a CSV) or ``cancelled``.

Rules: marketing messages need the customer's consent on the channel (re-checked at send
time); transactional ones (``is_marketing`` False: receipts, balances) need none but still an
address. At most ``marketing_per_week`` marketing messages reach a customer in any 7 days,
across campaigns and channels (counting sent, sending, unknown and exported). No marketing
message goes out in the quiet hours (shop time): it stays queued until the window ends, and
the CSV exports leave it queued too (the platform would send it at once).
Every marketing email carries a signed unsubscribe link (body and List-Unsubscribe header);
every marketing SMS ends with the opt-out text.

Crashes and several senders (the at-most-once decision): a message is claimed by one committed
``UPDATE … SET status='sending', sending_at=now WHERE status='queued'``, so of several sender
processes exactly one takes it, and the channel is called only after that commit; ``sent`` is
recorded after the channel returned. A sender killed between the two leaves the message
``sending``: it may or may not have reached the customer, and a second marketing message is
worse than a missing one, so it is never resent automatically. ``recover_stale`` marks it
``unknown`` once it is older than any live send could be (``guanxi outbox send
--stale-after``, 10 minutes by default), and staff requeue it after checking (``retry`` with
``include_unknown``). The SMTP server's own log can settle such a case: the Message-ID holds
``guanxi.<message id>``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from guanxi.care import links
from guanxi.care.channels import Channels, DeliveryFailed, Outgoing
from guanxi.care.templating import UNSUBSCRIBE_PLACEHOLDER
from guanxi.config import Settings, parse_quiet_hours
from guanxi.errors import ConfigError, InvalidInput
from guanxi.services import audit, spreadsheets
from guanxi.storage.db import Database
from guanxi.storage.models import Campaign, Consent, Customer, Message

CHANNELS = ("sms", "email", "wechat")
STATUSES = ("queued", "sending", "sent", "failed", "unknown", "skipped", "cancelled", "exported")
COUNTED = ("sent", "sending", "unknown", "exported")  # toward the frequency cap
CAP_WINDOW = timedelta(days=7)
CHUNK = 5000
OPT_OUT_SOURCES = ("unsubscribe_link", "sms_reply")

EXCLUSION_REASONS: dict[str, str] = {
    "unknown_customer": "The customer does not exist",
    "erased": "The customer was erased",
    "no_consent": "No marketing consent on this channel",
    "unsubscribed": "Unsubscribed from this channel",
    "no_address": "No address on this channel (phone, email or WeChat id)",
    "frequency_cap": "Already received the most marketing messages allowed this week",
}

STATUS_TEXT: dict[str, str] = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "unknown": "Outcome unknown",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
    "exported": "Exported",
}

_ADDRESS = {"sms": Customer.phone, "email": Customer.email, "wechat": Customer.wechat_id}
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class SendPolicy:
    """The sending rules, from the settings (``policy_from_settings``); defaults as documented."""

    marketing_per_week: int = 2
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(9, 0))
    timezone: str = "Asia/Shanghai"
    max_attempts: int = 3
    backoff: timedelta = timedelta(minutes=5)
    public_url: str = ""
    sms_opt_out_text: str = "回复TD退订"


def policy_from_settings(settings: Settings) -> SendPolicy:
    return SendPolicy(
        marketing_per_week=settings.marketing_per_week,
        quiet_hours=parse_quiet_hours(settings.quiet_hours),
        timezone=settings.timezone,
        max_attempts=settings.send_max_attempts,
        public_url=settings.public_url.strip(),
        sms_opt_out_text=settings.sms_opt_out_text.strip(),
    )


DEFAULT_POLICY = SendPolicy()


@dataclass(frozen=True)
class Draft:
    """A message to queue; ``dedupe_key`` makes queueing idempotent."""

    customer_id: int
    channel: str
    subject: str | None
    body: str
    dedupe_key: str
    is_marketing: bool = True
    campaign_id: int | None = None
    not_before: datetime | None = None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --- queueing -----------------------------------------------------------------------------------


def queue(session: Session, drafts: Sequence[Draft], *, now: datetime | None = None) -> int:
    """Insert the drafts whose dedupe key is new (bulk); returns how many were queued.

    ``now`` is the queueing time and the earliest send time of drafts without ``not_before``
    (default: the clock).
    """
    now = now or datetime.now(UTC)
    for d in drafts:
        if d.channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {d.channel!r}: use one of {', '.join(CHANNELS)}")
    fresh: dict[str, Draft] = {}
    for d in drafts:
        fresh.setdefault(d.dedupe_key, d)
    for keys in _chunks(list(fresh)):
        for (key,) in session.execute(
            select(Message.dedupe_key).where(Message.dedupe_key.in_(keys))
        ):
            fresh.pop(key, None)
    rows = [
        {"campaign_id": d.campaign_id, "customer_id": d.customer_id, "channel": d.channel,
         "is_marketing": d.is_marketing, "subject": d.subject, "body": d.body,
         "dedupe_key": d.dedupe_key, "status": "queued", "attempts": 0,
         "not_before": d.not_before or now, "queued_at": now}
        for d in fresh.values()
    ]  # fmt: skip
    for part in _chunks(rows, 2000):
        session.execute(insert(Message), part)
    return len(rows)


# --- who may get a message ----------------------------------------------------------------------


def recent_counts(
    session: Session, customer_ids: Sequence[int], *, now: datetime
) -> dict[int, int]:
    """Marketing messages each customer got (sent, sending, unknown, exported) in the 7 days
    before ``now``, across campaigns and channels; customers with none are left out."""
    since = now - CAP_WINDOW
    when = func.coalesce(Message.sent_at, Message.sending_at)
    counts: dict[int, int] = {}
    for chunk in _chunks(list(dict.fromkeys(customer_ids))):
        rows = session.execute(
            select(Message.customer_id, func.count())
            .where(Message.customer_id.in_(chunk), Message.is_marketing.is_(True),
                   Message.status.in_(COUNTED), when > since, when <= now)
            .group_by(Message.customer_id)
        ).all()  # fmt: skip
        counts.update({int(cid): int(n) for cid, n in rows})
    return counts


def exclusions(
    session: Session,
    customer_ids: Sequence[int],
    channel: str,
    *,
    now: datetime,
    is_marketing: bool = True,
    planned: int = 1,
    policy: SendPolicy | None = None,
) -> dict[int, str]:
    """Why each customer may not get a message on ``channel`` now (a key of
    ``EXCLUSION_REASONS``); customers who may are left out. Set-based.

    ``planned`` is how many marketing messages the caller means to send each of them (the
    frequency cap counts them with the recent ones).
    """
    if channel not in _ADDRESS:
        raise InvalidInput(f"unknown channel {channel!r}: use one of {', '.join(CHANNELS)}")
    policy = policy or DEFAULT_POLICY
    ids = list(dict.fromkeys(int(c) for c in customer_ids))
    out: dict[int, str] = {}
    address = _ADDRESS[channel]
    seen: set[int] = set()
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Customer.id, Customer.erased_at, address, Consent.is_granted, Consent.source)
            .outerjoin(Consent, and_(Consent.customer_id == Customer.id,
                                     Consent.channel == channel))
            .where(Customer.id.in_(chunk))
        ).all()  # fmt: skip
        for cid, erased, addr, granted, source in rows:
            seen.add(int(cid))
            if erased is not None:
                out[int(cid)] = "erased"
            elif is_marketing and not granted:
                out[int(cid)] = "unsubscribed" if source in OPT_OUT_SOURCES else "no_consent"
            elif not (addr or "").strip():
                out[int(cid)] = "no_address"
    for cid in ids:
        if cid not in seen:
            out[cid] = "unknown_customer"
    if is_marketing:
        candidates = [c for c in ids if c not in out]
        if planned > policy.marketing_per_week:
            out.update(dict.fromkeys(candidates, "frequency_cap"))
        else:
            room = policy.marketing_per_week - planned
            for cid, n in recent_counts(session, candidates, now=now).items():
                if n > room:
                    out[cid] = "frequency_cap"
    return out


def address_of(session: Session, customer_id: int, channel: str) -> str | None:
    """The customer's address on ``channel`` now (phone, email or WeChat id)."""
    value = session.execute(select(_ADDRESS[channel]).where(Customer.id == customer_id)).scalar()
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- quiet hours and the final text ----------------------------------------------------------


def quiet_until(now: datetime, policy: SendPolicy) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not in them."""
    if policy.quiet_hours is None:
        return None
    start, end = policy.quiet_hours
    zone = ZoneInfo(policy.timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # over midnight (21:00-09:00)
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def final_body(
    body: str,
    channel: str,
    *,
    is_marketing: bool,
    unsubscribe_url: str | None,
    policy: SendPolicy,
) -> str:
    """The text that goes out: the unsubscribe link in place (and appended to a marketing
    email that does not show it), the opt-out text at the end of a marketing SMS."""
    text = body.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url or "").rstrip()
    if channel == "email" and is_marketing and unsubscribe_url and unsubscribe_url not in text:
        if _CJK.search(text):
            text += f"\n\n——\n不想再收到这类邮件？点此退订：{unsubscribe_url}"
        else:
            text += f"\n\n--\nTo stop these emails, unsubscribe: {unsubscribe_url}"
    opt_out = policy.sms_opt_out_text
    if channel == "sms" and is_marketing and opt_out and not text.endswith(opt_out):
        text += opt_out
    return text


# --- sending ------------------------------------------------------------------------------------


@dataclass
class SendReport:
    """What one ``send_due`` run did."""

    sent: int = 0
    failed: int = 0  # refused for the last time
    retrying: int = 0  # refused, queued again for later
    unknown: int = 0
    deferred: int = 0  # held back by the quiet hours
    skipped: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "retrying": self.retrying,
                "unknown": self.unknown, "deferred": self.deferred,
                "skipped": dict(self.skipped)}  # fmt: skip


def _claim(
    db: Database, message_id: int, *, now: datetime, policy: SendPolicy, report: SendReport
) -> Outgoing | None:
    """Check the message once more and mark it ``sending`` (committed); None to skip it."""
    with db.write() as session:
        message = session.execute(
            select(Message).where(Message.id == message_id, Message.status == "queued",
                                  Message.not_before <= now)
        ).scalar_one_or_none()  # fmt: skip
        if message is None:  # another worker took it, or it was cancelled meanwhile
            return None
        # One customer at a time (PostgreSQL), so two workers cannot both pass the cap.
        session.execute(
            select(Customer.id).where(Customer.id == message.customer_id).with_for_update()
        )
        # A sender that held the lock may have claimed this very message meanwhile (read
        # committed): look again, or its claim would count against the cap and be overwritten.
        session.refresh(message)
        if message.status != "queued":
            return None
        reason = exclusions(session, [message.customer_id], message.channel, now=now,
                            is_marketing=message.is_marketing, policy=policy)  # fmt: skip
        if reason:
            message.status, message.reason = "skipped", reason[message.customer_id]
            report.skipped[message.reason] += 1
            return None
        to = address_of(session, message.customer_id, message.channel)
        assert to is not None  # exclusions checked it
        claimed = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == "queued")
            .values(status="sending", sending_at=now, attempts=Message.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # fmt: skip
        if claimed != 1:
            return None
        url = None
        if message.is_marketing and policy.public_url:
            url = links.unsubscribe_url(policy.public_url,
                                        links.unsubscribe_token(session, message.id))  # fmt: skip
        text = final_body(message.body, message.channel, is_marketing=message.is_marketing,
                          unsubscribe_url=url, policy=policy)  # fmt: skip
        return Outgoing(message.id, message.customer_id, message.channel, to, message.subject,
                        text, message.is_marketing, url)  # fmt: skip


def _record(db: Database, message_id: int, **values: Any) -> None:
    with db.write() as session:
        session.execute(
            update(Message).where(Message.id == message_id, Message.status == "sending")
            .values(**values).execution_options(synchronize_session=False)
        )  # fmt: skip


def send_due(
    db: Database,
    *,
    now: datetime,
    channels: Channels,
    limit: int = 500,
    policy: SendPolicy | None = None,
) -> SendReport:
    """Send up to ``limit`` due messages of the given channels, at most once each.

    Each message is checked again (consent, address, erasure, frequency cap), marked
    ``sending`` and committed, and only then handed to its channel. ``DeliveryFailed``
    queues it again (5, 10, 20… minutes later) until ``max_attempts``, then ``failed``; any
    other error makes it ``unknown``. Messages of channels not given stay queued. Marketing
    messages due in the quiet hours get ``not_before`` = the end of the window.
    """
    policy = policy or DEFAULT_POLICY
    report = SendReport()
    names = [c for c in channels if c in CHANNELS]
    if not names or limit <= 0:
        return report
    due = (Message.status == "queued", Message.not_before <= now, Message.channel.in_(names))
    with db.write() as session:
        if "email" in names and not policy.public_url:
            waiting = session.execute(
                select(func.count()).select_from(Message)
                .where(*due, Message.channel == "email", Message.is_marketing.is_(True))
            ).scalar_one()  # fmt: skip
            if waiting:
                raise ConfigError(
                    f"{waiting} marketing emails are due but GUANXI_PUBLIC_URL is not set: "
                    "every marketing email needs a working unsubscribe link"
                )
        until = quiet_until(now, policy)
        if until is not None:
            report.deferred = session.execute(
                update(Message).where(*due, Message.is_marketing.is_(True))
                .values(not_before=until).execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]  # fmt: skip
        ids = list(session.execute(
            select(Message.id).where(*due).order_by(Message.not_before, Message.id).limit(limit)
        ).scalars())  # fmt: skip
    try:
        for message_id in ids:
            outgoing = _claim(db, message_id, now=now, policy=policy, report=report)
            if outgoing is None:
                continue
            try:
                provider_id = channels[outgoing.channel].send(outgoing)
            except DeliveryFailed as exc:
                _failed(db, message_id, str(exc), now=now, policy=policy, report=report)
            except Exception as exc:  # the outcome is unknown: never resend blindly
                report.unknown += 1
                _record(db, message_id, status="unknown",
                        reason=f"{type(exc).__name__}: {exc}"[:200])  # fmt: skip
            else:
                report.sent += 1
                _record(db, message_id, status="sent", sent_at=now, reason=None,
                        provider_id=(provider_id or None) and str(provider_id)[:100])  # fmt: skip
    finally:
        for channel in channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()
    return report


def _failed(
    db: Database, message_id: int, why: str, *, now: datetime, policy: SendPolicy,
    report: SendReport,
) -> None:  # fmt: skip
    with db.write() as session:
        attempts = session.execute(
            select(Message.attempts).where(Message.id == message_id)
        ).scalar_one()
        if attempts >= policy.max_attempts:
            report.failed += 1
            values: dict[str, Any] = {"status": "failed", "reason": why[:200]}
        else:
            report.retrying += 1
            delay = policy.backoff * (2 ** (attempts - 1))
            values = {"status": "queued", "not_before": now + delay,
                      "reason": f"attempt {attempts} refused: {why}"[:200]}  # fmt: skip
        session.execute(
            update(Message).where(Message.id == message_id, Message.status == "sending")
            .values(**values).execution_options(synchronize_session=False)
        )  # fmt: skip


def recover_stale(db: Database, *, now: datetime, older_than: timedelta) -> int:
    """Messages left ``sending`` (by a crash) for longer than ``older_than`` become ``unknown``:
    they may have been delivered, so they are never resent automatically. Returns how many."""
    with db.write() as session:
        return int(session.execute(
            update(Message)
            .where(Message.status == "sending", Message.sending_at < now - older_than)
            .values(status="unknown", reason="interrupted while sending: may have been delivered")
            .execution_options(synchronize_session=False)
        ).rowcount)  # type: ignore[attr-defined]  # fmt: skip


# --- staff actions: retry, CSV export -------------------------------------------------------


def _in_scope(scope: int | None) -> Any:
    if scope is None:
        return True
    return Message.customer_id.in_(select(Customer.id).where(Customer.home_store_id == scope))


def retry(
    db: Database,
    message_ids: Sequence[int],
    *,
    now: datetime,
    actor_id: int | None,
    scope: int | None = None,
    include_unknown: bool = False,
) -> int:
    """Queue failed messages again (and ``unknown`` ones only when ``include_unknown``: the
    caller confirmed they were not delivered); consent and cap are checked again at send
    time. Audited. Returns how many were requeued."""
    allowed = ("failed", "unknown") if include_unknown else ("failed",)
    ids = list(dict.fromkeys(int(i) for i in message_ids))
    if not ids:
        return 0
    with db.write() as session:
        chosen = list(session.execute(
            select(Message.id).where(Message.id.in_(ids), Message.status.in_(allowed),
                                     _in_scope(scope))
        ).scalars())  # fmt: skip
        if not chosen:
            return 0
        session.execute(
            update(Message).where(Message.id.in_(chosen))
            .values(status="queued", not_before=now, attempts=0, reason="requeued by staff")
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        audit.record(session, audit.Action.MESSAGE_RETRIED, actor_id=actor_id,
                     target_type="message", target_id=chosen[0] if len(chosen) == 1 else None,
                     detail={"messages": sorted(chosen)[:100], "count": len(chosen),
                             "include_unknown": include_unknown})  # fmt: skip
        return len(chosen)


def csv_phone(phone: str) -> str:
    """Mainland numbers as the 11 digits SMS platforms expect; others in E.164 as stored."""
    if phone.startswith("+86") and len(phone) == 14:
        return phone[3:]
    return phone


@dataclass(frozen=True)
class ExportResult:
    """What one CSV export did: messages written, skipped (by reason), and marketing messages
    held back because the export happened in the quiet hours (still queued, due at
    ``held_until``)."""

    exported: int
    skipped: dict[str, int]
    held: int = 0
    held_until: datetime | None = None


# The CSV of each channel: header, and the address as the platform expects it.
_EXPORT_HEADERS = {"sms": ["phone", "content"], "wechat": ["openid", "content"]}


def _export_address(channel: str, address: str) -> str:
    return csv_phone(address.strip()) if channel == "sms" else address.strip()


def _due_for_export(
    channel: str, *, now: datetime, scope: int | None, campaign_id: int | None,
    message_ids: Sequence[int] | None,
) -> list[Any]:  # fmt: skip
    where = [Message.channel == channel, Message.status == "queued", Message.not_before <= now,
             _in_scope(scope)]  # fmt: skip
    if campaign_id is not None:
        where.append(Message.campaign_id == campaign_id)
    if message_ids is not None:
        where.append(Message.id.in_(list(message_ids)))
    return where


def export_csv(
    db: Database,
    out: TextIO,
    channel: str,
    *,
    now: datetime,
    actor_id: int | None,
    campaign_id: int | None = None,
    message_ids: Sequence[int] | None = None,
    scope: int | None = None,
    policy: SendPolicy | None = None,
    limit: int | None = None,
) -> ExportResult:
    """Write the due, queued messages of ``channel`` (of a campaign, or the ids given) as a CSV
    that the channel's platform imports, and mark them ``exported`` (they count as sent).

    Consent, address and cap are checked first: the others are ``skipped``. In the quiet
    hours the marketing messages are held back (left queued, counted in ``held``): a platform
    sends what it imports at once. Audited (counts only, no addresses). Cells go through
    ``spreadsheets.csv_writer``: text that would start a formula gets a leading apostrophe.
    ``out`` is written only here: write it to the user after this returns (the transaction
    has committed).
    """
    if channel not in _EXPORT_HEADERS:
        raise InvalidInput(f"no CSV export for channel {channel!r}: use sms or wechat")
    policy = policy or DEFAULT_POLICY
    until = quiet_until(now, policy)
    where = _due_for_export(channel, now=now, scope=scope, campaign_id=campaign_id,
                            message_ids=message_ids)  # fmt: skip
    with db.write() as session:
        held = 0
        if until is not None:
            held = session.execute(
                select(func.count()).select_from(Message)
                .where(*where, Message.is_marketing.is_(True))
            ).scalar_one()  # fmt: skip
            where.append(Message.is_marketing.is_(False))
        query = select(Message).where(*where).order_by(Message.not_before, Message.id)
        messages = list(session.execute(query.limit(limit)).scalars())
        writer = spreadsheets.csv_writer(out)  # a name like '=HYPERLINK(…)' stays text
        writer.writerow(_EXPORT_HEADERS[channel])
        exported, skipped = _write_rows(session, writer, messages, channel, now=now,
                                        policy=policy)  # fmt: skip
        for chunk in _chunks(exported):
            session.execute(
                update(Message).where(Message.id.in_(chunk))
                .values(status="exported", sending_at=now, sent_at=now,
                        attempts=Message.attempts + 1, reason=None)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        detail: dict[str, Any] = {"channel": channel, "exported": len(exported),
                                  "skipped": dict(skipped)}  # fmt: skip
        if held:
            detail["held_for_quiet_hours"] = held
        audit.record(session, audit.Action.MESSAGES_EXPORTED, actor_id=actor_id,
                     target_type="campaign" if campaign_id is not None else "message",
                     target_id=campaign_id, detail=detail)  # fmt: skip
        return ExportResult(len(exported), dict(skipped), held, until if held else None)


def _write_rows(
    session: Session, writer: Any, messages: Sequence[Message], channel: str, *,
    now: datetime, policy: SendPolicy,
) -> tuple[list[int], Counter[str]]:  # fmt: skip
    """Write the rows of the messages that may go out; mark the others ``skipped``."""
    marketing_ids = [m.customer_id for m in messages if m.is_marketing]
    barred = {
        True: exclusions(session, marketing_ids, channel, now=now, is_marketing=True,
                         planned=1, policy=policy),
        False: exclusions(session, [m.customer_id for m in messages if not m.is_marketing],
                          channel, now=now, is_marketing=False, policy=policy),
    }  # fmt: skip
    counts = Counter(recent_counts(session, marketing_ids, now=now))
    addresses: dict[int, str] = {}
    column = _ADDRESS[channel]
    for chunk in _chunks(list(dict.fromkeys(m.customer_id for m in messages))):
        addresses.update({int(c): a or "" for c, a in session.execute(
            select(Customer.id, column).where(Customer.id.in_(chunk)))})  # fmt: skip
    skipped: Counter[str] = Counter()
    exported: list[int] = []
    for m in messages:
        reason = barred[m.is_marketing].get(m.customer_id)
        if reason is None and m.is_marketing:
            if counts[m.customer_id] >= policy.marketing_per_week:
                reason = "frequency_cap"
            else:
                counts[m.customer_id] += 1
        if reason is not None:
            m.status, m.reason = "skipped", reason
            skipped[reason] += 1
            continue
        url = None
        if m.is_marketing and policy.public_url and UNSUBSCRIBE_PLACEHOLDER in m.body:
            url = links.unsubscribe_url(policy.public_url,
                                        links.unsubscribe_token(session, m.id))  # fmt: skip
        text = final_body(m.body, channel, is_marketing=m.is_marketing, unsubscribe_url=url,
                          policy=policy)  # fmt: skip
        writer.writerow([_export_address(channel, addresses[m.customer_id]), text])
        exported.append(m.id)
    return exported, skipped


# --- reading the outbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    id: int
    customer_id: int
    customer_name: str
    campaign_id: int | None
    campaign_name: str | None
    channel: str
    is_marketing: bool
    subject: str | None
    preview: str
    status: str
    reason: str | None
    attempts: int
    queued_at: datetime
    not_before: datetime
    sent_at: datetime | None


def list_messages(
    session: Session,
    *,
    status: str | None = None,
    channel: str | None = None,
    campaign_id: int | None = None,
    customer_id: int | None = None,
    scope: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[MessageRow]:
    """Messages newest first, filtered; customers of the ``scope`` store only (None: all)."""
    query = (
        select(Message.id, Message.customer_id, Customer.name, Message.campaign_id,
               Campaign.name, Message.channel, Message.is_marketing, Message.subject,
               func.substr(Message.body, 1, 80), Message.status, Message.reason,
               Message.attempts, Message.queued_at, Message.not_before, Message.sent_at)
        .join(Customer, Customer.id == Message.customer_id)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .order_by(Message.id.desc()).limit(limit).offset(offset)
    )  # fmt: skip
    if status:
        query = query.where(Message.status == status)
    if channel:
        query = query.where(Message.channel == channel)
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    if customer_id is not None:
        query = query.where(Message.customer_id == customer_id)
    if scope is not None:
        query = query.where(Customer.home_store_id == scope)
    return [MessageRow(*row) for row in session.execute(query).all()]


def status_counts(
    session: Session, *, scope: int | None = None, campaign_id: int | None = None
) -> dict[str, int]:
    """How many messages are in each status (every status present, zeros included)."""
    query = select(Message.status, func.count()).group_by(Message.status)
    if scope is not None:
        query = query.where(_in_scope(scope))
    if campaign_id is not None:
        query = query.where(Message.campaign_id == campaign_id)
    found = {str(s): int(n) for s, n in session.execute(query).all()}
    return {s: found.get(s, 0) for s in STATUSES}


__all__ = [
    "EXCLUSION_REASONS",
    "Draft",
    "SendPolicy",
    "SendReport",
    "exclusions",
    "policy_from_settings",
    "queue",
    "recover_stale",
    "retry",
    "send_due",
    "export_csv",
]
