"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): personalised messages reach only
consenting customers; after the link's unsubscribe nothing more; the weekly cap holds across
campaigns; quiet hours are kept; an answer lost after the text went out leaves 'unknown' and the
message is never sent twice; refusals are retried, never duplicated (both databases)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.care import outbox, templating
from guanxi.care.channels import SmtpEmail
from guanxi.care.outbox import Draft, SendPolicy, send_due
from guanxi.config import Settings
from guanxi.services.staff import make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import AppSetting, Consent, Message, PointsBalance
from guanxi.web.app import create_app
from tests.factories import make_customer
from tests.support import free_port

NOW = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
BASE = "https://crm.example.cn"
POLICY = SendPolicy(public_url=BASE)
TEMPLATE = "{{ salutation }}，{{ shop }}新茶到店，您有{{ points }}积分。"
LINK = re.compile(re.escape(BASE) + r"/u/(\S+)")


@dataclass
class Mailbox:
    """What the SMTP server accepted; ``refuse`` addresses get 550, ``stall`` delays DATA."""

    received: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    stall_s: float = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:  # fmt: skip
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.received.append(mail)
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def smtp(port: int, timeout: float = 5.0) -> SmtpEmail:
    return SmtpEmail("127.0.0.1", port, "茶舍 <care@tea.example.cn>", starttls=False,
                     timeout=timeout)  # fmt: skip


@dataclass
class Shop:
    zhang: int  # consents to email
    wang: int  # consents to email
    li: int  # never consented
    zhao: int  # said no


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.write() as s:
        s.add(AppSetting(key="shop_name", value="茶舍"))
    people = Shop(
        make_customer(db, name="张晓明", gender="female", email="zhang@example.cn"),
        make_customer(db, name="王伟", gender="male", email="wang@example.cn"),
        make_customer(db, name="李雷", gender="male", email="li@example.cn"),
        make_customer(db, name="赵敏", gender="female", email="zhao@example.cn"),
    )
    with db.write() as s:
        for cid, granted in ((people.zhang, True), (people.wang, True), (people.zhao, False)):
            s.add(Consent(customer_id=cid, channel="email", is_granted=granted,
                          changed_at=NOW - timedelta(days=90), source="counter"))  # fmt: skip
        s.add(PointsBalance(customer_id=people.zhang, points=1280))
    return people


def campaign(db: Database, number: int, customers: Sequence[int], *, now: datetime = NOW) -> int:
    """What a campaign does with the outbox: exclusions, set-based contexts, render, queue."""
    with db.write() as s:
        barred = outbox.exclusions(s, customers, "email", now=now, policy=POLICY)
        allowed = [c for c in customers if c not in barred]
        contexts = templating.contexts(s, allowed, locale="zh_CN", now=now)
        drafts = [Draft(customer_id=c, channel="email", subject=f"新茶 {number}",
                        body=templating.render(TEMPLATE, contexts[c]),
                        dedupe_key=f"test-campaign:{number}:{c}") for c in allowed]  # fmt: skip
        return outbox.queue(s, drafts, now=now)


def everyone(shop: Shop) -> list[int]:
    return [shop.zhang, shop.wang, shop.li, shop.zhao]


def test_personalised_emails_reach_only_consenting_customers(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    assert campaign(db, 1, everyone(shop)) == 2
    # Queued directly (as a bug or an old queue might), the send-time check still stops it.
    with db.write() as s:
        outbox.queue(s, [Draft(shop.li, "email", "x", "给李雷", "sneaky")], now=NOW)
    report = send_due(db, now=NOW, channels={"email": smtp(port)}, policy=POLICY)
    assert report.sent == 2 and report.skipped == {"no_consent": 1}
    assert sorted(m["To"] for m in box.received) == ["wang@example.cn", "zhang@example.cn"]
    mail = box.to("zhang@example.cn")[0]
    text = mail.get_content()
    assert text.startswith("张女士，茶舍新茶到店，您有1280积分。")
    assert mail["Subject"] == "新茶 1" and mail.get_content_type() == "text/plain"
    link = LINK.search(text)
    assert link is not None
    assert mail["List-Unsubscribe"] == f"<{link.group(0)}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        box.to("wang@example.cn")[0].get_content().startswith("王先生，茶舍新茶到店，您有0积分。")
    )
    with db.read() as s:
        sent = s.execute(select(Message).where(Message.status == "sent")).scalars().all()
    assert all(m.provider_id and m.provider_id.startswith("<") for m in sent)


