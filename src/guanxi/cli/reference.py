"""Render docs/cli.md from the commands' own ``--help`` (``make docs`` writes it; a test
checks the committed file is current)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from guanxi.cli.main import app

HEADER = """# Command-line reference

Generated from `guanxi --help` by `make docs`; do not edit by hand.
"""


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group, depth first, in name order."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


def render() -> str:
    """The whole reference as Markdown."""
    runner = CliRunner()
    parts = [HEADER]
    for path in command_paths(typer.main.get_command(app)):
        result = runner.invoke(
            app, [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"}, terminal_width=100
        )
        title = " ".join(("guanxi", *path))
        parts.append(f"## `{title}`\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
