"""The steps of a complaint after it is opened: respond, note, assign, escalate, resolve with a
recovery, close, reopen. Each works in the caller's transaction and appends an event and an
audit entry (see ``guanxi.feedback.complaints`` for the status flow).

Recovery (补救): ``apology``, ``replacement``, ``refund`` (the amount is recorded in the event
and the audit entry; the money itself moves at the till), ``coupon`` (one new code of a coupon
campaign, ``loyalty.coupons.issue_in``) or ``points`` (a never-expiring lot through the points
ledger, idempotency key ``complaint:<id>:points``, so a retried request never pays twice).
Coupons and points are compensation: only staff with ``complaints.manage`` may grant them, and
a complaint is compensated at most once of each kind (a reopened one keeps what it got).

Closing the loop: when a resolved complaint has a customer, a single-use ``satisfaction`` link
is issued (``feedback.links``) and, when the shop's public URL is set and the customer has an
address, a service message (not marketing: no consent needed, no weekly cap) carries it. The
channel is the one the complaint came through when it is a message channel (WeChat, email),
else SMS, else WeChat, else email: the first one the customer has an address on.

Intake by link: ``issue_feedback_link`` gives staff a single-use public ``feedback`` link for
a customer to paste into WeChat or an SMS; what the customer writes there opens a complaint
(channel ``link``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from guanxi.care import outbox
from guanxi.care.tasks import store_managers
from guanxi.care.templating import contexts
from guanxi.domain.access import Permission, is_allowed
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.feedback import links
from guanxi.feedback.complaints import _check_staff, add_event, check_text, get_complaint
from guanxi.loyalty import coupons, ledger
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.models import CareTask, Complaint, ComplaintEvent, Customer, Staff

RECOVERY_ACTIONS = ("apology", "replacement", "refund", "coupon", "points")
MAX_POINTS = 1_000_000
_ACTIVE = ("open", "in_progress")
ESCALATION_KEY_PREFIX = "complaint-escalation:"
SATISFACTION_TEXT = (
    "{salutation}您好，感谢您的耐心。您反映的问题（编号 {id}）我们已处理完毕。"
    "请用一分钟告诉我们您是否满意：{url} —— {shop}"
)


@dataclass(frozen=True)
class Recovery:
    """What a resolution gives the customer."""

    action: str
    points: int = 0
    coupon_campaign_id: int | None = None
    refund: Decimal | None = None


@dataclass(frozen=True)
class Resolved:
    """What ``resolve`` did: the satisfaction link (None: no customer) and the channel of
    the message that carries it (None: none queued, ``why_not`` says why)."""

    token: str | None
    channel: str | None
    why_not: str | None
    coupon_code: str | None = None


def _audit(session: Session, action: str, row: Complaint, actor_id: int | None,
           **detail: object) -> None:  # fmt: skip
    audit.record(session, action, actor_id=actor_id, target_type="complaint", target_id=row.id,
                 detail={"customer_id": row.customer_id, **detail})  # fmt: skip


def _refuse(row: Complaint, step: str, allowed: tuple[str, ...]) -> None:
    if row.status not in allowed:
        raise Conflict(
            f"complaint {row.id} is {row.status.replace('_', ' ')}: it cannot be {step} "
            f"(only when {' or '.join(s.replace('_', ' ') for s in allowed)})"
        )


def respond(session: Session, complaint_id: int, note: str, *, actor_id: int | None,
            now: datetime) -> None:  # fmt: skip
    """Record a response to the customer; the first one stops the first-response clock and
    moves an open complaint to in progress."""
    text = check_text("response", note, required=True)
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "answered", _ACTIVE)
    first = row.first_response_at is None
    if first:
        row.first_response_at = now
    row.status = "in_progress"
    add_event(session, row.id, "responded", at=now, actor_id=actor_id, note=text)
    _audit(session, audit.Action.COMPLAINT_UPDATED, row, actor_id, step="responded", first=first)


def add_note(session: Session, complaint_id: int, note: str, *, actor_id: int | None,
             now: datetime) -> None:  # fmt: skip
    """An internal note on the timeline (not a response: the clocks do not stop)."""
    text = check_text("note", note, required=True)
    row = get_complaint(session, complaint_id)
    add_event(session, row.id, "note", at=now, actor_id=actor_id, note=text)
    _audit(session, audit.Action.COMPLAINT_UPDATED, row, actor_id, step="note")


def assign(session: Session, complaint_id: int, staff_id: int | None, *, actor_id: int | None,
           now: datetime) -> None:  # fmt: skip
    """Give the complaint to a staff member (None: nobody)."""
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "assigned", _ACTIVE)
    if staff_id is not None:
        _check_staff(session, staff_id)
    row.assignee_staff_id = staff_id
    add_event(session, row.id, "assigned", at=now, actor_id=actor_id,
              note=None if staff_id is None else str(staff_id))  # fmt: skip
    _audit(session, audit.Action.COMPLAINT_UPDATED, row, actor_id, step="assigned",
           assignee_staff_id=staff_id)  # fmt: skip


def escalation_task_key(complaint_id: int) -> str:
    """The source key of the care task an automatic escalation gives the manager."""
    return f"{ESCALATION_KEY_PREFIX}{complaint_id}"


def escalation_targets(session: Session) -> Callable[[int | None], int | None]:
    """Whom a complaint of a store is escalated to: the store's manager (the active one added
    first), else the first active owner (None: nobody)."""
    managers = store_managers(session)
    owner = session.execute(
        select(Staff.id).where(Staff.role == "owner", Staff.is_active.is_(True)).order_by(Staff.id)
    ).scalar()
    return lambda store_id: managers.get(store_id if store_id is not None else -1, owner)


def escalation_target(session: Session, store_id: int | None) -> int | None:
    """The one person a complaint of ``store_id`` is escalated to (see ``escalation_targets``)."""
    return escalation_targets(session)(store_id)


def escalate(session: Session, complaint_id: int, to_staff_id: int, *, actor_id: int | None,
             now: datetime, note: str | None = None, automatic: bool = False) -> None:  # fmt: skip
    """Hand the complaint up to ``to_staff_id`` (a manager or the owner); the first escalation
    is kept in ``escalated_at`` / ``escalated_to_staff_id``, later ones are events."""
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "escalated", _ACTIVE)
    _check_staff(session, to_staff_id)
    text = check_text("note", note, required=False)
    if row.escalated_at is None:
        row.escalated_at = now
        row.escalated_to_staff_id = to_staff_id
    add_event(session, row.id, "escalated", at=now, actor_id=actor_id, note=text)
    _audit(session, audit.Action.COMPLAINT_ESCALATED, row, actor_id, to_staff_id=to_staff_id,
           automatic=automatic)  # fmt: skip


def parse_refund(text: str) -> Decimal | None:
    """'120.5' -> Decimal('120.50'); '' -> None; InvalidInput otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise InvalidInput(f"refund: {text!r} is not an amount (e.g. 120.50)") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"refund: the amount must be above 0 (found {text})")
    return value


