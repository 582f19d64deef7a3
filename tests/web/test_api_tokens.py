"""API tokens: shown once, stored hashed, scoped, never above the role, audited; and the CLI."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import typer
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.cli import tokens
from guanxi.cli.common import State
from guanxi.config import Settings
from guanxi.domain.access import ROLE_PERMISSIONS, Permission
from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput, NotAllowed, NotFound
from guanxi.services import audit
from guanxi.services.api_tokens import (
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)
from guanxi.storage.db import Database
from guanxi.storage.models import ApiToken
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of


def test_the_token_is_shown_once_and_stored_as_its_hash(
    db: Database, accounts: dict[str, Account]
) -> None:
    plain, info = create_token(db, accounts["manager"].id, " POS1 ", ["purchases:write"])
    assert plain.startswith("gx_") and len(plain) > 40
    assert info.name == "POS1" and [s.value for s in info.scopes] == ["purchases:write"]
    with db.read() as session:
        row = session.execute(select(ApiToken)).scalar_one()
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in (row.token_hash, row.name, row.scopes)
    entry = audit.list_entries(db, action=audit.Action.API_TOKEN_CREATED)[0]
    assert entry.target_id == str(info.id)
    assert entry.detail == {"staff_id": accounts["manager"].id, "scopes": ["purchases:write"]}


def test_bad_scopes_and_names_are_refused(db: Database, accounts: dict[str, Account]) -> None:
    owner = accounts["owner"].id
    with pytest.raises(InvalidInput, match="unknown scope 'customers:delete'"):
        create_token(db, owner, "POS1", ["customers:delete"])
    with pytest.raises(InvalidInput, match="at least one scope"):
        create_token(db, owner, "POS1", [])
    with pytest.raises(InvalidInput, match="name"):
        create_token(db, owner, "  ", ["customers:read"])
    with pytest.raises(NotFound, match="staff member 999"):
        create_token(db, 999, "POS1", ["customers:read"])


def test_a_scope_the_role_lacks_is_refused_at_creation(
    db: Database, accounts: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    reduced = ROLE_PERMISSIONS[Role.CLERK] - {Permission.CUSTOMERS_EDIT}
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CLERK, reduced)
    with pytest.raises(NotAllowed, match="is a clerk, whose role does not allow customers:write"):
        create_token(db, accounts["clerk"].id, "POS1", ["customers:read", "customers:write"])
    create_token(db, accounts["clerk"].id, "POS1", ["customers:read"])


def test_a_token_never_outlives_its_role(
    app: FastAPI, db: Database, accounts: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = api(app)
    headers = bearer(db, accounts["clerk"], "customers:read", "customers:write")
    reduced = ROLE_PERMISSIONS[Role.CLERK] - {Permission.CUSTOMERS_EDIT}
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CLERK, reduced)
    response = client.post("/api/v1/customers", json={"name": "张三"}, headers=headers)
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


def test_a_clerk_token_reaches_only_the_clerks_store(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    mine = make_customer(db, name="张三", home_store_id=accounts["clerk"].store_id)
    other = make_customer(db, name="钟山", home_store_id=accounts["clerk_b"].store_id)
    headers = bearer(db, accounts["clerk"])
    listed = client.get("/api/v1/customers", headers=headers).json()
    assert [c["id"] for c in listed["items"]] == [mine]
    assert client.get(f"/api/v1/customers/{other}", headers=headers).status_code == 404
    patch = client.patch(f"/api/v1/customers/{other}", json={"city": "杭州"}, headers=headers)
    assert patch.status_code == 404
    foreign = client.post(
        "/api/v1/customers",
        json={"name": "王五", "home_store_id": accounts["clerk_b"].store_id},
        headers=headers,
    )
    assert foreign.status_code == 403 and "own store" in error_of(foreign)["message"]


def test_last_used_is_written_at_most_once_a_minute(
    db: Database, accounts: dict[str, Account]
) -> None:
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    plain, info = create_token(db, accounts["owner"].id, "POS1", ["customers:read"], now=start)

    def last_used() -> datetime | None:
        return next(t for t in list_tokens(db) if t.id == info.id).last_used_at

    staff, scopes = authenticate(db, plain, now=start + timedelta(seconds=5))
    assert staff.id == accounts["owner"].id and {s.value for s in scopes} == {"customers:read"}
    assert last_used() == start + timedelta(seconds=5)
    authenticate(db, plain, now=start + timedelta(seconds=50))
    assert last_used() == start + timedelta(seconds=5)
    authenticate(db, plain, now=start + timedelta(seconds=70))
    assert last_used() == start + timedelta(seconds=70)


def test_revoke_and_list(db: Database, accounts: dict[str, Account]) -> None:
    _, first = create_token(db, accounts["owner"].id, "POS1", ["customers:read"])
    _, second = create_token(db, accounts["clerk"].id, "POS2", ["purchases:write"])
    revoked = revoke_token(db, first.id, actor_id=accounts["owner"].id)
    assert revoked.revoked_at is not None and not revoked.is_active
    assert revoke_token(db, first.id).revoked_at == revoked.revoked_at  # no change
    assert [t.name for t in list_tokens(db)] == ["POS1", "POS2"]
    assert [t.id for t in list_tokens(db, staff_id=accounts["clerk"].id)] == [second.id]
    assert audit.list_entries(db, action="api_token.revoked")[0].target_id == str(first.id)
    with pytest.raises(NotFound, match="API token 999"):
        revoke_token(db, 999)


def _cli(db: Database) -> typer.Typer:
    """The token commands under a root that hands them this test's database."""
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        url = db.url.render_as_string(hide_password=False)
        ctx.obj = State(settings=Settings(database_url=url))

    root.add_typer(tokens.app, name="token")
    return root


def test_the_cli_creates_lists_and_revokes(db: Database, accounts: dict[str, Account]) -> None:
    runner, root = CliRunner(), _cli(db)
    staff = str(accounts["manager"].id)
    scopes = ["--scope", "customers:read", "--scope", "purchases:write"]
    made = runner.invoke(root, ["token", "create", "--staff", staff, "--name", "POS1", *scopes])
    assert made.exit_code == 0, made.output
    plain = next(w for w in made.stdout.split() if w.startswith("gx_"))
    assert authenticate(db, plain)[0].id == accounts["manager"].id
    listed = runner.invoke(root, ["token", "list"])
    assert listed.exit_code == 0 and "POS1" in listed.stdout
    assert plain[3:12] not in listed.stdout
    revoked = runner.invoke(root, ["token", "revoke", "1"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    bad = runner.invoke(root, ["token", "create", "--staff", staff, "--name", "X",
                               "--scope", "customers:delete"])  # fmt: skip
    assert bad.exit_code == 2 and "customers:delete" in bad.output


def test_every_token_command_has_an_example() -> None:
    for command in tokens.app.registered_commands:
        assert command.callback is not None
        assert "Example" in (command.callback.__doc__ or ""), command.name
