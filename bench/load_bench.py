"""Mixed POS load on a real ``guanxi serve``: ops/s and p50/p95/p99 per operation, checked.

    python bench/load_bench.py --sqlite | --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                               [--clients 50] [--seconds 60] [--workers 4] [--kills 0]
                               [--customers 2000] [--json bench/out/load_bench_sqlite.json]

The harness of tests/stress (one code path for the tests and this benchmark): a private
database (a SQLite file, or a database created on the PostgreSQL server of --db and dropped
afterwards), customers, a store and an API token; ``guanxi serve --workers N`` as a separate
process; --clients threads for --seconds of traffic: 70 % purchases, 25 % points redemptions,
5 % returns (the API's nearest thing to a points adjustment), 20 % of it on one hot customer,
each write with an Idempotency-Key and retried with it on a connection error or a 503. With
--kills K a random worker is ``kill -9``ed K times during the load.

Afterwards every customer's balance is compared with the replay of the acknowledged answers,
and the purchases, redemptions and returns in the database with the acknowledged ones; the
exit status is 1 when that does not hold. Latency is what a till sees: from the first attempt
to the final answer, retries included; attempts that got no answer within 30 s are counted.

``--json`` writes a ``guanxi-bench/1`` record (bench/README.md; ``run_all.py`` shows
``bench/out/load_bench*.json`` in bench/RESULTS.md) with a flat ``operations`` object too:
operation -> count, ops_per_s, p50_ms, p95_ms, p99_ms, refused, retried.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.stress

from tests.stress.shop import postgres_shop, sqlite_shop  # noqa: E402
from tests.stress.trial import Phase, Result, Size, run_trial  # noqa: E402

from benchrec import Figure, backend_of, record, write  # noqa: E402

OPERATIONS = ("purchase", "redeem", "adjust", "all")


def _machine() -> dict[str, Any]:
    memory = None
    with contextlib.suppress(ValueError, OSError):
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {"cpu_count": os.cpu_count(), "memory_gib": memory, "python": platform.python_version(),
            "platform": platform.platform()}  # fmt: skip


def _figures(result: Result) -> list[Figure]:
    out = []
    for op in OPERATIONS:
        f = result.figures[op]
        out.append(Figure(f"{op}: throughput", f["ops_per_s"], "ops/s"))
        for p in ("p50", "p95", "p99"):
            out.append(Figure(f"{op}: {p} latency", f[f"{p}_ms"], "ms"))
    held = _held(result)
    hung = result.figures["errors"]["hung"]
    out.append(Figure("attempts with no answer in 30 s (retried)", hung, "attempts",
                      note="restarting workers on a small machine queue requests"))  # fmt: skip
    out.append(Figure("balances equal the replay, 0 server errors, 0 locked", 1.0 if held else 0.0,
                      "yes=1", target="1", met=held))  # fmt: skip
    return out


def _held(result: Result) -> bool:
    """Correct: balances equal the replay, every operation answered, no 5xx but clean 503s,
    no "database is locked", the faults ran. (A slow answer is a figure, not a failure.)"""
    errors = {k: v for k, v in result.figures["errors"].items() if k != "hung"}
    return not result.problems and not any(errors.values()) and not result.fault_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="a PostgreSQL server URL (a private database is made on it)")
    where.add_argument("--sqlite", action="store_true", help="a fresh SQLite file")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=0, help="kill -9 a worker this many times")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    size = Size(args.clients, args.seconds, args.workers, args.kills, args.customers)
    with tempfile.TemporaryDirectory(prefix="guanxi-load-") as tmp:
        folder = Path(tmp)
        shop = sqlite_shop(folder) if args.sqlite else postgres_shop(args.db)
        with shop as url:
            backend = backend_of(url)
            phase = Phase("kill -9" if args.kills else "load", kills=args.kills)
            (result,) = run_trial(url, size, folder, [phase])

    operations = {op: result.figures[op] for op in OPERATIONS}
    report = {"operations": operations, "errors": result.figures["errors"],
              "retries": result.figures["retries"], "problems": result.problems,
              "kills": result.kills, "fault_errors": result.fault_errors}  # fmt: skip
    print(json.dumps(report, indent=1, ensure_ascii=False))
    params = {"clients": args.clients, "seconds": args.seconds, "workers": args.workers,
              "kills": args.kills, "customers": args.customers,
              "mix": "70% purchase, 25% redeem, 5% return (adjustment); 20% on one customer",
              "machine": _machine()}  # fmt: skip
    notes = [f"{k}: {v}" for k, v in result.figures["errors"].items() if v]
    notes += result.problems[:10] + result.fault_errors
    rec = record("load_bench", f"Mixed POS load, {args.clients} clients ({backend['name']})",
                 backend, params, _figures(result), notes)  # fmt: skip
    rec["operations"] = operations
    write(args.json, rec)
    return 0 if _held(result) else 1


if __name__ == "__main__":
    sys.exit(main())
