"""The outbox: queueing once, exclusions, sending at most once (retries only for definite
refusals, unknown outcomes never resent), consent and the weekly cap at send time, quiet hours,
the SMS export and staff retries (both databases)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from guanxi.care import links, outbox
from guanxi.care.channels import DeliveryFailed, Outgoing
from guanxi.care.outbox import Draft, SendPolicy, exclusions, queue, recover_stale, send_due
from guanxi.care.templating import UNSUBSCRIBE_PLACEHOLDER
from guanxi.errors import ConfigError, InvalidInput
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Consent, ConsentEvent, Message, Store
from tests.factories import make_customer

NOW = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
POLICY = SendPolicy(public_url="https://crm.example.cn")


class FakeChannel:
    """Records what it is asked to send; ``behave`` may raise for a message."""

    def __init__(self, name: str, behave: Callable[[Outgoing], None] | None = None) -> None:
        self.name = name
        self.sent: list[Outgoing] = []
        self.behave = behave
        self.closed = 0

    def send(self, message: Outgoing) -> str | None:
        if self.behave is not None:
            self.behave(message)
        self.sent.append(message)
        return f"p-{message.message_id}"

    def close(self) -> None:
        self.closed += 1


def grant(db: Database, customer: int, channel: str, granted: bool = True,
          source: str = "counter") -> None:  # fmt: skip
    with db.write() as s:
        s.merge(Consent(customer_id=customer, channel=channel, is_granted=granted,
                        changed_at=NOW - timedelta(days=30), source=source))  # fmt: skip


def person(db: Database, *channels: str, **fields: object) -> int:
    fields.setdefault("email", f"p{datetime.now().timestamp()}{id(fields)}@example.cn")
    cid = make_customer(db, **fields)
    for channel in channels:
        grant(db, cid, channel)
    return cid


def draft(customer: int, key: str, channel: str = "email", **kw: object) -> Draft:
    return Draft(customer_id=customer, channel=channel, subject=kw.pop("subject", "新茶"),  # type: ignore[arg-type]
                 body=str(kw.pop("body", "您好，新茶到店。")), dedupe_key=key, **kw)  # type: ignore[arg-type]  # fmt: skip


def statuses(db: Database) -> dict[str, str]:
    with db.read() as s:
        return dict(s.execute(select(Message.dedupe_key, Message.status)).all())


# --- queueing and exclusions ---------------------------------------------------------------------


def test_queue_skips_existing_dedupe_keys(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        assert queue(s, [draft(a, "k1"), draft(a, "k2"), draft(a, "k1")], now=NOW) == 2
    with db.write() as s:
        assert queue(s, [draft(a, "k1"), draft(a, "k3")], now=NOW) == 1
    with db.read() as s:
        rows = s.execute(select(Message).order_by(Message.id)).scalars().all()
    assert [m.dedupe_key for m in rows] == ["k1", "k2", "k3"]
    assert all(m.status == "queued" and m.not_before == NOW and m.queued_at == NOW for m in rows)
    with db.write() as s, pytest.raises(InvalidInput):
        queue(s, [draft(a, "k9", channel="fax")])


def test_exclusions_give_the_reason(db: Database) -> None:
    ok = person(db, "sms")
    never = person(db)
    said_no = person(db)
    grant(db, said_no, "sms", granted=False)
    unsubscribed = person(db)
    grant(db, unsubscribed, "sms", granted=False, source="unsubscribe_link")
    no_phone = person(db, "sms", phone=None)
    erased = person(db, "sms", erased_at=NOW - timedelta(days=2))
    ids = [ok, never, said_no, unsubscribed, no_phone, erased, 987_654]
    with db.read() as s:
        got = exclusions(s, ids, "sms", now=NOW)
        transactional = exclusions(s, ids, "sms", now=NOW, is_marketing=False)
    assert got == {
        never: "no_consent", said_no: "no_consent", unsubscribed: "unsubscribed",
        no_phone: "no_address", erased: "erased", 987_654: "unknown_customer",
    }  # fmt: skip
    assert set(got.values()) <= set(outbox.EXCLUSION_REASONS)
    # Transactional messages need no marketing consent, still an address.
    assert transactional == {no_phone: "no_address", erased: "erased",
                             987_654: "unknown_customer"}  # fmt: skip


def test_frequency_cap_counts_recent_marketing_across_campaigns_and_channels(db: Database) -> None:
    busy, calm, old = person(db, "sms", "email"), person(db, "sms"), person(db, "sms")
    rows = [
        (busy, "email", "sent", NOW - timedelta(days=1), True),
        (busy, "sms", "unknown", NOW - timedelta(days=6), True),
        (calm, "sms", "sent", NOW - timedelta(days=2), True),
        (calm, "sms", "failed", NOW - timedelta(days=2), True),  # refused: not counted
        (calm, "sms", "skipped", NOW - timedelta(days=2), True),
        (calm, "sms", "sent", NOW - timedelta(days=1), False),  # a receipt: not marketing
        (old, "sms", "sent", NOW - timedelta(days=8), True),
        (old, "sms", "sent", NOW - timedelta(days=7, minutes=1), True),
    ]
    with db.write() as s:
        for n, (cid, channel, status, at, marketing) in enumerate(rows):
            s.add(Message(customer_id=cid, channel=channel, body="x", dedupe_key=f"m{n}",
                          status=status, is_marketing=marketing, sending_at=at,
                          sent_at=at if status == "sent" else None, campaign_id=None))  # fmt: skip
    with db.read() as s:
        assert exclusions(s, [busy, calm, old], "sms", now=NOW) == {busy: "frequency_cap"}
        assert exclusions(s, [busy, calm, old], "sms", now=NOW, planned=2) == {
            busy: "frequency_cap", calm: "frequency_cap"}  # fmt: skip
        assert exclusions(s, [busy], "sms", now=NOW, is_marketing=False) == {}
        looser = SendPolicy(marketing_per_week=3)
        assert exclusions(s, [busy, calm], "sms", now=NOW, policy=looser) == {}


# --- sending ------------------------------------------------------------------------------------


def test_send_due_sends_once_and_checks_again_at_send_time(db: Database) -> None:
    a, b = person(db, "email"), person(db, "email")
    transactional = person(db)  # no consent at all
    with db.write() as s:
        queue(s, [draft(a, "a1", body=f"您好！退订：{UNSUBSCRIBE_PLACEHOLDER}"), draft(b, "b1"),
                  draft(transactional, "t1", is_marketing=False, body="您的积分余额：100")],
              now=NOW)  # fmt: skip
    grant(db, b, "email", granted=False)  # changed her mind after the campaign was queued
    email = FakeChannel("email")
    report = send_due(db, now=NOW, channels={"email": email}, policy=POLICY)
    assert report.sent == 2 and report.skipped == {"no_consent": 1}
    assert statuses(db) == {"a1": "sent", "b1": "skipped", "t1": "sent"}
    first = next(m for m in email.sent if m.customer_id == a)
    assert first.unsubscribe_url and first.unsubscribe_url.startswith("https://crm.example.cn/u/")
    assert first.body == f"您好！退订：{first.unsubscribe_url}"  # the placeholder, filled in
    receipt = next(m for m in email.sent if m.customer_id == transactional)
    assert receipt.unsubscribe_url is None and receipt.body == "您的积分余额：100"
    assert email.closed == 1
    with db.read() as s:
        sent = s.execute(select(Message).where(Message.dedupe_key == "a1")).scalar_one()
        assert links.verify(s, first.unsubscribe_url.rsplit("/", 1)[1]) == sent.id
    assert (sent.sent_at, sent.attempts, sent.provider_id) == (NOW, 1, f"p-{sent.id}")
    again = send_due(db, now=NOW + timedelta(hours=1), channels={"email": email}, policy=POLICY)
    assert again.sent == 0 and len(email.sent) == 2


def test_messages_of_channels_without_a_provider_stay_queued(db: Database) -> None:
    a = person(db, "sms")
    with db.write() as s:
        queue(s, [draft(a, "s1", channel="sms")], now=NOW)
    assert send_due(db, now=NOW, channels={"email": FakeChannel("email")}, policy=POLICY).sent == 0
    assert statuses(db) == {"s1": "queued"}


def test_frequency_cap_holds_at_send_time(db: Database) -> None:
    a = person(db, "email", "sms")
    with db.write() as s:
        queue(s, [draft(a, "c1:a", campaign_id=None), draft(a, "c2:a", channel="sms"),
                  draft(a, "c3:a"), draft(a, "receipt", is_marketing=False)], now=NOW)  # fmt: skip
    channels = {"email": FakeChannel("email"), "sms": FakeChannel("sms")}
    report = send_due(db, now=NOW, channels=channels, policy=POLICY)
    assert report.sent == 3 and report.skipped == {"frequency_cap": 1}
    assert statuses(db) == {"c1:a": "sent", "c2:a": "sent", "c3:a": "skipped", "receipt": "sent"}
    assert channels["sms"].sent[0].body.endswith("回复TD退订")  # type: ignore[attr-defined]


def test_refusals_are_retried_with_backoff_then_fail(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        queue(s, [draft(a, "r1")], now=NOW)

    def refuse(message: Outgoing) -> None:
        raise DeliveryFailed("550 mailbox unavailable")

    email = FakeChannel("email", refuse)
    report = send_due(db, now=NOW, channels={"email": email}, policy=POLICY)
    assert report.retrying == 1 and report.failed == 0
    with db.read() as s:
        m = s.execute(select(Message)).scalar_one()
    assert (m.status, m.attempts, m.not_before) == ("queued", 1, NOW + timedelta(minutes=5))
    assert "550" in (m.reason or "")
    # Not due yet: nothing is tried before the backoff has passed.
    assert send_due(db, now=NOW + timedelta(minutes=4), channels={"email": email},
                    policy=POLICY).retrying == 0  # fmt: skip
    send_due(db, now=NOW + timedelta(minutes=5), channels={"email": email}, policy=POLICY)
    with db.read() as s:
        m = s.execute(select(Message)).scalar_one()
    assert (m.status, m.attempts, m.not_before) == ("queued", 2, NOW + timedelta(minutes=15))
    final = send_due(db, now=NOW + timedelta(minutes=15), channels={"email": email}, policy=POLICY)
    assert final.failed == 1
    assert statuses(db) == {"r1": "failed"}
    assert send_due(db, now=NOW + timedelta(days=1), channels={"email": email},
                    policy=POLICY).failed == 0  # fmt: skip


def test_other_errors_make_the_outcome_unknown_and_are_never_resent(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        queue(s, [draft(a, "u1")], now=NOW)
    calls: list[int] = []

    def time_out(message: Outgoing) -> None:
        calls.append(message.message_id)
        raise TimeoutError("no answer after the text was sent")

    email = FakeChannel("email", time_out)
    assert send_due(db, now=NOW, channels={"email": email}, policy=POLICY).unknown == 1
    assert statuses(db) == {"u1": "unknown"}
    for hours in (1, 24, 24 * 8):
        send_due(db, now=NOW + timedelta(hours=hours), channels={"email": email}, policy=POLICY)
    assert len(calls) == 1


class Crash(BaseException):
    """The process dies (kill -9, power cut) between 'sending' and the result."""


def test_a_crash_while_sending_leaves_unknown_and_nothing_is_resent(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        queue(s, [draft(a, "x1"), draft(a, "x2")], now=NOW)

    def die(message: Outgoing) -> None:
        raise Crash

    with pytest.raises(Crash):
        send_due(db, now=NOW, channels={"email": FakeChannel("email", die)}, policy=POLICY)
    assert statuses(db) == {"x1": "sending", "x2": "queued"}  # committed before the call
    email = FakeChannel("email")
    # A restart: the message left 'sending' is not picked up again...
    send_due(db, now=NOW + timedelta(minutes=1), channels={"email": email}, policy=POLICY)
    assert [m.customer_id for m in email.sent] == [a] and statuses(db)["x1"] == "sending"
    # ...and once stale it becomes unknown, never sent.
    assert recover_stale(db, now=NOW + timedelta(minutes=5), older_than=timedelta(minutes=10)) == 0
    assert recover_stale(db, now=NOW + timedelta(minutes=11), older_than=timedelta(minutes=10)) == 1
    send_due(db, now=NOW + timedelta(hours=2), channels={"email": email}, policy=POLICY)
    assert statuses(db) == {"x1": "unknown", "x2": "sent"} and len(email.sent) == 1


def test_quiet_hours_hold_marketing_until_the_window_ends(db: Database) -> None:
    a = person(db, "email")
    evening = datetime(2026, 9, 21, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    with db.write() as s:
        queue(s, [draft(a, "q1"), draft(a, "receipt", is_marketing=False)], now=evening)
    email = FakeChannel("email")
    report = send_due(db, now=evening, channels={"email": email}, policy=POLICY)
    assert report.deferred == 1 and report.sent == 1  # the receipt goes out
    with db.read() as s:
        held = s.execute(select(Message).where(Message.dedupe_key == "q1")).scalar_one()
    nine = datetime(2026, 9, 22, 1, 0, tzinfo=UTC)  # 09:00 the next morning in Shanghai
    assert (held.status, held.not_before) == ("queued", nine)
    early = datetime(2026, 9, 22, 0, 30, tzinfo=UTC)  # 08:30
    assert send_due(db, now=early, channels={"email": email}, policy=POLICY).sent == 0
    assert send_due(db, now=nine, channels={"email": email}, policy=POLICY).sent == 1
    assert statuses(db) == {"q1": "sent", "receipt": "sent"}


def test_quiet_until() -> None:
    policy = SendPolicy(quiet_hours=(time(21), time(9)), timezone="Asia/Shanghai")
    assert outbox.quiet_until(datetime(2026, 1, 1, 12, 59, tzinfo=UTC), policy) is None  # 20:59
    assert outbox.quiet_until(datetime(2026, 1, 1, 13, 0, tzinfo=UTC), policy) == datetime(
        2026, 1, 2, 1, 0, tzinfo=UTC)  # fmt: skip
    assert outbox.quiet_until(datetime(2026, 1, 1, 0, 59, tzinfo=UTC), policy) == datetime(
        2026, 1, 1, 1, 0, tzinfo=UTC)  # 08:59 -> 09:00 the same day  # fmt: skip
    assert outbox.quiet_until(datetime(2026, 1, 1, 1, 0, tzinfo=UTC), policy) is None
    lunch = SendPolicy(quiet_hours=(time(12), time(14)), timezone="UTC")
    assert outbox.quiet_until(datetime(2026, 1, 1, 13, tzinfo=UTC), lunch) == datetime(
        2026, 1, 1, 14, tzinfo=UTC)  # fmt: skip
    assert (
        outbox.quiet_until(datetime(2026, 1, 1, 13, tzinfo=UTC), SendPolicy(quiet_hours=None))
        is None
    )


def test_marketing_email_needs_the_public_url(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        queue(s, [draft(a, "e1")], now=NOW)
    with pytest.raises(ConfigError, match="GUANXI_PUBLIC_URL"):
        send_due(db, now=NOW, channels={"email": FakeChannel("email")}, policy=SendPolicy())
    assert statuses(db) == {"e1": "queued"}


def test_final_body() -> None:
    p = SendPolicy()
    sms = outbox.final_body("新茶到店。", "sms", is_marketing=True, unsubscribe_url=None, policy=p)
    assert sms == "新茶到店。回复TD退订"
    assert outbox.final_body(sms, "sms", is_marketing=True, unsubscribe_url=None, policy=p) == sms
    assert outbox.final_body("取货码 8812", "sms", is_marketing=False, unsubscribe_url=None,
                             policy=p) == "取货码 8812"  # fmt: skip
    url = "https://x.cn/u/1.abc"
    zh = outbox.final_body("您好", "email", is_marketing=True, unsubscribe_url=url, policy=p)
    assert zh.startswith("您好\n\n") and zh.endswith(url) and "退订" in zh
    en = outbox.final_body("Hello", "email", is_marketing=True, unsubscribe_url=url, policy=p)
    assert "unsubscribe" in en and en.endswith(url)


# --- SMS export and staff retries ----------------------------------------------------------------


def test_sms_csv_exports_due_consenting_messages_once(db: Database) -> None:
    a = person(db, "sms", phone="+8613900001111")
    b = person(db, phone="+8613900002222")  # no consent
    c = person(db, "sms", phone="+85291234567")
    with db.write() as s:
        queue(s, [draft(a, "a", channel="sms", body="张女士，新茶到店", campaign_id=None),
                  draft(b, "b", channel="sms"), draft(c, "c", channel="sms", body="Hi, 回复TD退订"),
                  draft(a, "later", channel="sms", not_before=NOW + timedelta(days=1))],
              now=NOW)  # fmt: skip
    out = io.StringIO()
    result = outbox.export_csv(db, out, "sms", now=NOW, actor_id=None, policy=POLICY)
    assert result.exported == 2 and result.skipped == {"no_consent": 1}
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["phone", "content"], ["13900001111", "张女士，新茶到店回复TD退订"],
                    ["+85291234567", "Hi, 回复TD退订"]]  # fmt: skip
    assert statuses(db) == {"a": "exported", "b": "skipped", "c": "exported", "later": "queued"}
    with db.read() as s:
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGES_EXPORTED)).scalar_one()  # fmt: skip
        assert entry.detail == {"channel": "sms", "exported": 2, "skipped": {"no_consent": 1}}
        assert "139" not in json.dumps(entry.detail)
        # Exported messages count toward the weekly cap.
        assert outbox.recent_counts(s, [a], now=NOW) == {a: 1}
    again = io.StringIO()
    assert outbox.export_csv(db, again, "sms", now=NOW, actor_id=None, policy=POLICY).exported == 0


def test_retry_requeues_failed_and_unknown_only_when_confirmed(db: Database) -> None:
    with db.write() as s:
        s.add_all([Store(code="A", name="旗舰店"), Store(code="B", name="社区店")])
        s.flush()
        a_id, b_id = s.execute(select(Store.id).order_by(Store.id)).scalars().all()
    mine, other = person(db, "email", home_store_id=a_id), person(db, "email", home_store_id=b_id)
    with db.write() as s:
        queue(s, [draft(mine, "f"), draft(mine, "u"), draft(other, "o"), draft(mine, "s")],
              now=NOW)  # fmt: skip
        for key, status in (("f", "failed"), ("u", "unknown"), ("o", "failed"), ("s", "sent")):
            s.execute(
                update(Message).where(Message.dedupe_key == key).values(status=status, attempts=3)
            )
    with db.read() as s:
        ids = dict(s.execute(select(Message.dedupe_key, Message.id)).all())
    every = list(ids.values())
    later = NOW + timedelta(hours=1)
    assert outbox.retry(db, every, now=later, actor_id=None, scope=a_id) == 1  # f only
    assert statuses(db) == {"f": "queued", "u": "unknown", "o": "failed", "s": "sent"}
    assert outbox.retry(db, every, now=later, actor_id=None, scope=a_id,
                        include_unknown=True) == 1  # fmt: skip
    assert outbox.retry(db, every, now=later, actor_id=None) == 1  # o, by the owner
    with db.read() as s:
        f = s.execute(select(Message).where(Message.dedupe_key == "f")).scalar_one()
        entries = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGE_RETRIED)).scalars().all()  # fmt: skip
    assert (f.status, f.attempts, f.not_before) == ("queued", 0, later)
    assert [e.detail["count"] for e in entries] == [1, 1, 1]
    assert statuses(db)["s"] == "sent"


def test_status_counts_and_listing(db: Database) -> None:
    a = person(db, "email", name="张晓明")
    with db.write() as s:
        queue(s, [draft(a, "1"), draft(a, "2", channel="sms")], now=NOW)
    with db.read() as s:
        counts = outbox.status_counts(s)
        rows = outbox.list_messages(s, channel="sms")
    assert counts["queued"] == 2 and set(counts) == set(outbox.STATUSES)
    assert [(r.customer_name, r.channel, r.status) for r in rows] == [("张晓明", "sms", "queued")]


def test_unsubscribe_by_token(db: Database) -> None:
    a = person(db, "email")
    with db.write() as s:
        queue(s, [draft(a, "m")], now=NOW)
        mid = s.execute(select(Message.id)).scalar_one()
        token = links.unsubscribe_token(s, mid)
    with db.read() as s:
        assert links.verify(s, token) == mid
        assert links.verify(s, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert links.verify(s, f"{mid + 1}.{token.split('.')[1]}") is None
        assert links.verify(s, "garbage") is None
    target = links.unsubscribe(db, token, ip="1.2.3.4")
    assert target is not None and (target.customer_id, target.channel) == (a, "email")
    assert links.unsubscribe(db, token) is not None  # twice: no second event
    with db.read() as s:
        consent = s.get(Consent, (a, "email"))
        events = s.execute(select(ConsentEvent).where(ConsentEvent.customer_id == a,
                                                      ConsentEvent.is_granted.is_(False))
                           ).scalars().all()  # fmt: skip
    assert consent is not None and not consent.is_granted and consent.source == "unsubscribe_link"
    assert len(events) == 1
    assert send_due(db, now=NOW, channels={"email": FakeChannel("email")},
                    policy=POLICY).skipped == {"unsubscribed": 1}  # fmt: skip


def test_cli_send_and_status(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app

    a = person(db, "sms")
    with db.write() as s:
        queue(s, [draft(a, "1", channel="sms")], now=datetime.now(UTC) - timedelta(minutes=1))
    runner = CliRunner()
    url = db.url.render_as_string(hide_password=False)
    status = runner.invoke(app, ["--db", url, "outbox", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["queued"] == 1
    monkeypatch.delenv("GUANXI_SMTP_HOST", raising=False)
    sent = runner.invoke(app, ["--db", url, "outbox", "send", "--json"])
    assert sent.exit_code == 0, sent.output
    data = json.loads(sent.output)
    assert data["sent"] == 0 and data["channels"] == []
