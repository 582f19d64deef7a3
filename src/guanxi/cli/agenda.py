"""Placeholder command (filled in by the proactive-care work)."""

from __future__ import annotations

import typer


def agenda_command(ctx: typer.Context) -> None:
    """Placeholder.

    Example: guanxi agenda
    """
    raise typer.Exit(1)
