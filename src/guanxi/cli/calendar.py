"""Placeholder command (filled in by the proactive-care work)."""

from __future__ import annotations

import typer


def calendar_command(ctx: typer.Context) -> None:
    """Placeholder.

    Example: guanxi calendar
    """
    raise typer.Exit(1)