def check_recovery(recovery: Recovery, actor: StaffMember) -> None:
    """Refuse an unknown action, a missing amount, or compensation by staff who may not."""
    if recovery.action not in RECOVERY_ACTIONS:
        raise InvalidInput(
            f"recovery: {recovery.action!r} is not one of {', '.join(RECOVERY_ACTIONS)}"
        )
    if recovery.action in ("coupon", "points") and not is_allowed(
        actor.role, Permission.COMPLAINTS_MANAGE
    ):
        raise NotAllowed(
            f"only a manager or the owner may compensate with {recovery.action}; "
            f"{actor.name} is a {actor.role.value}: resolve with an apology, a replacement "
            "or a refund, or escalate"
        )
    if recovery.action == "points" and not 0 < recovery.points <= MAX_POINTS:
        raise InvalidInput(f"points: give 1 to {MAX_POINTS} points (found {recovery.points})")
    if recovery.action == "coupon" and recovery.coupon_campaign_id is None:
        raise InvalidInput("coupon: choose the coupon campaign whose code the customer gets")
    if recovery.action == "refund" and recovery.refund is None:
        raise InvalidInput("refund: give the amount refunded")


def resolve(
    session: Session,
    complaint_id: int,
    recovery: Recovery,
    note: str,
    *,
    actor: StaffMember,
    now: datetime,
    public_url: str = "",
    shop: str | None = None,
) -> Resolved:
    """Resolve with a recovery, issue the satisfaction link and queue its message."""
    check_recovery(recovery, actor)
    text = check_text("resolution", note, required=True)
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "resolved", _ACTIVE)
    if recovery.action in ("coupon", "points") and row.customer_id is None:
        raise InvalidInput(f"complaint {row.id} has no customer to compensate: apologise instead")
    code = _compensate(session, row, recovery, actor_id=actor.id)
    row.status = "resolved"
    row.resolved_at = now
    row.first_response_at = row.first_response_at or now
    row.recovery_action = recovery.action
    row.resolution_note = text
    detail = recovery.action if recovery.refund is None else f"refund {recovery.refund}"
    add_event(session, row.id, "resolved", at=now, actor_id=actor.id, note=f"{detail}: {text}")
    _end_escalation_task(session, row.id)
    _audit(session, audit.Action.COMPLAINT_RESOLVED, row, actor.id, recovery=recovery.action,
           points=recovery.points or None, coupon_id=row.recovery_coupon_id,
           refund=None if recovery.refund is None else str(recovery.refund))  # fmt: skip
    token, channel, why = _close_loop(session, row, now=now, actor_id=actor.id,
                                      public_url=public_url, shop=shop)  # fmt: skip
    return Resolved(token, channel, why, code)


