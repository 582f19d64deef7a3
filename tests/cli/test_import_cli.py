"""The import and search commands: exit codes, reports, the error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from tests.factories import write_csv

runner = CliRunner()
HEADER = ["订单号", "日期", "手机", "姓名", "商品", "金额"]


def invoke(db_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", str(db_path), *args])
    return result.exit_code, " ".join(result.output.split())  # undo Rich's line wrapping


def test_import_then_search_then_show(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    path = write_csv(
        tmp_path / "p.csv",
        HEADER,
        [
            ["1", "2024-01-01", "13812345678", "张三", "T1", "￥1,000"],
            ["2", "2024-02-01", "13812345678", "张三", "T1", "￥500"],
        ],
        encoding="gbk",
    )
    code, out = invoke(db, "import", "purchases", str(path))
    assert code == 0, out
    assert "inserted 2" in out and "Imported p.csv" in out
    code, out = invoke(db, "customers", "search", "zs")
    assert code == 0 and "张三" in out and "138****5678" in out and "13812345678" not in out
    code, out = invoke(db, "customer", "show", "1")
    assert code == 0 and "Purchases: 2" in out and "1,500.00" in out
    code, out = invoke(db, "import", "purchases", str(path))
    assert code == 0 and "unchanged 2" in out


def test_bad_file_exits_1_and_lists_the_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", HEADER, [["1", "someday", "13812345678", "", "T1", "1"]])
    code, out = invoke(tmp_path / "shop.db", "import", "purchases", str(path))
    assert code == 1
    assert "someday" in out and "Nothing imported" in out


def test_errors_are_one_red_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "guanxi", "--db", str(tmp_path / "s.db"), "customer", "show", "7"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "customer 7 does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    path = write_csv(
        tmp_path / "p.csv", HEADER, [["1", "2024-01-01", "13812345678", "张三", "T1", "9"]]
    )
    code, out = invoke(db, "import", "purchases", str(path), "--dry-run")
    assert code == 0 and "Dry run of p.csv, nothing changed" in out and "inserted 1" in out
    code, out = invoke(db, "customers", "search", "zs")
    assert code == 0 and "No customer matches" in out


def test_init_says_how_to_create_the_first_owner(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    code, out = invoke(db, "init")
    assert code == 0 and "guanxi staff add <name> --role owner" in out
    result = runner.invoke(
        app,
        ["--db", str(db), "staff", "add", "林婉清", "--role", "owner", "--username", "owner"],
        env={"GUANXI_NEW_PASSWORD": "a long password"},
    )
    assert result.exit_code == 0, result.output
    code, out = invoke(db, "init")
    assert code == 0 and "No owner can sign in" not in out
