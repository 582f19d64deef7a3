"""Tokenised public links (feedback.links): expiry, single use, tampering, purposes, and two
submissions at once accepting exactly one, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guanxi.errors import InvalidInput
from guanxi.feedback.links import (
    LinkRefused,
    check_link,
    issue_link,
    issue_links,
    link_path,
    token_hash,
    use_link,
)
from guanxi.storage.db import Database
from guanxi.storage.models import PublicLink
from guanxi.web.routes.public_links import FEEDBACK_PAGE
from tests.factories import make_customer

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def refusal(db: Database, token: str, **kw: object) -> str:
    with pytest.raises(LinkRefused) as refused, db.read() as session:
        check_link(session, token, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]
    return refused.value.reason


def test_only_the_hash_is_stored_and_paths(db: Database) -> None:
    cid = make_customer(db)
    with db.write() as session:
        token = issue_link(session, "survey", cid, now=NOW)
    assert len(token) == 32
    with db.read() as session:
        row = session.execute(select(PublicLink)).scalar_one()
    assert row.token_hash == token_hash(token) and token not in row.token_hash
    assert row.expires_at == NOW + timedelta(days=30) and (row.uses, row.max_uses) == (0, 1)
    assert link_path("survey", token) == f"/s/{token}"
    assert link_path("satisfaction", token) == f"/f/{token}"


def test_expiry_is_exclusive(db: Database) -> None:
    with db.write() as session:
        token = issue_link(session, "feedback", make_customer(db), now=NOW, days=1)
    with db.read() as session:
        assert check_link(session, token, now=NOW + timedelta(hours=23)).purpose == "feedback"
    assert refusal(db, token, now=NOW + timedelta(days=1)) == "expired"


def test_single_use_then_used(db: Database) -> None:
    with db.write() as session:
        token = issue_link(session, "feedback", make_customer(db), now=NOW)
    with db.write() as session:
        assert use_link(session, token, now=NOW, purpose="feedback").uses == 0
    assert refusal(db, token) == "used"
    with db.read() as session:
        assert check_link(session, token, now=NOW, allow_used=True).uses == 1
    with pytest.raises(LinkRefused, match="used"), db.write() as session:
        use_link(session, token, now=NOW, purpose="feedback")


def test_a_refused_use_counts_nothing(db: Database) -> None:
    with db.write() as session:
        token = issue_link(session, "survey", make_customer(db), now=NOW)
    with pytest.raises(RuntimeError), db.write() as session:
        use_link(session, token, now=NOW, purpose="survey")
        raise RuntimeError("the answer failed after the use was counted")
    with db.read() as session:
        assert check_link(session, token, now=NOW).uses == 0


@pytest.mark.parametrize(
    "tampered",
    ["", "short", "A" * 31, "A" * 33, "<script>alert(1)</script>xxxxxxx", "A" * 31 + "/",
     "' OR 1=1 --aaaaaaaaaaaaaaaaaaaaa", "Ａ" * 32],
)  # fmt: skip
def test_tampered_tokens_are_malformed(db: Database, tampered: str) -> None:
    assert refusal(db, tampered) == "malformed"


def test_a_changed_character_is_unknown(db: Database) -> None:
    with db.write() as session:
        token = issue_link(session, "feedback", make_customer(db), now=NOW)
    changed = ("B" if token[0] != "B" else "C") + token[1:]
    assert refusal(db, changed) == "unknown"


def test_purposes(db: Database) -> None:
    cid = make_customer(db)
    with db.write() as session:
        survey, feedback, satisfaction = (
            issue_link(session, purpose, cid, now=NOW)
            for purpose in ("survey", "feedback", "satisfaction")
        )
    assert refusal(db, survey, purpose="feedback") == "wrong_purpose"
    assert refusal(db, feedback, purpose="survey") == "wrong_purpose"
    with db.read() as session:  # /f serves both the feedback form and the satisfaction check
        assert check_link(session, satisfaction, now=NOW, purpose=FEEDBACK_PAGE).purpose == (
            "satisfaction"
        )
        assert check_link(session, feedback, now=NOW, purpose=FEEDBACK_PAGE).purpose == "feedback"
    assert refusal(db, satisfaction, purpose="feedback") == "wrong_purpose"  # no special case
    with pytest.raises(InvalidInput, match="purpose"), db.write() as session:
        issue_link(session, "vote", cid, now=NOW)
    with pytest.raises(InvalidInput, match="366"), db.write() as session:
        issue_link(session, "survey", cid, now=NOW, days=400)
    with pytest.raises(InvalidInput, match="366"), db.write() as session:
        issue_link(session, "rsvp", cid, now=NOW, expires_at=NOW + timedelta(days=400))
    with db.write() as session:
        token = issue_link(session, "rsvp", cid, now=NOW, expires_at=NOW + timedelta(hours=5))
        assert check_link(session, token, now=NOW).expires_at == NOW + timedelta(hours=5)


def test_bulk_issue_gives_distinct_tokens(db: Database) -> None:
    ids = [make_customer(db) for _ in range(5)]
    with db.write() as session:
        tokens = issue_links(session, "survey", ids, now=NOW, max_uses=2)
    assert len(set(tokens)) == 5
    with db.read() as session:
        rows = session.execute(select(PublicLink).order_by(PublicLink.id)).scalars().all()
    assert [r.customer_id for r in rows] == ids and {r.max_uses for r in rows} == {2}


def test_two_submissions_at_once_accept_exactly_one(db: Database) -> None:
    with db.write() as session:
        token = issue_link(session, "survey", make_customer(db), now=NOW)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        try:
            with db.write() as session:
                use_link(session, token, now=NOW, purpose="survey")
                outcome = "accepted"
        except LinkRefused as refused:
            outcome = refused.reason
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["accepted", "used"]
    with db.read() as session:
        assert check_link(session, token, now=NOW, allow_used=True).uses == 1
