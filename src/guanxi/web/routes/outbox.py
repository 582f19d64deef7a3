"""The outbox page for managers, and the public unsubscribe page for customers.

``/care/outbox`` (CAMPAIGNS_SEND): each message with its status (and why it was skipped,
failed or is unknown), filters, requeueing failed messages (``unknown`` ones only when the
manager confirms they were not delivered), the SMS and WeChat exports as CSV files for the
platforms (audited; marketing messages are held back in the quiet hours), and the upload of a
file of SMS replies that records 回复TD opt-outs (audited; in every store, since a withdrawal
is always honoured). Managers see their store's customers, the owner every store.

``/u/{token}`` (PUBLIC, no sign-in): the link at the end of a marketing email. GET only shows
a confirmation page with a button (mail scanners follow links: a GET must change nothing);
POST withdraws the consent on that channel, also when a mail provider posts
``List-Unsubscribe=One-Click`` (RFC 8058). The signed token is the authority, so the POST
carries no staff CSRF token (``requires(Permission.PUBLIC)`` checks none). The page shows
the shop's name only, nothing about the customer.
"""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from guanxi.care import links, opt_outs, outbox, templating
from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.services.import_uploads import check_suffix, copy_limited
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of

router = APIRouter()

PAGE_SIZE = 100
MAX_REPLY_FILE = 20 * 2**20  # bytes: a year of replies of a busy shop is far less


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


