"""``guanxi demo``: build the deterministic demo shop."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from guanxi.cli.common import console, parse_day, stage_bar, state
from guanxi.domain.staff import Role
from guanxi.services.demo import DEMO_END, build_demo, start_points_programme
from guanxi.services.demo.care import build_care
from guanxi.services.demo.clubs import build_clubs
from guanxi.services.demo.complaints import build_complaints
from guanxi.services.demo.loyalty import start_loyalty
from guanxi.services.demo.service_plans import build_service_plans
from guanxi.services.demo.surveys import build_surveys
from guanxi.services.scoring import ScoringOptions, run_scoring, score_history
from guanxi.services.staff import list_staff, make_hasher, set_login
from guanxi.storage.db import Database

DEMO_SCORED_MONTHS = 12  # monthly score snapshots, so the ladder and trends have a history


def demo_command(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same shop.")] = 42,
    customers: Annotated[
        int, typer.Option("--customers", min=1, help="How many customers to create.")
    ] = 5000,
    end: Annotated[
        date,
        typer.Option(
            "--end",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Last day of the three years of sales.",
        ),
    ] = DEMO_END,
) -> None:
    """Build a demo tea shop (stores, staff, customers, 3 years of sales) into an empty database.

    The customers are then scored as of the last 12 month ends (guanxi analytics run), and a
    points programme starts 30 days before the end: those purchases earn points, and the
    tiers, rewards, coupons, stored-value cards and referrals get a history of their own.
    Clubs with past and coming events, service plans, complaints in every state and survey
    answers follow, and the last month is scored again with them.

    Example: guanxi --db demo.db demo --seed 42 --customers 5000
    """
    database = state(ctx).database()
    with stage_bar("Starting") as report:
        summary = build_demo(database, seed=seed, customers=customers, end=end, progress=report)
        care = build_care(database, end, seed=seed, progress=report)  # its purchases get scored
        options = ScoringOptions.for_shop(state(ctx).settings, end)
        score_history(database, options, months=DEMO_SCORED_MONTHS, progress=report)
        start_points_programme(database, end, progress=report)
        loyalty = start_loyalty(database, end, seed=seed, progress=report)
        clubs = build_clubs(database, end, seed=seed, progress=report)
        report("Service plans, complaints and surveys", 0, 1)
        plans = build_service_plans(database, end, seed=seed)
        complaints = build_complaints(database, end, seed=seed)
        surveys = build_surveys(database, end, seed=seed)
        report("Scores with events and surveys", 0, 1)
        run_scoring(database, options)  # the last month again: events and answers count now
    logins = _give_logins(database)
    rows = [*summary.rows(), *loyalty.rows(), *care.rows(), *clubs.rows(), *plans.rows(),
            *complaints.rows(), *surveys.rows()]  # fmt: skip
    _print_summary(rows, database)
    _print_logins(logins)


DEMO_PASSWORD = "guanxi-demo"


def _give_logins(database: Database) -> list[tuple[str, str, str]]:
    """Every demo staff member gets a sign-in: owner, manager1.., clerk1.. (demo password)."""
    hasher = make_hasher()
    counts: dict[Role, int] = {}
    logins = []
    for member in list_staff(database):
        counts[member.role] = counts.get(member.role, 0) + 1
        n = counts[member.role]
        username = "owner" if member.role is Role.OWNER and n == 1 else f"{member.role.value}{n}"
        set_login(database, member.id, username, DEMO_PASSWORD, hasher=hasher)
        logins.append((username, member.name, member.role.value))
    return logins


def _print_logins(logins: list[tuple[str, str, str]]) -> None:
    table = Table("user name", "name", "role", title=f"Demo sign-ins (password: {DEMO_PASSWORD})",
                  title_justify="left")  # fmt: skip
    for row in logins:
        table.add_row(*row)
    console.print(table)


def _print_summary(rows: list[tuple[str, str]], database: Database) -> None:
    """The summary table, then where to go next."""
    table = Table(title="Demo shop ready", show_header=False, title_justify="left")
    table.add_column("What", style="bold")
    table.add_column("Value")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    where = database.url.database if database.is_sqlite else None
    db_option = f"--db {where} " if where else ""
    console.print(
        f"Serve the web UI with: guanxi {db_option}serve   (then open http://127.0.0.1:8000)\n"
        f"Or search from here:  guanxi {db_option}customers search <query>",
        highlight=False,
        soft_wrap=True,
    )
