"""``guanxi outbox``: send the due messages (at most once each) and see the outbox's state.

The terminal acts for the shop owner (every store; audited without a staff member).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from guanxi.care import outbox
from guanxi.care.channels import channels_from_settings
from guanxi.cli.common import console, err_console, state
from guanxi.errors import GuanxiError

app = typer.Typer(help="The outbox (消息队列): send due messages, see their status.",
                  no_args_is_help=True)  # fmt: skip

STALE_AFTER = timedelta(minutes=10)  # far longer than one message takes to send


def _fail(error: GuanxiError) -> typer.Exit:
    err_console.print(f"[red]{error}[/red]", highlight=False)
    return typer.Exit(1)


@app.command("send")
def send_command(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Send at most this many messages.")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Send the due messages of the configured channels (email through GUANXI_SMTP_HOST).

    Consent, address and the weekly limit are checked again for each message; marketing
    messages wait for the end of the quiet hours. Messages left 'sending' by a crash become
    'unknown' first and are never resent. SMS without a gateway stay queued for the CSV export
    (guanxi outbox export-sms).

    Example: guanxi outbox send --limit 200
    """
    st = state(ctx)
    db = st.database()
    now = datetime.now(UTC)
    try:
        channels = channels_from_settings(st.settings)
        recovered = outbox.recover_stale(db, now=now, older_than=STALE_AFTER)
        report = outbox.send_due(db, now=now, channels=channels, limit=limit,
                                 policy=outbox.policy_from_settings(st.settings))  # fmt: skip
    except GuanxiError as error:
        raise _fail(error) from error
    if as_json:
        console.print_json(json.dumps({**report.as_json(), "recovered_unknown": recovered,
                                       "channels": sorted(channels)}))  # fmt: skip
        return
    if not channels:
        console.print("No channel is configured (set GUANXI_SMTP_HOST for email): nothing sent.",
                      highlight=False)  # fmt: skip
    console.print(f"{report.sent:,} sent, {report.retrying:,} refused and queued again, "
                  f"{report.failed:,} failed, {report.unknown:,} of unknown outcome, "
                  f"{sum(report.skipped.values()):,} skipped, {report.deferred:,} held for "
                  "the quiet hours.", highlight=False)  # fmt: skip
    for reason, count in sorted(report.skipped.items()):
        console.print(f"  skipped, {reason}: {count:,}", highlight=False)
    if recovered:
        console.print(f"{recovered:,} messages interrupted while sending were marked unknown.",
                      highlight=False)  # fmt: skip


@app.command("status")
def status_command(
    ctx: typer.Context,
    campaign: Annotated[
        int | None, typer.Option("--campaign", help="Only this campaign's messages.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Count the messages in each status (queued, sent, failed, unknown, skipped…).

    Example: guanxi outbox status --campaign 3 --json
    """
    db = state(ctx).database()
    with db.read() as session:
        counts = outbox.status_counts(session, campaign_id=campaign)
        due = outbox.list_messages(session, status="queued", campaign_id=campaign, limit=1)
    if as_json:
        console.print_json(json.dumps(counts))
        return
    table = Table("status", "messages", title="Outbox" + (f" of campaign {campaign}"
                                                          if campaign else ""))  # fmt: skip
    for status, count in counts.items():
        table.add_row(status, f"{count:,}")
    console.print(table)
    if due:
        console.print("Send the queued messages with: guanxi outbox send", highlight=False)


@app.command("export-sms")
def export_sms_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV file to write.")],
    campaign: Annotated[
        int | None, typer.Option("--campaign", help="Only this campaign's messages.")
    ] = None,
) -> None:
    """Write the due SMS messages as a CSV (phone,content) for an SMS platform (audited).

    The exported messages count as sent and are not exported again.

    Example: guanxi outbox export-sms sms.csv --campaign 3
    """
    st = state(ctx)
    db = st.database()
    try:
        fh = path.open("x", encoding="utf-8-sig", newline="")  # never overwrite a file
    except FileExistsError:
        raise _fail(GuanxiError(f"{path} exists already: choose another file name")) from None
    except OSError as exc:
        raise _fail(GuanxiError(f"cannot write {path}: {exc.strerror}")) from exc
    try:
        with fh:
            result = outbox.sms_csv(db, fh, now=datetime.now(UTC), actor_id=None,
                                    campaign_id=campaign,
                                    policy=outbox.policy_from_settings(st.settings))  # fmt: skip
    except GuanxiError as error:
        path.unlink(missing_ok=True)
        raise _fail(error) from error
    console.print(f"{result.exported:,} SMS written to {path}; "
                  f"{sum(result.skipped.values()):,} skipped.", highlight=False)  # fmt: skip
    for reason, count in sorted(result.skipped.items()):
        console.print(f"  skipped, {reason}: {count:,}", highlight=False)
