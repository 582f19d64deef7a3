"""What every command group shares: the State built by the root callback and the consoles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from guanxi.config import Settings
from guanxi.storage.db import Database
from guanxi.storage.faults import storage_errors

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line


@dataclass
class State:
    """What the root callback hands to every command."""

    settings: Settings
    debug: bool = False
    _db: Database | None = None

    def database(self) -> Database:
        """Open the configured database, migrating it to the newest schema first.

        A read-only database or a full disk is reported as one line (``StorageUnavailable``).
        """
        if self._db is None:
            database = Database.from_settings(self.settings)
            with storage_errors(database.url):
                database.migrate()
            self._db = database
        return self._db


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State), "the root callback sets the State"
    return obj


@contextmanager
def stage_bar(first: str, *, to: Console = console) -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar for work in named stages; yields ``report(stage, done, total)``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=to,
        transient=True,
    ) as bar:
        task = bar.add_task(first, total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield report


def parse_day(value: str | date) -> date:
    """A YYYY-MM-DD option value (a default arrives as a date already)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from exc
