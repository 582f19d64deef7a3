"""Fixtures for the analytics tests: the CDNOW sample from ../shared/data/cdnow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CDNOW_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cdnow"


def require_cdnow() -> Path:
    """The CDNOW folder; skips with a hint on a machine without it, fails under CI=true."""
    if not (CDNOW_DIR / "CDNOW_sample.txt").is_file():
        message = (
            f"CDNOW data not found at {CDNOW_DIR}: check out the project's `shared` folder beside "
            "the repository (it holds data/cdnow/, Hardie's CDNOW sample, also shipped in the "
            "lifetimes package under lifetimes/datasets/)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CDNOW_DIR


@pytest.fixture(scope="session")
def cdnow_dir() -> Path:
    """The CDNOW files (see ``require_cdnow``)."""
    return require_cdnow()
