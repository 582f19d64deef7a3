"""Fixtures for the care tests: the web fixtures (signed-in clients) for the care pages."""

from __future__ import annotations

from tests.web.conftest import accounts, app, client_for, stores

__all__ = ["accounts", "app", "client_for", "stores"]
