"""Fuzz fixtures: the web tests' staff accounts and stores, reused as they are."""

from tests.web.conftest import accounts, stores

__all__ = ["accounts", "stores"]
