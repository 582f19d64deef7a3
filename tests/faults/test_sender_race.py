"""Two senders racing for one message on PostgreSQL (read committed): the loser backs off.

Sender B reads the message as queued, then waits for the customer's row lock held by sender A,
who claims the same message and commits. B must then see the claim and leave the message to
A; before the fix B re-checked the weekly cap, counted A's claim against it and overwrote the
``sending`` status with ``skipped`` (the delivered message would have looked skipped).
SQLite needs no such test: its write transactions are serialised (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from guanxi.care import outbox
from guanxi.care.outbox import Draft, SendPolicy, SendReport
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, Customer, Message
from tests.factories import make_customer

NOW = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai: no quiet hours
POLICY = SendPolicy(marketing_per_week=1, public_url="https://crm.example.cn")


def _waiting_on_a_lock(db: Database) -> bool:
    with db.read() as s:
        return bool(s.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())  # fmt: skip


@pytest.mark.postgres
def test_a_sender_that_lost_the_race_leaves_the_message_alone(postgres_db: Database) -> None:
    db = postgres_db
    cid = make_customer(db, name="王芳", email="wang@example.cn")
    with db.write() as s:
        s.add(Consent(customer_id=cid, channel="email", is_granted=True,
                      changed_at=NOW - timedelta(days=30), source="counter"))  # fmt: skip
        outbox.queue(s, [Draft(customer_id=cid, channel="email", subject="新茶", body="新茶到店",
                               dedupe_key="race:1")], now=NOW)  # fmt: skip
    with db.read() as s:
        message_id = s.execute(select(Message.id)).scalar_one()

    result: list[object] = []
    with db.write() as a:  # sender A: holds the customer's lock and claims the message
        a.execute(select(Customer.id).where(Customer.id == cid).with_for_update())
        b = threading.Thread(target=lambda: result.append(outbox._claim(
            db, message_id, now=NOW, policy=POLICY, report=SendReport())))  # fmt: skip
        b.start()
        deadline = time.monotonic() + 20
        while not _waiting_on_a_lock(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_a_lock(db), "sender B never waited for the customer's lock"
        a.execute(update(Message).where(Message.id == message_id)
                  .values(status="sending", sending_at=NOW, attempts=1))  # fmt: skip
    b.join(20)
    assert result == [None]  # B backed off
    with db.read() as s:
        message = s.get(Message, message_id)
        assert message is not None
        assert (message.status, message.reason) == ("sending", None)
