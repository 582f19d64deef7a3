"""The audit log page (owner only): who did what, newest first, filtered and paged."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.services.audit import audit_actions, audit_actors, audit_page
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()


def _number(name: str, text: str) -> int | None:
    """An optional whole number from the query string ('' means not given)."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {text!r}") from None


@router.get("/audit", include_in_schema=False)
def audit_log(
    request: Request,
    action: str = "",
    staff: str = "",
    before: str = "",
    viewer: Viewer = requires(Permission.AUDIT_VIEW),
) -> Response:
    """The log; ``before`` pages to older entries (the id of the last one shown)."""
    ctx = web_context(request)
    actor_id = _number("staff", staff)
    page = audit_page(ctx.db, action=action or None, actor_id=actor_id,
                      before_id=_number("before", before))  # fmt: skip
    context = {"viewer": viewer, "page": page, "action": action, "staff_id": actor_id,
               "actions": audit_actions(), "actors": audit_actors(ctx.db),
               "paged": bool(before)}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "audit/list.html", context)
