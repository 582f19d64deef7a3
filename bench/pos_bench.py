"""The POS purchase endpoint under load, against a trivial endpoint measured in the same run.

    python bench/pos_bench.py [--db postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                              [--clients 32] [--seconds 15] [--workers 4] [--sqlite]
                              [--json out.json]

Creates a private database (on the PostgreSQL server named by --db, dropped afterwards; or a
SQLite file with --sqlite), 1,000 customers, a store and an API token, then starts
``guanxi serve --workers N`` as a separate process and drives it over HTTP from --clients
threads (keep-alive connections, ``http.client``) on the same machine:

1. ``POST /api/v1/purchases``: a new receipt each time (2 lines, a random customer by phone):
   the purchase, its points accrual (earning rules, ledger entry, balance lock) and the answer;
2. the peer: ``GET /api/v1/customers/{id}`` for a random customer (token check + one
   primary-key read), the same way.

Prints throughput and p50/p99 latency of each, and the ratio; then the purchase again with an
``Idempotency-Key`` per receipt (the stored-response layer), and both endpoints at a fixed rate
(an open loop at --rate, default half the purchase throughput), where p99 is the service time
plus real queueing rather than the wait behind 31 other clients. Goal (issue 5): the purchase
endpoint reaches >= 40 % of the peer's throughput with p99 < 100 ms, on PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from benchrec import Figure, backend_of, record, write
from guanxi.domain.staff import Role
from guanxi.services.api_tokens import create_token
from guanxi.services.staff import add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Store

CUSTOMERS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str) -> str:
    """Schema, a store, customers and a token with the scopes the load needs."""
    db = Database(url)
    db.migrate()
    with db.write() as session:
        store = session.execute(insert(Store).returning(Store.id),
                                {"code": "S1", "name": "旗舰店"}).scalar_one()  # fmt: skip
        session.execute(insert(Customer), [
            {"name": f"客户{i}", "phone": f"+86139{i:08d}", "phone_last4": f"{i:08d}"[-4:],
             "home_store_id": store, "custom_fields": {}}
            for i in range(CUSTOMERS)
        ])  # fmt: skip
    owner = add_staff(db, "Bench", Role.OWNER, hasher=make_hasher())
    token, _ = create_token(db, owner.id, "bench", ["purchases:write", "customers:read"])
    db.dispose()
    return token


def _receipt(n: int, rng: random.Random) -> bytes:
    customer = rng.randrange(CUSTOMERS)
    body = {
        "external_order_id": f"B-{n}-{uuid.uuid4().hex[:8]}",
        "store_code": "S1",
        "customer": {"phone": f"+86139{customer:08d}"},
        "purchased_at": "2026-11-20T15:00:00+08:00",
        "lines": [{"sku": "TEA-1", "quantity": 1, "unit_price": "168.00", "category": "茶叶"},
                  {"sku": "CUP-1", "quantity": 2, "unit_price": "38.00"}],
    }  # fmt: skip
    return json.dumps(body).encode()


def _send(
    conn: http.client.HTTPConnection, token: str, kind: str, n: int, rng: random.Random
) -> int:
    """One request of ``kind`` (purchase, purchase_key, peer); its HTTP status."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if kind == "peer":
        conn.request("GET", f"/api/v1/customers/{rng.randrange(CUSTOMERS) + 1}", headers=headers)
    else:
        if kind == "purchase_key":  # as a careful POS sends it: a key per receipt
            headers["Idempotency-Key"] = uuid.uuid4().hex
        conn.request("POST", "/api/v1/purchases", _receipt(n, rng), headers)
    response = conn.getresponse()
    response.read()
    return response.status


