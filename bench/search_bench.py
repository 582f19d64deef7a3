"""Customer search latency with 100,000 customers, against a naive LIKE '%q%' scan.

    python bench/search_bench.py --customers 100000 [--db URL] [--json out.json]

Fills a fresh database (SQLite by default) with customers with Chinese names, phones and
tags, then times ``search_customers`` for each kind of query (pinyin initials, full pinyin,
Chinese name, phone tail, full phone, tag) and, as the peer, one unindexed
``name LIKE '%q%' OR phone LIKE '%q%'`` scan per query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, or_, select

from benchrec import Figure, backend_of, record, write
from guanxi.domain.names import name_keys
from guanxi.services.customers import search_customers
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerTag

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文辉玉兰梅鹏飞宇浩然子涵欣怡梓萱一诺"  # noqa: E501
TAGS = ["VIP", "老客户", "团购", "企业客户", "孕妈", "茶友"]


def fill(db: Database, n: int, rng: random.Random) -> list[tuple[str, str]]:
    people: list[tuple[str, str]] = []
    with db.write() as session:
        rows, tags = [], []
        for i in range(1, n + 1):
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            phone = f"+861{rng.choice('3456789')}{i:09d}"
            pinyin, initials = name_keys(name)
            rows.append(
                {
                    "id": i,
                    "name": name,
                    "name_pinyin": pinyin,
                    "name_initials": initials,
                    "phone": phone,
                    "phone_last4": phone[-4:],
                    "custom_fields": {},
                }
            )
            if i % 10 == 0:
                tags.append({"customer_id": i, "name": rng.choice(TAGS)})
            people.append((name, phone))
        session.execute(insert(Customer), rows)
        session.execute(insert(CustomerTag), tags)
    return people


def queries(people: list[tuple[str, str]], rng: random.Random) -> dict[str, list[str]]:
    sample = rng.sample(people, 50)
    return {
        "initials (zs)": [name_keys(n)[1] for n, _ in sample],
        "full pinyin": [name_keys(n)[0] for n, _ in sample],
        "pinyin prefix": [name_keys(n)[0][:4] for n, _ in sample],
        "chinese name": [n for n, _ in sample],
        "phone last 4": [p[-4:] for _, p in sample],
        "full phone": [p[3:] for _, p in sample],
        "tag": [rng.choice(TAGS) for _ in sample],
    }


def timed(fn: object, qs: list[str]) -> list[float]:
    out = []
    for q in qs:
        start = time.perf_counter()
        fn(q)  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'search.db'}"
    db = Database(url)
    db.migrate()
    rng = random.Random(3)
    people = fill(db, args.customers, rng)
    with db.engine.connect() as conn:  # statistics, as autovacuum / a running shop would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()

    def naive(q: str) -> None:
        with db.read() as s:
            s.execute(
                select(Customer.id)
                .where(or_(Customer.name.contains(q), Customer.phone.contains(q)))
                .limit(20)
            ).all()

    print(f"{args.customers:,} customers on {db.url.get_backend_name()}; 50 queries per kind; ms")
    print(f"{'query kind':<16} {'median':>8} {'p95':>8} {'max':>8} {'naive LIKE median':>18}")
    figures = []
    for kind, qs in queries(people, rng).items():
        ours = timed(lambda q: search_customers(db, q), qs)
        peer = timed(naive, qs)
        p95 = statistics.quantiles(ours, n=20)[18]
        print(
            f"{kind:<16} {statistics.median(ours):8.2f} {p95:8.2f} {max(ours):8.2f} "
            f"{statistics.median(peer):18.2f}"
        )
        figures.append(
            Figure(f"search {kind}, median", statistics.median(ours), "ms",
                   peer="naive LIKE '%q%' scan, median", peer_value=statistics.median(peer),
                   target="every search < 50 ms", met=max(ours) < 50,
                   note=f"p95 {p95:.1f} ms, max {max(ours):.1f} ms")
        )  # fmt: skip
    print("target: every search answers in < 50 ms")
    params = {"customers": args.customers, "queries_per_kind": 50}
    write(args.json, record("search_bench", "Customer search", backend_of(db.engine), params,
                            figures))  # fmt: skip
    db.dispose()


if __name__ == "__main__":
    main()
