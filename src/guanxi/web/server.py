"""Entry point for uvicorn workers: builds the app from the environment (GUANXI_*)."""

from __future__ import annotations

from fastapi import FastAPI

from guanxi.config import Settings
from guanxi.web.app import create_app


def create_from_environment() -> FastAPI:
    """``uvicorn --factory guanxi.web.server:create_from_environment``."""
    return create_app(Settings())
