"""A campaign's sender killed halfway, and two senders at once: nobody gets a message twice.

Real parts: the campaign is queued by the campaign code, ``guanxi outbox send`` runs as its
own process against a real SMTP server (aiosmtpd, counting what each address received).

Killed: the SMTP server holds one message after it has taken it (DATA received, no answer
yet) and the sender is ``kill -9``-ed right then: the worst moment, delivered but not
recorded. The rerun sends every other queued message once and leaves that one alone
(``sending``, reported as still sending); once the claim is stale (``--stale-after``, 10
minutes) it becomes ``unknown`` for review and is never resent (at most once, see
care/outbox.py). Each address received exactly
one email; the outbox ends with every message sent except the one unknown.

Two senders: both processes send at the same time (the server waits until both are
connected), and still every address gets exactly one email, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from guanxi.care import campaigns, outbox
from guanxi.care.campaigns import Audience
from guanxi.care.channels import SmtpEmail
from guanxi.storage.db import Database
from guanxi.storage.models import AppSetting, Consent, Customer, Message
from tests.faults.conftest import GUANXI, guanxi, integrity
from tests.support import free_port

pytestmark = pytest.mark.slow

STRESS = os.environ.get("GUANXI_STRESS") == "1"
RECIPIENTS = 2000 if STRESS else 120  # make stress: a campaign of chain size


@dataclass
class SlowMailbox:
    """An SMTP handler that takes ``delay_s`` per message, can hold message number
    ``hold_at`` (1-based) after receiving it, and can wait for ``wait_for_peers`` senders."""

    delay_s: float = 0.01
    hold_at: int | None = None
    wait_for_peers: int = 1
    received: list[tuple[str, str]] = field(default_factory=list)  # (address, peer)
    peers: set[str] = field(default_factory=set)
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        peer = f"{session.peer[0]}:{session.peer[1]}"
        self.peers.add(peer)
        waited = 0.0
        while len(self.peers) < self.wait_for_peers and waited < 60:
            await asyncio.sleep(0.05)
            waited += 0.05
        with self.lock:
            self.received.extend((address, peer) for address in envelope.rcpt_tos)
            number = len(self.received)
        if number == self.hold_at:
            self.holding.set()
            await asyncio.sleep(30)  # the sender is killed meanwhile
        await asyncio.sleep(self.delay_s)
        return "250 Message accepted for delivery"

    def per_address(self) -> Counter[str]:
        with self.lock:
            return Counter(address for address, _ in self.received)


@pytest.fixture
def smtp_server() -> Iterator[tuple[SlowMailbox, int]]:
    box = SlowMailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _sender_env(port: int) -> dict[str, str]:
    return {"GUANXI_SMTP_HOST": "127.0.0.1", "GUANXI_SMTP_PORT": str(port),
            "GUANXI_SMTP_FROM": "茶舍 <care@example.cn>", "GUANXI_SMTP_STARTTLS": "false",
            "GUANXI_PUBLIC_URL": "https://crm.example.cn", "GUANXI_QUIET_HOURS": ""}  # fmt: skip


def _queue_campaign(db: Database) -> dict[int, str]:
    """Customers with email consent and a queued campaign to all of them; {message: address}."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    with db.write() as s:
        s.add(AppSetting(key="shop_name", value="茶舍"))
        s.execute(insert(Customer), [
            {"name": f"客户{n}", "email": f"c{n}@example.cn", "custom_fields": {}}
            for n in range(RECIPIENTS)
        ])  # fmt: skip
        ids = list(s.execute(select(Customer.id)).scalars())
        s.execute(insert(Consent), [
            {"customer_id": cid, "channel": "email", "is_granted": True,
             "changed_at": now - timedelta(days=30), "source": "counter"} for cid in ids
        ])  # fmt: skip
    template = campaigns.save_template(db, name="秋茶", channel="email", subject="秋茶到店",
                                       body="{{ salutation }}，秋茶到店。",
                                       actor_id=None)  # fmt: skip
    campaign = campaigns.save_campaign(db, name="秋茶群发", template_id=template,
                                       audience=Audience(), actor_id=None)  # fmt: skip
    result = campaigns.queue_campaign(db, campaign, now=now, actor_id=None, scope=None)
    assert result.queued == RECIPIENTS
    with db.read() as s:
        return {int(m): str(a) for m, a in s.execute(
            select(Message.id, Customer.email).join(Customer, Customer.id == Message.customer_id)
        )}  # fmt: skip


