"""Describe the machine and turn benchmark records into ``bench/RESULTS.md``.

Kept apart from ``run_all.py`` (which runs the scripts) so the table can be rebuilt from a
``results.json`` and tested on synthetic records. Records follow the "guanxi-bench/1" format of
``bench/README.md``; ``run_all.py`` adds ``status`` ("ok", "failed", "timeout", "not run",
"unreadable"), ``source``, ``wall_seconds`` and, on failure, ``error``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LIBRARIES = ("guanxi", "sqlalchemy", "alembic", "psycopg", "fastapi", "uvicorn", "pydantic",
             "numpy", "scipy", "python-calamine", "xlsxwriter")  # fmt: skip
HEADER = ("Benchmark", "DB", "Size", "Figure", "Value", "Peer (same run)", "Peer value",
          "Ratio", "Target", "Met")  # fmt: skip


def _first_line(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line
    except OSError:
        return None
    return None


def describe_machine(postgres_version: str | None) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, SQLite, PostgreSQL and key library versions."""
    mem_kib = _first_line("/proc/meminfo", "MemTotal")
    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip('"')
    except OSError:
        pretty = ""
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libraries[name] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    memory = f"{int(mem_kib.split()[0]) / 2**20:.1f} GiB" if mem_kib else "unknown"
    return {
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory": memory,
        "os": f"{pretty or platform.system()} (kernel {platform.release()}, {platform.machine()})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version or "not measured",
        "libraries": libraries,
        "commit": commit or "unknown",
    }


def fmt_number(value: float | None) -> str:
    """A figure with sensible precision: 12,345 / 123 / 12.3 / 1.23 / 0.0123."""
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(ratio: float | None, unit: str = "") -> str:
    """value / peer, with how it reads: "0.25x (4.0x faster)" for times, "26 %" for rates."""
    if ratio is None:
        return "-"
    text = f"{fmt_number(ratio)}x"
    if unit in ("s", "ms") and 0 < ratio < 1:
        text += f" ({fmt_number(1 / ratio)}x faster)"
    elif unit.endswith("/s"):
        text = f"{ratio:.0%} of peer"
    return text


def fmt_met(met: bool | None, target: str | None) -> str:
    if not target:
        return "-"
    if met is None:
        return "unknown"
    return "yes" if met else "**NO**"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _size(params: dict[str, Any]) -> str:
    shown = [
        f"{k}={'/'.join(str(x) for x in v) if isinstance(v, list) else v}"
        for k, v in params.items()
        if not isinstance(v, dict)
    ]
    return ", ".join(shown) or "-"


def _db(rec: dict[str, Any]) -> str:
    backend = rec.get("backend") or {}
    name = str(backend.get("name", "?"))
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL", "none": "-"}.get(name, name)


def rows(records: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One table row per figure; one row per record that produced none (failed, not run)."""
    out: list[tuple[str, ...]] = []
    for rec in records:
        bench, db, size = rec.get("bench", "?"), _db(rec), _size(rec.get("params") or {})
        status = rec.get("status", "ok")
        figures = rec.get("figures") or []
        if status != "ok" or not figures:
            reason = rec.get("error") or "no figures written"
            label = "FAILED" if status in ("ok", "failed") else status.upper()
            out.append((bench, db, size, f"{label}: {reason}", "-", "-", "-", "-", "-", "-"))
            continue
        for fig in figures:
            value = fig.get("value")
            unit = fig.get("unit", "")
            name = fig.get("name", "?")
            if fig.get("note"):
                name = f"{name} ({fig['note']})"
            peer_value = fig.get("peer_value")
            out.append((
                bench, db, size, name,
                "-" if value is None else f"{fmt_number(value)} {unit}".strip(),
                fig.get("peer") or "-",
                "-" if peer_value is None else f"{fmt_number(peer_value)} {unit}".strip(),
                fmt_ratio(fig.get("ratio"), unit),
                fig.get("target") or "-",
                fmt_met(fig.get("met"), fig.get("target")),
            ))  # fmt: skip
    return out


def markdown(results: dict[str, Any]) -> str:
    """RESULTS.md from a results document (machine, command, records)."""
    machine = results.get("machine") or {}
    lines = [
        "# Guanxi benchmark results",
        "",
        "<!-- Generated by bench/run_all.py: do not edit by hand. -->",
        f"Generated by `{results.get('command', 'bench/run_all.py')}` at "
        f"{results.get('started_at', '?')} in {fmt_number(results.get('wall_seconds'))} s "
        f"({results.get('size', '?')} size). Each figure stands next to its peer measured in "
        "the same run on the same machine; ratio = value / peer value.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    keys = ("cpu", "cores", "memory", "os", "python", "sqlite", "postgresql", "commit", "load")
    for key in keys:
        if key in machine:
            lines.append(f"| {key} | {_cell(machine[key])} |")
    libs = machine.get("libraries") or {}
    if libs:
        lines.append("| libraries | " + _cell(", ".join(f"{k} {v}" for k, v in libs.items()))
                     + " |")  # fmt: skip
    lines += ["", "## Figures", "", "| " + " | ".join(HEADER) + " |",
              "|" + "---|" * len(HEADER)]  # fmt: skip
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows(results["records"])]
    notes = [
        f"- {rec.get('bench')} ({_db(rec)}): {note}"
        for rec in results["records"]
        for note in rec.get("notes") or []
    ]
    missed = [row for row in rows(results["records"]) if row[-1] == "**NO**"]
    failed = [rec for rec in results["records"] if rec.get("status", "ok") != "ok"]
    lines += ["", "## Summary", "",
              f"- {len(results['records'])} runs, {len(failed)} not ok "
              "(failed, timed out, not run or unreadable), "
              f"{len(missed)} figure(s) missing their target."]  # fmt: skip
    lines += [f"- missed: {row[0]} ({row[1]}): {row[3]} = {row[4]}, target {row[8]}"
              for row in missed]  # fmt: skip
    lines += [f"- {rec.get('status')}: {rec.get('bench')} ({_db(rec)}) "
              f"{rec.get('error', '')} (log: {rec.get('log', '-')})" for rec in failed]  # fmt: skip
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"
