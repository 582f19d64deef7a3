"""Tokenised public links for one customer: a feedback form, a survey, an event RSVP, a
satisfaction check after a complaint. No login; expiring; single-use where it matters.

A token is 32 url-safe characters from ``secrets`` (192 bits). Only its SHA-256 is stored
(``public_link.token_hash``), so a copy of the database or a log of it gives no working link.
A token that is not exactly that shape (tampered, truncated, or carrying markup) is refused
before the database is asked, with the same answer as an unknown one: the page says the link
is not valid and shows nothing of any customer.

``use_link`` counts a use inside the caller's write transaction after locking the row (``FOR
UPDATE`` on PostgreSQL; SQLite's write transaction is already exclusive), so two submissions
of a single-use link at once accept exactly one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from guanxi.errors import InvalidInput
from guanxi.storage.models import PublicLink

PURPOSES = ("feedback", "survey", "rsvp", "satisfaction")
PREFIX = {"feedback": "/f", "satisfaction": "/f", "survey": "/s", "rsvp": "/e"}
"""Where each kind of link is served (``{PREFIX}/{token}``)."""
DEFAULT_DAYS = {"feedback": 30, "survey": 30, "rsvp": 60, "satisfaction": 14}
TOKEN_LENGTH = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class LinkRefused(InvalidInput):
    """The link cannot be used; ``reason`` is one of malformed, unknown, expired, used,
    wrong_purpose (a page shows one sentence for each, and nothing else)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"link refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class LinkView:
    """What a valid link names (read before or at its use)."""

    id: int
    purpose: str
    customer_id: int | None
    store_id: int | None
    survey_id: int | None
    event_id: int | None
    complaint_id: int | None
    uses: int
    max_uses: int
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token() -> str:
    """32 url-safe characters (24 random bytes)."""
    return secrets.token_urlsafe(24)


def link_path(purpose: str, token: str) -> str:
    """The path of a link, e.g. ``/s/<token>``; prefix the shop's public URL for a message."""
    return f"{PREFIX[purpose]}/{token}"


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown link purpose {purpose!r} (one of {', '.join(PURPOSES)})")


def issue_links(
    session: Session,
    purpose: str,
    customer_ids: Sequence[int | None],
    *,
    now: datetime,
    days: int | None = None,
    expires_at: datetime | None = None,
    max_uses: int = 1,
    store_id: int | None = None,
    survey_id: int | None = None,
    event_id: int | None = None,
    complaint_id: int | None = None,
) -> list[str]:
    """One new token per customer (in order), stored as hashes in the caller's transaction.

    The link expires ``days`` after ``now`` (default: the purpose's), or at ``expires_at`` (e.g.
    an RSVP link at the event's end), which must lie within 366 days.
    """
    _check_purpose(purpose)
    if max_uses < 1:
        raise InvalidInput("a link needs at least one use")
    life = DEFAULT_DAYS[purpose] if days is None else days
    if not 1 <= life <= 366:
        raise InvalidInput(f"a link lives 1 to 366 days (not {life})")
    until = now + timedelta(days=life) if expires_at is None else expires_at
    if not now < until <= now + timedelta(days=366):
        raise InvalidInput(f"a link must expire within 366 days (not {until.isoformat()})")
    tokens = [new_token() for _ in customer_ids]
    if tokens:
        session.execute(insert(PublicLink), [
            {"token_hash": token_hash(t), "purpose": purpose, "customer_id": cid,
             "store_id": store_id, "survey_id": survey_id, "event_id": event_id,
             "complaint_id": complaint_id, "max_uses": max_uses, "uses": 0, "created_at": now,
             "expires_at": until}
            for t, cid in zip(tokens, customer_ids, strict=True)
        ])  # fmt: skip
    return tokens


def issue_link(session: Session, purpose: str, customer_id: int | None, **kw: object) -> str:
    """One new token (see ``issue_links``)."""
    return issue_links(session, purpose, [customer_id], **kw)[0]  # type: ignore[arg-type]


def _view(row: PublicLink) -> LinkView:
    return LinkView(row.id, row.purpose, row.customer_id, row.store_id, row.survey_id,
                    row.event_id, row.complaint_id, row.uses, row.max_uses,
                    row.expires_at)  # fmt: skip


def _find(session: Session, token: str, *, lock: bool) -> PublicLink:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise LinkRefused("malformed")
    query = select(PublicLink).where(PublicLink.token_hash == token_hash(token))
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise LinkRefused("unknown")
    return row


def check_link(session: Session, token: str, *, now: datetime,
               purpose: str | tuple[str, ...] | None = None,
               allow_used: bool = False) -> LinkView:  # fmt: skip
    """The link, or LinkRefused: malformed, unknown, wrong purpose, expired, or used up
    (``allow_used``: a used link may still be shown, e.g. "thank you, already answered")."""
    row = _find(session, token, lock=False)
    return _valid(row, now=now, purpose=purpose, allow_used=allow_used)


def _valid(
    row: PublicLink, *, now: datetime, purpose: str | tuple[str, ...] | None, allow_used: bool
) -> LinkView:
    wanted = (purpose,) if isinstance(purpose, str) else purpose
    if wanted is not None and row.purpose not in wanted:
        raise LinkRefused("wrong_purpose")
    if row.expires_at <= now:
        raise LinkRefused("expired")
    if row.uses >= row.max_uses and not allow_used:
        raise LinkRefused("used")
    return _view(row)


def use_link(
    session: Session, token: str, *, now: datetime, purpose: str | tuple[str, ...]
) -> LinkView:
    """Check the link and count one use, under a row lock, in the caller's write transaction."""
    row = _find(session, token, lock=True)
    view = _valid(row, now=now, purpose=purpose, allow_used=False)
    session.execute(
        update(PublicLink).where(PublicLink.id == row.id)
        .values(uses=PublicLink.uses + 1, last_used_at=now)
    )  # fmt: skip
    return view
