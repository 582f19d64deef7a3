"""Demo purchases: a buy-till-you-die process per customer, basket lines and receipts.

Each customer buys as a Poisson process at their own rate, thinned by each day's demand,
and after every purchase leaves for good with their own dropout probability (BG/NBD style).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

from guanxi.domain.purchases import PaymentMethod
from guanxi.services.demo.calendar import Day
from guanxi.services.demo.catalog import GIFT_CATEGORY, PRODUCTS, STORES, product_pickers
from guanxi.services.demo.context import Context, Weighted
from guanxi.services.demo.people import Person

Line = tuple[int, Decimal, Decimal, Decimal]  # product id, quantity, unit price, discount
YUAN = Decimal(1)

PAYMENTS = (
    (PaymentMethod.WECHAT_PAY, 48), (PaymentMethod.ALIPAY, 27), (PaymentMethod.CARD, 8),
    (PaymentMethod.CASH, 7), (PaymentMethod.STORED_VALUE, 8), (PaymentMethod.POINTS, 1),
    (PaymentMethod.OTHER, 1),
)  # fmt: skip
LINE_COUNTS = ((1, 35), (2, 30), (3, 20), (4, 15))
QUANTITIES = ((1, 68), (2, 20), (3, 8), (4, 2), (5, 1), (6, 1))


@dataclass(slots=True)
class Order:
    """One generated receipt before ids and order numbers are assigned."""

    person: Person
    day: int
    store_id: int
    staff_id: int
    at: datetime
    promotion: bool
    payment: str
    lines: list[Line]


@dataclass(frozen=True, slots=True)
class LineRef:
    """What a return needs to know about a purchase line."""

    id: int
    quantity: Decimal
    amount: Decimal
    product: int


class Purchases:
    """Draws every customer's receipts, then numbers them in time order and makes rows."""

    def __init__(self, ctx: Context, serving: dict[int, Weighted[int]]) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.serving = serving
        self.payments = Weighted(PAYMENTS)
        self.line_counts = Weighted(LINE_COUNTS)
        self.quantities = Weighted(QUANTITIES)
        self.product_pickers = product_pickers()
        self.orders: list[Order] = []
        self.line_refs: list[list[LineRef]] = []  # by purchase id - 1, once numbered

    # -- the purchase process -----------------------------------------------------------------

    def add(self, p: Person) -> None:
        """A customer's receipts: the first on the sign-up visit, the rest over time."""
        for n, day in enumerate(self._purchase_days(p)):
            at = p.first_at if n == 0 else self.ctx.shop_time(day)
            away = n > 0 and self.rng.random() < 0.12  # now and then at the other store
            store_id = 3 - p.store_id if away else p.store_id
            self.orders.append(
                Order(
                    person=p,
                    day=day,
                    store_id=store_id,
                    staff_id=self._clerk(p, store_id),
                    at=at,
                    promotion=self.ctx.days[day].promotion,
                    payment=self.payments.draw(self.rng).value,
                    lines=self._lines(p, day),
                )
            )

    def _purchase_days(self, p: Person) -> list[int]:
        """Day indexes of a customer's purchases: Poisson while alive, dropout after each."""
        if not p.buys:
            return []
        days, max_rate = self.ctx.days, self.ctx.max_rate
        out, t, last = [p.day], float(p.day), len(days)
        while self.rng.random() >= p.dropout:
            while True:  # thinning: candidate events at the peak rate, kept by the day's rate
                t += self.rng.expovariate(p.rate * max_rate)
                if t >= last:
                    return out
                day = int(t)
                if self.rng.random() * max_rate < days[day].rate:
                    break
            out.append(day)
        return out

    def _clerk(self, p: Person, store_id: int) -> int:
        """The customer's own contact at their home store 40 % of the time, else anyone there."""
        if p.owner_id is not None and store_id == p.store_id and self.rng.random() < 0.4:
            return p.owner_id
        return self.serving[store_id].draw(self.rng)

    def _lines(self, p: Person, day: int) -> list[Line]:
        """A basket of distinct products for the customer's tier and the day's season."""
        rng, info = self.rng, self.ctx.days[day]
        picker = self.product_pickers[p.tier, info.gifts]
        chosen: list[int] = []
        for _ in range(self.line_counts.draw(rng)):
            product = picker.draw(rng)
            if product not in chosen:
                chosen.append(product)
        lines = []
        for product in chosen:
            _, _, category, price_text, _ = PRODUCTS[product - 1]
            quantity = self.quantities.draw(rng)
            if p.company and info.gifts and category == GIFT_CATEGORY:
                quantity = rng.randint(5, 30)
            price = Decimal(price_text)
            lines.append(
                (product, Decimal(quantity), price, self._discount(quantity * price, info))
            )
        return lines

    def _discount(self, gross: Decimal, info: Day) -> Decimal:
        """Promotion days: 10-20 % off most lines; other days a 5 % member discount on some."""
        r = self.rng.random()
        if info.promotion and r < 0.6:
            rate = Decimal(self.rng.choice(("0.10", "0.15", "0.20")))
        elif r < 0.1:
            rate = Decimal("0.05")
        else:
            return Decimal(0)
        return (gross * rate).quantize(YUAN, rounding=ROUND_DOWN)

    # -- ids and order numbers ----------------------------------------------------------------

    def finish_orders(self) -> None:
        """Sort receipts by time, give ids and per-store daily order numbers, make rows."""
        self.orders.sort(key=lambda o: o.at)
        counters: dict[tuple[int, date], int] = {}
        for pid, order in enumerate(self.orders, start=1):
            on = self.ctx.days[order.day].on
            seq = counters[order.store_id, on] = counters.get((order.store_id, on), 0) + 1
            refs = [self._line_row(pid, no, line) for no, line in enumerate(order.lines, start=1)]
            self.line_refs.append(refs)
            self.ctx.t.add(
                "purchase",
                id=pid,
                store_id=order.store_id,
                external_order_id=f"{STORES[order.store_id - 1][0]}-{on:%Y%m%d}-{seq:04d}",
                customer_id=order.person.id,
                staff_id=order.staff_id,
                purchased_at=order.at,
                total_amount=sum((ref.amount for ref in refs), Decimal(0)),
                is_promotion=order.promotion,
                payment_method=order.payment,
                import_batch_id=None,
                created_at=order.at,
            )

    def _line_row(self, pid: int, no: int, line: Line) -> LineRef:
        """The row of one purchase line, and what a return will need to know about it."""
        t = self.ctx.t
        product, quantity, price, discount = line
        ref = LineRef(t.count("purchase_line") + 1, quantity, quantity * price - discount, product)
        t.add(
            "purchase_line",
            id=ref.id,
            purchase_id=pid,
            line_no=no,
            product_id=product,
            quantity=quantity,
            unit_price=price,
            discount=discount,
            amount=ref.amount,
            source_line=None,
        )
        return ref
