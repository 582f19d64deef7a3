"""A campaign of 100,000 recipients rendered and queued (``care.campaigns.queue_campaign``).

    python bench/campaign_bench.py --customers 100000 [--db URL] [--holdout 0] [--json out.json]

Fills a fresh database (SQLite by default; ``--db`` an empty PostgreSQL database) with
--customers customers who all agreed to SMS, spread over 5 stores with account owners and a
tier, plus a personalised SMS template ({{ salutation }}, name, store…). It then times:

- the dry run (audience, consent/address/frequency-cap exclusions, holdout; 50 previews);
- ``queue_campaign`` end to end: audience query, exclusions, seeded holdout, one render per
  recipient (``care.templating.contexts`` + ``render``), the bulk insert through
  ``care.outbox.queue`` with dedupe keys, the holdout rows, the audit entry, one commit;
- a second ``queue_campaign`` (idempotent: must queue nothing).

Peer, measured in the same run on the same database: a plain bulk INSERT of the same number of
``message`` rows with bodies of the same length (one ``insert(Message)`` executemany and a
commit, rows built beforehand): the floor any queueing has to pay. The ratio says what the
rendering, the consent checks and the deduplication add on top of writing the rows.

Target (issue 6): a campaign of 100,000 recipients rendered and queued in <= 20 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from benchrec import Figure, backend_of, record, write
from guanxi.care import campaigns
from guanxi.care.campaigns import Audience
from guanxi.domain.names import name_keys
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, Customer, CustomerTier, Message, Staff, Store

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红文辉玉梅鹏飞宇浩然子涵欣怡梓萱一诺淑思帅森珊顺爽诗"  # noqa: E501
STORES = ["旗舰店", "万达店", "社区店", "机场店", "线上店"]
BODY = "{{ salutation }}，您好！{{ store }}的秋季新茶已到店，会员{{ name }}凭此短信到店可免费品鉴。"
TARGET_SECONDS = 20.0
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def fill(db: Database, n: int, rng: random.Random) -> None:
    """Stores, 40 account owners, n customers with SMS consent and a tier: bulk inserts."""
    with db.write() as session:
        stores = [
            int(session.execute(insert(Store).returning(Store.id),
                                {"code": f"S{i}", "name": name}).scalar_one())
            for i, name in enumerate(STORES)
        ]  # fmt: skip
        owners = {}
        for i in range(40):
            store = stores[i % len(stores)]
            values = {"name": f"顾问{i}", "role": "clerk", "store_id": store}
            owners[int(session.execute(insert(Staff).returning(Staff.id), values).scalar_one())] = (
                store
            )
        owner_ids = list(owners)
        customers, consents, tiers = [], [], []
        since = NOW - timedelta(days=400)
        for i in range(1, n + 1):
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            pinyin, initials = name_keys(name)
            phone = f"+861{rng.choice('3456789')}{i:09d}"
            owner = rng.choice(owner_ids)
            customers.append({
                "id": i, "name": name, "name_pinyin": pinyin, "name_initials": initials,
                "gender": rng.choice(("female", "male", "unknown")), "phone": phone,
                "phone_last4": phone[-4:], "custom_fields": {}, "owner_staff_id": owner,
                "home_store_id": owners[owner],
            })  # fmt: skip
            consents.append({"customer_id": i, "channel": "sms", "is_granted": True,
                             "changed_at": since, "source": "bench"})  # fmt: skip
            if i % 3 == 0:
                tiers.append({"customer_id": i, "tier_key": "gold", "since": since.date(),
                              "evaluated_on": NOW.date()})  # fmt: skip
        session.execute(insert(Customer), customers)
        session.execute(insert(Consent), consents)
        session.execute(insert(CustomerTier), tiers)
    with db.engine.connect() as conn:  # statistics, as autovacuum / a running shop would have
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def peer_insert(db: Database, n: int, body_length: int) -> float:
    """Seconds for a plain bulk INSERT of n message rows like the campaign's (then removed)."""
    customer_ids = list(range(1, n + 1))
    body = "字" * body_length
    at = NOW
    rows = [{"customer_id": cid, "channel": "sms", "is_marketing": True, "subject": None,
             "body": body, "dedupe_key": f"peer:{cid}", "status": "queued", "attempts": 0,
             "not_before": at, "queued_at": at} for cid in customer_ids]  # fmt: skip
    start = time.perf_counter()
    with db.write() as session:
        session.execute(insert(Message), rows)
    seconds = time.perf_counter() - start
    with db.write() as session:
        session.execute(delete(Message).where(Message.dedupe_key.like("peer:%")))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--holdout", type=int, default=0, help="holdout percent (default 0)")
    parser.add_argument("--db", help="an empty database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'campaign.db'}"
    db = Database(url)
    db.migrate()
    with db.read() as session:
        if session.execute(select(func.count()).select_from(Customer)).scalar_one():
            sys.exit(f"{db.url.render_as_string()} already holds customers: give an empty one")
    start = time.perf_counter()
    fill(db, args.customers, random.Random(6))
    fill_s = time.perf_counter() - start

    template = campaigns.save_template(db, name="秋茶", channel="sms", body=BODY, actor_id=None)
    campaign = campaigns.save_campaign(db, name="秋茶到店", template_id=template,
                                       audience=Audience(), holdout_percent=args.holdout,
                                       seed=2026, actor_id=None)  # fmt: skip
    start = time.perf_counter()
    run = campaigns.dry_run(db, campaign, now=NOW, scope=None)
    dry_s = time.perf_counter() - start
    start = time.perf_counter()
    result = campaigns.queue_campaign(db, campaign, now=NOW, actor_id=None, scope=None)
    queue_s = time.perf_counter() - start
    start = time.perf_counter()
    again = campaigns.queue_campaign(db, campaign, now=NOW, actor_id=None, scope=None)
    again_s = time.perf_counter() - start
    with db.read() as session:
        stored = session.execute(
            select(func.count(), func.avg(func.length(Message.body)))
            .where(Message.campaign_id == campaign)
        ).one()  # fmt: skip
    count, avg_length = int(stored[0]), float(stored[1] or 0)
    peer_s = peer_insert(db, count, round(avg_length))
    backend_info = backend_of(db.engine)
    db.dispose()

    backend = "SQLite" if db.is_sqlite else "PostgreSQL"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {backend}")  # fmt: skip
    print(f"shop: {args.customers:,} customers with SMS consent (filled in {fill_s:.1f} s)")
    print(f"dry run: {run.recipient_count:,} recipients, {len(run.excluded):,} excluded, "
          f"{len(run.holdout):,} held out in {dry_s:.2f} s")  # fmt: skip
    print(f"{'run':<48}{'seconds':>9}")
    print(f"{'guanxi queue_campaign (render + queue)':<48}{queue_s:>9.2f}  "
          f"{result.queued:,} messages, avg body {avg_length:.0f} chars")  # fmt: skip
    print(f"{'guanxi queue_campaign again (idempotent)':<48}{again_s:>9.2f}  "
          f"{again.queued:,} new")  # fmt: skip
    print(f"{'peer: plain bulk INSERT of the same rows':<48}{peer_s:>9.2f}")
    ratio = queue_s / peer_s if peer_s else float("inf")
    rates = f"{result.queued / queue_s:,.0f} messages/s vs {count / peer_s:,.0f} rows/s"
    print(f"ratio guanxi / plain INSERT: {ratio:.1f}x ({rates})")
    met = queue_s <= TARGET_SECONDS and again.queued == 0
    print(f"target: {result.queued:,} recipients rendered and queued in <= "
          f"{TARGET_SECONDS:.0f} s: {'yes' if met else 'NO'} ({queue_s:.1f} s)")  # fmt: skip
    peer_name = f"plain bulk INSERT of {count:,} message rows"
    figures = [
        Figure("queue_campaign (render + queue)", queue_s, "s", peer=peer_name,
               peer_value=peer_s, target=f"<= {TARGET_SECONDS:.0f} s, idempotent", met=met,
               note=f"{result.queued:,} messages, avg body {avg_length:.0f} chars"),
        Figure("queue_campaign again (idempotent)", again_s, "s", peer=peer_name,
               peer_value=peer_s, note=f"{again.queued:,} new messages"),
        Figure("dry run (audience, exclusions, previews)", dry_s, "s", peer=peer_name,
               peer_value=peer_s),
    ]  # fmt: skip
    params = {"customers": args.customers, "holdout_percent": args.holdout,
              "queued": result.queued}  # fmt: skip
    write(args.json, record("campaign_bench", "Campaign build (render and queue)",
                            backend_info, params, figures))  # fmt: skip


if __name__ == "__main__":
    main()
