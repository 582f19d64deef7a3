"""The customer page's care section: open tasks, promises, and who may own a new promise."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from guanxi.care.commitments import CommitmentRow, list_commitments
from guanxi.care.tasks import OUTCOME_LABELS, TaskRow, customer_tasks
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Staff, Store


@dataclass
class CommitmentDraft:
    """What the promise form shows (a fresh form, or what was typed when it was refused)."""

    promise: str = ""
    due_on: str = ""
    owner_staff_id: int | None = None
    remind_days: str = "1"
    task_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)


def care_section(
    db: Database,
    customer_id: int,
    *,
    day: date | None = None,
    viewer_staff_id: int | None = None,
    draft: CommitmentDraft | None = None,
) -> dict[str, Any] | None:
    """What ``customers/_care.html`` shows (None: no such customer). ``day`` is today (default:
    the customer's store's local date); ``viewer_staff_id`` is the default owner of a new
    promise (else the account owner)."""
    with db.read() as session:
        row = session.execute(
            select(Customer.owner_staff_id, Customer.home_store_id, Customer.erased_at)
            .where(Customer.id == customer_id)
        ).one_or_none()  # fmt: skip
        if row is None:
            return None
        if day is None:
            tz = None
            if row.home_store_id is not None:
                tz = session.execute(
                    select(Store.timezone).where(Store.id == row.home_store_id)
                ).scalar()  # fmt: skip
            day = datetime.now(UTC).astimezone(ZoneInfo(tz or "Asia/Shanghai")).date()
        tasks, done = customer_tasks(session, customer_id)
        promises = list_commitments(session, status="open", customer_id=customer_id)
        closed = list_commitments(session, status=None, customer_id=customer_id, limit=20)
        closed = [c for c in closed if c.status != "open"][:5]
        staff_query = select(Staff.id, Staff.name).where(Staff.is_active.is_(True))
        if row.home_store_id is not None:
            staff_query = staff_query.where(
                or_(Staff.store_id == row.home_store_id, Staff.role == "owner")
            )
        staff = [(int(i), n) for i, n in session.execute(staff_query.order_by(Staff.name))]
    ids = {i for i, _ in staff}
    owner_default = next(
        (s for s in (viewer_staff_id, row.owner_staff_id) if s is not None and s in ids), None
    )
    form = draft or CommitmentDraft(
        due_on=(day + timedelta(days=7)).isoformat(), owner_staff_id=owner_default
    )
    return {
        "customer_id": customer_id,
        "day": day,
        "erased": row.erased_at is not None,
        "tasks": tasks,
        "done": done,
        "promises": promises,
        "closed": closed,
        "staff": staff,
        "form": form,
        "outcomes": [(o.value, label) for o, label in OUTCOME_LABELS.items()],
    }


__all__ = ["CommitmentDraft", "CommitmentRow", "TaskRow", "care_section"]
