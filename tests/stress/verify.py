"""What must hold after the load: every check reads the database the server wrote.

``problems`` returns a list of readable findings (empty: everything holds), so a test can
assert it is empty and show all of them at once, and the bench can print them.
"""

from __future__ import annotations

from sqlalchemy import func, select, text

from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import (
    ApiIdempotencyKey,
    PointsBalance,
    PointsEntry,
    Purchase,
    PurchaseReturn,
)
from tests.stress.shop import Shop
from tests.stress.traffic import Tally, expected_balances


def problems(shop: Shop, tally: Tally) -> list[str]:
    """Balances against the replay, purchases/redemptions/returns against the acknowledged
    ones (none lost, none twice), no claim left in flight, the SQLite file intact."""
    db = Database(shop.url)
    try:
        found = _balances(db, shop, tally) + _operations(db, tally) + _claims(db)
        if db.is_sqlite:
            with db.engine.connect() as conn:
                check = [row[0] for row in conn.execute(text("PRAGMA integrity_check"))]
            if check != ["ok"]:
                found.append(f"PRAGMA integrity_check: {check[:5]}")
        return found
    finally:
        db.dispose()


def _balances(db: Database, shop: Shop, tally: Tally) -> list[str]:
    expected = expected_balances(tally)
    with db.read() as s:
        cached = dict(s.execute(select(PointsBalance.customer_id, PointsBalance.points)).all())
        summed = dict(
            s.execute(
                select(PointsEntry.customer_id, func.sum(PointsEntry.points)).group_by(
                    PointsEntry.customer_id
                )
            ).all()
        )
    found = [f"customer {m.customer_id}: cached balance is not the ledger's sum ({m})"
             for m in ledger.check_balances(db)]  # fmt: skip
    for customer in shop.customer_ids:
        want = shop.opening + expected.get(customer, 0)
        have = int(summed.get(customer) or 0)
        cache = int(cached.get(customer) or 0)
        if have != want or cache != want:
            found.append(f"customer {customer}: replay says {want}, ledger sums to {have}, "
                         f"cached balance {cache}")  # fmt: skip
    return found


def _operations(db: Database, tally: Tally) -> list[str]:
    ok = [op for op in tally.acked if op.status in (200, 201)]
    acked_orders = {op.order_id for op in ok if op.kind == "purchase" and op.order_id}
    acked_redeems = sum(1 for op in ok if op.kind == "redeem")
    acked_returns = sum(1 for op in ok if op.kind == "adjust")
    with db.read() as s:
        orders = s.execute(
            select(Purchase.external_order_id, func.count()).group_by(Purchase.external_order_id)
        ).all()
        redeems = s.execute(
            select(func.count()).select_from(PointsEntry).where(PointsEntry.kind == "redeem")
        ).scalar_one()
        returns = s.execute(select(func.count()).select_from(PurchaseReturn)).scalar_one()
    found = [f"order {o} recorded {n} times" for o, n in orders if n != 1]
    stored = {o for o, _ in orders}
    lost = acked_orders - stored
    extra = stored - acked_orders
    if lost:
        found.append(f"{len(lost)} acknowledged purchases are missing, e.g. {sorted(lost)[:3]}")
    if extra:
        found.append(f"{len(extra)} purchases were recorded that no client saw acknowledged "
                     f"(given up?), e.g. {sorted(extra)[:3]}")  # fmt: skip
    if redeems != acked_redeems:
        found.append(f"{redeems} redemptions in the ledger, {acked_redeems} acknowledged")
    if returns != acked_returns:
        found.append(f"{returns} returns recorded, {acked_returns} acknowledged")
    return found


def _claims(db: Database) -> list[str]:
    with db.read() as s:
        stuck = s.execute(
            select(func.count())
            .select_from(ApiIdempotencyKey)
            .where(ApiIdempotencyKey.state == "in_flight")
        ).scalar_one()
    return [f"{stuck} Idempotency-Key claims left in flight"] if stuck else []
