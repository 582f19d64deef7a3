"""Stored ``Idempotency-Key``s of API writes: claim a key, store its response, replay it, purge.

The semantics follow the IETF httpapi idempotency-key draft. A key belongs to one API client
(the SHA-256 of its bearer token) and fingerprints one request (method, path, query and a
canonical form of the body):

* the first request with a key claims it (a row in state ``in_flight``, committed at once so
  that other requests see it), runs, and stores its response (state ``done``);
* a retry with the same key and the same request gets the stored response again;
* the same key with another request is refused (``Mismatch``: 422);
* a retry while the first is still running is refused (``InFlight``: 409, retry later). A
  claim older than ``stale_after`` whose request never finished (a crashed worker) is taken
  over by the next retry; the operations behind the API are idempotent themselves (a purchase
  by store + receipt number, a ledger posting by its key), so running it again is safe.
  A request that is still running renews its claim every ``HEARTBEAT`` (``touch``), so
  ``stale_after`` can be short: a worker killed mid-request (``kill -9``, out of memory, a
  power cut) blocks its client's retry for ``STALE_AFTER`` seconds, not for good.

Responses that say nothing was done (5xx, 401, 403, 429) are not kept: the row is deleted so
the client may retry with the same key. Rows are kept ``RETENTION`` (7 days) at least; after
that a purchase is still de-duplicated by (store, receipt number).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.storage.db import Database
from guanxi.storage.models import ApiIdempotencyKey

RETENTION = timedelta(days=7)
HEARTBEAT = timedelta(seconds=3)  # a running request renews its claim this often
STALE_AFTER = timedelta(seconds=10)  # a claim not renewed for this long: its worker died
NOT_KEPT = frozenset({401, 403, 429})  # and every 5xx: the request did nothing


@dataclass(frozen=True)
class Stored:
    """A response kept for replay."""

    status_code: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class Claim:
    """What a request with a key may do: ``new`` (run it; ``row_id`` to complete), ``replay``
    (answer ``stored``), ``in_flight`` (409) or ``mismatch`` (422)."""

    outcome: str
    row_id: int | None = None
    stored: Stored | None = None


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of the request; a JSON body in canonical form (key order and spacing ignored)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        payload = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        payload = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def claim(
    db: Database,
    *,
    client: str,
    key: str,
    fingerprint: str,
    request: str,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> Claim:
    """Claim ``key`` for this request, or say why not (one short committed transaction)."""
    now = now or datetime.now(UTC)
    values = {"client": client, "key": key, "fingerprint": fingerprint,
              "request": request[:300], "state": "in_flight", "created_at": now}  # fmt: skip
    with db.write() as session:
        new_id = _insert(session, values)
        if new_id is not None:
            return Claim("new", row_id=new_id)
        row = session.scalars(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.client == client, ApiIdempotencyKey.key == key
            )
        ).one()
        if row.fingerprint != fingerprint:
            return Claim("mismatch")
        if row.state == "done":
            assert row.status_code is not None
            stored = Stored(row.status_code, dict(row.headers or {}), row.body or "")
            return Claim("replay", stored=stored)
        if _aware(row.created_at) > now - stale_after:
            return Claim("in_flight")
        taken = session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.id == row.id, ApiIdempotencyKey.state == "in_flight",
                   ApiIdempotencyKey.created_at == row.created_at)
            .values(created_at=now)
        ).rowcount  # type: ignore[attr-defined]  # fmt: skip
        return Claim("new", row_id=row.id) if taken == 1 else Claim("in_flight")


def _insert(session: Session, values: dict[str, Any]) -> int | None:
    """Insert the claim unless the key exists; the new row's id, or None."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = pg_insert(ApiIdempotencyKey).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(ApiIdempotencyKey).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases
        stmt = insert(ApiIdempotencyKey)
    result = session.execute(stmt.values(**values).returning(ApiIdempotencyKey.id))
    return result.scalar_one_or_none()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def keeps(status_code: int) -> bool:
    """Whether a response is stored for replay (it did something, or refused for good)."""
    return status_code < 500 and status_code not in NOT_KEPT


def complete(db: Database, row_id: int, response: Stored, *, now: datetime | None = None) -> None:
    """Store the response of a claimed request for replay."""
    with db.write() as session:
        session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.id == row_id)
            .values(state="done", status_code=response.status_code, headers=response.headers,
                    body=response.body, completed_at=now or datetime.now(UTC))
        )  # fmt: skip


def touch(db: Database, row_id: int, *, now: datetime | None = None) -> None:
    """Renew the claim of a request that is still running (its worker is alive)."""
    with db.write() as session:
        session.execute(
            update(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.id == row_id, ApiIdempotencyKey.state == "in_flight")
            .values(created_at=now or datetime.now(UTC))
        )


def release(db: Database, row_id: int) -> None:
    """Forget a claim whose request did nothing (a server error), so a retry runs again. A
    stored answer stays (a late release, retried after an outage, must not drop it)."""
    with db.write() as session:
        session.execute(
            delete(ApiIdempotencyKey).where(
                ApiIdempotencyKey.id == row_id, ApiIdempotencyKey.state == "in_flight"
            )
        )


def purge(db: Database, *, now: datetime | None = None, keep: timedelta = RETENTION) -> int:
    """Delete keys older than ``keep`` (default 7 days); how many went."""
    cutoff = (now or datetime.now(UTC)) - keep
    with db.write() as session:
        result = session.execute(
            delete(ApiIdempotencyKey).where(ApiIdempotencyKey.created_at < cutoff)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
