"""Test fixtures: real SQLite and (when GUANXI_TEST_POSTGRES_URL is set) real PostgreSQL.

The schema is built once per run by the Alembic migrations. Each test gets an empty database:
a fresh copy of the migrated SQLite file, or the shared PostgreSQL test database truncated
after the test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from guanxi.storage.db import Database
from guanxi.storage.models import Base

PG_ENV = "GUANXI_TEST_POSTGRES_URL"
_pg_skipped: list[str] = []


def _pg_url() -> str | None:
    url = os.environ.get(PG_ENV, "").strip()
    return url or None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A private database on the PostgreSQL server named by GUANXI_TEST_POSTGRES_URL."""
    url = _pg_url()
    if url is None:
        _pg_skipped.append("postgres")
        pytest.skip(
            f"PostgreSQL tests skipped: set {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    from guanxi.config import normalise_database_url

    admin_url = make_url(normalise_database_url(url))
    name = f"guanxi_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # fails loudly when the server is unreachable: no skip
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = admin_url.set(database=name).render_as_string(hide_password=False)
    database = Database(test_url)
    database.migrate()
    database.dispose()
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(database: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "guanxi.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture
def postgres_db(postgres_database: str) -> Iterator[Database]:
    database = Database(postgres_database)
    try:
        yield database
    finally:
        _truncate_all(database)
        database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """An empty, migrated database: SQLite, and PostgreSQL when configured."""
    name = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database = request.getfixturevalue(name)
    assert isinstance(database, Database)
    return database


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_skipped:
        terminalreporter.write_line(
            f"NOTE: PostgreSQL tests were SKIPPED because {PG_ENV} is not set; "
            "only the SQLite suite ran. CI sets it (see .ci/run).",
            yellow=True,
            bold=True,
        )
