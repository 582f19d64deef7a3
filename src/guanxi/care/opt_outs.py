"""Opt-out replies (回复TD): withdraw SMS marketing consent from a file of inbound SMS replies.

Every marketing SMS ends with the opt-out text (``GUANXI_SMS_OPT_OUT_TEXT``, e.g. 回复TD退订);
customers answer on the SMS platform, which gives the shop a file of replies (phone, text,
time). ``record_opt_out_replies`` withdraws the SMS consent (source ``sms_reply``, with its
consent event, audited) of each customer whose reply is an opt-out word. The customer is
found by the normalised phone (E.164, as the importers store it), in every store: honouring a
withdrawal is never wrong. Recording the same file again changes nothing, and a reply older
than a consent given since (e.g. again at the counter) does not undo that consent. Queued
marketing SMS to these customers are skipped at send time, when consent is checked again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.config import DEFAULT_OPT_OUT_WORDS
from guanxi.errors import InvalidInput
from guanxi.importers import values as v
from guanxi.importers.headers import normalise_header
from guanxi.importers.readers import open_table
from guanxi.services import audit
from guanxi.services.customer_consents import write_consent
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, Customer

SOURCE = "sms_reply"
DEFAULT_WORDS = DEFAULT_OPT_OUT_WORDS
MAX_REPLIES = 200_000

# Column names SMS platforms use in their reply (上行) reports, normalised.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "mobile", "phonenumber", "手机", "手机号", "手机号码", "号码", "电话",
              "电话号码", "主叫号码", "发送号码", "回复号码", "上行号码"),
    "text": ("text", "content", "message", "reply", "body", "内容", "回复内容", "短信内容",
             "上行内容", "回复"),
    "time": ("time", "at", "date", "receivedat", "repliedat", "时间", "回复时间", "接收时间",
             "上行时间", "发送时间"),
}  # fmt: skip
_DECORATION = re.compile(r"[\s.,!?;:'\"。，！？；：、…~～]+")


def compute_word(text: str) -> str:
    """The form replies are compared in: half-width, case-folded, without spaces and
    punctuation ('ＴＤ。' and ' td ' are both 'td')."""
    return _DECORATION.sub("", v.to_halfwidth(text)).casefold()


def parse_words(setting: str) -> frozenset[str]:
    """'TD,退订,STOP' (``GUANXI_SMS_OPT_OUT_WORDS``) -> the comparable words."""
    return frozenset(w for w in (compute_word(part) for part in setting.split(",")) if w)


@dataclass(frozen=True)
class Reply:
    """One inbound SMS: who sent it (as written in the file), what, and when (None: unknown)."""

    line: int
    phone: str
    text: str
    at: datetime | None = None


def read_replies(path: Path, *, timezone: str) -> list[Reply]:
    """The replies of a CSV or spreadsheet file with a phone and a text column (and
    optionally a time column); naive times are shop time."""
    zone = ZoneInfo(timezone)
    with open_table(path) as table:
        found = {normalise_header(h): i for i, h in enumerate(table.header)}
        index = {f: next((found[n] for n in names if n in found), None)
                 for f, names in _COLUMNS.items()}  # fmt: skip
        phone, text, when = index["phone"], index["text"], index["time"]
        if phone is None or text is None:
            raise InvalidInput(
                f"{path.name}: cannot find the phone and reply columns (found "
                f"{', '.join(table.header) or 'no header'}); name them phone and text "
                "(or 手机号码 and 回复内容)"
            )
        replies: list[Reply] = []
        for line, cells in table.rows:
            cell = dict(enumerate(cells))
            at = _when(cell.get(when, "") if when is not None else "", zone)
            replies.append(Reply(line, cell.get(phone, ""), cell.get(text, ""), at))
            if len(replies) > MAX_REPLIES:
                raise InvalidInput(f"{path.name}: more than {MAX_REPLIES:,} replies; split it")
    return replies


def _when(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        return v.parse_datetime(text, zone) if text else None
    except ValueError:
        return None


@dataclass
class OptOutReport:
    """What recording a file of replies did, one count per reply."""

    opted_out: int = 0  # consent withdrawn now
    already_opted_out: int = 0  # no consent to withdraw (an earlier reply, link or staff)
    consented_since: int = 0  # the customer consented again after the reply: kept
    unknown_phone: int = 0  # no customer has this phone (or it is not a phone number)
    not_opt_out: int = 0  # the text is not an opt-out word

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def record_opt_out_replies(
    db: Database,
    replies: Sequence[Reply],
    *,
    actor_id: int | None,
    words: Collection[str] = parse_words(DEFAULT_WORDS),
    ip: str | None = None,
) -> OptOutReport:
    """Withdraw the SMS marketing consent of the customers whose reply is an opt-out word.

    One transaction; each withdrawal appends a consent event (source ``sms_reply``) and a
    ``consent.changed`` audit entry; the file's counts are audited too (no phone numbers).
    """
    report = OptOutReport()
    wanted: list[tuple[str, Reply]] = []
    for reply in replies:
        if compute_word(reply.text) not in words:
            report.not_opt_out += 1
            continue
        try:
            wanted.append((v.normalise_phone(reply.phone), reply))
        except ValueError:
            report.unknown_phone += 1
    with db.write() as session:
        customers = _customers_by_phone(session, [phone for phone, _ in wanted])
        for phone, reply in wanted:
            customer_id = customers.get(phone)
            if customer_id is None:
                report.unknown_phone += 1
                continue
            outcome = _withdraw(session, customer_id, reply, actor_id=actor_id, ip=ip)
            setattr(report, outcome, getattr(report, outcome) + 1)
        audit.record(session, audit.Action.OPT_OUT_REPLIES_RECORDED, actor_id=actor_id,
                     ip=ip, detail={"replies": len(replies), **report.as_json()})  # fmt: skip
    return report


def _customers_by_phone(session: Session, phones: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(phones))
    for start in range(0, len(unique), 5000):
        found.update({str(p): int(c) for p, c in session.execute(
            select(Customer.phone, Customer.id)
            .where(Customer.phone.in_(unique[start : start + 5000]),
                   Customer.erased_at.is_(None))
        )})  # fmt: skip
    return found


def _withdraw(
    session: Session, customer_id: int, reply: Reply, *, actor_id: int | None, ip: str | None
) -> str:
    """Withdraw one customer's SMS consent; returns the ``OptOutReport`` field to count in."""
    current = session.get(Consent, (customer_id, "sms"))
    if current is not None and not current.is_granted:
        return "already_opted_out"
    if current is not None and reply.at is not None and current.changed_at > reply.at:
        return "consented_since"
    write_consent(session, customer_id, "sms", False, SOURCE)
    detail: dict[str, Any] = {"channel": "sms", "granted": False, "source": SOURCE}
    if reply.at is not None:
        detail["replied_at"] = reply.at.isoformat()
    audit.record(session, audit.Action.CONSENT_CHANGED, actor_id=actor_id,
                 target_type="customer", target_id=customer_id, ip=ip,
                 detail=detail)  # fmt: skip
    return "opted_out"
