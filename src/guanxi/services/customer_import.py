"""Import a customer file: insert new customers, update known ones, never erase stored data.

A customer is matched by member code, then normalised phone, then email. A cell that is empty
in the file leaves the stored value alone; tags and interests are added, never removed.
Consent given in the file is recorded as a consent event with the file as its source.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from guanxi.domain.purchases import ImportKind
from guanxi.importers.headers import CUSTOMER_FIELDS, map_columns
from guanxi.importers.rows import CellError, CustomerRow, parse_customer_row
from guanxi.services.customer_privacy import phone_hmac
from guanxi.services.imports import (
    Directory,
    ImportOptions,
    ImportReport,
    chunked,
    count_lines,
    finish_batch,
    read_table,
    start_batch,
    timed,
    write_rejects,
)
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, ConsentEvent, Customer, CustomerInterest, CustomerTag

IDENTITY = ("code", "phone", "email")


def import_customers(db: Database, path: Path, options: ImportOptions) -> ImportReport:
    """Import one customer file in one transaction; see the module docstring for the rules."""
    started = time.perf_counter()
    report = ImportReport(kind=ImportKind.CUSTOMERS, path=path)
    expected = count_lines(path)
    reasons: dict[int, str] = {}
    with db.write() as session, read_table(path, options) as table:
        cmap = map_columns(
            table.header, CUSTOMER_FIELDS, overrides=options.mapping, required=(IDENTITY,)
        )
        report.encoding, report.columns = table.encoding, cmap.describe()
        batch_id = start_batch(session, report)
        name_column = cmap.headers[cmap.fields["name"]] if "name" in cmap.fields else "name"
        writer = _CustomerWriter(session, report, options, path.name, name_column)
        tz = ZoneInfo(options.timezone)
        for chunk in chunked(table.rows):
            good: list[CustomerRow] = []
            for line, cells in chunk:
                parsed = parse_customer_row(line, cells, cmap, tz)
                if isinstance(parsed, list):
                    _reject(report, reasons, line, parsed)
                else:
                    good.append(parsed)
            for row, errors in writer.write(good):
                _reject(report, reasons, row.line, errors)
            report.rows += len(chunk)
            if options.progress:
                options.progress(report.rows, expected)
        writer.link_referrers()
        finish_batch(session, batch_id, report)
        if options.dry_run or (report.rejected and not options.skip_bad_rows):
            session.rollback()
            return timed(report, started)
    report.committed = True
    if reasons:
        report.reject_file = write_rejects(path, reasons, options)
    return timed(report, started)


def _reject(
    report: ImportReport, reasons: dict[int, str], line: int, errors: list[CellError]
) -> None:
    report.add_errors(line, errors)
    reasons[line] = "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in errors)


class _CustomerWriter:
    """Applies validated rows to the database, keeping caches of who is already there."""

    def __init__(
        self,
        session: Session,
        report: ImportReport,
        options: ImportOptions,
        filename: str,
        name_column: str,
    ) -> None:
        self.name_column = name_column
        self.session = session
        self.report = report
        self.directory = Directory(session, report, options.timezone)
        self.source = f"import:{filename}"[:64]
        self.referrals: list[tuple[int, str, int]] = []  # (customer id, referrer key, line)
        self.secret = options.erasure_secret
        self.erased = set(session.execute(
            select(Customer.erased_phone_hmac).where(Customer.erased_phone_hmac.is_not(None))
        ).scalars()) if self.secret else set()  # fmt: skip

    def write(self, rows: list[CustomerRow]) -> list[tuple[CustomerRow, list[CellError]]]:
        """Insert or update each row; return the rows that had to be rejected."""
        rejected: list[tuple[CustomerRow, list[CellError]]] = []
        existing = self._prefetch(rows)
        for row in rows:
            found = self._match(row, existing)
            try:
                self._resolve_links(row)
            except ValueError as exc:
                rejected.append((row, [CellError("", "", str(exc))]))
                continue
            if found is None:
                if "name" not in row.columns:
                    error = CellError(self.name_column, "", "a new customer needs a name")
                    rejected.append((row, [error]))
                    continue
                customer_id = self._insert(row)
                for key in IDENTITY:
                    if row.columns.get(key):
                        existing[(key, row.columns[key])] = self._snapshot(customer_id)
                self.report.inserted += 1
            else:
                customer_id = found["id"]
                changed = self._update(row, found)
                if changed:
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1
            if row.referred_by:
                self.referrals.append((customer_id, row.referred_by, row.line))
        return rejected

    def _prefetch(self, rows: list[CustomerRow]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for key in IDENTITY:
            wanted = {r.columns[key] for r in rows if r.columns.get(key)}
            if not wanted:
                continue
            column = getattr(Customer, key)
            for c in self.session.scalars(select(Customer).where(column.in_(wanted))):
                found[(key, getattr(c, key))] = self._as_dict(c)
        return found

    def _snapshot(self, customer_id: int) -> dict[str, Any]:
        c = self.session.get(Customer, customer_id)
        assert c is not None
        return self._as_dict(c)

    def _as_dict(self, c: Customer) -> dict[str, Any]:
        data = {col.key: getattr(c, col.key) for col in Customer.__table__.columns}
        data["tags"] = {t.name for t in c.tags}
        data["interests"] = {i.name for i in c.interests}
        data["consents"] = {k.channel: k.is_granted for k in c.consents}
        return data

    def _match(
        self, row: CustomerRow, existing: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any] | None:
        for key in IDENTITY:
            value = row.columns.get(key)
            if value and (key, value) in existing:
                return existing[(key, value)]
        return None

    def _resolve_links(self, row: CustomerRow) -> None:
        store_id = None
        if row.home_store:
            store_id = self.directory.store(row.home_store)
            row.columns["home_store_id"] = store_id
        if row.owner_staff:
            row.columns["owner_staff_id"] = self.directory.staff_member(row.owner_staff, store_id)

    def _insert(self, row: CustomerRow) -> int:
        values = dict(row.columns)
        values.setdefault("source", "other")
        values["custom_fields"] = row.custom_fields
        customer_id = int(
            self.session.execute(insert(Customer).returning(Customer.id), values).scalar_one()
        )
        self._add_labels(customer_id, row.tags, row.interests)
        if row.consents and self._was_erased(row):
            self.report.warnings.append(
                f"line {row.line}: this phone belonged to a customer whose data was erased on "
                "request; their marketing consent was not recorded (ask them again)"
            )
        else:
            self._set_consents(customer_id, row.consents, {})
        return customer_id

    def _was_erased(self, row: CustomerRow) -> bool:
        """Whether a new row's phone matches the kept HMAC of an erased customer (DESIGN.md:
        a re-import must not bring back the consent of someone who asked to be forgotten)."""
        phone = row.columns.get("phone")
        return bool(phone and self.erased and phone_hmac(phone, self.secret) in self.erased)

    def _update(self, row: CustomerRow, found: dict[str, Any]) -> bool:
        changes = {k: val for k, val in row.columns.items() if found.get(k) != val}
        custom = {**(found.get("custom_fields") or {}), **row.custom_fields}
        if custom != (found.get("custom_fields") or {}):
            changes["custom_fields"] = custom
        if changes:
            self.session.execute(update(Customer).where(Customer.id == found["id"]).values(changes))
            found.update(changes)
        new_tags = set(row.tags) - found["tags"]
        new_interests = set(row.interests) - found["interests"]
        self._add_labels(found["id"], tuple(new_tags), tuple(new_interests))
        found["tags"] |= new_tags
        found["interests"] |= new_interests
        consent_changed = self._set_consents(found["id"], row.consents, found["consents"])
        return bool(changes or new_tags or new_interests or consent_changed)

    def _add_labels(
        self, customer_id: int, tags: tuple[str, ...], interests: tuple[str, ...]
    ) -> None:
        if tags:
            self.session.execute(
                insert(CustomerTag), [{"customer_id": customer_id, "name": t} for t in tags]
            )
        if interests:
            self.session.execute(
                insert(CustomerInterest),
                [{"customer_id": customer_id, "name": t} for t in interests],
            )

    def _set_consents(
        self, customer_id: int, wanted: dict[Any, bool], current: dict[str, bool]
    ) -> bool:
        now = datetime.now(UTC)
        changed = {ch.value: ok for ch, ok in wanted.items() if current.get(ch.value) != ok}
        for channel, ok in changed.items():
            values = {"is_granted": ok, "changed_at": now, "source": self.source}
            if channel in current:
                self.session.execute(
                    update(Consent)
                    .where(Consent.customer_id == customer_id, Consent.channel == channel)
                    .values(values)
                )
            else:
                self.session.execute(
                    insert(Consent), {"customer_id": customer_id, "channel": channel, **values}
                )
            self.session.execute(
                insert(ConsentEvent),
                {
                    "customer_id": customer_id,
                    "channel": channel,
                    "is_granted": ok,
                    "at": now,
                    "source": self.source,
                },
            )
            current[channel] = ok
        return bool(changed)

    def link_referrers(self) -> None:
        """Point referred customers at their referrer (by phone or member code), once all rows
        are in, so a referrer may come later in the same file."""
        for customer_id, key, line in self.referrals:
            referrer = self.session.execute(
                select(Customer.id).where((Customer.phone == key) | (Customer.code == key))
            ).scalar()
            if referrer is None or referrer == customer_id:
                self.report.warnings.append(
                    f"line {line}: referrer {key!r} is not a known customer; left empty"
                )
                continue
            self.session.execute(
                update(Customer).where(Customer.id == customer_id).values(referred_by_id=referrer)
            )