def _end_escalation_task(session: Session, complaint_id: int) -> None:
    """Cancel the escalation's open care task: the complaint no longer needs the manager."""
    session.execute(
        update(CareTask)
        .where(CareTask.source_key == escalation_task_key(complaint_id), CareTask.status == "open")
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )  # fmt: skip


def _compensate(session: Session, row: Complaint, recovery: Recovery, *,
                actor_id: int) -> str | None:  # fmt: skip
    assert row.customer_id is not None or recovery.action not in ("coupon", "points")
    if recovery.action == "points":
        if row.recovery_points:
            raise Conflict(f"complaint {row.id} already gave {row.recovery_points} points")
        ledger.earn(
            session, row.customer_id or 0, recovery.points, source_type="complaint",
            source_id=row.id, expires_on=None, reason=f"complaint #{row.id} recovery",
            explanation={"complaint_id": row.id}, idempotency_key=f"complaint:{row.id}:points",
            actor_id=actor_id,
        )  # fmt: skip
        row.recovery_points = recovery.points
    elif recovery.action == "coupon":
        if row.recovery_coupon_id is not None:
            raise Conflict(f"complaint {row.id} already gave a coupon")
        assert recovery.coupon_campaign_id is not None
        issued = coupons.issue_in(session, recovery.coupon_campaign_id, row.customer_id or 0,
                                  actor_id=actor_id)  # fmt: skip
        row.recovery_coupon_id = issued.id
        audit.record(session, audit.Action.COUPONS_ISSUED, actor_id=actor_id,
                     target_type="customer", target_id=row.customer_id,
                     detail={"campaign_id": recovery.coupon_campaign_id, "coupon_id": issued.id,
                             "complaint_id": row.id})  # fmt: skip
        return issued.code
    return None


def message_channel(session: Session, customer_id: int, came_by: str, *,
                    now: datetime) -> str | None:  # fmt: skip
    """The channel of a service message (see the module docstring); None: no address."""
    order = ["sms", "wechat", "email"]
    if came_by in ("wechat", "email"):
        order.remove(came_by)
        order.insert(0, came_by)
    for channel in order:
        if not outbox.exclusions(session, [customer_id], channel, now=now, is_marketing=False):
            return channel
    return None


