"""``guanxi agenda``: the agenda in the terminal, as a table or JSON, per staff or store."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import Staff, Store
from tests.factories import make_customer

runner = CliRunner()
DAY = date(2026, 11, 23)


def _shop(url: str) -> dict[str, int]:
    db = Database(url)
    db.migrate()
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        clerk = Staff(name="小李", role="clerk", store_id=a.id, username="xiaoli")
        s.add(clerk)
        s.flush()
        ids = {"a": a.id, "b": b.id, "clerk": clerk.id}
    ids["mine"] = make_customer(db, name="自己的", home_store_id=ids["a"],
                                owner_staff_id=ids["clerk"])  # fmt: skip
    ids["other"] = make_customer(db, name="别店的", home_store_id=ids["b"])
    for n, c in enumerate((ids["mine"], ids["other"])):
        ledger.earn(db, c, 100 + n, source_type="adjustment", source_id=None,
                    expires_on=DAY + timedelta(days=5 + n), reason="t", explanation={},
                    idempotency_key=None)  # fmt: skip
    db.dispose()
    return ids


def _run(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", url, "agenda", "--date", DAY.isoformat(), *args])
    return result.exit_code, result.output


def test_json_for_a_staff_member_by_name_or_username(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    ids = _shop(url)
    code, out = _run(url, "--staff", "小李", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["date"] == "2026-11-23" and data["more"] == 0
    assert [(i["customer_id"], i["kind"]) for i in data["items"]] == [
        (ids["mine"], "points_expiring")]  # fmt: skip
    first = data["items"][0]
    assert first["reason"] == "100 points expire after Nov 28, 2026: suggest a reward."
    assert first["msgid"] == "{points} points expire after {date}: suggest a reward."
    assert first["params"] == {"points": 100, "date": "2026-11-28"}
    assert first["due_on"] == "2026-11-28" and first["customer_name"] == "自己的"
    code, again = _run(url, "--staff", "XIAOLI", "--json")
    assert code == 0 and json.loads(again)["items"] == data["items"]


def test_store_filter_table_and_chinese(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    ids = _shop(url)
    code, out = _run(url, "--store", "B", "--json", "--lang", "zh_CN")
    assert code == 0, out
    data = json.loads(out)
    assert [i["customer_id"] for i in data["items"]] == [ids["other"]]
    assert "2026年11月29日" in data["items"][0]["reason"]
    code, table = _run(url)
    assert code == 0, table
    assert "Agenda for 2026-11-23" in table and "自己的" in table and "别店的" in table


def test_limit_counts_the_rest_and_unknown_names_fail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    _shop(url)
    code, out = _run(url, "--limit", "1")
    assert code == 0 and "1 more not shown" in out
    code, out = _run(url, "--staff", "nobody")
    assert code != 0
    code, out = _run(url, "--store", "ZZ")
    assert code != 0


def test_empty_shop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    Database(url).migrate()
    code, out = _run(url)
    assert code == 0 and "Nothing on the agenda for 2026-11-23" in out
