"""Run a write once: in its own transaction or a savepoint, answering a duplicate's race.

The loyalty ledgers (points, stored value, reward redemptions, coupon redemptions) store each
write's idempotency key under a unique constraint. Two requests with the same key that arrive
together both pass the "seen before?" check; the database lets one commit and the other fails
with IntegrityError. ``run_once`` answers that loser with the winner's stored result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.storage.db import Database

T = TypeVar("T")


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
