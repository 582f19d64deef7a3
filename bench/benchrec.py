"""The JSON record every benchmark writes with ``--json PATH``, and helpers the scripts share.

``bench/run_all.py`` reads these records and builds ``bench/RESULTS.md``; the format is
described in ``bench/README.md`` (format "guanxi-bench/1") so that scripts written elsewhere
(load, chain scale) can produce it too. Each figure sits next to its peer measured in the same
run, so the table compares like with like on the same machine.

The scripts import this module as ``benchrec`` (``python bench/x.py`` puts ``bench/`` first on
``sys.path``). It depends only on the standard library and SQLAlchemy.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

FORMAT = "guanxi-bench/1"


@dataclass(frozen=True)
class Figure:
    """One measured figure, its peer from the same run, and the target it is held to.

    ``ratio`` is always ``value / peer_value`` (for seconds: how many times as long as the peer;
    for a throughput: the fraction of the peer's). ``met`` is None when there is no target or it
    cannot be judged (say, the peer could not be measured).
    """

    name: str
    value: float | None
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.peer_value:
            return None
        return self.value / self.peer_value

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "peer": self.peer,
            "peer_value": self.peer_value,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def backend_of(engine_or_url: Engine | str | None) -> dict[str, str]:
    """``{"name": "sqlite"|"postgresql"|"none", "version": ...}`` of the database measured.

    For SQLite the version is the library Python links (the one Guanxi uses); for PostgreSQL
    the server's ``server_version``.
    """
    if engine_or_url is None:
        return {"name": "none", "version": ""}
    if isinstance(engine_or_url, str):
        url = make_url(engine_or_url)
        if url.get_backend_name() == "sqlite":
            return {"name": "sqlite", "version": sqlite3.sqlite_version}
        engine = create_engine(url)
        try:
            return backend_of(engine)
        finally:
            engine.dispose()
    name = engine_or_url.dialect.name
    if name == "sqlite":
        return {"name": "sqlite", "version": sqlite3.sqlite_version}
    with engine_or_url.connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar_one())
    return {"name": name, "version": version}


def record(
    bench: str,
    title: str,
    backend: dict[str, str],
    params: dict[str, Any],
    figures: Sequence[Figure],
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The record as a dict (see bench/README.md for each key)."""
    return {
        "format": FORMAT,
        "bench": bench,
        "title": title,
        "backend": backend,
        "params": params,
        "figures": [f.as_dict() for f in figures],
        "notes": list(notes),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write(path: Path | None, rec: dict[str, Any]) -> None:
    """Write ``rec`` to ``path`` (if given) as indented JSON, creating the folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"wrote {path}")


def is_postgres(url: str | None) -> bool:
    return bool(url) and make_url(url or "").get_backend_name() == "postgresql"
