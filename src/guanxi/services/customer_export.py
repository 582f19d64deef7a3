"""The customer list as a CSV or Excel file (客户导出), for owners and managers; audited.

Rows: member code, name, phone, home store, tier, points balance, last purchase (shop date),
the marketing consent per channel (yes / no / empty when never asked) and the tags. Code,
name, phone, store, consents and tags carry the importer's own column names, so an edited file
imports back (tier, points and last purchase are for reading only). Erased customers are
left out. A manager exports their store's customers only, the owner every store or one; both
may narrow the file to a saved segment's members.

Phones: managers and owners see full numbers in the app (``sees_full_phone``), so the file
carries them, mainland numbers as the 11 digits people write (a spreadsheet keeps 11 digits
readable) and others in E.164; ``mask_phones`` writes them masked as the customer list shows
them (a file to share). Every text cell goes through ``spreadsheets`` (no formula runs).

Streaming: rows are read in batches of ``BATCH`` (``yield_per``) inside one read transaction
(a consistent snapshot) and written as they come, so 100,000 customers never sit in memory.
The file is written beside its target under a temporary name and renamed only after the
audit entry (who, how many rows, which format and filters) has committed: no export without
its entry, and no half-written file under the target's name.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from guanxi.domain.access import Permission, is_allowed, mask_phone, store_scope
from guanxi.errors import GuanxiError, InvalidInput, NotAllowed, NotFound
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services import audit, spreadsheets
from guanxi.services.segments import latest_month, members_select, parse_rules
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Consent,
    Customer,
    CustomerTag,
    CustomerTier,
    PointsBalance,
    Purchase,
    Segment,
    Store,
)

FORMATS = ("csv", "xlsx")
CHANNELS = ("sms", "email", "wechat")
HEADER = ("code", "name", "phone", "home_store", "tier", "points", "last_purchase",
          *(f"consent_{c}" for c in CHANNELS), "tags")  # fmt: skip
BATCH = 1000
CUSTOMERS_EXPORTED = audit.Action.CUSTOMERS_EXPORTED  # the audit action of a list export

Rows = Select[int, str | None, str, str | None, str | None, str | None, int | None, Any]


@dataclass(frozen=True)
class ExportFilter:
    """Which customers: a saved segment's members, one home store (None: no narrowing)."""

    segment_id: int | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class ExportResult:
    rows: int
    format: str
    path: Path


def format_of(filename: str) -> str:
    """'csv' or 'xlsx' from a file name's suffix."""
    suffix = Path(filename).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise InvalidInput(f"cannot export to {filename!r}: name a .csv or .xlsx file")
    return suffix


def find_segment_id(db: Database, name: str) -> int:
    with db.read() as session:
        found = session.execute(select(Segment.id).where(Segment.name == name)).scalar()
    if found is None:
        raise NotFound(f"no saved segment is named {name!r}: see the segments page for names")
    return int(found)


def find_store_id(db: Database, code: str) -> int:
    with db.read() as session:
        found = session.execute(select(Store.id).where(Store.code == code)).scalar()
    if found is None:
        raise NotFound(f"no store has the code {code!r}")
    return int(found)


def _check_actor(actor: StaffMember | None, store_id: int | None) -> int | None:
    """The store the actor's export is limited to (None: every store; the terminal and owners)."""
    if actor is None:
        return store_id
    if not is_allowed(actor.role, Permission.CUSTOMERS_EXPORT):
        raise NotAllowed("only owners and managers may export the customer list")
    scope = store_scope(actor.role, actor.store_id)
    if scope is not None and store_id not in (None, scope):
        raise NotAllowed("managers export their own store's customers only")
    return scope if scope is not None else store_id


def _customers(session: Session, filters: ExportFilter, store_id: int | None) -> Rows:
    # One index probe per customer (ix_purchase_customer_id_purchased_at), no aggregate first.
    last = (
        select(func.max(Purchase.purchased_at)).where(Purchase.customer_id == Customer.id)
        .correlate(Customer).scalar_subquery()
    )  # fmt: skip
    stmt = (
        select(Customer.id, Customer.code, Customer.name, Customer.phone, Store.name,
               CustomerTier.tier_key, PointsBalance.points, last)
        .outerjoin(Store, Store.id == Customer.home_store_id)
        .outerjoin(CustomerTier, CustomerTier.customer_id == Customer.id)
        .outerjoin(PointsBalance, PointsBalance.customer_id == Customer.id)
        .where(Customer.erased_at.is_(None))
        .order_by(Customer.id)
    )  # fmt: skip
    if store_id is not None:
        stmt = stmt.where(Customer.home_store_id == store_id)
    if filters.segment_id is not None:
        segment = session.get(Segment, filters.segment_id)
        if segment is None:
            raise NotFound(f"segment {filters.segment_id} does not exist")
        month = latest_month(session)
        if month is None:  # no scores yet: a segment has no members
            return stmt.where(false())
        members = members_select(parse_rules(segment.rules), month, store_scope=store_id)
        stmt = stmt.where(Customer.id.in_(members))
    return stmt


