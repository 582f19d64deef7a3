"""The scoring job (``guanxi analytics run``) on a large shop, against lifetimes on the same data.

    python bench/scoring_bench.py --customers 100000 [--skip-lifetimes] [--db URL] [--json F]

Builds the deterministic demo shop with --customers customers into a fresh SQLite file, or
the empty database --db names (about 12 purchase lines per customer: 100,000 customers give
about 1.2 million lines), then times ``run_scoring`` as of the demo's last day twice: cold
(models fitted) and warm (the stored fit reused, as on most nights). Peak RSS of the whole
process is reported.

Peer: lifetimes 0.11.3 in a throwaway Python 3.11 virtualenv (``bench/out/lifetimes-venv``, the
one ``clv_bench.py`` creates) does the same modelling the way a pandas script would: it loads
every purchase and refund from the same database into pandas (from PostgreSQL through psycopg,
installed into that venv on first use), nets the refunds, takes local dates, runs
``summary_data_from_transaction_data`` (days, ``freq_multiplier=7``: the same summary as
Guanxi's), fits BG/NBD and Gamma-Gamma, and computes expected purchases in 90 days and 12-month
CLV. It does less than Guanxi's job (no RFM, ladder, loyalty types or stored scores).

Target (issue 4): 100,000 customers / 1,000,000 purchase lines scored in <= 30 s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support
from tests.support import peak_rss_mib  # noqa: E402

from benchrec import Figure, backend_of, record, write  # noqa: E402
from clv_bench import try_venv  # noqa: E402 - bench scripts share the lifetimes venv
from guanxi.services.demo import DEMO_END  # noqa: E402
from guanxi.services.scoring import ScoringOptions, run_scoring  # noqa: E402
from guanxi.storage.db import Database  # noqa: E402
from guanxi.storage.models import Purchase, PurchaseLine  # noqa: E402

TARGET_SECONDS = 30.0
BUILD = """
import sys
from guanxi.services.demo import build_demo
from guanxi.storage.db import Database
db = Database(sys.argv[1])
db.migrate()
build_demo(db, customers=int(sys.argv[2]))
"""
PEER = r"""
import json, sqlite3, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
path, end = sys.argv[1], sys.argv[2]
P_SQL = "SELECT id, customer_id, purchased_at, total_amount FROM purchase"
R_SQL = "SELECT purchase_id, SUM(refund_amount) AS r FROM purchase_return GROUP BY purchase_id"
start = time.perf_counter()
if path.startswith("postgresql://"):  # the naive way: every purchase into Python
    import psycopg
    with psycopg.connect(path) as conn:
        p = pd.DataFrame(conn.execute(P_SQL).fetchall(),
                         columns=["id", "customer_id", "purchased_at", "total_amount"])
        r = pd.DataFrame(conn.execute(R_SQL).fetchall(), columns=["purchase_id", "r"])
    r["r"] = r["r"].astype(float)
else:
    with sqlite3.connect(path) as conn:
        p = pd.read_sql_query(P_SQL, conn)
        r = pd.read_sql_query(R_SQL, conn)
p = p.merge(r, how="left", left_on="id", right_on="purchase_id")
p["amount"] = (p["total_amount"].astype(float) - p["r"].fillna(0)) / 100
utc = pd.to_datetime(p["purchased_at"], utc=True).dt.tz_localize(None)
p["day"] = (utc + pd.Timedelta(hours=8)).dt.normalize()
p = p[(p["amount"] > 0) & (p["day"] <= end)]
load_s = time.perf_counter() - start
s = summary_data_from_transaction_data(p, "customer_id", "day", monetary_value_col="amount",
                                       observation_period_end=end, freq="D", freq_multiplier=7)
