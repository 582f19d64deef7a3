"""Fixtures of the storage tests: the demo shop as a SQLite file, built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.storage.demo_shop import build_demo_shop


@pytest.fixture(scope="session")
def demo_shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo_shop") / "demo.db"
    build_demo_shop(path)
    return path


@pytest.fixture
def demo_shop(demo_shop_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo shop's SQLite file."""
    path = tmp_path / "shop.db"
    shutil.copyfile(demo_shop_template, path)
    return path
