"""Demo returns: about 1.5 % of receipts come back, in part or whole, within two weeks."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from guanxi.services.demo.catalog import GIFT_CATEGORY, PRODUCTS
from guanxi.services.demo.context import Context
from guanxi.services.demo.purchases import LineRef, Order

FEN = Decimal("0.01")
ONE = Decimal(1)
RETURN_REASONS = {
    "茶具": ("运输破损", "有瑕疵，换货不如退货"),
    GIFT_CATEGORY: ("礼盒包装破损", "送礼计划取消"),
}
TEA_RETURN_REASONS = ("口味不合适", "茶叶受潮", "买错规格")


def add_returns(ctx: Context, orders: list[Order], line_refs: list[list[LineRef]]) -> None:
    """About 1.5 % of receipts come back, in part or whole, within two weeks.

    ``orders`` are in purchase id order and ``line_refs`` holds each one's lines.
    """
    pending = []
    for pid, order in enumerate(orders, start=1):
        if ctx.rng.random() >= 0.015:
            continue
        day = order.day + ctx.rng.choice((1, 1, 2, 2, 3, 5, 7, 10, 14))
        if day < len(ctx.days):
            pending.append((ctx.shop_time(day), pid))
    pending.sort(key=lambda item: item[0])
    for rid, (at, pid) in enumerate(pending, start=1):
        _add_return(ctx, rid, at, pid, line_refs[pid - 1])


def _add_return(ctx: Context, rid: int, at: datetime, pid: int, refs: list[LineRef]) -> None:
    """One return: all lines or one, a unit or the whole line each, refunded pro rata."""
    rng, t = ctx.rng, ctx.t
    back = refs if rng.random() < 0.3 else [rng.choice(refs)]
    refund = Decimal(0)
    for ref in back:
        quantity = ONE if ref.quantity > 1 and rng.random() < 0.4 else ref.quantity
        amount = (ref.amount * quantity / ref.quantity).quantize(FEN, rounding=ROUND_HALF_UP)
        refund += amount
        t.add(
            "return_line",
            id=t.count("return_line") + 1,
            return_id=rid,
            purchase_line_id=ref.id,
            quantity=quantity,
            amount=amount,
        )
    category = PRODUCTS[back[0].product - 1][2]
    order_no = t.rows["purchase"][pid - 1]["external_order_id"]
    t.add(
        "purchase_return",
        id=rid,
        purchase_id=pid,
        external_return_id=f"{order_no}-R1",
        returned_at=at,
        reason=rng.choice(RETURN_REASONS.get(category, TEA_RETURN_REASONS)),
        refund_amount=refund,
        created_at=at,
    )