bg = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
repeat = s[s["frequency"] > 0]
gg = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])
bg.conditional_expected_number_of_purchases_up_to_time(90 / 7, s["frequency"], s["recency"], s["T"])
gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                           time=12, discount_rate=0.01, freq="W")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "load_seconds": load_s, "customers": len(s),
                  "bgnbd": {k: float(v) for k, v in bg.params_.items()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--skip-lifetimes", action="store_true", help="do not time lifetimes")
    parser.add_argument("--db", help="an empty database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "shop.db"
        url = args.db or f"sqlite:///{path}"
        start = time.perf_counter()  # built in a child process: the RSS below is the scoring's
        subprocess.run([sys.executable, "-c", BUILD, url, str(args.customers)], check=True)
        build_s = time.perf_counter() - start
        db = Database(url)
        backend = backend_of(db.engine)
        with db.read() as session:
            lines = session.execute(select(func.count()).select_from(PurchaseLine)).scalar_one()
            purchases = session.execute(select(func.count()).select_from(Purchase)).scalar_one()
        options = ScoringOptions(as_of=DEMO_END, refit=True)
        start = time.perf_counter()
        cold = run_scoring(db, options)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = run_scoring(db, ScoringOptions(as_of=DEMO_END))
        warm_s = time.perf_counter() - start
        rss = peak_rss_mib()
        peer: dict[str, Any] | None = None
        python, why = (None, "--skip-lifetimes") if args.skip_lifetimes else try_venv()
        if python is not None and not db.is_sqlite:
            python, why = with_psycopg(python)
        if python is not None:
            source = (
                str(path)
                if db.is_sqlite
                else db.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
            out = subprocess.run([str(python), "-c", PEER, source, DEMO_END.isoformat()],
                                 capture_output=True, text=True, check=False)  # fmt: skip
            if out.returncode != 0:
                sys.exit(f"lifetimes failed:\n{out.stderr}")
            peer = json.loads(out.stdout.strip().splitlines()[-1])
        db.dispose()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {backend['name']} {backend['version']}")  # fmt: skip
    print(f"shop: {args.customers:,} customers, {purchases:,} purchases, {lines:,} lines "
          f"(built in {build_s:.1f} s)")  # fmt: skip
    print(f"{'run':<34}{'seconds':>9}  steps")
    for name, seconds, report in (("guanxi cold (fit models)", cold_s, cold),
                                  ("guanxi warm (reuse fit)", warm_s, warm)):  # fmt: skip
        steps = ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items())
        print(f"{name:<34}{seconds:>9.2f}  {steps}")
    if peer is not None:
        print(f"{'lifetimes 0.11.3 (load+fits+CLV)':<34}{peer['seconds']:>9.2f}  "
              f"load purchases {peer['load_seconds']:.2f}")  # fmt: skip
        print(f"ratio lifetimes / guanxi cold: {peer['seconds'] / cold_s:.1f}x")
    else:
        print(f"lifetimes: not measured ({why})")
    print(f"peak RSS: {rss:,.0f} MiB")
    met = cold_s <= TARGET_SECONDS
    print(f"target: {args.customers:,} customers scored in <= {TARGET_SECONDS:.0f} s: "
          f"{'yes' if met else 'NO'} ({cold_s:.1f} s)")  # fmt: skip
    print(f"BG/NBD guanxi: {cold.model.get('bgnbd')}")
    if peer is not None:
        print(f"BG/NBD lifetimes: {peer['bgnbd']}")
    if args.json:
        peer_name = "lifetimes 0.11.3 + pandas (load, BG/NBD, Gamma-Gamma, CLV)"
        peer_s = peer["seconds"] if peer else None
        note = None if peer else f"lifetimes not measured: {why}"
        figures = [
            Figure("scoring job, cold (fit models)", cold_s, "s", peer=peer_name,
                   peer_value=peer_s, target=f"<= {TARGET_SECONDS:.0f} s", met=met, note=note),
            Figure("scoring job, warm (reuse fit)", warm_s, "s", peer=peer_name,
                   peer_value=peer_s, note=note),
            Figure("peak RSS of the scoring process", rss, "MiB"),
        ]  # fmt: skip
        rec = record("scoring_bench", "Scoring job (guanxi analytics run)", backend,
                     {"customers": args.customers, "purchases": purchases, "lines": lines},
                     figures)  # fmt: skip
        rec.update(cold_steps=cold.seconds, warm_steps=warm.seconds, lifetimes=peer,
                   build_seconds=build_s)  # fmt: skip
        write(args.json, rec)


def with_psycopg(python: Path) -> tuple[Path | None, str | None]:
    """The lifetimes venv with psycopg added (to read PostgreSQL), or None and why not."""
    check = subprocess.run([str(python), "-c", "import psycopg"], capture_output=True,
                           check=False)  # fmt: skip
    if check.returncode == 0:
        return python, None
    out = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "psycopg[binary]"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    if out.returncode != 0:
        return None, f"psycopg could not be installed in the lifetimes venv: {out.stderr[-200:]}"
    return python, None


if __name__ == "__main__":
    main()
