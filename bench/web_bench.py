"""Web page latency with 100,000 customers: the list, a deep page, search, a customer's page.

    python bench/web_bench.py --customers 100000 [--requests 200] [--db URL] [--json out.json]

Fills a fresh database (SQLite by default) with customers spread over stores and account
owners, some of them tagged, signs in an owner and a clerk through the real sign-in form, and
times N requests of each page through FastAPI's TestClient (in process, no network): rendering,
the database and the framework together. As the peer, the trivial ``/healthz`` route measured
the same way shows what the framework and the test client cost on their own.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from benchrec import Figure, backend_of, record, write
from guanxi.config import Settings
from guanxi.domain.names import name_keys
from guanxi.domain.staff import Role
from guanxi.services.staff import add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerTag, Staff, Store
from guanxi.web.app import create_app

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红文辉玉梅鹏飞宇浩然子涵欣怡梓萱一诺淑思帅森珊顺爽诗"  # noqa: E501
TAGS = ["VIP", "老客户", "团购", "企业客户", "孕妈", "茶友"]
STORES = ["旗舰店", "万达店", "社区店", "机场店", "线上店"]
PASSWORD = "bench password"
TARGET_P95_MS = 150.0


def _people(session: Session) -> tuple[list[int], dict[int, int]]:
    """The stores and 40 account owners (staff without a sign-in): {staff id: their store}."""
    stores = [
        int(session.execute(insert(Store).returning(Store.id),
                            {"code": f"S{i}", "name": name}).scalar_one())
        for i, name in enumerate(STORES)
    ]  # fmt: skip
    home = {}
    for i in range(40):
        store = stores[i % len(stores)]
        values = {"name": f"顾问{i}", "role": "clerk", "store_id": store}
        home[int(session.execute(insert(Staff).returning(Staff.id), values).scalar_one())] = store
    return stores, home


def fill(db: Database, n: int, rng: random.Random) -> list[int]:
    """Stores, account owners, then n customers (a tenth tagged) in one bulk insert."""
    with db.write() as session:
        stores, home = _people(session)
        owners = list(home)
        rows, tags = [], []
        for i in range(1, n + 1):
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            phone = f"+861{rng.choice('3456789')}{i:09d}"
            pinyin, initials = name_keys(name)
            owner = rng.choice(owners)
            rows.append({
                "id": i, "name": name, "name_pinyin": pinyin, "name_initials": initials,
                "phone": phone, "phone_last4": phone[-4:], "code": f"M{i:07d}",
                "custom_fields": {}, "owner_staff_id": owner, "home_store_id": home[owner],
            })  # fmt: skip
            if i % 10 == 0:
                tags.append({"customer_id": i, "name": rng.choice(TAGS)})
        session.execute(insert(Customer), rows)
        session.execute(insert(CustomerTag), tags)
    return stores


def signed_in_client(app: FastAPI, username: str) -> TestClient:
    """A test client signed in through the sign-in form, as a browser would be."""
    client = TestClient(app)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, "no CSRF token on the sign-in page"
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def timed(
    client: TestClient, paths: list[str], headers: dict[str, str] | None = None
) -> list[float]:
    """Milliseconds per request; one untimed request first warms caches."""
    client.get(paths[0], headers=headers)
    out = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    return out


Kind = tuple[str, str, list[str], dict[str, str] | None]


def kinds(n: int, requests: int, rng: random.Random, clerk_ids: list[int]) -> list[Kind]:
    """(label, who, paths, headers) for each kind of page measured."""
    htmx = {"HX-Request": "true"}
    deep = min(1000, max(1, n // 50))
    return [
        ("/healthz (peer)", "owner", ["/healthz"] * requests, None),
        ("list page 1", "owner", ["/customers"] * requests, None),
        (f"list page {deep}", "owner", [f"/customers?page={deep}"] * requests, None),
        ("search zs (htmx)", "owner", ["/customers?q=zs"] * requests, htmx),
        ("customer page", "owner",
         [f"/customers/{rng.randint(1, n)}" for _ in range(requests)], None),
        ("list page 1", "clerk", ["/customers"] * requests, None),
        ("search zs (htmx)", "clerk", ["/customers?q=zs"] * requests, htmx),
        ("customer page", "clerk",
         [f"/customers/{rng.choice(clerk_ids)}" for _ in range(requests)], None),
    ]  # fmt: skip


def prepare(args: argparse.Namespace) -> tuple[Database, list[int]]:
    """Migrate and fill the database; return it and ids of customers in the clerk's store."""
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'web.db'}"
    db = Database(url)
    db.migrate()
    with db.read() as session:
        if session.execute(select(func.count()).select_from(Customer)).scalar_one():
            sys.exit(f"{db.url.render_as_string()} already holds customers: give an empty one")
    stores = fill(db, args.customers, random.Random(3))
    with db.engine.connect() as conn:  # statistics, as autovacuum / a running shop would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    hasher = make_hasher(cheap=True)
    add_staff(db, "老板", Role.OWNER, hasher=hasher, username="owner", password=PASSWORD)
    add_staff(db, "店员", Role.CLERK, hasher=hasher, username="clerk", password=PASSWORD,
              store_id=stores[0])  # fmt: skip
    with db.read() as session:
        ids = session.scalars(
            select(Customer.id).where(Customer.home_store_id == stores[0]).limit(1000)
        ).all()
    return db, list(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per kind of page")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    db, clerk_ids = prepare(args)
    app = create_app(Settings(), db=db, hasher=make_hasher(cheap=True))
    clients = {who: signed_in_client(app, who) for who in ("owner", "clerk")}
    backend = db.url.get_backend_name()
    print(f"{args.customers:,} customers on {backend}; {args.requests} requests per kind; "
          "ms per request (TestClient, in process)")  # fmt: skip
    print(f"{'page':<20} {'as':<6} {'median':>8} {'p95':>8} {'max':>8}")
    list_p95 = 0.0
    measured: list[tuple[str, str, float, float, float]] = []
    for label, who, paths, headers in kinds(args.customers, args.requests, random.Random(5),
                                            clerk_ids):  # fmt: skip
        ms = timed(clients[who], paths, headers)
        p95 = statistics.quantiles(ms, n=20)[18]
        if label == "list page 1":
            list_p95 = max(list_p95, p95)
        measured.append((label, who, statistics.median(ms), p95, max(ms)))
        print(f"{label:<20} {who:<6} {statistics.median(ms):8.2f} {p95:8.2f} {max(ms):8.2f}")
    verdict = "met" if list_p95 < TARGET_P95_MS else "NOT MET"
    print(f"target: list page p95 < {TARGET_P95_MS:.0f} ms: {verdict} ({list_p95:.1f} ms)")
    healthz = measured[0][2]
    figures = [
        Figure(f"{label} as {who}, median", median, "ms", peer="/healthz, median",
               peer_value=healthz,
               target=f"p95 < {TARGET_P95_MS:.0f} ms" if label == "list page 1" else None,
               met=p95 < TARGET_P95_MS if label == "list page 1" else None,
               note=f"p95 {p95:.1f} ms, max {top:.1f} ms")
        for label, who, median, p95, top in measured[1:]
    ]  # fmt: skip
    params = {"customers": args.customers, "requests_per_page": args.requests,
              "client": "TestClient, in process"}  # fmt: skip
    write(args.json, record("web_bench", "Page renders", backend_of(db.engine), params, figures))
    for client in clients.values():
        client.close()
    db.dispose()


if __name__ == "__main__":
    main()
