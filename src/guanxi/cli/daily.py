"""Placeholder command (filled in by the proactive-care work)."""

from __future__ import annotations

import typer


def daily_command(ctx: typer.Context) -> None:
    """Placeholder.

    Example: guanxi daily
    """
    raise typer.Exit(1)