_Loop = tuple[str | None, str | None, str | None]  # token, channel, why no message


def _close_loop(session: Session, row: Complaint, *, now: datetime, actor_id: int,
                public_url: str, shop: str | None) -> _Loop:  # fmt: skip
    if row.customer_id is None:
        return None, None, "no_customer"
    token = links.issue_link(session, "satisfaction", row.customer_id, now=now,
                             complaint_id=row.id, store_id=row.store_id)  # fmt: skip
    audit.record(session, audit.Action.LINKS_ISSUED, actor_id=actor_id, target_type="complaint",
                 target_id=row.id, detail={"purpose": "satisfaction", "count": 1})  # fmt: skip
    if not public_url.strip():
        return token, None, "no_public_url"
    channel = message_channel(session, row.customer_id, row.channel, now=now)
    if channel is None:
        return token, None, "no_address"
    values = contexts(session, [row.customer_id], locale="zh", shop=shop, now=now)
    context = values.get(row.customer_id, {"salutation": "", "shop": shop or ""})
    url = public_url.rstrip("/") + links.link_path("satisfaction", token)
    body = SATISFACTION_TEXT.format(salutation=context["salutation"], id=row.id, url=url,
                                    shop=context["shop"])  # fmt: skip
    times = session.execute(
        select(func.count()).select_from(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == row.id, ComplaintEvent.kind == "resolved")
    ).scalar_one()  # fmt: skip
    draft = outbox.Draft(
        customer_id=row.customer_id, channel=channel,
        subject="您的反馈" if channel == "email" else None, body=body,
        dedupe_key=f"complaint:{row.id}:satisfaction:{times}", is_marketing=False,
    )  # fmt: skip
    outbox.queue(session, [draft], now=now)
    return token, channel, None


def issue_feedback_link(session: Session, customer_id: int, *, actor_id: int | None,
                        now: datetime) -> str:  # fmt: skip
    """A single-use public ``feedback`` link for the customer (their home store's), audited
    without personal data; the token (``links.link_path("feedback", token)`` is its path)."""
    home = session.execute(
        select(Customer.home_store_id)
        .where(Customer.id == customer_id, Customer.erased_at.is_(None))
    ).one_or_none()  # fmt: skip
    if home is None:
        raise NotFound(f"customer {customer_id} does not exist")
    token = links.issue_link(session, "feedback", customer_id, now=now, store_id=home[0])
    audit.record(session, audit.Action.LINKS_ISSUED, actor_id=actor_id, target_type="customer",
                 target_id=customer_id, detail={"purpose": "feedback", "count": 1})  # fmt: skip
    return token


def close(session: Session, complaint_id: int, *, actor_id: int | None, now: datetime,
          note: str | None = None) -> None:  # fmt: skip
    """Close a resolved complaint (nothing more to do)."""
    text = check_text("note", note, required=False)
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "closed", ("resolved",))
    row.status = "closed"
    row.closed_at = now
    add_event(session, row.id, "closed", at=now, actor_id=actor_id, note=text)
    _end_escalation_task(session, row.id)
    _audit(session, audit.Action.COMPLAINT_UPDATED, row, actor_id, step="closed")


def reopen(session: Session, complaint_id: int, note: str, *, actor_id: int | None,
           now: datetime) -> None:  # fmt: skip
    """Take a resolved or closed complaint back to in progress (a reason is required)."""
    text = check_text("reason", note, required=True)
    row = get_complaint(session, complaint_id, lock=True)
    _refuse(row, "reopened", ("resolved", "closed"))
    row.status = "in_progress"
    row.resolved_at = None
    row.closed_at = None
    add_event(session, row.id, "reopened", at=now, actor_id=actor_id, note=text)
    _audit(session, audit.Action.COMPLAINT_UPDATED, row, actor_id, step="reopened")
