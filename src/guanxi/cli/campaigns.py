"""Placeholder command group (filled in by the proactive-care work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Placeholder.", no_args_is_help=True)
