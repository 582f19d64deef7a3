"""Opt-out replies (回复TD) from an SMS platform's file, and the CSV exports' other rules: the
WeChat export and holding marketing messages in the quiet hours (both databases)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from guanxi.care import opt_outs, outbox
from guanxi.care.channels import Outgoing
from guanxi.care.opt_outs import Reply, compute_word, parse_words, record_opt_out_replies
from guanxi.care.outbox import Draft, SendPolicy, queue, send_due
from guanxi.errors import InvalidInput
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Consent, ConsentEvent, Message
from tests.factories import make_customer

NOW = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
NIGHT = datetime(2026, 9, 21, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai: the quiet hours
POLICY = SendPolicy(public_url="https://crm.example.cn")


class RecordingSms:
    """An SMS provider at the boundary: records what it was asked to send."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> str | None:
        self.sent.append(message)
        return None


def customer(db: Database, phone: str, granted: bool | None = True, *,
             changed_at: datetime = NOW - timedelta(days=30), **fields: object) -> int:  # fmt: skip
    cid = make_customer(db, phone=phone, **fields)
    if granted is not None:
        with db.write() as s:
            for channel in ("sms", "wechat"):
                s.add(Consent(customer_id=cid, channel=channel, is_granted=granted,
                              changed_at=changed_at, source="counter"))  # fmt: skip
    return cid


def sms_consent(db: Database, cid: int) -> Consent | None:
    with db.read() as s:
        return s.get(Consent, (cid, "sms"))


@pytest.mark.parametrize("text", ["TD", "td", " T D ", "ＴＤ", "退订", "退订。", "t", "N",
                                  "Unsubscribe", "stop!", "STOP"])  # fmt: skip
def test_opt_out_words_ignore_case_spaces_and_width(text: str) -> None:
    assert compute_word(text) in parse_words(opt_outs.DEFAULT_WORDS)


@pytest.mark.parametrize("text", ["", "好的，谢谢", "TD 谢谢", "不要退订", "yes", "Tom"])
def test_other_replies_are_not_opt_outs(text: str) -> None:
    assert compute_word(text) not in parse_words(opt_outs.DEFAULT_WORDS)


def test_recording_replies_withdraws_sms_consent_once(db: Database) -> None:
    a = customer(db, "+8613800000001")
    already = customer(db, "+8613800000002", granted=False)
    since = customer(db, "+8613800000003", changed_at=NOW)  # consented after the reply
    never = customer(db, "+8613800000004", granted=None)  # never asked: the wish is recorded
    reply_at = NOW - timedelta(days=1)
    replies = [
        Reply(2, "13800000001", "TD", reply_at),
        Reply(3, "+86 138 0000 0001", "退订", reply_at),  # the same customer again
        Reply(4, "13800000002", "td", reply_at),
        Reply(5, "13800000003", "T", reply_at),
        Reply(6, "8613800000004", "STOP", None),
        Reply(7, "13899999999", "TD", reply_at),  # no such customer
        Reply(8, "12345", "TD", reply_at),  # not a phone number
        Reply(9, "13800000001", "好的，谢谢", reply_at),
    ]
    report = record_opt_out_replies(db, replies, actor_id=None)
    assert report.as_json() == {"opted_out": 2, "already_opted_out": 2, "consented_since": 1,
                                "unknown_phone": 2, "not_opt_out": 1}  # fmt: skip
    for cid in (a, never):
        consent = sms_consent(db, cid)
        assert consent is not None and not consent.is_granted and consent.source == "sms_reply"
    assert sms_consent(db, since).is_granted  # type: ignore[union-attr]
    assert sms_consent(db, already).source == "counter"  # type: ignore[union-attr]
    with db.read() as s:
        assert s.get(Consent, (a, "wechat")).is_granted  # type: ignore[union-attr]  # SMS only
        events = s.execute(select(ConsentEvent.customer_id)
                           .where(ConsentEvent.source == "sms_reply")).scalars().all()  # fmt: skip
        assert sorted(events) == sorted([a, never])
        changed = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.CONSENT_CHANGED)).scalars().all()  # fmt: skip
        assert sorted(e.target_id for e in changed) == sorted(str(c) for c in (a, never))
        summary = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.OPT_OUT_REPLIES_RECORDED)).scalar_one()  # fmt: skip
    assert summary.detail["replies"] == 8 and summary.detail["opted_out"] == 2
    assert "138" not in json.dumps(summary.detail)
    # The same file again changes nothing.
    again = record_opt_out_replies(db, replies, actor_id=None)
    assert again.opted_out == 0 and again.already_opted_out == 4
    with db.read() as s:
        assert s.execute(select(ConsentEvent).where(ConsentEvent.source == "sms_reply")
                         ).scalars().all().__len__() == 2  # fmt: skip


def test_queued_marketing_sms_to_those_who_opted_out_are_skipped(db: Database) -> None:
    a = customer(db, "+8613800000011")
    b = customer(db, "+8613800000012")
    with db.write() as s:
        queue(s, [Draft(a, "sms", None, "新茶到店", "a"), Draft(b, "sms", None, "新茶到店", "b"),
                  Draft(a, "sms", None, "积分余额 80", "a-receipt", is_marketing=False)],
              now=NOW)  # fmt: skip
    record_opt_out_replies(db, [Reply(2, "13800000011", "退订")], actor_id=None)
    sms = RecordingSms()
    report = send_due(db, now=NOW, channels={"sms": sms}, policy=POLICY)
    assert report.skipped == {"unsubscribed": 1}
    assert sorted((m.customer_id, m.body) for m in sms.sent) == sorted(
        [(b, "新茶到店回复TD退订"), (a, "积分余额 80")])  # fmt: skip


