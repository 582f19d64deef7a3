"""Chain scale on PostgreSQL: the hot paths of a 1,000,000-customer, 50-store chain.

    python bench/chain_scale.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres \
        --customers 1000000 --lines 20000000 --stores 50 [--keep NAME] [--reuse NAME] \
        [--json bench/out/chain_scale.json]

Creates a private database on that server (``guanxi_chain_<random>``, or NAME with --keep),
migrates it, generates the chain inside PostgreSQL (bench/chain_gen.py: generate_series, indexes
built after the load, VACUUM ANALYZE) and drops it at the end unless --keep. --reuse NAME
measures an existing kept database without generating. Then it times, each next to a peer
measured in the same run on the same database:

- the scoring job (``run_scoring``, models refitted): its summary is SQL GROUP BY on the server
  (analytics/summary.py), so Python receives one row per customer, never the purchases. Peer:
  the least any per-customer summary costs, one GROUP BY customer_id over purchase fetched whole;
- the agenda of one store (``build_agenda``, the latest two score months); peer: a plain SELECT
  of that store's customers;
- the customer list: first page, a deep page, and searches by pinyin, initials, CJK name, phone
  last 4 and full phone, all stores in scope (the owner's view, the widest); peer:
  ``SELECT id FROM customer ORDER BY id DESC LIMIT 50``;
- the customer page services (bench/chain_pages.py: about 70 statements, each for one customer)
  for the busiest customer and a typical one;
- the POS purchase at the service layer (``record_purchase``: two lines, buyer by phone, points
  accrual), p50/p95/p99; peer: an empty write transaction (BEGIN IMMEDIATE-equivalent + SELECT 1);
- a points redemption at the counter (``ledger.redeem``), p50/p99 (the figure is stated).

Targets (issues 3, 5, 6): agenda of a store <= 2 s; customer list and search pages <= 200 ms;
POS purchase p99 < 100 ms; the scoring job and the customer page: the figure is stated.
The paths that need no scores run first (list, search, POS), then the scoring job, then the
agenda and the customer page, so a long run prints its figures as it goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support
from tests.support import peak_rss_mib  # noqa: E402

import benchrec  # noqa: E402 - sibling bench modules
from benchrec import Figure  # noqa: E402
from chain_gen import AS_OF, STAFF_PER_STORE, generate  # noqa: E402
from chain_pages import (  # noqa: E402
    customer_page,
    customer_search,
    pos_purchase,
    redeem_points,
)
from guanxi.care.agenda import build_agenda  # noqa: E402
from guanxi.config import Settings  # noqa: E402
from guanxi.services.customers import list_customers  # noqa: E402
from guanxi.services.scoring import ScoringOptions, run_scoring  # noqa: E402
from guanxi.storage.db import Database  # noqa: E402


def ms(work: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figure(name: str, value: float, unit: str, *, peer: str | None = None,
           peer_value: float | None = None, target: float | None = None) -> Figure:  # fmt: skip
    """One figure of the guanxi-bench/1 record (bench/benchrec.py); a target is an upper
    bound in the figure's unit."""
    return Figure(name, round(value, 3), unit, peer,
                  None if peer_value is None else round(peer_value, 3),
                  None if target is None else f"<= {target:g} {unit}",
                  None if target is None else value <= target)  # fmt: skip


def _previous_month(db: Database, month: date) -> None:
    """Copy the month's scores one month back, with P(alive) a little higher, so the agenda
    sees a drop for some customers (as after two nightly runs a month apart)."""
    prev = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM customer_score WHERE month = :p"), {"p": prev})
        conn.execute(text(
            "INSERT INTO customer_score (customer_id, month, computed_on, r_score, f_score, "
            "m_score, rfm_segment, china_class, rung, loyalty_type, purchase_days, "
            "days_since_last, total_spend, p_alive, expected_purchases_90d, clv_12m, churn_risk, "
            "p_active_12m, evidence) SELECT customer_id, :p, :p, r_score, f_score, m_score, "
            "rfm_segment, china_class, rung, loyalty_type, purchase_days, days_since_last, "
            "total_spend, least(1.0, p_alive + (customer_id % 5) * 0.1), expected_purchases_90d, "
            "clv_12m, churn_risk, p_active_12m, evidence FROM customer_score WHERE month = :m"
        ), {"p": prev, "m": month})  # fmt: skip
        # autovacuum would analyze the replaced month within minutes; the agenda runs next day
        conn.execute(text("ANALYZE customer_score"))


