"""Run every benchmark on SQLite and PostgreSQL and write one results table.

    python bench/run_all.py [--quick | --full | --smoke] [--postgres URL] [--only NAMES]

Each benchmark runs in its own subprocess with ``--json`` (a failure or a timeout is recorded
in the table and does not stop the rest), once per database: a fresh SQLite file, and, with
--postgres (a server URL; each run gets a private database created and dropped around it), on
PostgreSQL. ``clv_bench`` does not touch a database and runs once. The records, the machine's
description and the records other scripts left in ``bench/out/load_bench*.json`` and
``bench/out/chain_*.json`` are written to ``bench/out/results.json`` and, as a Markdown table,
to ``bench/RESULTS.md``. Each run's output is kept in ``bench/out/logs/``.

--quick (the default, ``make bench``) fits in about 15 minutes for both databases on a 2-core
machine; --full (``make stress``) uses the sizes the targets are stated for; --smoke uses tiny
sizes, only to check that every script runs end to end (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.support
from tests.support import scratch_database  # noqa: E402

from benchrec import FORMAT  # noqa: E402
from results_table import describe_machine, markdown  # noqa: E402

OUT = HERE / "out"
EXTERNAL = ("load_bench*.json", "chain_*.json")


@dataclass(frozen=True)
class Bench:
    """A script, its arguments at each size, and how it is pointed at PostgreSQL.

    ``pg``: "empty" (the runner creates a private database and passes ``--db`` its URL),
    "server" (``--db`` the server URL: the script makes its own database), or None (no
    database: run once). ``sqlite`` are extra arguments for the SQLite run.
    """

    name: str
    smoke: list[str]
    quick: list[str]
    full: list[str]
    pg: str | None = "empty"
    sqlite: list[str] = field(default_factory=list)


BENCHES = [
    Bench("import_bench", ["--lines", "3000"], ["--lines", "200000"], ["--lines", "1000000"]),
    Bench("search_bench", ["--customers", "1000"], ["--customers", "20000"],
          ["--customers", "100000"]),
    Bench("web_bench", ["--customers", "1000", "--requests", "10"],
          ["--customers", "20000", "--requests", "40"],
          ["--customers", "100000", "--requests", "200"]),
    Bench("clv_bench", ["--sizes", "5000", "--repeat", "1"], ["--sizes", "100000", "--repeat", "2"],
          ["--sizes", "100000,1000000"], pg=None),
    Bench("scoring_bench", ["--customers", "500"], ["--customers", "5000"],
          ["--customers", "100000"]),
    Bench("purchase_statements", ["--purchases", "20"], ["--purchases", "100"],
          ["--purchases", "300"], pg="server"),
    Bench("pos_bench", ["--seconds", "1", "--clients", "2", "--workers", "1"],
          ["--seconds", "4", "--clients", "8", "--workers", "2"],
          ["--seconds", "15"], pg="server", sqlite=["--sqlite"]),
    Bench("agenda_bench", ["--customers", "1000", "--runs", "2"],
          ["--customers", "100000", "--runs", "3"], ["--customers", "100000"]),
    Bench("campaign_bench", ["--customers", "1000"], ["--customers", "100000"],
          ["--customers", "100000"]),
]  # fmt: skip


def _shown(path: Path) -> str:
    """A path as the table shows it: relative to bench/ when under it."""
    return str(path.relative_to(HERE)) if path.is_relative_to(HERE) else str(path)


def _tail(text_: str) -> str:
    lines = [ln.strip() for ln in text_.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def run_one(bench: Bench, db: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run one script; its record with status, wall time and log path added."""
    tag = bench.name if db == "none" else f"{bench.name}-{db}"
    json_path, log = OUT / "runs" / f"{tag}.json", OUT / "logs" / f"{tag}.log"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    json_path.unlink(missing_ok=True)  # a stale record must not pass for this run's
    command = [sys.executable, str(HERE / f"{bench.name}.py"), *args, "--json", str(json_path)]
    print(f"--- {tag}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    status, error = "ok", None
    # its own process group: on a timeout the script's children (guanxi serve) go with it
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            status, error = "failed", f"exit {proc.returncode}: {_tail(err) or _tail(out)}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status, error = "timeout", f"killed after {timeout:.0f} s"
    wall = time.perf_counter() - start
    log.write_text(f"$ {' '.join(command)}\n{out}\n--- stderr ---\n{err}", encoding="utf-8")
    rec: dict[str, Any] = {"bench": bench.name, "backend": {"name": db}, "figures": []}
    if status == "ok":
        try:
            rec = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            status, error = "failed", f"no readable --json record: {exc}"
    rec.update(status=status, wall_seconds=wall, source="run_all", log=_shown(log))
    if error:
        rec["error"] = error
    print(f"    {status} in {wall:.0f} s{': ' + error if error else ''}", flush=True)
    return rec


def run_bench(bench: Bench, size: str, postgres: str | None, pg_error: str | None,
              timeout: float) -> list[dict[str, Any]]:  # fmt: skip
    """The runs of one script: once without a database, or on SQLite then PostgreSQL."""
    args = {"smoke": bench.smoke, "quick": bench.quick, "full": bench.full}[size]
    if bench.pg is None:
        return [run_one(bench, "none", args, timeout)]
    records = [run_one(bench, "sqlite", [*args, *bench.sqlite], timeout)]
    if postgres is None or pg_error is not None:
        records.append({"bench": bench.name, "backend": {"name": "postgresql"},
                        "status": "not run", "figures": [],
                        "error": pg_error or "no --postgres given"})  # fmt: skip
    elif bench.pg == "server":
        records.append(run_one(bench, "postgresql", [*args, "--db", postgres], timeout))
    else:
        try:
            with scratch_database(postgres, prefix="guanxi_bench") as url:
                records.append(run_one(bench, "postgresql", [*args, "--db", url], timeout))
        except SQLAlchemyError as exc:  # the server went away: record it, run the rest
            error = f"scratch database: {_tail(str(exc))}"
            if len(records) == 2:  # the run happened; dropping its database failed
                records[1].setdefault("notes", []).append(error)
            else:
                records.append({"bench": bench.name, "backend": {"name": "postgresql"},
                                "status": "failed", "figures": [], "error": error})  # fmt: skip
    return records


def _unreadable(path: Path, error: str) -> dict[str, Any]:
    return {"bench": path.stem, "backend": {"name": "?"}, "figures": [], "status": "unreadable",
            "error": error, "source": _shown(path)}  # fmt: skip


def external_records() -> list[dict[str, Any]]:
    """Records other scripts left in bench/out (load and chain-scale benchmarks)."""
    out: list[dict[str, Any]] = []
    for pattern in EXTERNAL:
        for path in sorted(OUT.glob(pattern)):
            source = _shown(path)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                out.append(_unreadable(path, str(exc)))
                continue
            found = data.get("records", data) if isinstance(data, dict) else data
            for rec in found if isinstance(found, list) else [found]:
                if not isinstance(rec, dict) or rec.get("format") != FORMAT:
                    out.append(_unreadable(path, f"not a {FORMAT} record"))
                    continue
                rec.setdefault("status", "ok")
                rec["source"] = source
                written = rec.get("written_at", "at an unknown time")
                rec["notes"] = [f"not run by this command: read from {source} (under bench/), "
                                f"written {written}", *(rec.get("notes") or [])]  # fmt: skip
                out.append(rec)
    return out


def postgres_version(url: str) -> tuple[str | None, str | None]:
    """(server version, None) or (None, why the server cannot be used)."""
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
    except Exception as exc:  # any failure: no PostgreSQL runs
        return None, f"cannot reach PostgreSQL: {_tail(str(exc))}"
    return version, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick",
                      help="quick sizes (default): about 15 minutes on 2 cores")  # fmt: skip
    size.add_argument("--full", action="store_const", dest="size", const="full",
                      help="the sizes the targets are stated for (hours)")  # fmt: skip
    size.add_argument("--smoke", action="store_const", dest="size", const="smoke",
                      help="tiny sizes: does every script run? (no real figures)")  # fmt: skip
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL server URL, e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")  # fmt: skip
    parser.add_argument(
        "--only", metavar="NAMES", help="comma-separated benchmarks to run (e.g. import,pos_bench)"
    )
    parser.add_argument("--timeout", type=float,
                        help="seconds per run (smoke 300, quick 900, full 7200)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md",
                        help="the Markdown table to write (default bench/RESULTS.md)")  # fmt: skip
    args = parser.parse_args()
    size_name = args.size or "quick"
    timeout = args.timeout or {"smoke": 300.0, "quick": 900.0, "full": 7200.0}[size_name]
    wanted = {n.strip().removesuffix("_bench") for n in (args.only or "").split(",") if n.strip()}
    unknown = wanted - {b.name.removesuffix("_bench") for b in BENCHES}
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                 f"known: {', '.join(b.name for b in BENCHES)}")  # fmt: skip
    command = "python bench/run_all.py --" + size_name
    pg_version, pg_error = None, None
    if args.postgres:
        command += " --postgres " + make_url(args.postgres).render_as_string(hide_password=True)
        pg_version, pg_error = postgres_version(args.postgres)
    if args.only:
        command += f" --only {args.only}"
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    for bench in BENCHES:
        if wanted and bench.name.removesuffix("_bench") not in wanted:
            continue
        records += run_bench(bench, size_name, args.postgres, pg_error, timeout)
    records += external_records()
    results = {
        "format": "guanxi-bench-results/1", "command": command, "size": size_name,
        "started_at": started_at, "wall_seconds": time.perf_counter() - start,
        "machine": describe_machine(pg_version), "records": records,
    }  # fmt: skip
    results["machine"]["load"] = (f"1-minute load average {load_before:.1f} at the start, "
                                  f"{os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False,
                                                 default=str), encoding="utf-8")  # fmt: skip
    args.output.write_text(markdown(results), encoding="utf-8")
    bad = sum(rec.get("status") != "ok" for rec in records)
    print(f"wrote {args.output} and {OUT / 'results.json'}: {len(records)} runs, {bad} not ok, "
          f"{results['wall_seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
