"""``guanxi daily``: idempotent day stages, backfill, greetings queued once, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from guanxi.care.daily import days_to_run, last_day, queue_greetings, run_daily
from guanxi.care.outbox import SendPolicy
from guanxi.errors import InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    Consent,
    Message,
    MessageTemplate,
    OccasionSetting,
)
from tests.factories import make_customer

DAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ZONE = "Asia/Shanghai"


def _template(db: Database, occasion: str, body: str) -> int:
    with db.write() as s:
        t = MessageTemplate(name=f"{occasion} sms", channel="sms", locale="zh_CN",
                            occasion=occasion, body=body, is_marketing=True)  # fmt: skip
        s.add(t)
        s.flush()
        s.merge(OccasionSetting(occasion=occasion, observed=True, lead_days=3, template_id=t.id))
        return t.id


def _customer(db: Database, *, consent: bool = True, **fields: object) -> int:
    cid = make_customer(db, **fields)
    if consent:
        with db.write() as s:
            s.add(Consent(customer_id=cid, channel="sms", is_granted=True,
                          changed_at=NOW - timedelta(days=10), source="counter"))  # fmt: skip
    return cid


def _messages(db: Database) -> dict[str, str]:
    with db.read() as s:
        return dict(s.execute(select(Message.dedupe_key, Message.body)).all())


def _run(db: Database, day: date, **kw: object) -> object:
    return run_daily(db, day, zone=ZONE, now=NOW, channels={}, policy=SendPolicy(), **kw)  # type: ignore[arg-type]


def test_birthday_greetings_are_queued_once_and_only_with_consent(db: Database) -> None:
    _template(db, "birthday", "{{ salutation }}，生日快乐！")
    glad = _customer(db, name="张丽", gender="female", birthday_month=11, birthday_day=23)
    _customer(db, consent=False, birthday_month=11, birthday_day=23)
    _customer(db, birthday_month=11, birthday_day=24)  # tomorrow: not today's greeting

    first = queue_greetings(db, DAY, zone=ZONE, now=NOW)
    again = queue_greetings(db, DAY, zone=ZONE, now=NOW)

    assert first == {"birthday": 1} and again == {"birthday": 0}
    assert _messages(db) == {f"greeting:birthday:2026-11-23:{glad}": "张女士，生日快乐！"}


def test_festival_greetings_go_to_every_consenting_customer(db: Database) -> None:
    _template(db, "new_year", "{{ salutation }}，新年快乐！")
    a, b = _customer(db), _customer(db)
    _customer(db, consent=False)

    assert queue_greetings(db, date(2027, 1, 1), zone=ZONE, now=NOW) == {"new_year": 2}
    assert set(_messages(db)) == {
        f"greeting:new_year:2027-01-01:{a}",
        f"greeting:new_year:2027-01-01:{b}",
    }
    assert queue_greetings(db, date(2027, 1, 2), zone=ZONE, now=NOW) == {}


def test_each_anniversary_of_a_year_gets_its_greeting(db: Database) -> None:
    """Two anniversaries of one customer in one year: two greetings (keyed by the date)."""
    _template(db, "anniversary", "{{ salutation }}，纪念日快乐！")
    cid = _customer(db, name="王强", gender="male")
    with db.write() as s:
        s.add(Anniversary(customer_id=cid, label="婚礼", occurs_on=date(2015, 6, 1)))
        s.add(Anniversary(customer_id=cid, label="开店", occurs_on=date(2019, 9, 1)))
    june = queue_greetings(db, date(2026, 6, 1), zone=ZONE, now=NOW)
    september = queue_greetings(db, date(2026, 9, 1), zone=ZONE, now=NOW)
    assert june == {"anniversary": 1} and september == {"anniversary": 1}
    assert set(_messages(db)) == {f"greeting:anniversary:2026-06-01:{cid}",
                                  f"greeting:anniversary:2026-09-01:{cid}"}  # fmt: skip


def test_a_greeting_is_marketing_even_from_a_template_that_says_otherwise(db: Database) -> None:
    template_id = _template(db, "birthday", "生日快乐")
    with db.write() as s:
        s.get_one(MessageTemplate, template_id).is_marketing = False
    _customer(db, consent=False, birthday_month=11, birthday_day=23)
    glad = _customer(db, birthday_month=11, birthday_day=23)
    assert queue_greetings(db, DAY, zone=ZONE, now=NOW) == {"birthday": 1}
    with db.read() as s:
        rows = s.execute(select(Message.customer_id, Message.is_marketing)).all()
    assert [tuple(r) for r in rows] == [(glad, True)]


def test_the_run_remembers_its_day_and_backfills_missed_days(db: Database) -> None:
    assert last_day(db) is None and days_to_run(db, DAY, None) == [DAY]
    report = _run(db, DAY, send=False)
    assert [d.day for d in report.days] == [DAY]  # type: ignore[attr-defined]
    assert last_day(db) == DAY
    assert days_to_run(db, DAY, None) == [DAY]  # a second run the same day: the same day again
    later = DAY + timedelta(days=3)
    assert days_to_run(db, later, None) == [DAY + timedelta(days=n) for n in (1, 2, 3)]
    with pytest.raises(InvalidInput):
        days_to_run(db, DAY, DAY + timedelta(days=1))
    with pytest.raises(InvalidInput):
        days_to_run(db, DAY, DAY - timedelta(days=400))


def test_backfilled_days_long_past_get_no_late_greetings(db: Database) -> None:
    _template(db, "birthday", "{{ name }} 生日快乐")
    old = _customer(db, birthday_month=11, birthday_day=18)
    recent = _customer(db, birthday_month=11, birthday_day=22)

    report = _run(db, DAY, since=DAY - timedelta(days=6), send=False)
    again = _run(db, DAY, since=DAY - timedelta(days=6), send=False)

    assert len(report.days) == 7 and all(d.loyalty.ok for d in report.days)  # type: ignore[attr-defined]
    assert set(_messages(db)) == {f"greeting:birthday:2026-11-22:{recent}"}
    assert sum(sum(d.greetings.values()) for d in again.days) == 0  # type: ignore[attr-defined]
    assert old not in {int(k.rsplit(":", 1)[1]) for k in _messages(db)}


def test_sending_stage_runs_once_and_leaves_messages_without_a_channel_queued(db: Database) -> None:
    _template(db, "birthday", "生日快乐")
    _customer(db, birthday_month=11, birthday_day=23)
    report = _run(db, DAY)
    assert report.sent is not None and report.sent.sent == 0  # type: ignore[attr-defined]
    with db.read() as s:
        assert s.execute(select(func.count()).where(Message.status == "queued")).scalar() == 1
