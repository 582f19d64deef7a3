"""``guanxi outbox``: send the due messages (at most once each) and see the outbox's state.

The terminal acts for the shop owner (every store; audited without a staff member).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.care import opt_outs, outbox
from guanxi.care.channels import channels_from_settings
from guanxi.cli.common import console, err_console, state
from guanxi.errors import GuanxiError

app = typer.Typer(help="The outbox (消息队列): send due messages, see their status.",
                  no_args_is_help=True)  # fmt: skip

STALE_MINUTES = 10  # far longer than one message takes to send


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
    stale_after: Annotated[
        int,
        typer.Option(
            "--stale-after",
            min=0,
            metavar="MINUTES",
            help="Mark messages 'sending' for longer than this 'unknown'.",
        ),
    ] = STALE_MINUTES,
) -> None:
    """Send the due messages of the configured channels (email, SMS and WeChat gateways).

    Consent, address and the weekly limit are checked again for each message; marketing
    messages wait for the end of the quiet hours. Sending is at most once: a message is
    marked 'sending' before it is handed over, so one left 'sending' by a crash (kill, power
    cut) is never resent: after --stale-after minutes it becomes 'unknown' for review
    (requeue it on /care/outbox once you know it did not arrive). Several senders may run at
    once; none sends a message another one took. SMS and WeChat messages without a gateway
    (GUANXI_SMS_GATEWAY, GUANXI_WECHAT_GATEWAY) stay queued for the CSV exports
    (guanxi outbox export-sms, export-wechat).

    Example: guanxi outbox send --limit 200
    """
    st = state(ctx)
    db = st.database()
    now = datetime.now(UTC)
    try:
        channels = channels_from_settings(st.settings)
        recovered = outbox.recover_stale(db, now=now, older_than=timedelta(minutes=stale_after))
        report = outbox.send_due(db, now=now, channels=channels, limit=limit,
                                 policy=outbox.policy_from_settings(st.settings))  # fmt: skip
        with db.read() as session:
            still_sending = outbox.status_counts(session)["sending"]
    except GuanxiError as error:
        raise _fail(error) from error
    if as_json:
        console.print_json(json.dumps({**report.as_json(), "recovered_unknown": recovered,
                                       "still_sending": still_sending,
                                       "channels": sorted(channels)}))  # fmt: skip
        return
    if not channels:
        console.print("No channel is configured (GUANXI_SMTP_HOST for email, "
                      "GUANXI_SMS_GATEWAY, GUANXI_WECHAT_GATEWAY): nothing sent.",
                      highlight=False)  # fmt: skip
    console.print(f"{report.sent:,} sent, {report.retrying:,} refused and queued again, "
                  f"{report.failed:,} failed, {report.unknown:,} of unknown outcome, "
                  f"{sum(report.skipped.values()):,} skipped, {report.deferred:,} held for "
                  "the quiet hours.", highlight=False)  # fmt: skip
    for reason, count in sorted(report.skipped.items()):
        console.print(f"  skipped, {reason}: {count:,}", highlight=False)
    if recovered:
        console.print(f"{recovered:,} messages interrupted while sending were marked unknown: "
                      "they are not resent; check them on /care/outbox.",
                      highlight=False)  # fmt: skip
    if still_sending:
        console.print(f"{still_sending:,} messages are still 'sending' (another sender at "
                      "work, or one interrupted less than --stale-after minutes ago): they are "
                      "not resent; interrupted ones become unknown later.",
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


def _export(ctx: typer.Context, path: Path, channel: str, campaign: int | None) -> None:
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
            result = outbox.export_csv(db, fh, channel, now=datetime.now(UTC), actor_id=None,
                                       campaign_id=campaign,
                                       policy=outbox.policy_from_settings(st.settings))  # fmt: skip
    except GuanxiError as error:
        path.unlink(missing_ok=True)
        raise _fail(error) from error
    console.print(f"{result.exported:,} messages written to {path}; "
                  f"{sum(result.skipped.values()):,} skipped.", highlight=False)  # fmt: skip
    for reason, count in sorted(result.skipped.items()):
        console.print(f"  skipped, {reason}: {count:,}", highlight=False)
    if result.held and result.held_until is not None:
        until = result.held_until.astimezone(ZoneInfo(st.settings.timezone))
        console.print(f"{result.held:,} marketing messages not exported: it is the quiet hours "
                      f"(GUANXI_QUIET_HOURS); export them again after {until:%Y-%m-%d %H:%M}.",
                      highlight=False)  # fmt: skip


@app.command("export-sms")
def export_sms_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV file to write.")],
    campaign: Annotated[
        int | None, typer.Option("--campaign", help="Only this campaign's messages.")
    ] = None,
) -> None:
    """Write the due SMS messages as a CSV (phone,content) for an SMS platform (audited).

    The exported messages count as sent and are not exported again. In the quiet hours the
    marketing messages are left queued (the platform would send them at once).

    Example: guanxi outbox export-sms sms.csv --campaign 3
    """
    _export(ctx, path, "sms", campaign)


@app.command("export-wechat")
def export_wechat_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV file to write.")],
    campaign: Annotated[
        int | None, typer.Option("--campaign", help="Only this campaign's messages.")
    ] = None,
) -> None:
    """Write the due WeChat messages as a CSV (openid,content) for a WeChat platform (audited).

    For shops without GUANXI_WECHAT_GATEWAY. The same rules as export-sms: consent checked,
    exported messages count as sent, marketing messages held in the quiet hours.

    Example: guanxi outbox export-wechat wechat.csv --campaign 3
    """
    _export(ctx, path, "wechat", campaign)


@app.command("opt-outs")
def opt_outs_command(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV or spreadsheet of SMS replies.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Record 回复TD replies: withdraw the SMS consent of customers who replied an opt-out word.

    The file comes from the SMS platform (columns phone, text and optionally time, or
    手机号码, 回复内容, 回复时间). Opt-out words: GUANXI_SMS_OPT_OUT_WORDS (TD, T, 退订, N,
    unsubscribe, STOP). Recording the same file again changes nothing (audited).

    Example: guanxi outbox opt-outs replies.csv
    """
    st = state(ctx)
    try:
        replies = opt_outs.read_replies(path, timezone=st.settings.timezone)
        report = opt_outs.record_opt_out_replies(
            st.database(), replies, actor_id=None,
            words=opt_outs.parse_words(st.settings.sms_opt_out_words),
        )  # fmt: skip
    except GuanxiError as error:
        raise _fail(error) from error
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    console.print(f"{report.opted_out:,} opted out, {report.already_opted_out:,} already opted "
                  f"out, {report.consented_since:,} consented again since their reply (kept), "
                  f"{report.unknown_phone:,} unknown phone, {report.not_opt_out:,} not an "
                  "opt-out word.", highlight=False)  # fmt: skip
