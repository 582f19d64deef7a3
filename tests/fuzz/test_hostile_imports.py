"""Hostile import files against the real import paths: the services the web upload and the
CLI call, on SQLite and PostgreSQL, and the CLI in a child process whose peak memory is
measured. Every hostile file ends in one clear line and leaves the database as it was."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from guanxi.errors import GuanxiError, InvalidInput
from guanxi.importers.readers import detect_encoding
from guanxi.services import import_uploads
from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions, ImportReport
from guanxi.services.purchase_import import import_purchases
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase
from tests.fuzz import hostile_files
from tests.fuzz.hostile_files import ACCEPTED, FORMULAS, REFUSED
from tests.web.conftest import Account

Importer = Callable[[Database, Path, ImportOptions], ImportReport]
IMPORTERS: dict[str, Importer] = {"customers": import_customers, "purchases": import_purchases}
MAX_RSS_MB = 400
ADDRESS_SPACE_CAP = 4 * 2**30  # the child's safety net: a regression fails, not the machine


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        customers = session.execute(select(func.count()).select_from(Customer)).scalar_one()
        purchases = session.execute(select(func.count()).select_from(Purchase)).scalar_one()
    return customers, purchases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: make(folder) for name, make in {**REFUSED, **ACCEPTED}.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(IMPORTERS))
def test_hostile_files_are_refused_in_one_line_and_change_nothing(
    db: Database, corpus: dict[str, Path], kind: str
) -> None:
    outcomes: dict[str, str] = {}
    for name in REFUSED:
        try:
            report = IMPORTERS[kind](db, corpus[name], ImportOptions())
        except GuanxiError as error:
            message = str(error)
            assert message and "\n" not in message and len(message) < 400, (name, message)
            outcomes[name] = message
        else:  # only a file without rows may pass, and it must bring nothing
            assert report.rows == 0 and not report.rejected, (name, report)
            outcomes[name] = "no rows"
        assert _counts(db) == (0, 0), f"{name}: a refused file left rows behind"
    assert outcomes["empty"].endswith("has no header row")
    assert "unpacks to" in outcomes["zip_bomb"], outcomes["zip_bomb"]
    assert "declared" in outcomes["lying_bomb"], outcomes["lying_bomb"]
    if kind == "customers":  # the purchases importer may refuse earlier, for missing columns
        assert outcomes["header_only"] == "no rows"
        assert "NUL" in outcomes["nul_bytes"], outcomes["nul_bytes"]
        assert "field limit" in outcomes["huge_cell_csv"], outcomes["huge_cell_csv"]
        assert "10,000,000 characters" in outcomes["huge_cell_xlsx"], outcomes["huge_cell_xlsx"]
        assert "a NUL character" in outcomes["nul_xlsx"], outcomes["nul_xlsx"]


@pytest.mark.slow
def test_odd_but_valid_files_import_with_formulas_kept_as_text(
    db: Database, corpus: dict[str, Path]
) -> None:
    for name in ACCEPTED:
        report = import_customers(db, corpus[name], ImportOptions())
        assert report.committed and not report.rejected, (name, report.errors)
    with db.read() as session:
        names = set(session.execute(select(Customer.name)).scalars())
        notes = set(session.execute(select(Customer.notes)).scalars())
    assert "张三" in names, names  # GBK and UTF-16 without a BOM were both decoded
    for formula in FORMULAS:  # stored verbatim; exports neutralise them, imports do not
        assert formula in notes, (formula, notes)


@pytest.mark.slow
def test_the_cli_refuses_hostile_files_in_bounded_memory(
    sqlite_db: Database, corpus: dict[str, Path], tmp_path: Path
) -> None:
    """One child process runs ``guanxi import customers`` over the corpus, as the console
    script does; its peak resident memory (it measures its own) must stay under MAX_RSS_MB."""
    files = [str(corpus[name]) for name in REFUSED if name != "header_only"]  # no rows: exit 0
    child = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.cli_child", str(sqlite_db.engine.url.database), *files],
        capture_output=True,
        preexec_fn=_cap_address_space,
        text=True,
        timeout=300,
        cwd=Path(hostile_files.__file__).parents[2],
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout)
    results: dict[str, list[object]] = report["results"]
    peak_mb: float = report["peak_mb"]
    assert sorted(results) == sorted(files)
    for path, (code, output) in results.items():
        assert code == 1, (path, code, output)
        assert isinstance(output, str) and "Traceback" not in output, (path, output)
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (path, output)
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
    assert _counts(sqlite_db) == (0, 0)


@pytest.mark.parametrize("text", ["姓名,手机\r\n张三,13812345678\r\n", "一二,13800000000\r\n"])
def test_utf16_without_a_bom_is_recognised_in_either_byte_order(text: str) -> None:
    assert detect_encoding(text.encode("utf-16-le")) == "utf-16-le"
    assert detect_encoding(text.encode("utf-16-be")) == "utf-16-be"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"  # NUL-free text is unaffected


@pytest.mark.slow
def test_the_web_upload_path_refuses_hostile_files(
    db: Database,
    accounts: dict[str, Account],
    corpus: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The web upload's services: save, preview (a dry run), import, as the import page calls
    them; every hostile file ends in one line, in the preview and in the import."""
    monkeypatch.setattr(import_uploads, "UPLOAD_ROOT", tmp_path / "uploads")
    staff = accounts["manager"].id
    for name in REFUSED:
        with corpus[name].open("rb") as stream:
            try:
                upload = import_uploads.save_upload(
                    stream, corpus[name].name, "customers", "", staff
                )
            except InvalidInput as error:  # e.g. an empty file
                assert "\n" not in str(error), (name, error)
                continue
        try:
            preview = import_uploads.preview_upload(db, upload, "Asia/Shanghai")
            problem = preview.problem
        except InvalidInput as error:
            problem = str(error)
        try:
            report = import_uploads.run_import(
                db, upload, skip_bad_rows=True, timezone="Asia/Shanghai", ip=None
            )
            assert report.rows == 0, (name, report)
        except InvalidInput as error:
            assert problem and "\n" not in problem and "\n" not in str(error), (name, error)
        assert _counts(db) == (0, 0), f"{name}: a refused upload left rows behind"
