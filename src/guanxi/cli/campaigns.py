"""``guanxi campaign``: list campaigns, dry-run one (who gets what, who is excluded and why) and
queue it to the outbox (at most once; ``guanxi outbox send`` delivers).

The terminal acts for the shop owner: every store's customers, audited without a staff member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from guanxi.care import campaigns
from guanxi.cli.common import console, err_console, state
from guanxi.errors import GuanxiError

app = typer.Typer(help="Campaigns (群发): list, dry-run and queue.", no_args_is_help=True)


def _fail(error: GuanxiError) -> typer.Exit:
    err_console.print(f"[red]{error}[/red]", highlight=False)
    return typer.Exit(1)


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the campaigns, newest first, with their status and counts.

    Example: guanxi campaign list --json
    """
    db = state(ctx).database()
    with db.read() as session:
        rows = campaigns.list_campaigns(session, scope=None, limit=1000)
    if as_json:
        console.print_json(json.dumps([{
            "id": r.id, "name": r.name, "kind": r.kind, "channel": r.channel,
            "template": r.template_name, "status": r.status, "recipients": r.recipients,
            "excluded": r.excluded, "holdout_percent": r.holdout_percent,
            "queued_at": r.queued_at.isoformat() if r.queued_at else None,
        } for r in rows]))  # fmt: skip
        return
    if not rows:
        console.print("No campaigns yet: make one on the web page /care/campaigns/new.")
        return
    table = Table("id", "name", "kind", "channel", "template", "status", "recipients",
                  "excluded", "holdout %", "queued at")  # fmt: skip
    for r in rows:
        table.add_row(str(r.id), r.name, r.kind, r.channel, r.template_name, r.status,
                      f"{r.recipients:,}", f"{r.excluded:,}", str(r.holdout_percent),
                      f"{r.queued_at:%Y-%m-%d %H:%M} UTC" if r.queued_at else "")  # fmt: skip
    console.print(table)


@app.command("dry-run")
def dry_run_command(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(metavar="ID", help="The campaign's number.")],
    show: Annotated[
        int, typer.Option("--show", min=0, help="How many recipients' messages to render.")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the dry run as JSON.")] = False,
) -> None:
    """Show who would get what, who is excluded and why, and who would be held out.

    Nothing is queued or changed. Consent, addresses and the frequency cap are checked now.

    Example: guanxi campaign dry-run 3 --show 5 --json
    """
    db = state(ctx).database()
    try:
        run = campaigns.dry_run(db, campaign_id, now=datetime.now(UTC), scope=None, limit=show)
    except GuanxiError as error:
        raise _fail(error) from error
    if as_json:
        console.print_json(json.dumps(run.as_json(), ensure_ascii=False))
        return
    console.print(f"Campaign {campaign_id}: {run.audience:,} customers in the audience, "
                  f"{run.recipient_count:,} would get the message, {len(run.excluded):,} "
                  f"excluded, {len(run.holdout):,} held out"
                  f"{' (queued already)' if run.queued else ''}.", highlight=False)  # fmt: skip
    for reason, count in sorted(run.reasons.items()):
        console.print(f"  excluded, {reason}: {count:,}", highlight=False)
    for r in run.recipients:
        console.print(f"\n[bold]#{r.customer_id} {r.name}[/bold]", highlight=False)
        if r.subject:
            console.print(f"  subject: {r.subject}", highlight=False, markup=False)
        console.print(f"  {r.body}", highlight=False, markup=False)


@app.command("queue")
def queue_command(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(metavar="ID", help="The campaign's number.")],
) -> None:
    """Draw the holdout and queue one message per eligible customer (audited).

    Queueing a campaign twice queues nothing new. The outbox sends the messages
    (``guanxi outbox send``), checking consent again at send time.

    Example: guanxi campaign queue 3
    """
    db = state(ctx).database()
    try:
        result = campaigns.queue_campaign(db, campaign_id, now=datetime.now(UTC), actor_id=None,
                                          scope=None)  # fmt: skip
    except GuanxiError as error:
        raise _fail(error) from error
    if result.already_queued:
        console.print(f"Campaign {campaign_id} was queued before: nothing new queued.",
                      highlight=False)  # fmt: skip
        return
    console.print(f"Campaign {campaign_id}: {result.queued:,} messages queued, "
                  f"{result.excluded:,} excluded, {result.holdout:,} held out.",
                  highlight=False)  # fmt: skip
    for reason, count in sorted(result.reasons.items()):
        console.print(f"  excluded, {reason}: {count:,}", highlight=False)
