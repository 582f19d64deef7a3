"""The clubs and events commands: list, sync, and check-in by phone tail (CliRunner)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer
from typer.testing import CliRunner

from guanxi.cli.clubs import app as clubs_app
from guanxi.cli.clubs import events_app
from guanxi.cli.common import State
from guanxi.club.clubs import change_members, save_club
from guanxi.club.rsvp import respond
from guanxi.config import Settings
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.club.conftest import NOW, make_event
from tests.factories import make_customer

runner = CliRunner()


def _cli(db_path: str) -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = State(Settings(database_url=db_path))

    root.add_typer(clubs_app, name="clubs")
    root.add_typer(events_app, name="events")
    return root


def test_list_sync_and_check_in(sqlite_db: Database, tmp_path: Path) -> None:
    from guanxi.domain.staff import Role
    from guanxi.services.staff import add_staff
    from tests.club.conftest import HASHER

    db = sqlite_db
    boss: StaffMember = add_staff(db, "店长", Role.MANAGER, hasher=HASHER)
    guest = make_customer(db, phone="+8613800001234")
    other = make_customer(db, phone="+8613900001234")
    club = save_club(db, boss, name="茶友会", rule={"invitation": True})
    change_members(db, boss, club.id, add=[guest], now=NOW)
    event = make_event(db, boss, starts_at=NOW + timedelta(days=3650), ends_at=None)
    respond(db, event, guest, "confirm", now=NOW)
    cli = _cli(str(db.url))
    listed = runner.invoke(cli, ["clubs", "list", "--json"])
    assert listed.exit_code == 0 and '"members": 1' in listed.output
    assert runner.invoke(cli, ["clubs", "sync"]).exit_code == 0
    events = runner.invoke(cli, ["events", "list", "--upcoming", "--json"])
    assert events.exit_code == 0 and "秋季品茶会" in events.output
    assert runner.invoke(cli, ["events", "list"]).exit_code == 0
    done = runner.invoke(cli, ["events", "check-in", str(event), "--phone-tail", "1234"])
    assert done.exit_code == 0, done.output
    assert f"Checked in customer {guest}" in done.output
    again = runner.invoke(cli, ["events", "check-in", str(event), "--phone-tail", "1234"])
    assert "already" in again.output
    respond(db, event, other, "confirm", now=NOW)
    both = runner.invoke(cli, ["events", "check-in", str(event), "--phone-tail", "1234"])
    assert both.exit_code == 1 and "Use --customer" in both.output
    walk_in = make_customer(db)
    came = runner.invoke(cli, ["events", "check-in", str(event), "--customer", str(walk_in)])
    assert came.exit_code == 0 and "a walk-in" in came.output
    missing = runner.invoke(cli, ["events", "check-in", "999", "--phone-tail", "1234"])
    assert missing.exit_code == 1
