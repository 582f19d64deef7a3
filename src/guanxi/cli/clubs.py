"""``guanxi clubs`` and ``guanxi events``: the clubs, the events, and check-in at the door.

The terminal acts for the shop owner: every store's customers; check-ins are audited without a
staff member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.cli.common import console, err_console, state
from guanxi.club import checkin, clubs, events
from guanxi.domain.access import mask_phone
from guanxi.errors import GuanxiError, InvalidInput

app = typer.Typer(help="Clubs (俱乐部): list them and bring rule clubs up to date.",
                  no_args_is_help=True)  # fmt: skip
events_app = typer.Typer(help="Member events (活动): list them and check guests in.",
                         no_args_is_help=True)  # fmt: skip


def _fail(error: GuanxiError) -> typer.Exit:
    err_console.print(f"[red]{error}[/red]", highlight=False)
    return typer.Exit(1)


def _rule(club: clubs.ClubView) -> str:
    if club.rule_kind == "tier":
        return f"tier {club.rule['tier']} and above"
    if club.rule_kind == "segment":
        return f"segment {club.rule['segment_id']}"
    return "invitation"


@app.command("list")
def list_clubs(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the clubs with their rule and how many members they have.

    Example: guanxi clubs list --json
    """
    with state(ctx).database().read() as session:
        rows = clubs.list_clubs(session)
    if as_json:
        console.print_json(json.dumps([
            {"id": c.id, "name": c.name, "rule": c.rule, "store_id": c.store_id,
             "active": c.is_active, "members": c.members} for c in rows
        ], ensure_ascii=False))  # fmt: skip
        return
    if not rows:
        console.print("No clubs yet: make one on the web page /clubs.")
        return
    table = Table("id", "name", "who belongs", "members", "active")
    for c in rows:
        table.add_row(str(c.id), c.name, _rule(c), f"{c.members:,}", "yes" if c.is_active else "no")
    console.print(table)


@app.command("sync")
def sync_clubs(ctx: typer.Context) -> None:
    """Bring every active tier and segment club's members up to its rule (idempotent).

    Customers who meet the rule join; members who no longer do leave (their history is kept).
    Run it after the nightly scores, e.g. from cron after ``guanxi daily``.

    Example: guanxi clubs sync
    """
    done = clubs.sync_all(state(ctx).database(), now=datetime.now(UTC))
    for r in done:
        console.print(f"club {r.club_id}: {r.joined} joined, {r.left} left, {r.members} members",
                      highlight=False)  # fmt: skip
    if not done:
        console.print("No active clubs.")


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    upcoming: Annotated[bool, typer.Option("--upcoming", help="Only events not started yet.")] = (
        False
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the events by start: places confirmed of the capacity, waitlist, check-ins.

    Example: guanxi events list --upcoming
    """
    with state(ctx).database().read() as session:
        rows = events.list_events(session, since=datetime.now(UTC) if upcoming else None,
                                  limit=1000)  # fmt: skip
    if as_json:
        console.print_json(json.dumps([
            {"id": e.id, "name": e.name, "kind": e.kind, "starts_at": e.starts_at.isoformat(),
             "location": e.location, "capacity": e.capacity, "confirmed": e.confirmed,
             "waitlisted": e.waitlisted, "checked_in": e.checked_in, "status": e.status,
             "series_id": e.series_id} for e in rows
        ], ensure_ascii=False))  # fmt: skip
        return
    if not rows:
        console.print("No events: make one on the web page /events/new.")
        return
    table = Table("id", "starts (local)", "name", "place", "confirmed", "waitlist", "checked in",
                  "status")  # fmt: skip
    for e in rows:
        places = f"{e.confirmed}/{e.capacity}" if e.capacity else str(e.confirmed)
        local = e.starts_at.astimezone(ZoneInfo(e.zone))
        table.add_row(str(e.id), f"{local:%Y-%m-%d %H:%M}", e.name, e.location or "", places,
                      str(e.waitlisted), str(e.checked_in), e.status)  # fmt: skip
    console.print(table)


@events_app.command("check-in")
def check_in(
    ctx: typer.Context,
    event_id: Annotated[int, typer.Argument(metavar="EVENT_ID", help="The event's number.")],
    phone_tail: Annotated[
        str | None, typer.Option("--phone-tail", help="Last 4 digits of the guest's phone.")
    ] = None,
    customer: Annotated[
        int | None, typer.Option("--customer", help="The customer's number (a walk-in too).")
    ] = None,
) -> None:
    """Check a guest in at the door: once, with the event's attendance points once.

    Finds the guest on the event's list by the phone's last 4 digits; when two guests share
    them, say which with --customer. --customer alone checks in anyone (a walk-in, even when
    the event is full).

    Example: guanxi events check-in 12 --phone-tail 1234
    """
    db = state(ctx).database()
    try:
        if customer is None:
            if not phone_tail or not (phone_tail.isdigit() and len(phone_tail) == 4):
                raise typer.BadParameter("give --phone-tail with 4 digits, or --customer")
            with db.read() as session:
                events.get_event(session, event_id)
                listed, _ = checkin.find_guests(session, event_id, phone_tail)
            if len(listed) != 1:
                names = ", ".join(f"{g.name} ({g.customer_id}, {mask_phone(g.phone)})"
                                  for g in listed) or "nobody"  # fmt: skip
                raise InvalidInput(f"{len(listed)} guests of event {event_id} have a phone "
                                   f"ending in {phone_tail}: {names}. Use --customer.")  # fmt: skip
            customer = listed[0].customer_id
        done = checkin.check_in(db, None, event_id, customer, now=datetime.now(UTC))
    except GuanxiError as error:
        raise _fail(error) from error
    if not done.first_time:
        console.print(f"Customer {customer} was checked in already, at "
                      f"{done.checked_in_at:%Y-%m-%d %H:%M} UTC: nothing changed.",
                      highlight=False)  # fmt: skip
        return
    notes = [f"{done.points} points credited" if done.points else "no points"]
    if done.walk_in:
        notes.append("a walk-in")
    if done.over_capacity:
        notes.append("more guests than places now")
    console.print(f"Checked in customer {customer} ({', '.join(notes)}).", highlight=False)
