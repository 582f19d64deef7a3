"""Writes made once per idempotency key: the request digest, the stored row, the race.

The loyalty ledgers (points, stored value, reward redemptions, coupon redemptions) store each
write's idempotency key under a unique constraint. Two requests with the same key that arrive
together both pass the "seen before?" check; the database lets one commit and the other fails
with IntegrityError. ``run_once`` answers that loser with the winner's stored result.

``request_digest`` fingerprints a request; ``stored_for_key`` finds the row a key wrote before
and refuses a key reused for another request (``IdempotencyConflict``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.errors import Conflict
from guanxi.storage.db import Database

T = TypeVar("T")
Row = TypeVar("Row")


class IdempotencyConflict(Conflict):
    """An idempotency key was used before for a different request."""


def request_digest(op: str, **fields: Any) -> str:
    """SHA-256 of an operation and its fields (canonical JSON): what a key's request was."""
    text = json.dumps({"op": op, **fields}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def stored_for_key(
    session: Session, model: type[Row], key: str | None, digest: str, what: Callable[[Row], str]
) -> Row | None:
    """The row of ``model`` that ``key`` wrote before (None: none, or no key); a row written
    for another request raises IdempotencyConflict naming it with ``what(row)``."""
    if key is None:
        return None
    table: Any = model  # a mapped class with idempotency_key and request_digest columns
    row = session.scalars(select(table).where(table.idempotency_key == key)).one_or_none()
    if row is None:
        return None
    if row.request_digest != digest:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used before for another request ({what(row)}): "
            "use a new key for a new request"
        )
    found: Row = row
    return found


def run_once(
    target: Database | Session,
    post: Callable[[Session], T],
    replay: Callable[[Session], T | None],
) -> T:
    """``post`` in a write transaction of ``target`` (or a savepoint of a caller's session, so
    that it commits with the caller's work). On IntegrityError, ``replay`` looks for the stored
    result of a concurrent duplicate; without one the error stands."""
    if isinstance(target, Session):
        try:
            with target.begin_nested():
                return post(target)
        except IntegrityError:
            if (found := replay(target)) is None:
                raise
            return found
    try:
        with target.write() as session:
            return post(session)
    except IntegrityError:
        with target.read() as session:
            found = replay(session)
        if found is None:
            raise
        return found