def measure_scoring(db: Database) -> list[Figure]:
    start = time.perf_counter()
    report = run_scoring(db, ScoringOptions(as_of=AS_OF, refit=True))
    job_s = time.perf_counter() - start
    rss = peak_rss_mib()
    start = time.perf_counter()
    with db.read() as session:
        rows = session.execute(text(
            "SELECT customer_id, count(*), max(purchased_at), sum(total_amount) FROM purchase "
            "GROUP BY customer_id")).all()  # fmt: skip
    peer_s = time.perf_counter() - start
    _previous_month(db, report.month)
    print(f"scoring: {report.customers:,} customers scored ({report.buyers:,} buyers), "
          f"steps {report.seconds}, peer fetched {len(rows):,} rows")  # fmt: skip
    return [figure("scoring job (refit), whole chain", job_s, "s",
                   peer="SELECT ... GROUP BY customer_id over purchase", peer_value=peer_s),
            figure("scoring job: summary step", report.seconds["summary"], "s"),
            figure("scoring job: write step", report.seconds["write"], "s"),
            figure("peak RSS of the bench process after scoring", rss, "MiB")]  # fmt: skip


def measure_agenda(db: Database, runs: int) -> list[Figure]:
    def peer() -> None:
        with db.read() as session:
            session.execute(text("SELECT id, name, owner_staff_id FROM customer "
                                 "WHERE home_store_id = 1")).all()  # fmt: skip

    peer_ms = ms(peer, runs)
    times = ms(lambda: build_agenda(db, AS_OF, store_id=1), runs)
    staff = ms(lambda: build_agenda(db, AS_OF, staff_id=1, store_id=1), runs)
    plain = "SELECT the store's customers"
    return [figure("agenda of one store, first run", times[0], "ms", peer=plain,
                   peer_value=peer_ms[0], target=2000),
            figure("agenda of one store, median", statistics.median(times[1:] or times), "ms",
                   peer=plain, peer_value=statistics.median(peer_ms[1:] or peer_ms),
                   target=2000),
            figure("agenda of one staff member, median", statistics.median(staff[1:] or staff),
                   "ms", target=2000)]  # fmt: skip


def measure_list(db: Database, customers: int, runs: int) -> list[Figure]:
    def peer() -> None:
        with db.read() as session:
            session.execute(text("SELECT id FROM customer ORDER BY id DESC LIMIT 50")).all()

    base = statistics.median(ms(peer, runs))
    plain = "SELECT id ... ORDER BY id DESC LIMIT 50"
    deep = max(1, customers // 50 // 2)  # the middle of the list
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("customer list, first page", lambda: list_customers(db)),
        (f"customer list, page {deep:,}", lambda: list_customers(db, page=deep)),
        ("customer list, one store, first page", lambda: list_customers(db, store_id=1)),
        ("search by pinyin 'wangwei'", lambda: customer_search(db, "wangwei", store_id=None)),
        ("search by initials 'lj'", lambda: customer_search(db, "lj", store_id=None)),
        ("search by CJK name '张伟'", lambda: customer_search(db, "张伟", store_id=None)),
        ("search by CJK name '张伟', one store",
         lambda: customer_search(db, "张伟", store_id=1)),
        ("search, no match: CJK '欧阳修' (every branch runs out)",
         lambda: customer_search(db, "欧阳修", store_id=None)),
        ("search by phone last 4 '4321'", lambda: customer_search(db, "4321", store_id=None)),
        ("search by full phone", lambda: customer_search(db, "13800004321", store_id=None)),
    ]  # fmt: skip
    return [figure(f"{name}, median", statistics.median(ms(work, runs)), "ms", peer=plain,
                   peer_value=base, target=200) for name, work in cases]  # fmt: skip


def measure_customer_page(db: Database, runs: int) -> list[Figure]:
    settings = Settings()
    with db.read() as session:
        busiest = session.execute(text("SELECT customer_id FROM purchase GROUP BY customer_id "
                                       "ORDER BY count(*) DESC LIMIT 1")).scalar_one()  # fmt: skip
        typical = session.execute(text("SELECT max(id) / 2 FROM customer")).scalar_one()
    out = []
    for label, cid in (("busiest", busiest), ("typical", typical)):

        def page(c: int = int(cid)) -> None:
            customer_page(db, c, staff_id=1, settings=settings)

        times = ms(page, runs)
        out.append(figure(f"customer page services, {label} customer ({cid}), median",
                          statistics.median(times), "ms"))  # fmt: skip
    return out


