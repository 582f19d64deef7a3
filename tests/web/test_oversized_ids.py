"""Page URLs naming an id no table can hold answer 404, not a database error (found by fuzzing:
SQLite raised OverflowError, PostgreSQL "integer out of range", both a 500)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from guanxi.web.errors import MAX_ID
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


@pytest.mark.parametrize(
    "path",
    [f"/customers/{MAX_ID + 1}", "/customers/99999999999999999999",
     f"/customers/{MAX_ID + 1}/edit", f"/clubs/{MAX_ID + 1}"],
)  # fmt: skip
def test_an_id_beyond_any_key_is_not_found(
    client_for: Factory, accounts: dict[str, Account], path: str
) -> None:
    owner, _ = client_for("owner")
    response = owner.get(path)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


def test_the_largest_id_is_looked_up_as_usual(
    client_for: Factory, accounts: dict[str, Account]
) -> None:
    owner, _ = client_for("owner")
    assert owner.get(f"/customers/{MAX_ID}").status_code == 404  # no such customer, no error
