"""A read-only database: every write says so in one line and saves nothing.

Two real ways a shop meets it: the file system is mounted read-only (a tmpfs remounted ``ro``:
SQLite cannot even open a WAL database there), or the file itself cannot be written
(``chattr +i`` as root, since root ignores permissions; ``chmod`` otherwise: reads work,
writes fail). Through the CLI (a real ``guanxi import customers`` process): exit code 1, one
line "the database file … is read-only: …", no traceback. Through the API: 503 with the JSON
code ``database_read_only``; through the UI: the error page with status 503 and the same
sentence. PostgreSQL: a read-only transaction (a standby) gives the same error.

The web checks depend on the 503 mapping of ``StorageUnavailable`` in guanxi/web/errors.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from guanxi.config import Settings
from guanxi.domain.staff import Role
from guanxi.services.api_tokens import create_token, scopes_of_role
from guanxi.services.staff import add_staff
from guanxi.storage.db import Database
from guanxi.storage.faults import READ_ONLY, StorageUnavailable
from guanxi.storage.models import Customer, Store
from guanxi.web.app import create_app
from tests.factories import write_csv
from tests.faults.conftest import Tmpfs, error_line, guanxi, integrity, new_database
from tests.web.conftest import HASHER, sign_in

pytestmark = pytest.mark.slow


def _lock_file(path: Path) -> Callable[[], None]:
    """Make the database file unwritable for this process; returns the undo."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"chattr +i is refused here ({done.stderr.strip()})")
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    mode = path.stat().st_mode
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return lambda: path.chmod(mode)


@pytest.fixture(params=["read-only mount", "unwritable file"])
def shop_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A shop's database file and how it is made read-only (``make_read_only`` runs later)."""
    if request.param == "read-only mount":
        mount: Tmpfs = request.getfixturevalue("tmpfs")
        yield mount.path / "shop.db", request.param
        return
    yield tmp_path / "shop.db", request.param


def _make_read_only(path: Path, how: str, request: pytest.FixtureRequest) -> None:
    if how == "read-only mount":
        Tmpfs(path.parent).remount("ro")
        request.addfinalizer(lambda: Tmpfs(path.parent).remount("rw"))
    else:
        request.addfinalizer(_lock_file(path))


def _customers(path: Path) -> int:
    database = Database(f"sqlite:///{path}")
    try:
        with database.read() as s:
            return int(s.execute(select(func.count()).select_from(Customer)).scalar_one())
    finally:
        database.dispose()


def test_writes_to_a_read_only_database_fail_in_one_line_and_save_nothing(
    shop_file: tuple[Path, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path, how = shop_file
    db = new_database(path)
    with db.write() as s:
        store = Store(code="A", name="旗舰店")
        s.add(store)
        s.flush()
        store_id = store.id
    owner = add_staff(db, "店主", Role.OWNER, hasher=HASHER, username="owner",
                      password="correct horse")  # fmt: skip
    add_staff(db, "店员", Role.CLERK, hasher=HASHER, username="clerk", password="correct horse",
              store_id=store_id)  # fmt: skip
    token, _ = create_token(db, owner.id, "POS", [s.value for s in scopes_of_role(Role.OWNER)])
    browser = TestClient(create_app(Settings(), db=db, hasher=HASHER))
    csrf = sign_in(browser, "clerk", "correct horse")
    api = TestClient(create_app(Settings(), db=db, hasher=HASHER))
    db.dispose()  # no open file: a mount with files open for writing cannot turn read-only
    csv_file = write_csv(tmp_path / "customers.csv", ["name", "phone"],
                         [["张三", "13812345678"], ["李四", "13912345678"]])  # fmt: skip
    _make_read_only(path, how, request)

    done = guanxi(f"sqlite:///{path}", "import", "customers", str(csv_file))
    assert done.returncode == 1, done.stdout + done.stderr
    line = error_line(done)
    assert f"the database file {path.resolve()} is read-only" in line
    assert "nothing was saved" in line

    response = api.post("/api/v1/customers", json={"name": "王五", "phone": "13712345678"},
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == READ_ONLY
    assert "is read-only" in response.json()["error"]["message"]

    page = browser.post("/customers", data={"csrf_token": csrf, "name": "赵六",
                                            "phone": "13612345678", "gender": "unknown",
                                            "source": "walk_in"})  # fmt: skip
    assert page.status_code == 503, page.text[:500]
    assert "text/html" in page.headers["content-type"]
    assert "is read-only" in page.text
    keyed_headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    keyed = api.post("/api/v1/customers", json={"name": "王五", "phone": "13712345678"},
                     headers=keyed_headers)  # fmt: skip
    assert keyed.status_code == 503, keyed.text  # the key's claim meets the fault first
    assert keyed.json()["error"]["code"] == READ_ONLY

    if how == "unwritable file":  # reads still work, and nothing was written
        assert _customers(path) == 0
    _undo_and_check(path, how, request)


def _undo_and_check(path: Path, how: str, request: pytest.FixtureRequest) -> None:
    """Writable again: the file is sound, holds no customer, and the shop works."""
    if how == "read-only mount":
        Tmpfs(path.parent).remount("rw")
    else:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
        path.chmod(0o644)
    assert integrity(path) == "ok"
    assert _customers(path) == 0
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as s:
            s.add(Customer(name="张三", custom_fields={}))
    finally:
        db.dispose()
    assert _customers(path) == 1


@pytest.mark.postgres
def test_a_read_only_postgresql_says_so(postgres_database: str) -> None:
    """A standby (here: every transaction read-only) refuses writes with the same error."""
    url = make_url(postgres_database).update_query_dict(
        {"options": "-c default_transaction_read_only=on"})  # fmt: skip
    db = Database(url.render_as_string(hide_password=False))
    try:
        with db.read() as s:  # reading works
            before = s.execute(select(func.count()).select_from(Customer)).scalar_one()
        with pytest.raises(StorageUnavailable) as caught, db.write() as s:
            s.add(Customer(name="张三", custom_fields={}))
        assert caught.value.code == READ_ONLY
        assert "the database is read-only" in str(caught.value)
    finally:
        db.dispose()
    writable = Database(postgres_database)
    try:
        with writable.read() as s:
            assert s.execute(select(func.count()).select_from(Customer)).scalar_one() == before
    finally:
        writable.dispose()