def test_read_replies_finds_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "上行.csv"
    path.write_bytes("手机号码,回复内容,回复时间\r\n13800000001,TD,2026-09-20 10:00\r\n"
                     "13800000002,好,\r\n".encode("gb18030"))  # fmt: skip
    replies = opt_outs.read_replies(path, timezone="Asia/Shanghai")
    assert [(r.phone, r.text) for r in replies] == [("13800000001", "TD"), ("13800000002", "好")]
    assert replies[0].at == datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    assert replies[1].at is None
    bad = tmp_path / "bad.csv"
    bad.write_text("name,amount\nA,1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot find the phone and reply columns"):
        opt_outs.read_replies(bad, timezone="Asia/Shanghai")


def test_cli_opt_outs(db: Database, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app

    a = customer(db, "+8613800000021")
    path = tmp_path / "replies.csv"
    path.write_text("phone,text,time\n13800000021, td ,\n13800000022,TD,\n", encoding="utf-8")
    url = db.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--db", url, "outbox", "opt-outs", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"opted_out": 1, "already_opted_out": 0,
                                         "consented_since": 0, "unknown_phone": 1,
                                         "not_opt_out": 0}  # fmt: skip
    assert not sms_consent(db, a).is_granted  # type: ignore[union-attr]
    text = CliRunner().invoke(app, ["--db", url, "outbox", "opt-outs", str(path)])
    assert text.exit_code == 0 and "0 opted out, 1 already opted out" in text.output
    missing = CliRunner().invoke(app, ["--db", url, "outbox", "opt-outs", str(tmp_path / "x.csv")])
    assert missing.exit_code == 1 and "file not found" in missing.output


# --- the exports: WeChat, and the quiet hours --------------------------------------------------


def test_wechat_csv_exports_like_the_sms_csv(db: Database) -> None:
    a = customer(db, "+8613800000031", wechat_id="oA1")
    b = customer(db, "+8613800000032", granted=False, wechat_id="oB2")
    c = customer(db, "+8613800000033")  # no WeChat id
    with db.write() as s:
        queue(s, [Draft(x, "wechat", None, "中秋快乐", f"w{x}") for x in (a, b, c)]
              + [Draft(a, "sms", None, "中秋快乐", "sms")], now=NOW)  # fmt: skip
    out = io.StringIO()
    result = outbox.export_csv(db, out, "wechat", now=NOW, actor_id=None, policy=POLICY)
    assert result.exported == 1 and result.skipped == {"no_consent": 1, "no_address": 1}
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["openid", "content"],
                                                             ["oA1", "中秋快乐"]]  # fmt: skip
    with db.read() as s:
        status = dict(s.execute(select(Message.dedupe_key, Message.status)).all())
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGES_EXPORTED)).scalar_one()  # fmt: skip
    assert status == {f"w{a}": "exported", f"w{b}": "skipped", f"w{c}": "skipped",
                      "sms": "queued"}  # fmt: skip
    assert entry.detail == {"channel": "wechat", "exported": 1,
                            "skipped": {"no_consent": 1, "no_address": 1}}  # fmt: skip
    assert outbox.export_csv(db, io.StringIO(), "wechat", now=NOW, actor_id=None,
                             policy=POLICY).exported == 0  # fmt: skip


def test_exports_hold_marketing_in_the_quiet_hours(db: Database) -> None:
    a = customer(db, "+8613800000041")
    with db.write() as s:
        queue(s, [Draft(a, "sms", None, "新茶到店", "promo"),
                  Draft(a, "sms", None, "积分余额 80", "receipt", is_marketing=False)],
              now=NIGHT - timedelta(hours=1))  # fmt: skip
    out = io.StringIO()
    result = outbox.export_csv(db, out, "sms", now=NIGHT, actor_id=None, policy=POLICY)
    assert (result.exported, result.held, result.skipped) == (1, 1, {})
    assert result.held_until == datetime(2026, 9, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert list(csv.reader(io.StringIO(out.getvalue())))[1:] == [["13800000041", "积分余额 80"]]
    with db.read() as s:
        status = dict(s.execute(select(Message.dedupe_key, Message.status)).all())
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.MESSAGES_EXPORTED)).scalar_one()  # fmt: skip
    assert status == {"promo": "queued", "receipt": "exported"}
    assert entry.detail["held_for_quiet_hours"] == 1
    # After the quiet hours the held message is exported, with the opt-out text.
    morning = io.StringIO()
    later = outbox.export_csv(db, morning, "sms", now=NIGHT + timedelta(hours=12), actor_id=None,
                           policy=POLICY)  # fmt: skip
    assert (later.exported, later.held) == (1, 0)
    rows = list(csv.reader(io.StringIO(morning.getvalue())))
    assert rows[1] == ["13800000041", "新茶到店回复TD退订"]