def test_after_unsubscribing_through_the_link_nothing_more(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    campaign(db, 1, everyone(shop))
    send_due(db, now=NOW, channels={"email": smtp(port)}, policy=POLICY)
    link = LINK.search(box.to("zhang@example.cn")[0].get_content())
    assert link is not None
    # The next campaign is queued before she unsubscribes...
    later = NOW + timedelta(days=3)
    assert campaign(db, 2, everyone(shop), now=later) == 2
    app = create_app(Settings(public_url=BASE), db=db, hasher=make_hasher(cheap=True))
    with TestClient(app) as client:
        page = client.get(f"/u/{link.group(1)}")  # a mail scanner following the link
        assert page.status_code == 200 and "unsubscribe-button" in page.text
        with db.read() as s:
            assert s.get(Consent, (shop.zhang, "email")).is_granted  # type: ignore[union-attr]
        done = client.post(f"/u/{link.group(1)}")
        assert done.status_code == 200 and 'data-state="done"' in done.text
    # ...and is stopped at send time; later campaigns leave her out.
    report = send_due(db, now=later, channels={"email": smtp(port)}, policy=POLICY)
    assert report.sent == 1 and report.skipped == {"unsubscribed": 1}
    assert campaign(db, 3, everyone(shop), now=later + timedelta(days=5)) == 1
    send_due(db, now=later + timedelta(days=5), channels={"email": smtp(port)}, policy=POLICY)
    assert len(box.to("zhang@example.cn")) == 1
    assert len(box.to("wang@example.cn")) == 3
    assert box.to("li@example.cn") == [] and box.to("zhao@example.cn") == []


def test_the_weekly_cap_holds_across_campaigns(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    # Three campaigns queued the same morning (before any was sent): the cap acts at send time.
    for n in (1, 2, 3):
        campaign(db, n, [shop.zhang])
    report = send_due(db, now=NOW, channels={"email": smtp(port)}, policy=POLICY)
    assert report.sent == 2 and report.skipped == {"frequency_cap": 1}
    # A fourth two days later is excluded when queued; a week after the first, room again.
    assert campaign(db, 4, [shop.zhang], now=NOW + timedelta(days=2)) == 0
    assert campaign(db, 5, [shop.zhang], now=NOW + timedelta(days=7, minutes=1)) == 1
    send_due(db, now=NOW + timedelta(days=7, minutes=1), channels={"email": smtp(port)},
             policy=POLICY)  # fmt: skip
    assert [m["Subject"] for m in box.to("zhang@example.cn")] == ["新茶 1", "新茶 2", "新茶 5"]


def test_quiet_hours_are_respected(db: Database, shop: Shop, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    night = datetime(2026, 9, 21, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    campaign(db, 1, [shop.zhang, shop.wang], now=night)
    report = send_due(db, now=night, channels={"email": smtp(port)}, policy=POLICY)
    assert report.deferred == 2 and box.received == []
    send_due(db, now=night + timedelta(hours=8, minutes=59), channels={"email": smtp(port)},
             policy=POLICY)  # 07:59  # fmt: skip
    assert box.received == []
    morning = datetime(2026, 9, 22, 1, 0, tzinfo=UTC)  # 09:00
    assert send_due(db, now=morning, channels={"email": smtp(port)}, policy=POLICY).sent == 2
    assert len(box.received) == 2


def test_a_lost_answer_leaves_unknown_and_is_never_resent(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    campaign(db, 1, [shop.zhang])
    box.stall_s = 1.5  # the server takes the text, the answer comes after the client gave up
    report = send_due(db, now=NOW, channels={"email": smtp(port, timeout=0.5)}, policy=POLICY)
    assert report.unknown == 1 and report.sent == 0
    assert len(box.received) == 1  # it did arrive
    with db.read() as s:
        m = s.execute(select(Message)).scalar_one()
    assert m.status == "unknown" and m.attempts == 1
    box.stall_s = 0
    for hours in (1, 30, 24 * 8):
        at = NOW + timedelta(hours=hours)
        outbox.recover_stale(db, now=at, older_than=timedelta(minutes=10))
        send_due(db, now=at, channels={"email": smtp(port)}, policy=POLICY)
    assert len(box.received) == 1


def test_a_crash_after_sending_is_marked_never_resent(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    campaign(db, 1, [shop.zhang])

    class Died(BaseException):
        pass

    class DiesAfterSending(SmtpEmail):
        def send(self, message: outbox.Outgoing) -> str | None:  # type: ignore[name-defined]
            super().send(message)
            raise Died  # the process is killed before it records 'sent'

    with pytest.raises(Died):
        send_due(db, now=NOW, channels={"email": DiesAfterSending("127.0.0.1", port,
                 "care@tea.example.cn", starttls=False)}, policy=POLICY)  # fmt: skip
    assert len(box.received) == 1
    restart = NOW + timedelta(minutes=15)
    assert outbox.recover_stale(db, now=restart, older_than=timedelta(minutes=10)) == 1
    send_due(db, now=restart, channels={"email": smtp(port)}, policy=POLICY)
    with db.read() as s:
        assert s.execute(select(Message.status)).scalar_one() == "unknown"
    assert len(box.received) == 1


def test_refusals_are_retried_and_never_duplicated(
    db: Database, shop: Shop, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse.add("wang@example.cn")
    campaign(db, 1, [shop.zhang, shop.wang])
    report = send_due(db, now=NOW, channels={"email": smtp(port)}, policy=POLICY)
    assert report.sent == 1 and report.retrying == 1
    box.refuse.clear()
    later = NOW + timedelta(minutes=5)
    assert send_due(db, now=later, channels={"email": smtp(port)}, policy=POLICY).sent == 1
    assert len(box.to("wang@example.cn")) == 1 and len(box.to("zhang@example.cn")) == 1


def test_an_unreachable_server_is_a_definite_failure(db: Database, shop: Shop) -> None:
    campaign(db, 1, [shop.zhang])
    dead = SmtpEmail("127.0.0.1", free_port(), "care@tea.example.cn", starttls=False,
                     timeout=2)  # fmt: skip
    report = send_due(db, now=NOW, channels={"email": dead}, policy=POLICY)
    assert report.retrying == 1
    with db.read() as s:
        m = s.execute(select(Message)).scalar_one()
    assert m.status == "queued" and "cannot reach the SMTP server" in (m.reason or "")