def load(
    port: int, token: str, kind: str, clients: int, seconds: float, rate: float | None = None
) -> dict[str, Any]:
    """``clients`` threads send requests of ``kind`` for ``seconds``; latencies in ms.

    Without ``rate`` each thread sends its next request as soon as the last is answered (a
    closed loop: the throughput the server can reach, with 32 requests always waiting). With
    ``rate`` the requests are sent on a fixed schedule of ``rate`` per second (an open loop),
    and a latency counts from the moment the request was due, so a late start counts too.
    """
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()
    deadline = began + seconds
    slots = iter(range(10**9))

    def client(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        n = 0
        while True:
            n += 1
            if rate is None:
                start = time.perf_counter()
            else:
                with lock:
                    start = began + next(slots) / rate
                time.sleep(max(0.0, start - time.perf_counter()))
            if start >= deadline:
                break
            status = _send(conn, token, kind, index * 10**7 + n, rng)
            mine.append((time.perf_counter() - start) * 1000)
            if status >= 300:
                with lock:
                    errors.append(str(status))
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"requests": len(latencies), "per_s": len(latencies) / elapsed, "p50_ms": q[49],
            "p99_ms": q[98], "errors": len(errors), "error_codes": sorted(set(errors))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None,
                        help="the open-loop rate for the p99 figure (default: half the "
                        "purchase throughput measured)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    admin = None
    if args.sqlite:
        url = f"sqlite:///{Path(tmp.name) / 'pos.db'}"
        name = "SQLite"
    else:
        base = make_url(args.db)
        db_name = f"guanxi_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        url = base.set(database=db_name).render_as_string(hide_password=False)
        name = "PostgreSQL"
    port = _free_port()
    server = None
    try:
        backend = backend_of(url)
        token = prepare(url)
        server = subprocess.Popen(
            [sys.executable, "-m", "guanxi", "--db", url, "serve", "--port", str(port),
             "--workers", str(args.workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode() if server.stderr else ""
                    sys.exit(f"guanxi serve did not start: {err}")
                time.sleep(0.3)
        load(port, token, "peer", 4, 2.0)  # warm both paths up
        load(port, token, "purchase", 4, 2.0)
        peer = load(port, token, "peer", args.clients, args.seconds)
        purchase = load(port, token, "purchase", args.clients, args.seconds)
        keyed = load(port, token, "purchase_key", args.clients, args.seconds)
        rate = args.rate or round(purchase["per_s"] / 2, 1)
        paced_peer = load(port, token, "peer", args.clients, args.seconds, rate=rate)
        paced = load(port, token, "purchase_key", args.clients, args.seconds, rate=rate)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
        tmp.cleanup()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {name}; guanxi serve --workers {args.workers}; "
          f"{args.clients} clients on the same machine, {args.seconds:g} s each")  # fmt: skip
    print(f"{'endpoint':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    rows = (("GET /api/v1/customers/{id} (peer)", peer),
            ("POST /api/v1/purchases (+ points)", purchase),
            ("  the same with an Idempotency-Key", keyed),
            (f"peer at {rate:g}/s (open loop)", paced_peer),
            (f"purchase + key at {rate:g}/s (open loop)", paced))  # fmt: skip
    for label, row in rows:
        print(f"{label:<40}{row['per_s']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
              f"{row['errors']:>8}")  # fmt: skip
    ratio = purchase["per_s"] / peer["per_s"] if peer["per_s"] else 0.0
    print(f"purchase / peer throughput: {ratio:.0%} (goal >= 40 %); purchase p99 "
          f"{purchase['p99_ms']:.0f} ms at {args.clients} clients in a closed loop, "
          f"{paced['p99_ms']:.0f} ms at {rate:g} purchases/s (goal < 100 ms)")  # fmt: skip
    if args.json:
        detail = {"peer": peer, "purchase": purchase, "keyed": keyed, "rate": rate,
                  "paced_peer": paced_peer, "paced": paced, "ratio": ratio}  # fmt: skip
        params = {"clients": args.clients, "workers": args.workers, "seconds": args.seconds,
                  "customers": CUSTOMERS, "open_loop_rate": rate}  # fmt: skip
        rec = record("pos_bench", "POS purchase endpoint over HTTP (guanxi serve)", backend,
                     params, figures(detail))  # fmt: skip
        rec["detail"] = detail
        write(args.json, rec)


def figures(d: dict[str, Any]) -> list[Figure]:
    """The purchase endpoint next to the trivial GET measured in the same run."""
    peer, purchase, keyed, paced, paced_peer = (
        d["peer"], d["purchase"], d["keyed"], d["paced"], d["paced_peer"])  # fmt: skip
    errors = purchase["errors"] + keyed["errors"] + paced["errors"]
    note = f"{errors} error answers: {purchase['error_codes']}" if errors else None
    get = "GET /api/v1/customers/{id}"
    return [
        Figure("POST /api/v1/purchases, closed loop", purchase["per_s"], "req/s",
               peer=get, peer_value=peer["per_s"], target=">= 40 % of the peer's throughput",
               met=bool(peer["per_s"]) and purchase["per_s"] / peer["per_s"] >= 0.4, note=note),
        Figure("the same with an Idempotency-Key", keyed["per_s"], "req/s", peer=get,
               peer_value=peer["per_s"]),
        Figure("POST /api/v1/purchases p99, closed loop", purchase["p99_ms"], "ms", peer=get,
               peer_value=peer["p99_ms"], note=f"p50 {purchase['p50_ms']:.1f} ms"),
        Figure(f"purchase + key p99 at {d['rate']:g}/s (open loop)", paced["p99_ms"], "ms",
               peer=f"{get} at the same rate", peer_value=paced_peer["p99_ms"],
               target="< 100 ms", met=paced["p99_ms"] < 100,
               note=f"p50 {paced['p50_ms']:.1f} ms"),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
