"""Import customers and purchases from CSV/XLSX files: all or nothing per file.

One file is one database transaction. A file with bad rows imports nothing, unless
``skip_bad_rows`` is set: then every bad row (and every other line of an order that has a bad
line) is left out and written, with its reason, to ``<file>.rejects.csv`` beside the input.
Re-importing a file changes nothing: purchases are keyed by store + order id, customers by
member code, then phone, then email.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from guanxi.domain.purchases import ImportKind
from guanxi.domain.staff import Role
from guanxi.importers.readers import Table, open_table, sha256_of
from guanxi.importers.rows import CellError
from guanxi.services import spreadsheets
from guanxi.storage.models import ImportBatch, Staff, Store

Progress = Callable[[int, int | None], None]
"""Called with (rows done, rows expected or None) as an import goes."""

MAX_KEPT_ERRORS = 10_000
CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class RowError:
    """One reason a file row was rejected: its line number, column, value and reason."""

    line: int
    column: str
    value: str
    reason: str


@dataclass
class ImportReport:
    """What an import did (or, when ``committed`` is false, would have refused to do)."""

    kind: ImportKind
    path: Path
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    committed: bool = False
    reject_file: Path | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def add_errors(self, line: int, errors: list[CellError]) -> None:
        self.rejected += 1
        for e in errors:
            if len(self.errors) < MAX_KEPT_ERRORS:
                self.errors.append(RowError(line, e.column, e.value, e.reason))


@dataclass
class ImportOptions:
    """How to read and apply one file."""

    encoding: str | None = None
    sheet: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    skip_bad_rows: bool = False
    dry_run: bool = False  # do everything, report it, then roll back (an import preview)
    erasure_secret: str = ""  # GUANXI_ERASURE_SECRET: recognise phones of erased customers
    timezone: str = "Asia/Shanghai"
    progress: Progress | None = None


def count_lines(path: Path) -> int | None:
    """Count newline bytes quickly, as an estimate of CSV rows for the progress bar."""
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        return None
    total = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            total += chunk.count(b"\n")
    return max(total - 1, 0)


def chunked(rows: Iterator[tuple[int, list[str]]], size: int = CHUNK) -> Iterator[list[Any]]:
    """Group rows into lists of at most ``size``."""
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def start_batch(session: Session, report: ImportReport) -> int:
    """Record the import run (rolled back with everything else on failure); warn when the
    same file was imported before, since a re-import then changes nothing."""
    now = datetime.now(UTC)
    digest = sha256_of(report.path)
    before = session.execute(
        select(ImportBatch.finished_at)
        .where(ImportBatch.sha256 == digest, ImportBatch.kind == report.kind.value)
        .order_by(ImportBatch.id.desc())
        .limit(1)
    ).scalar()
    if before is not None:
        report.warnings.append(
            f"this file was already imported on {before:%Y-%m-%d %H:%M} UTC; "
            "rows already in Guanxi are left unchanged"
        )
    values = {"kind": report.kind.value, "filename": report.path.name, "sha256": digest,
              "started_at": now, "finished_at": now}  # fmt: skip
    return int(session.execute(insert(ImportBatch).returning(ImportBatch.id), values).scalar_one())


def finish_batch(session: Session, batch_id: int, report: ImportReport) -> None:
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .values(
            finished_at=datetime.now(UTC),
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected,
        )
    )


def reject_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def write_rejects(path: Path, reasons: dict[int, str], options: ImportOptions) -> Path:
    """Copy the rejected rows, with the file's header and a reason column, beside the input.

    Written as UTF-8 with BOM so that Excel opens Chinese text correctly.
    """
    target = reject_path(path)
    with (
        open_table(path, encoding=options.encoding, sheet=options.sheet) as table,
        target.open("w", encoding="utf-8-sig", newline="") as out,
    ):
        writer = spreadsheets.csv_writer(out)  # the file's own cells may start a formula
        writer.writerow(["line", *table.header, "reason"])
        for line, cells in table.rows:
            reason = reasons.get(line)
            if reason is not None:
                writer.writerow([line, *cells, reason])
    return target


class Directory:
    """Stores and staff met in a file, looked up by code or name and created when new."""

    def __init__(self, session: Session, report: ImportReport, default_tz: str) -> None:
        self.session = session
        self.report = report
        self.default_tz = default_tz
        self.stores: dict[str, int] = {}
        self.staff: dict[tuple[str, int | None], int] = {}
        self._default_store: int | None = None
        for s in session.execute(select(Store.id, Store.code, Store.name)):
            self.stores.setdefault(s.code, s.id)
            self.stores.setdefault(s.name, s.id)
        for st in session.execute(select(Staff.id, Staff.name, Staff.store_id)):
            self.staff.setdefault((st.name, st.store_id), st.id)
            self.staff.setdefault((st.name, None), st.id)

    def default_store(self) -> int:
        """The shop's first store; '总店' is created for a shop that has none yet."""
        if self._default_store is None:
            first = self.session.execute(select(Store.id).order_by(Store.id).limit(1)).scalar()
            self._default_store = first if first is not None else self.store("总店")
        return self._default_store

    def store(self, name: str | None) -> int:
        if not name:
            return self.default_store()
        found = self.stores.get(name)
        if found is None:
            found = int(
                self.session.execute(
                    insert(Store).returning(Store.id),
                    {"code": name[:32], "name": name, "timezone": self.default_tz},
                ).scalar_one()
            )
            self.stores[name] = found
            self._count("stores", f"store {name!r}")
        return found

    def staff_member(self, name: str, store_id: int | None) -> int:
        found = self.staff.get((name, store_id)) or self.staff.get((name, None))
        if found is None:
            found = int(
                self.session.execute(
                    insert(Staff).returning(Staff.id),
                    {"name": name, "role": Role.CLERK.value, "store_id": store_id},
                ).scalar_one()
            )
            self.staff[(name, store_id)] = found
            self.staff.setdefault((name, None), found)
            self._count("staff", f"staff member {name!r} (as clerk)")
        return found

    def _count(self, what: str, label: str) -> None:
        self.report.created[what] = self.report.created.get(what, 0) + 1
        self.report.warnings.append(f"created {label}: it was not in Guanxi yet")


def timed(report: ImportReport, started: float) -> ImportReport:
    report.seconds = time.perf_counter() - started
    return report


def read_table(path: Path, options: ImportOptions) -> AbstractContextManager[Table]:
    """Open the file as a Table (context manager)."""
    return open_table(path, encoding=options.encoding, sheet=options.sheet)
