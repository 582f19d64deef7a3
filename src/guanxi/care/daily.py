"""The daily run (``guanxi daily``): one idempotent command for cron or a systemd timer.

For each business day from the day after the last run (or ``since``) to ``day``:

1. the loyalty nightly run (``loyalty.nightly``: points expiry, tier downgrades, ledger checks);
2. the follow-up catch-up (``tasks.schedule_followups``: imported purchases get their 回访);
3. automatic greetings: occasions with a greeting template (``occasion_setting.template_id``)
   queue one message per consenting customer, keyed ``greeting:<occasion>:<date>:<customer>``
   so no greeting is ever queued twice, while two anniversaries of one customer in a year, or
   a 腊八 that falls twice in one Gregorian year, each get theirs. A greeting is marketing
   whatever its template says: it needs the customer's consent for the channel, carries the
   opt-out text and counts against the frequency cap. A backfilled day more than
   ``LATE_GREETING_DAYS`` old gets no greeting: a birthday wish a week late does more harm than
   none.

Then, once, for now: complaints past their SLA and not yet escalated are escalated to their
store's manager (``feedback.escalation.run_escalations``: an event, an audit entry and a care
task on the manager's agenda; idempotent); messages left in ``sending`` by a crash become
``unknown`` (never resent), and the due messages are sent (consent, frequency cap and quiet
hours checked at send time). The agenda needs no stage: it is computed when it is opened, from
these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from guanxi.care import outbox, tasks
from guanxi.care.calendar import festivals_between
from guanxi.care.channels import Channel
from guanxi.care.occasions import customer_occasions, occasion_rules
from guanxi.care.templating import contexts, render
from guanxi.errors import InvalidInput
from guanxi.feedback.escalation import run_escalations
from guanxi.loyalty.nightly import NightlyReport, nightly
from guanxi.storage.db import Database
from guanxi.storage.models import AppSetting, Customer, MessageTemplate

LAST_DAY_KEY = "daily.last_day"
MAX_BACKFILL_DAYS = 62
LATE_GREETING_DAYS = 2
STALE_SENDING = timedelta(minutes=10)
SEND_LIMIT = 5000
GREETING_HOUR = time(9, 0)


@dataclass
class DayReport:
    """What the run did for one business day."""

    day: date
    loyalty: NightlyReport
    followups: int
    greetings: dict[str, int] = field(default_factory=dict)  # occasion -> messages queued

    def as_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "loyalty": self.loyalty.as_json(),
                "followups": self.followups, "greetings": self.greetings}  # fmt: skip


@dataclass
class DailyReport:
    """What one ``guanxi daily`` did: each day's stages, then the sending."""

    days: list[DayReport]
    escalated: int = 0  # complaints escalated past their SLA
    stale: int = 0
    sent: outbox.SendReport | None = None

    @property
    def ok(self) -> bool:
        return all(d.loyalty.ok for d in self.days)

    def as_json(self) -> dict[str, Any]:
        return {"days": [d.as_json() for d in self.days], "escalated": self.escalated,
                "stale_marked_unknown": self.stale,
                "sent": None if self.sent is None else self.sent.as_json(),
                "ok": self.ok}  # fmt: skip


def last_day(db: Database) -> date | None:
    """The last business day the daily run completed (None: it never ran)."""
    with db.read() as session:
        value = session.get(AppSetting, LAST_DAY_KEY)
        return None if value is None else date.fromisoformat(value.value)


def days_to_run(db: Database, day: date, since: date | None) -> list[date]:
    """``since`` to ``day``; else the days after the last run up to ``day``; else ``day``."""
    if since is None:
        last = last_day(db)
        since = day if last is None or last >= day else last + timedelta(days=1)
    if since > day:
        raise InvalidInput(f"--since {since} is after --date {day}")
    count = (day - since).days + 1
    if count > MAX_BACKFILL_DAYS:
        raise InvalidInput(
            f"{count} days to run from {since} to {day}: at most {MAX_BACKFILL_DAYS}; give a "
            "later --since (the loyalty stages of the skipped days catch up anyway)"
        )
    return [since + timedelta(days=n) for n in range(count)]