def _extras(session: Session, ids: Sequence[int]) -> tuple[dict[int, list[str]], dict[Any, bool]]:
    """The tags and consents of one batch of customers."""
    tags: dict[int, list[str]] = defaultdict(list)
    for cid, name in session.execute(
        select(CustomerTag.customer_id, CustomerTag.name)
        .where(CustomerTag.customer_id.in_(ids)).order_by(CustomerTag.name)
    ):  # fmt: skip
        tags[cid].append(name)
    consents = {(cid, channel): bool(granted) for cid, channel, granted in session.execute(
        select(Consent.customer_id, Consent.channel, Consent.is_granted)
        .where(Consent.customer_id.in_(ids))
    )}  # fmt: skip
    return tags, consents


def shown_phone(phone: str | None, *, masked: bool) -> str:
    """The phone as the file carries it: masked, or mainland numbers as their 11 digits."""
    if not phone:
        return ""
    if masked:
        return mask_phone(phone)
    return phone[3:] if phone.startswith("+86") and len(phone) == 14 else phone


def _rows(
    session: Session, stmt: Rows, *, masked: bool, zone: ZoneInfo
) -> Iterator[list[spreadsheets.Cell]]:
    tier_names = {t.key: t.name for t in defined_tiers(session)}
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    for batch in result.partitions():
        tags, consents = _extras(session, [row[0] for row in batch])
        for cid, code, name, phone, store, tier, points, last in batch:
            flags = [consents.get((cid, c)) for c in CHANNELS]
            when = last.astimezone(zone).date() if isinstance(last, datetime) else None
            yield [code, name, shown_phone(phone, masked=masked), store,
                   tier_names.get(tier, tier) if tier else None, points or 0, when,
                   *("" if f is None else "yes" if f else "no" for f in flags),
                   ", ".join(tags.get(cid, []))]  # fmt: skip


def _write(path: Path, fmt: str, rows: Iterator[list[spreadsheets.Cell]]) -> int:
    count = 0
    if fmt == "xlsx":
        with spreadsheets.XlsxWriter(path, sheet="customers") as sheet:
            sheet.writerow(HEADER)
            for row in rows:
                sheet.writerow(row)
                count += 1
        return count
    with path.open("w", encoding="utf-8-sig", newline="") as out:  # the BOM: Excel reads UTF-8
        writer = spreadsheets.csv_writer(out)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def export_customers(
    db: Database,
    path: Path,
    *,
    actor: StaffMember | None,
    filters: ExportFilter | None = None,
    mask_phones: bool = False,
    timezone: str = "Asia/Shanghai",
    ip: str | None = None,
) -> ExportResult:
    """Write the customers to ``path`` (.csv or .xlsx) and audit the export.

    ``actor`` None is the terminal, acting for the owner (every store). Raises NotAllowed for
    clerks and for a manager naming another store, NotFound for an unknown segment.
    """
    fmt = format_of(path.name)
    filters = filters or ExportFilter()
    store_id = _check_actor(actor, filters.store_id)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with db.read() as session:
            stmt = _customers(session, filters, store_id)
            rows = _rows(session, stmt, masked=mask_phones, zone=ZoneInfo(timezone))
            try:
                count = _write(partial, fmt, rows)
            except OSError as exc:  # read-only folder, disk full: say so, keep nothing
                raise GuanxiError(f"cannot write {path}: {exc.strerror or exc}") from exc
        detail = {"format": fmt, "rows": count, "segment_id": filters.segment_id,
                  "store_id": store_id, "phones": "masked" if mask_phones else "full"}  # fmt: skip
        with db.write() as session:
            audit.record(session, CUSTOMERS_EXPORTED, actor_id=actor.id if actor else None,
                         target_type="customer", detail=detail, ip=ip)  # fmt: skip
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return ExportResult(count, fmt, path)


@dataclass(frozen=True)
class Choices:
    """What the export form offers: saved segments, and the stores (owners only)."""

    segments: list[tuple[int, str]]
    stores: list[tuple[int, str, str]]  # id, code, name


def form_choices(db: Database, actor: StaffMember) -> Choices:
    with db.read() as session:
        segments = [
            (int(i), n)
            for i, n in session.execute(select(Segment.id, Segment.name).order_by(Segment.name))
        ]
        stores: list[tuple[int, str, str]] = []
        if store_scope(actor.role, actor.store_id) is None:
            stores = [(int(i), c, n) for i, c, n in
                      session.execute(select(Store.id, Store.code, Store.name)
                                      .order_by(Store.code))]  # fmt: skip
    return Choices(segments, stores)
