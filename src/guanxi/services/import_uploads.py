"""Files uploaded on the web import page: saved, checked by a dry run, then imported.

Each upload gets its own folder, ``<temp dir>/guanxi-uploads/<random id>``, holding the file
(always named ``upload`` plus the client's suffix: the client's file name is only displayed),
``meta.json`` (kind, shown name, encoding, who uploaded it) and, after an import that skipped
bad rows, the reject file. Only the staff member who uploaded a file may preview, import it or
download its rejects. Folders older than a day are removed when the next file is uploaded.

Imports are shop-wide: whoever may import (the owner, managers) imports for every store, and
stores and staff named in the file are created when they are new, as with ``guanxi import``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import IO, Any

from guanxi.domain.purchases import ImportKind
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.importers.readers import CSV_SUFFIXES, SHEET_SUFFIXES, open_table
from guanxi.services import audit
from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions, ImportReport, reject_path
from guanxi.services.purchase_import import import_purchases
from guanxi.storage.db import Database

UPLOAD_ROOT = Path(tempfile.gettempdir()) / "guanxi-uploads"
MAX_BYTES = 50 * 1024 * 1024
KEEP_SECONDS = 24 * 3600
SAMPLE_ROWS = 10
ENCODINGS = ("utf-8", "gb18030", "gbk", "big5", "utf-16")
SUFFIXES = CSV_SUFFIXES + SHEET_SUFFIXES
_ID = re.compile(r"[0-9a-f]{32}")

Importer = Callable[[Database, Path, ImportOptions], ImportReport]
IMPORTERS: dict[ImportKind, Importer] = {
    ImportKind.CUSTOMERS: import_customers,
    ImportKind.PURCHASES: import_purchases,
}


class UploadTooLarge(InvalidInput):
    """The file is bigger than the web import accepts."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file waiting in its folder."""

    id: str
    kind: ImportKind
    filename: str  # the client's name for it: shown, never used as a path
    suffix: str
    encoding: str | None
    staff_id: int
    folder: Path
    imported: bool = False

    @property
    def path(self) -> Path:
        return self.folder / f"upload{self.suffix}"

    @property
    def reject_name(self) -> str:
        """The name the reject file is downloaded under."""
        return f"{PurePosixPath(self.filename).stem}.rejects.csv"


@dataclass
class Preview:
    """What the page shows before an import: encoding, mapping, first rows, the dry run."""

    upload: Upload
    header: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str | None
    sheet: str | None
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, field or "")
    report: ImportReport | None = None  # the dry run; None when the file cannot be imported
    problem: str | None = None


def save_upload(
    stream: IO[bytes], filename: str, kind: str, encoding: str, staff_id: int
) -> Upload:
    """Check the choices, copy the file (at most MAX_BYTES) into a new folder, remember it."""
    shown, upload_id = _shown_name(filename), secrets.token_hex(16)
    upload = Upload(
        id=upload_id, kind=_kind(kind), filename=shown, suffix=check_suffix(shown),
        encoding=_encoding(encoding), staff_id=staff_id, folder=UPLOAD_ROOT / upload_id,
    )  # fmt: skip
    _purge_old()
    upload.folder.mkdir(parents=True, mode=0o700)
    try:
        copy_limited(stream, upload.path)
    except InvalidInput:
        shutil.rmtree(upload.folder, ignore_errors=True)
        raise
    _write_meta(upload)
    return upload


def load_upload(upload_id: str, staff_id: int) -> Upload:
    """The upload with this id, if this staff member made it."""
    meta = UPLOAD_ROOT / upload_id / "meta.json"
    if not _ID.fullmatch(upload_id) or not meta.is_file():
        raise NotFound("this upload does not exist (uploads are kept for a day): upload again")
    data: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
    if data["staff_id"] != staff_id:
        raise NotFound("this upload does not exist (uploads are kept for a day): upload again")
    return Upload(upload_id, ImportKind(data["kind"]), data["filename"], data["suffix"],
                  data["encoding"], staff_id, meta.parent, data["imported"])  # fmt: skip


def preview_upload(
    db: Database, upload: Upload, timezone: str, *, erasure_secret: str = ""
) -> Preview:
    """Read the first rows, then import in a dry run (skipping bad rows) to list every problem.

    Raises InvalidInput when the file cannot be read at all.
    """
    with open_table(upload.path, encoding=upload.encoding) as table:
        rows = list(islice(table.rows, SAMPLE_ROWS))
        preview = Preview(upload, table.header, rows, table.encoding, table.sheet)
    options = ImportOptions(encoding=upload.encoding, skip_bad_rows=True, dry_run=True,
                            timezone=timezone, erasure_secret=erasure_secret)  # fmt: skip
    try:
        preview.report = IMPORTERS[upload.kind](db, upload.path, options)
    except InvalidInput as exc:
        preview.problem = str(exc)
        return preview
    preview.columns = [(h, preview.report.columns.get(h, "")) for h in preview.header]
    return preview


