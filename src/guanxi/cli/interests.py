"""``guanxi interests``: who to tell when a product or a category arrives, and why."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from guanxi.care.interests import Arrival, Interested, find_arrival, interested_customers
from guanxi.cli.agenda import find_store
from guanxi.cli.common import console, state


def _print(arrival: Arrival, rows: list[Interested], total: int) -> None:
    what = arrival.label
    if arrival.product_id is not None:
        what = f"{arrival.product_name} (category {arrival.category or '-'})"
    if not rows:
        console.print(f"Nobody is interested in {what}.", highlight=False)
        return
    table = Table(title=f"Interested in {what}: {total:,}", title_justify="left")
    for column in ("#", "customer", "phone", "why", "spent"):
        table.add_column(column, justify="right" if column in ("#", "spent") else "left",
                         overflow="fold")  # fmt: skip
    for n, row in enumerate(rows, start=1):
        spent = f"{row.spent:,.2f}" if row.purchases else ""
        table.add_row(str(n), f"{row.name} ({row.customer_id})", row.phone, row.why, spent)
    console.print(table)
    if total > len(rows):
        console.print(f"{total - len(rows):,} more not shown (--limit).", highlight=False)


def interests_command(
    ctx: typer.Context,
    category_or_product: Annotated[
        str,
        typer.Argument(
            metavar="CATEGORY_OR_PRODUCT",
            help="A product category, or a product's SKU or name (its category and name count).",
        ),
    ],
    store: Annotated[
        str | None, typer.Option("--store", help="Store code: that store's customers only.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Customers to tell when something arrives: stated interests and past purchases, and why.

    A stated interest matches when it contains the category or product name, is contained in
    it, or shares two neighbouring Chinese characters or a word with it (普洱收藏 matches
    普洱白茶); buyers are those who bought in the category. Strongest evidence first; phones
    are masked. To message them, use "Message them" on the New arrivals page (/care/interests).

    Example: guanxi interests 普洱白茶 --store SH01 --limit 20 --json
    """
    db = state(ctx).database()
    scope = find_store(db, store) if store is not None else None
    with db.read() as session:
        arrival = find_arrival(session, category_or_product)
        rows = interested_customers(session, arrival, scope=scope)
    shown = rows[:limit]
    if as_json:
        data = {
            "category": arrival.category, "product_id": arrival.product_id,
            "product_name": arrival.product_name, "total": len(rows),
            "customers": [r.as_json() for r in shown],
        }  # fmt: skip
        console.print_json(json.dumps(data, ensure_ascii=False))
    else:
        _print(arrival, shown, len(rows))
