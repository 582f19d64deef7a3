"""``guanxi demo``: build the deterministic demo shop."""

import typer


def demo_command(ctx: typer.Context) -> None:
    """Build the demo shop."""