def _smtp(port: int) -> SmtpEmail:
    return SmtpEmail("127.0.0.1", port, "茶舍 <care@example.cn>", starttls=False, timeout=10)


def _statuses(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {k: v for k, v in outbox.status_counts(s).items() if v}


def _send(url: str, port: int, *args: str) -> dict[str, Any]:
    done = guanxi(url, "outbox", "send", "--limit", "100000", "--json", *args,
                  env=_sender_env(port))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_sender_killed_halfway_resumes_without_a_second_message(
    sqlite_db: Database, smtp_server: tuple[SlowMailbox, int]
) -> None:
    box, port = smtp_server
    box.hold_at = RECIPIENTS // 3
    addresses = _queue_campaign(sqlite_db)
    url = sqlite_db.url.render_as_string(hide_password=False)
    sender = subprocess.Popen([*GUANXI, "outbox", "send", "--limit", "100000"],
                              env={**os.environ, "GUANXI_DATABASE_URL": url,
                                   **_sender_env(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert box.holding.wait(120), "the sender never reached the held message"
    finally:
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait(30)
    assert sender.returncode == -signal.SIGKILL
    path = str(sqlite_db.url.database)
    assert integrity(path) == "ok"
    held = {a for a, n in box.per_address().items() if n}
    after_kill = _statuses(sqlite_db)
    assert after_kill == {"sent": len(held) - 1, "sending": 1,
                          "queued": RECIPIENTS - len(held)}  # fmt: skip
    with sqlite_db.read() as s:
        in_flight = s.execute(select(Message.id).where(Message.status == "sending")).scalar_one()
    assert addresses[in_flight] in held  # the worst case: delivered, not recorded

    resumed = _send(url, port)
    assert resumed["sent"] == RECIPIENTS - len(held)
    assert resumed["still_sending"] == 1 and resumed["recovered_unknown"] == 0
    # What the next run (``--stale-after``, 10 minutes) does once the claim is stale:
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert outbox.recover_stale(sqlite_db, now=later, older_than=timedelta(minutes=10)) == 1
    again = outbox.send_due(sqlite_db, now=later, channels={"email": _smtp(port)},
                            policy=outbox.SendPolicy(quiet_hours=None))  # fmt: skip
    assert (again.sent, again.unknown) == (0, 0)

    counts = box.per_address()
    assert set(counts) == set(addresses.values())
    assert set(counts.values()) == {1}, [a for a, n in counts.items() if n > 1]
    assert _statuses(sqlite_db) == {"sent": RECIPIENTS - 1, "unknown": 1}
    with sqlite_db.read() as s:
        unknown = s.execute(select(Message).where(Message.status == "unknown")).scalar_one()
    assert unknown.id == in_flight and "may have been delivered" in (unknown.reason or "")
    assert integrity(path) == "ok"


def test_two_senders_at_once_send_each_message_once(
    db: Database, smtp_server: tuple[SlowMailbox, int]
) -> None:
    box, port = smtp_server
    box.wait_for_peers = 2
    addresses = _queue_campaign(db)
    url = db.url.render_as_string(hide_password=False)
    env = {**os.environ, "GUANXI_DATABASE_URL": url, **_sender_env(port)}
    senders = [subprocess.Popen([*GUANXI, "outbox", "send", "--limit", "100000", "--json"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]  # fmt: skip
    deadline = time.monotonic() + 240
    outputs = [p.communicate(timeout=max(1, deadline - time.monotonic())) for p in senders]
    assert [p.returncode for p in senders] == [0, 0], outputs
    reports = [json.loads(out) for out, _ in outputs]
    assert sum(r["sent"] for r in reports) == RECIPIENTS
    assert all(r["sent"] > 0 for r in reports), reports  # both really sent
    peers = Counter(peer for _, peer in box.received)
    assert len(peers) == 2
    counts = box.per_address()
    assert set(counts) == set(addresses.values())
    assert set(counts.values()) == {1}, [a for a, n in counts.items() if n > 1]
    assert _statuses(db) == {"sent": RECIPIENTS}
