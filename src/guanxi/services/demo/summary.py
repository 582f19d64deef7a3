"""What a demo build wrote: counts, money, dates and a few shares, for the CLI to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from guanxi.services.demo.catalog import SHOP_NAME, STAFF
from guanxi.services.demo.context import Tables, local_date
from guanxi.services.demo.people import People


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo build wrote: counts, money, dates and a few shares."""

    seed: int
    stores: int
    staff: int
    customers: int
    products: int
    purchases: int
    purchase_lines: int
    returns: int
    revenue: Decimal  # sum of purchase totals less refunds
    refunds: Decimal
    first_purchase: date | None
    last_purchase: date | None
    lunar_birthday_share: float
    consent_share: float  # customers with marketing consent on at least one channel
    referred_customers: int
    owner_name: str

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        period = f"{self.first_purchase} – {self.last_purchase}" if self.first_purchase else "–"
        return [
            ("Shop", f"{SHOP_NAME} (tea & tea ware), seed {self.seed}"),
            ("Owner", self.owner_name),
            ("Stores / staff", f"{self.stores} / {self.staff}"),
            ("Products", f"{self.products:,}"),
            ("Customers", f"{self.customers:,}"),
            ("Referred customers", f"{self.referred_customers:,}"),
            ("Lunar birthdays", f"{self.lunar_birthday_share:.1%}"),
            ("Marketing consent (any channel)", f"{self.consent_share:.1%}"),
            ("Purchases / lines", f"{self.purchases:,} / {self.purchase_lines:,}"),
            ("Returns", f"{self.returns:,} (refunded ¥{self.refunds:,.2f})"),
            ("Revenue (net of refunds)", f"¥{self.revenue:,.2f}"),
            ("Purchase dates", period),
        ]


def summarise(t: Tables, people: People, *, seed: int, size: int) -> DemoSummary:
    """Counts and figures of what was generated."""
    purchases = t.rows["purchase"]
    refunds = sum((r["refund_amount"] for r in t.rows["purchase_return"]), Decimal(0))
    gross = sum((r["total_amount"] for r in purchases), Decimal(0))
    return DemoSummary(
        seed=seed,
        stores=t.count("store"),
        staff=t.count("staff"),
        customers=t.count("customer"),
        products=t.count("product"),
        purchases=len(purchases),
        purchase_lines=t.count("purchase_line"),
        returns=t.count("purchase_return"),
        revenue=gross - refunds,
        refunds=refunds,
        first_purchase=local_date(purchases[0]["purchased_at"]) if purchases else None,
        last_purchase=local_date(purchases[-1]["purchased_at"]) if purchases else None,
        lunar_birthday_share=people.lunar / size,
        consent_share=people.consenting / size,
        referred_customers=people.referred,
        owner_name=STAFF[0][0],
    )
