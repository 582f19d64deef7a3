"""``guanxi customers search`` and ``guanxi customer show``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from guanxi.cli.common import console, state
from guanxi.domain.access import mask_phone
from guanxi.services.customers import get_customer_detail, search_customers

app = typer.Typer(help="Find customers.", no_args_is_help=True)
customer_app = typer.Typer(help="Show one customer.", no_args_is_help=True)


@app.command("search")
def search_command(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            help="Name, pinyin (zhangsan / zs), phone or its "
            "last 4 digits, member code, email or tag."
        ),
    ],
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many results.")] = 20,
    unmask: Annotated[bool, typer.Option("--unmask", help="Show full phone numbers.")] = False,
) -> None:
    """Search the customer archive, best matches first.

    Example: guanxi customers search zs
    """
    hits = search_customers(state(ctx).database(), query, limit=limit)
    if not hits:
        console.print(f"No customer matches {query!r}.")
        return
    table = Table("id", "name", "phone", "member code", "matched on")
    for h in hits:
        phone = h.phone if unmask else mask_phone(h.phone)
        table.add_row(str(h.id), h.name, phone or "", h.code or "", h.matched)
    console.print(table)


@customer_app.command("show")
def show_command(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="The customer's id (see 'customers search').")],
    unmask: Annotated[bool, typer.Option("--unmask", help="Show the full phone number.")] = False,
) -> None:
    """Show a customer's profile and purchase history summary.

    Example: guanxi customer show 42
    """
    d = get_customer_detail(state(ctx).database(), customer_id)
    c, s = d.customer, d.summary
    phone = c["phone"] if unmask else mask_phone(c["phone"])
    profile = Table.grid(padding=(0, 2))
    birthday = _birthday(c)
    for label, value in (
        ("Name", f"{c['name']} ({c['name_pinyin']})"),
        ("Member code", c["code"]),
        ("Phone", phone),
        ("Email", c["email"]),
        ("WeChat", c["wechat_id"]),
        ("Gender", c["gender"]),
        ("Birthday", birthday),
        ("City", c["city"]),
        ("Source", c["source"]),
        ("Referred by", d.referred_by),
        ("Account owner", d.owner_staff),
        ("Home store", d.home_store),
        ("Style", c["communication_style"]),
        ("Tags", ", ".join(d.tags)),
        ("Interests", ", ".join(d.interests)),
        ("Consent", ", ".join(f"{ch}: {'yes' if ok else 'no'}" for ch, ok in d.consents.items())),
        ("Notes", c["notes"]),
    ):
        if value:
            profile.add_row(f"[bold]{label}[/bold]", str(value))
    console.print(profile)
    console.print(
        f"\n[bold]Purchases[/bold]: {s.purchases}, spend ¥{s.gross_spend:,} "
        f"(refunds ¥{s.refunds:,}, net ¥{s.net_spend:,}), average order ¥{s.average_order:,}",
        highlight=False,
    )
    if s.first_at and s.last_at:
        console.print(f"First {s.first_at:%Y-%m-%d}, last {s.last_at:%Y-%m-%d}")
    if s.top_categories:
        console.print(
            "Top categories: " + ", ".join(f"{cat} ¥{v:,}" for cat, v in s.top_categories)
        )
    for r in s.recent:
        console.print(
            f"  {r['purchased_at']:%Y-%m-%d}  {r['store']}  {r['external_order_id']}  "
            f"¥{r['total_amount']:,}",
            highlight=False,
        )


def _birthday(c: dict[str, object]) -> str | None:
    if not c["birthday_month"]:
        return None
    kind = "农历 " if c["birthday_kind"] == "lunar" else ""
    leap = "闰" if c["birthday_is_leap_month"] else ""
    year = f"{c['birthday_year']}-" if c["birthday_year"] else ""
    return f"{kind}{leap}{year}{c['birthday_month']:02d}-{c['birthday_day']:02d}"