def _remember(db: Database, day: date) -> None:
    with db.write() as session:
        row = session.get(AppSetting, LAST_DAY_KEY)
        if row is None:
            session.add(AppSetting(key=LAST_DAY_KEY, value=day.isoformat()))
        elif row.value < day.isoformat():
            row.value = day.isoformat()


def queue_greetings(db: Database, day: date, *, zone: str, now: datetime) -> dict[str, int]:
    """Queue the greetings of ``day`` for occasions that have a template; idempotent."""
    queued: dict[str, int] = {}
    with db.write() as session:
        rules = {k: r for k, r in occasion_rules(session).items()
                 if r.observed and r.template_id is not None}  # fmt: skip
        if not rules:
            return queued
        audience: dict[str, list[int]] = {}
        for occ in customer_occasions(session, day, day, zone=zone):
            if occ.occasion in rules:
                audience.setdefault(occ.occasion, []).append(occ.customer_id)
        festivals = [key for key, _ in festivals_between(day, day) if key in rules]
        if festivals:
            everyone = list(session.execute(
                select(Customer.id).where(Customer.erased_at.is_(None)).order_by(Customer.id)
            ).scalars())  # fmt: skip
            audience.update(dict.fromkeys(festivals, everyone))
        at = datetime.combine(day, GREETING_HOUR, ZoneInfo(zone))
        for occasion, ids in audience.items():
            template = session.get(MessageTemplate, rules[occasion].template_id)
            if template is None or not template.is_active:
                continue
            queued[occasion] = _queue_one(session, occasion, template, ids, day, at, now)
    return queued


def _queue_one(session: Any, occasion: str, template: MessageTemplate, ids: list[int],
               day: date, at: datetime, now: datetime) -> int:  # fmt: skip
    # a greeting is never transactional: marketing consent, opt-out text and the cap apply
    excluded = outbox.exclusions(session, ids, template.channel, now=now, is_marketing=True)
    ids = [i for i in ids if i not in excluded]
    values = contexts(session, ids, locale=template.locale, now=now)
    drafts = [
        outbox.Draft(
            customer_id=cid, channel=template.channel,
            subject=render(template.subject, values[cid]) if template.subject else None,
            body=render(template.body, values[cid]),
            dedupe_key=f"greeting:{occasion}:{day.isoformat()}:{cid}",
            is_marketing=True, not_before=max(at, now),
        )
        for cid in ids if cid in values
    ]  # fmt: skip
    return outbox.queue(session, drafts, now=now)


def run_daily(
    db: Database,
    day: date,
    *,
    zone: str,
    now: datetime,
    channels: dict[str, Channel],
    policy: outbox.SendPolicy,
    since: date | None = None,
    send: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> DailyReport:
    """Run the day stages for each day to run, then send; see the module docstring."""
    days = days_to_run(db, day, since)
    report = DailyReport(days=[])
    for n, d in enumerate(days):
        if progress is not None:
            progress(f"Day {d}", n, len(days) + 1)
        loyalty = nightly(db, d, zone=zone)
        made = tasks.schedule_followups(db, d)
        greetings = ({} if (day - d).days > LATE_GREETING_DAYS
                     else queue_greetings(db, d, zone=zone, now=now))  # fmt: skip
        report.days.append(DayReport(d, loyalty, made, greetings))
        _remember(db, d)
    if progress is not None:
        progress("Sending", len(days), len(days) + 1)
    report.escalated = run_escalations(db, now=now)
    report.stale = outbox.recover_stale(db, now=now, older_than=STALE_SENDING)
    if send:
        report.sent = outbox.send_due(db, now=now, channels=channels, limit=SEND_LIMIT,
                                      policy=policy)  # fmt: skip
    return report
