"""``guanxi complaints``: list (filters, JSON), escalate (idempotent, --date), report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from guanxi.cli import complaints
from guanxi.cli.common import State
from guanxi.config import Settings
from guanxi.feedback.complaints import open_complaint
from guanxi.storage.db import Database
from guanxi.storage.models import Staff, Store

runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> tuple[State, int, int]:
    """A migrated shop file with a manager and two complaints: one 3 days old, one fresh."""
    state = State(Settings(database_url=f"sqlite:///{tmp_path / 'shop.db'}"))
    db: Database = state.database()
    now = datetime.now(UTC)
    with db.write() as s:
        store = Store(code="A", name="旗舰店")
        s.add(store)
        s.flush()
        s.add(Staff(name="店长", role="manager", store_id=store.id))
        old = open_complaint(s, customer_id=None, store_id=store.id, category="product",
                             severity="high", channel="phone", summary="x", actor_id=None,
                             now=now - timedelta(days=3))  # fmt: skip
        new = open_complaint(s, customer_id=None, store_id=store.id, category="price",
                             severity="low", channel="counter", summary="y", actor_id=None,
                             now=now)  # fmt: skip
    return state, old, new


def _run(state: State, *args: str) -> Result:
    result = runner.invoke(complaints.app, list(args), obj=state)
    assert result.exit_code == 0, result.output
    return result


def test_list_as_json_and_breached_only(shop: tuple[State, int, int]) -> None:
    state, old, new = shop
    rows = json.loads(_run(state, "list", "--json").output)
    assert sorted(r["id"] for r in rows) == [old, new]
    late = json.loads(_run(state, "list", "--breached", "--json").output)
    assert [(r["id"], r["first_response"]["state"]) for r in late] == [(old, "breached")]
    table = _run(state, "list")
    assert "breached" in table.output
    bad = runner.invoke(complaints.app, ["list", "--status", "done"], obj=state)
    assert bad.exit_code == 1 and "status" in bad.output


def test_escalate_is_idempotent_and_takes_a_date(shop: tuple[State, int, int]) -> None:
    state, old, _ = shop
    before = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    assert "Escalated 0 complaints" in _run(state, "escalate", "--date", before).output
    assert "Escalated 1 complaint." in _run(state, "escalate").output
    assert "Escalated 0 complaints" in _run(state, "escalate").output
    rows = json.loads(_run(state, "list", "--json").output)
    assert {r["id"]: r["escalated"] for r in rows}[old] is True


def test_report(shop: tuple[State, int, int]) -> None:
    state, _, _ = shop
    data = json.loads(_run(state, "report", "--json").output)
    assert data["first_response_sla"] == {"part": 0, "whole": 1, "rate": 0.0}
    assert sum(sum(v) for v in data["volume"].values()) == 2
    assert "First responses within SLA: 0%" in _run(state, "report").output


def test_every_command_has_an_example() -> None:
    for command in complaints.app.registered_commands:
        assert command.callback is not None and "Example:" in (command.callback.__doc__ or "")
