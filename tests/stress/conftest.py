"""Fixtures of the load and fault trials: the trial size and the two kinds of database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ENV
from tests.stress.shop import postgres_shop, sqlite_shop
from tests.stress.trial import Size


@pytest.fixture
def size() -> Size:
    return Size.from_environment()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database only the trial's server uses: a SQLite file, or a private
    database on the PostgreSQL server of GUANXI_TEST_POSTGRES_URL (dropped afterwards)."""
    if request.param == "sqlite":
        with sqlite_shop(tmp_path) as url:
            yield url
        return
    admin = os.environ.get(PG_ENV, "").strip()
    if not admin:
        pytest.skip(f"PostgreSQL trials skipped: set {PG_ENV}")
    with postgres_shop(admin) as url:
        yield url