def run_import(
    db: Database,
    upload: Upload,
    *,
    skip_bad_rows: bool,
    timezone: str,
    ip: str | None,
    erasure_secret: str = "",
) -> ImportReport:
    """Import the file for real (one transaction), then audit it: kind, file name, counts."""
    if upload.imported:
        raise Conflict(f"{upload.filename} was already imported: upload it again to re-import")
    options = ImportOptions(encoding=upload.encoding, skip_bad_rows=skip_bad_rows,
                            timezone=timezone, erasure_secret=erasure_secret)  # fmt: skip
    report = IMPORTERS[upload.kind](db, upload.path, options)
    with db.write() as session:
        audit.record(session, audit.Action.IMPORT, actor_id=upload.staff_id,
                     target_type="import", target_id=upload.id,
                     detail=audit_detail(upload, report, skip_bad_rows), ip=ip)  # fmt: skip
    if report.committed:
        _write_meta(replace(upload, imported=True))
    return report


def audit_detail(upload: Upload, report: ImportReport, skip_bad_rows: bool) -> dict[str, Any]:
    """What the audit log keeps of an import: counts, never the rows' personal data."""
    return {
        "kind": upload.kind.value, "file": upload.filename, "committed": report.committed,
        "skip_bad_rows": skip_bad_rows, "rows": report.rows, "inserted": report.inserted,
        "updated": report.updated, "unchanged": report.unchanged, "rejected": report.rejected,
        "created": {k: n for k, n in report.created.items() if n},
    }  # fmt: skip


def reject_file(upload: Upload) -> Path:
    """The rows an import left out, with their reasons (written by an import that skipped)."""
    path = reject_path(upload.path)
    if not path.is_file():
        raise NotFound(f"no rows of {upload.filename} were left out by an import")
    return path


def _shown_name(filename: str) -> str:
    """The last part of the client's file name, printable characters only, for display."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    return "".join(ch for ch in name if ch.isprintable())[-200:]


def _kind(kind: str) -> ImportKind:
    try:
        return ImportKind(kind)
    except ValueError:
        choices = ", ".join(k.value for k in ImportKind)
        raise InvalidInput(f"unknown kind of import {kind!r}: choose {choices}") from None


def check_suffix(name: str) -> str:
    """The upload's suffix (.csv, .xlsx …) or InvalidInput naming what can be read."""
    if not name:
        raise InvalidInput("choose a file to import")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(
            f"{name}: cannot import '{suffix or 'no suffix'}' files; choose a CSV or Excel "
            f"file ({', '.join(SUFFIXES)})"
        )
    return suffix


def _encoding(encoding: str) -> str | None:
    if encoding and encoding not in ENCODINGS:
        raise InvalidInput(f"unknown encoding {encoding!r}: choose one of {', '.join(ENCODINGS)}")
    return encoding or None


def copy_limited(
    stream: IO[bytes],
    target: Path,
    *,
    max_bytes: int | None = None,
    instead: str = "import it with the `guanxi import` command",
) -> None:
    """Copy an uploaded file to ``target`` in chunks; UploadTooLarge past ``max_bytes`` (the
    message offers ``instead``; default: MAX_BYTES), InvalidInput when it is empty."""
    limit = MAX_BYTES if max_bytes is None else max_bytes
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(
                    f"the file is larger than {limit / 2**20:.0f} MiB: split it into "
                    f"smaller files, or {instead}"
                )
            out.write(chunk)
    if size == 0:
        raise InvalidInput("the file is empty")


def _write_meta(upload: Upload) -> None:
    data = {"kind": upload.kind.value, "filename": upload.filename, "suffix": upload.suffix,
            "encoding": upload.encoding, "staff_id": upload.staff_id,
            "imported": upload.imported}  # fmt: skip
    (upload.folder / "meta.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def _purge_old() -> None:
    """Remove the folders of uploads older than KEEP_SECONDS."""
    if not UPLOAD_ROOT.is_dir():
        return
    cutoff = time.time() - KEEP_SECONDS
    for folder in UPLOAD_ROOT.iterdir():
        if _ID.fullmatch(folder.name) and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
