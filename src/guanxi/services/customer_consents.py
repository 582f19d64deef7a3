"""Marketing consent, one channel at a time: the current state and its evidence.

Every change appends a consent event (who said yes or no, when, and how we learned it) next to
the current state, and is audited; only customers in the actor's scope can be changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.domain.customers import Channel
from guanxi.errors import InvalidInput
from guanxi.services import audit
from guanxi.services.customer_edits import audit_customer, get_editable_customer
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, ConsentEvent


def write_consent(
    session: Session, customer_id: int, channel: str, granted: bool, source: str
) -> None:
    """Set the current consent and append its evidence (the consent event)."""
    now = datetime.now(UTC)
    current = session.get(Consent, (customer_id, channel))
    if current is None:
        session.add(
            Consent(
                customer_id=customer_id,
                channel=channel,
                is_granted=granted,
                changed_at=now,
                source=source,
            )
        )
    else:
        current.is_granted, current.changed_at, current.source = granted, now, source
    session.add(
        ConsentEvent(
            customer_id=customer_id, channel=channel, is_granted=granted, at=now, source=source
        )
    )


def set_consent(
    db: Database,
    customer_id: int,
    channel: Channel,
    granted: bool,
    *,
    actor: StaffMember,
    source: str,
    ip: str | None = None,
) -> bool:
    """Record a customer's marketing consent on one channel; False if it was already so."""
    source = source.strip()[:64]
    if not source:
        raise InvalidInput("say how the consent was given (source), e.g. 'counter' or 'web'")
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        current = session.get(Consent, (customer_id, channel.value))
        if current is not None and current.is_granted == granted:
            return False
        write_consent(session, customer_id, channel.value, granted, source)
        detail = {"channel": channel.value, "granted": granted, "source": source}
        audit_customer(session, audit.Action.CONSENT_CHANGED, actor, customer_id, ip, detail)
        return True


@dataclass(frozen=True)
class ConsentState:
    """A customer's current consent on one channel (None: never asked)."""

    channel: str
    granted: bool | None
    changed_at: datetime | None
    source: str | None


def current_consents(db: Database, customer_id: int) -> list[ConsentState]:
    """The consent on every channel, in the order of ``Channel``."""
    with db.read() as session:
        rows = session.scalars(select(Consent).where(Consent.customer_id == customer_id))
        stored = {k.channel: k for k in rows}
    return [
        ConsentState(ch.value, k.is_granted, k.changed_at, k.source)
        if (k := stored.get(ch.value))
        else ConsentState(ch.value, None, None, None)
        for ch in Channel
    ]
