"""Purchase import throughput, against the database's own bulk load of the same CSV.

    python bench/import_bench.py --lines 1000000 [--db URL] [--json out.json]

Writes a deterministic purchase-lines CSV (3 lines per order, 50,000 customers, 500 SKUs, a
mix of Chinese headers and ISO timestamps), imports it with ``guanxi import purchases`` into a
fresh SQLite file (or the empty database --db names) in a child process (peak RSS sampled over
it and its parser child), then times the floor to compare with: on SQLite
``sqlite3 DB ".import --csv FILE bare"`` into a bare table of a separate file; on PostgreSQL
``COPY bare FROM STDIN (FORMAT csv)`` through psycopg into a bare table of text columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from benchrec import Figure, backend_of, record, write

HEADER = ["订单号", "下单时间", "手机", "客户名称", "商品", "数量", "单价", "实付金额", "门店"]


def write_file(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    stores = ["旗舰店", "社区店"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(lines):
            order = i // 3
            cust = rng.randrange(50_000) if i % 3 == 0 else cust  # noqa: F821 - set on line 0
            day = 1 + order % 28
            price = rng.choice(("12.50", "99.00", "168.00", "1280.00"))
            qty = rng.choice((1, 1, 1, 2, 3))
            w.writerow(
                [
                    f"P{order:08d}",
                    f"2024-{1 + order % 12:02d}-{day:02d} {9 + order % 12:02d}:15:00",
                    f"139{cust:08d}",
                    f"客户{cust}",
                    f"SKU{rng.randrange(500):04d}",
                    qty,
                    price,
                    f"{float(price) * qty:.2f}",
                    stores[order % 2],
                ]
            )


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(
                next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:"))
            )
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def run_guanxi(db: str, csv_path: Path) -> tuple[float, float]:
    """Seconds of one ``guanxi import purchases`` run, and the peak RSS (MiB) of the importer
    and its parsing child together, sampled every 50 ms."""
    subprocess.run(
        [sys.executable, "-m", "guanxi", "--db", db, "init"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi", "--db", db, "import", "purchases", str(csv_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mib(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"import failed:\n{out}\n{err}")
    return seconds, peak


def run_sqlite3(db: Path, csv_path: Path) -> float | None:
    exe = shutil.which("sqlite3")
    if exe is None:
        return None
    start = time.perf_counter()
    subprocess.run([exe, str(db), ".import --csv " + str(csv_path) + " bare"], check=True)
    return time.perf_counter() - start


def run_copy(url: str, csv_path: Path) -> float:
    """Seconds of a psycopg ``COPY ... FROM STDIN (FORMAT csv)`` of the file into a bare table
    of text columns in the database of ``url`` (the table is dropped afterwards)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE bare_import ({columns})")
        start = time.perf_counter()
        sql = "COPY bare_import FROM STDIN (FORMAT csv, HEADER true)"
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(sql) as copy,
            csv_path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - start
        conn.execute("DROP TABLE bare_import")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Folder to keep the files in.")
    parser.add_argument("--db", help="an empty database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="guanxi-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "purchases.csv"
    write_file(csv_path, args.lines)
    url = args.db or f"sqlite:///{folder / 'guanxi.db'}"
    postgres = make_url(url).get_backend_name() == "postgresql"
    guanxi_s, peak = run_guanxi(url, csv_path)
    if postgres:
        bare_s: float | None = run_copy(url, csv_path)
        peer_name = "COPY FROM STDIN (psycopg) into a bare table"
    else:
        bare_s = run_sqlite3(folder / "bare.db", csv_path)
        peer_name = "sqlite3 .import into a bare table"
    rate = args.lines / guanxi_s
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
    print(f"file: {args.lines:,} purchase lines, {csv_path.stat().st_size / 2**20:.0f} MiB")
    print(
        f"guanxi import purchases: {guanxi_s:.1f} s = {rate:,.0f} lines/s, "
        f"peak RSS {peak:.0f} MiB, importer + parser child "
        "(target >= 50,000 lines/s, < 1024 MiB)"
    )
    if bare_s is not None:
        print(
            f"{peer_name}: {bare_s:.1f} s = {args.lines / bare_s:,.0f} "
            f"lines/s; guanxi takes {guanxi_s / bare_s:.1f}x as long"
        )
    figures = [
        Figure("guanxi import purchases", rate, "lines/s", peer=peer_name,
               peer_value=args.lines / bare_s if bare_s else None,
               target=">= 50,000 lines/s", met=rate >= 50_000,
               note=None if bare_s else "sqlite3 CLI not found: peer not measured"),
        Figure("guanxi import purchases, wall time", guanxi_s, "s", peer=peer_name,
               peer_value=bare_s),
        Figure("peak RSS, importer + parser child", peak, "MiB", target="< 1024 MiB",
               met=peak < 1024),
    ]  # fmt: skip
    size = f"{csv_path.stat().st_size / 2**20:.0f} MiB"
    write(args.json, record("import_bench", "Purchase import (CSV)", backend_of(url),
                            {"lines": args.lines, "file": size}, figures))  # fmt: skip
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
