"""``guanxi agenda``: today's agenda (今日待办) in the terminal, ranked by value × urgency."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import func, or_, select

from guanxi.care.agenda import DEFAULT_LIMIT, Agenda, build_agenda, kind_label, reason_text
from guanxi.cli.common import console, parse_day, state
from guanxi.errors import InvalidInput, NotFound
from guanxi.storage.db import Database
from guanxi.storage.models import Staff, Store
from guanxi.web.i18n import LANGUAGES, language


def find_staff(db: Database, name: str) -> tuple[int, int | None]:
    """(id, store) of the active staff member whose name or username is ``name``."""
    with db.read() as session:
        rows = session.execute(
            select(Staff.id, Staff.store_id, Staff.name)
            .where(Staff.is_active.is_(True),
                   or_(Staff.name == name, func.lower(Staff.username) == name.lower()))
            .order_by(Staff.id)
        ).all()  # fmt: skip
    if not rows:
        raise NotFound(f"no active staff member is called {name!r}")
    if len(rows) > 1:
        raise InvalidInput(f"{len(rows)} staff members are called {name!r}: use the username")
    return int(rows[0][0]), rows[0][1]


def find_store(db: Database, code: str) -> int:
    with db.read() as session:
        found = session.execute(select(Store.id).where(Store.code == code)).scalar()
    if found is None:
        raise NotFound(f"no store has the code {code!r}")
    return int(found)


def _print(agenda: Agenda, texts: list[str], lang: str) -> None:
    if agenda.provisional_holidays:
        console.print("Note: the statutory holidays of the coming days are provisional.",
                      highlight=False)  # fmt: skip
    if not agenda.items:
        console.print(f"Nothing on the agenda for {agenda.day}.", highlight=False)
    else:
        table = Table(title=f"Agenda for {agenda.day}", title_justify="left")
        for column in ("#", "due", "customer", "kind", "reason", "score"):
            table.add_column(column, justify="right" if column in ("#", "score") else "left")
        tr = language(lang, "UTC")
        for n, (item, text) in enumerate(zip(agenda.items, texts, strict=True), start=1):
            table.add_row(str(n), item.due_on.isoformat(),
                          f"{item.customer_name} ({item.customer_id})",
                          kind_label(item.kind, tr), text, f"{item.score:,.0f}")  # fmt: skip
        console.print(table)
    if agenda.more:
        console.print(f"{agenda.more:,} more not shown (--limit).", highlight=False)
    if agenda.unavailable:
        console.print(f"Sources not installed: {', '.join(agenda.unavailable)}", highlight=False)


def agenda_command(
    ctx: typer.Context,
    staff: Annotated[
        str | None,
        typer.Option("--staff", help="Staff member (name or username): their own agenda."),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store code: that store's agenda.")
    ] = None,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="The business day (default: today in the shop's time zone).",
        ),
    ] = None,  # fmt: skip
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most this many items.")
    ] = DEFAULT_LIMIT,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the reasons: en or zh_CN.")
    ] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print the agenda as JSON.")] = False,
) -> None:
    """Who to contact today and why, most valuable and most urgent first.

    Birthdays and festivals coming up, follow-ups and promises due, VIPs at risk, lapsed
    customers worth winning back, points about to expire and tier downgrades coming. With
    --staff: the customers that staff member looks after and their tasks; with --store: the
    store's customers; neither: the whole shop.

    Example: guanxi agenda --staff 小李 --date 2026-11-23 --json
    """
    if lang not in LANGUAGES:
        raise typer.BadParameter(f"--lang must be one of {', '.join(LANGUAGES)}")
    st = state(ctx)
    db = st.database()
    zone = st.settings.timezone
    day = as_of or datetime.now(ZoneInfo(zone)).date()
    staff_id = store_id = None
    if staff is not None:
        staff_id, _ = find_staff(db, staff)
    if store is not None:
        store_id = find_store(db, store)
    agenda = build_agenda(db, day, staff_id=staff_id, store_id=store_id, limit=limit,
                          zone=None if store_id is not None else zone)  # fmt: skip
    tr = language(lang, zone)
    texts = [reason_text(item, tr) for item in agenda.items]
    if as_json:
        console.print_json(json.dumps(agenda.as_json(texts), ensure_ascii=False))
    else:
        _print(agenda, texts, lang)
