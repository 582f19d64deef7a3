"""An Idempotency-Key claim outlives a slow request but not a killed worker.

The middleware renews a running request's claim every ``HEARTBEAT`` (``touch``); a claim not
renewed for ``STALE_AFTER`` (its worker was killed) is taken over by the client's retry. The
load trial kills real workers; this pins the clock to show the two cases apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guanxi.services import api_idempotency as keys
from guanxi.storage.db import Database

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _claim(db: Database, at: datetime) -> keys.Claim:
    return keys.claim(db, client="c" * 64, key="k-1", fingerprint="f" * 64,
                      request="POST /api/v1/purchases", now=at)  # fmt: skip


def test_a_renewed_claim_stays_and_an_abandoned_one_is_taken_over(db: Database) -> None:
    first = _claim(db, T0)
    assert first.outcome == "new" and first.row_id is not None
    late = T0 + keys.STALE_AFTER + timedelta(seconds=1)

    keys.touch(db, first.row_id, now=T0 + keys.HEARTBEAT * 2)  # the request still runs
    assert _claim(db, late).outcome == "in_flight"  # so a retry waits for it

    abandoned = late + keys.STALE_AFTER + timedelta(seconds=1)  # no renewal since: dead worker
    taken = _claim(db, abandoned)
    assert (taken.outcome, taken.row_id) == ("new", first.row_id)

    keys.complete(db, first.row_id, keys.Stored(201, {}, "{}"))
    keys.release(db, first.row_id)  # a late release (retried after an outage): no effect
    keys.touch(db, first.row_id, now=abandoned + timedelta(seconds=5))  # too late: no effect
    assert _claim(db, abandoned + timedelta(minutes=5)).outcome == "replay"