def measure_pos(db: Database, customers: int, stores: int, count: int) -> list[Figure]:
    def peer() -> None:
        with db.write() as session:
            session.execute(text("SELECT 1"))

    peers = ms(peer, count)
    run = uuid.uuid4().hex[:6]
    at = datetime(2026, 11, 30, 3, tzinfo=UTC)
    times, redeems = [], []
    for n in range(count):
        cid = 1 + (n * 7919) % customers
        start = time.perf_counter()
        pos_purchase(db, order=f"B{run}-{n}", phone=f"+86138{cid:08d}",
                     store_id=1 + cid % stores, at=at)  # fmt: skip
        times.append((time.perf_counter() - start) * 1000)
    for n in range(count):
        cid = 2 * (1 + (n * 7919) % (customers // 2))
        start = time.perf_counter()
        redeem_points(db, cid, 1, key=f"R{run}-{n}")
        redeems.append((time.perf_counter() - start) * 1000)
    trivial = "an empty write transaction"
    return [figure("POS purchase (record_purchase), p50", pct(times, 50), "ms", peer=trivial,
                   peer_value=pct(peers, 50)),
            figure("POS purchase (record_purchase), p95", pct(times, 95), "ms"),
            figure("POS purchase (record_purchase), p99", pct(times, 99), "ms", peer=trivial,
                   peer_value=pct(peers, 99), target=100),
            figure("points redemption, p50", pct(redeems, 50), "ms"),
            figure("points redemption, p99", pct(redeems, 99), "ms")]  # fmt: skip


def machine(db: Database) -> dict[str, Any]:
    with db.read() as session:
        version = session.execute(text("SHOW server_version")).scalar_one()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cores": os.cpu_count(), "memory_gib": round(pages / 2**30, 1),
            "python": platform.python_version(), "postgresql": version,
            "platform": platform.platform()}  # fmt: skip


def run(url: str, args: argparse.Namespace, fresh: bool) -> dict[str, Any]:
    db = Database(url)
    built: dict[str, Any] = {}
    if fresh:
        db.migrate()
        start = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            built = generate(conn, customers=args.customers, lines=args.lines,
                             stores=args.stores)  # fmt: skip
        built["total_seconds"] = round(time.perf_counter() - start, 1)
        print(f"generated in {built['total_seconds']} s: {built}")
    if args.generate_only:
        db.dispose()
        return {}
    with db.read() as session:
        customers = int(session.execute(text("SELECT max(id) FROM customer")).scalar_one())
        stores = int(session.execute(text("SELECT count(*) FROM store")).scalar_one())
        lines = int(session.execute(text("SELECT count(*) FROM purchase_line")).scalar_one())
    figures = [figure("generation of the chain (generate_series in PostgreSQL, indexes after)",
                      built["total_seconds"], "s")] if built else []  # fmt: skip
    # The paths that need no scores first, so a long run shows its figures as it goes.
    steps: list[Callable[[], list[Figure]]] = [
        lambda: measure_list(db, customers, args.runs),
        lambda: measure_pos(db, customers, stores, args.pos),
        lambda: measure_scoring(db), lambda: measure_agenda(db, args.runs),
        lambda: measure_customer_page(db, args.runs)]  # fmt: skip
    loads = [os.getloadavg()[0]]
    for measure in steps:
        done = measure()
        loads.append(os.getloadavg()[0])
        for f in done:
            print(f"  {f.name}: {f.value:.2f} {f.unit}", flush=True)
        figures += done
    params = {"customers": customers, "purchase_lines": lines, "stores": stores,
              "staff_per_store": STAFF_PER_STORE, "runs": args.runs,
              "pos_purchases": args.pos, "as_of": AS_OF.isoformat()}  # fmt: skip
    notes = [
        f"machine: {machine(db)}",
        "1-minute load average before and after each group of figures (the machine is "
        f"shared; latencies stretch with it): {[round(x, 1) for x in loads]}",
    ]
    if built:
        notes.append(f"generation phases (s): {built['seconds']}; rows: {built['rows']}; "
                     f"database size: {built['size_mb']} MB")  # fmt: skip
    rec = benchrec.record("chain_scale", "Chain scale on PostgreSQL: scoring, agenda, customer "
                          "list and search, customer page, POS", benchrec.backend_of(db.engine),
                          params, figures, notes)  # fmt: skip
    db.dispose()
    return rec


def show(rec: dict[str, Any]) -> None:
    for note in rec["notes"]:
        print(note)
    print(f"{'figure':<66}{'value':>10} {'unit':<4}{'peer':>9}{'ratio':>8}  target")
    for f in rec["figures"]:
        peer = "" if f["peer_value"] is None else f"{f['peer_value']:.2f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.1f}x"
        target = "" if f["target"] is None else f"{f['target']} " + (
            "ok" if f["met"] else "MISSED")  # fmt: skip
        print(f"{f['name']:<66}{f['value']:>10.2f} {f['unit']:<4}{peer:>9}{ratio:>8}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL server URL (any database)")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each read path")
    parser.add_argument("--pos", type=int, default=300, help="POS purchases and redemptions")
    parser.add_argument("--keep", metavar="NAME", help="generate into NAME and keep it")
    parser.add_argument("--reuse", metavar="NAME", help="measure the kept database NAME")
    parser.add_argument("--generate-only", action="store_true", help="with --keep: build, stop")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    base = make_url(args.db)
    if base.get_backend_name() != "postgresql":
        sys.exit(f"--db must be a PostgreSQL URL (found {base.get_backend_name()})")
    if args.generate_only and not args.keep:
        sys.exit("--generate-only needs --keep NAME (else the database is dropped at once)")
    name = args.reuse or args.keep or f"guanxi_chain_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        result = run(base.set(database=name).render_as_string(hide_password=False), args,
                     fresh=not args.reuse)  # fmt: skip
    finally:
        if not (args.keep or args.reuse):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    if args.generate_only:
        return
    show(result)
    benchrec.write(args.json, result)


if __name__ == "__main__":
    main()