@router.get("/care/outbox", include_in_schema=False)
def outbox_page(
    request: Request,
    status: str = "",
    channel: str = "",
    campaign: str = "",
    customer: str = "",
    page: int = 1,
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """Messages newest first, filtered by status, channel, campaign and customer."""
    assert viewer.signed_in is not None
    scope = scope_of(viewer.signed_in)
    status = status if status in outbox.STATUSES else ""
    channel = channel if channel in outbox.CHANNELS else ""
    campaign_id, customer_id = _int(campaign), _int(customer)
    page = max(1, page)
    ctx = web_context(request)
    with ctx.db.read() as session:
        rows = outbox.list_messages(session, status=status or None, channel=channel or None,
                                    campaign_id=campaign_id, customer_id=customer_id,
                                    scope=scope, limit=PAGE_SIZE + 1,
                                    offset=(page - 1) * PAGE_SIZE)  # fmt: skip
        counts = outbox.status_counts(session, scope=scope, campaign_id=campaign_id)
    filters = {"status": status, "channel": channel, "campaign": campaign_id or "",
               "customer": customer_id or ""}  # fmt: skip
    query = {k: v for k, v in filters.items() if v}
    context = {
        "viewer": viewer,
        "rows": rows[:PAGE_SIZE],
        "more": len(rows) > PAGE_SIZE,
        "page": page,
        "counts": counts,
        "filters": filters,
        "query": urlencode(query),
        "statuses": outbox.STATUSES,
        "channels": outbox.CHANNELS,
        "status_text": outbox.STATUS_TEXT,
        "reason_text": outbox.EXCLUSION_REASONS,
        "retried": _int(request.query_params.get("retried")),
        "export_notice": _export_notice(request),
        "opt_out_report": _opt_out_report(request),
        "L": viewer.language,
    }
    return ctx.templates.TemplateResponse(request, "care/outbox.html", context)


def _export_notice(request: Request) -> dict[str, object] | None:
    """After an export that wrote nothing: the channel and how many were skipped and held."""
    channel = request.query_params.get("exported")
    if channel not in ("sms", "wechat"):
        return None
    params = request.query_params
    return {"channel": channel, "skipped": _int(params.get("skipped")) or 0,
            "held": _int(params.get("held")) or 0}  # fmt: skip


def _opt_out_report(request: Request) -> dict[str, int] | None:
    """After recording a file of replies: its counts (from the redirect's query)."""
    found = {k: _int(request.query_params.get(f"optout_{k}"))
             for k in opt_outs.OptOutReport().as_json()}  # fmt: skip
    if all(n is None for n in found.values()):
        return None
    return {k: n or 0 for k, n in found.items()}


@router.post("/care/outbox/retry", include_in_schema=False)
async def retry_messages(
    request: Request,
    confirm_unknown: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """Queue the chosen failed messages again (unknown ones only with the confirmation)."""
    assert viewer.signed_in is not None
    form = await request.form()
    ids = [i for i in (_int(str(v)) for v in form.getlist("message_id")) if i is not None]
    done = outbox.retry(web_context(request).db, ids, now=datetime.now(UTC),
                        actor_id=viewer.signed_in.staff.id, scope=scope_of(viewer.signed_in),
                        include_unknown=confirm_unknown == "yes")  # fmt: skip
    back = parse_qs(str(form.get("back") or ""))
    kept = {k: back[k][0] for k in ("status", "channel", "campaign", "customer") if back.get(k)}
    return RedirectResponse("/care/outbox?" + urlencode({**kept, "retried": done}),
                            status_code=303)  # fmt: skip


def _export(request: Request, viewer: Viewer, channel: str, campaign: str) -> Response:
    """Download the due messages of ``channel`` as a CSV; back to the page when none left."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    campaign_id = _int(campaign)
    buffer = io.StringIO()
    result = outbox.export_csv(ctx.db, buffer, channel, now=datetime.now(UTC),
                               actor_id=viewer.signed_in.staff.id, campaign_id=campaign_id,
                               scope=scope_of(viewer.signed_in),
                               policy=outbox.policy_from_settings(ctx.settings))  # fmt: skip
    skipped = sum(result.skipped.values())
    if not result.exported:  # an empty file helps nobody: say why on the page instead
        query = {"exported": channel, "skipped": skipped, "held": result.held}
        return RedirectResponse("/care/outbox?" + urlencode(query), status_code=303)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = f"{channel}-{campaign_id}-{stamp}.csv" if campaign_id else f"{channel}-{stamp}.csv"
    return Response(
        content=buffer.getvalue().encode("utf-8-sig"),  # the BOM: Excel and platforms read UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "X-Exported": str(result.exported), "X-Skipped": str(skipped),
                 "X-Held": str(result.held)},
    )  # fmt: skip


@router.post("/care/outbox/sms.csv", include_in_schema=False)
def export_sms(
    request: Request,
    campaign: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """Download the due SMS messages as a CSV for an SMS platform; they become 'exported'."""
    return _export(request, viewer, "sms", campaign)


@router.post("/care/outbox/wechat.csv", include_in_schema=False)
def export_wechat(
    request: Request,
    campaign: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """Download the due WeChat messages as a CSV (openid, content); they become 'exported'."""
    return _export(request, viewer, "wechat", campaign)


@router.post("/care/outbox/opt-outs", include_in_schema=False)
def record_opt_outs(
    request: Request,
    file: Annotated[UploadFile | None, File()] = None,
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """Record a file of SMS replies (回复TD): withdraw the SMS consent of those who opted out."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    if file is None or not file.filename:
        raise InvalidInput("choose the file of SMS replies from your SMS platform")
    suffix = check_suffix(file.filename)
    with tempfile.TemporaryDirectory(prefix="guanxi-replies-") as folder:
        path = Path(folder) / f"replies{suffix}"
        copy_limited(file.file, path, max_bytes=MAX_REPLY_FILE,
                     instead="record it with `guanxi outbox opt-outs FILE`")  # fmt: skip
        replies = opt_outs.read_replies(path, timezone=ctx.settings.timezone)
    report = opt_outs.record_opt_out_replies(
        ctx.db, replies, actor_id=viewer.signed_in.staff.id, ip=viewer.ip,
        words=opt_outs.parse_words(ctx.settings.sms_opt_out_words),
    )  # fmt: skip
    query = {f"optout_{k}": n for k, n in report.as_json().items()}
    return RedirectResponse("/care/outbox?" + urlencode(query), status_code=303)


# --- public: unsubscribe -----------------------------------------------------------------------


def _channel_name(channel: str | None) -> str:
    names = {"email": _("emails"), "sms": _("text messages"), "wechat": _("WeChat messages")}
    return names.get(channel or "", _("messages"))


def _unsubscribe_page(
    request: Request, viewer: Viewer, *, state: str, channel: str | None, status_code: int = 200
) -> Response:
    ctx = web_context(request)
    with ctx.db.read() as session:
        shop = templating.shop_name(session, ctx.settings.shop_name)
    context = {
        "viewer": viewer,
        "shop": shop,
        "state": state,  # confirm | done | invalid
        "channel": channel,
        "channel_name": _channel_name(channel),
    }
    response = ctx.templates.TemplateResponse(request, "care/unsubscribe.html", context,
                                              status_code=status_code)  # fmt: skip
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays off other sites' logs
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/u/{token}", include_in_schema=False)
def unsubscribe_confirm(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """The confirmation page (changes nothing: mail scanners open links)."""
    with web_context(request).db.read() as session:
        target = links.link_target(session, token)
    if target is None:
        return _unsubscribe_page(request, viewer, state="invalid", channel=None, status_code=404)
    state = "confirm" if target.subscribed else "done"
    return _unsubscribe_page(request, viewer, state=state, channel=target.channel)


@router.post("/u/{token}", include_in_schema=False)
def unsubscribe_post(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """Withdraw the consent on the link's channel; the button's POST and one-click POSTs."""
    target = links.unsubscribe(web_context(request).db, token, ip=viewer.ip)
    if target is None:
        return _unsubscribe_page(request, viewer, state="invalid", channel=None, status_code=404)
    return _unsubscribe_page(request, viewer, state="done", channel=target.channel)
