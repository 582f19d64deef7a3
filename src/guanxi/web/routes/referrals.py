"""Pages for the referral graph and advocate ranking, and attaching a referrer to a customer.

``/referrals`` is for managers (their store's customers, referrers and referred alike) and the
owner (every store): the advocates ranked by a chosen measure, and the referral forest drawn as
inline SVG laid out on the server (no script, no CDN), with a nested list that says the same.
Attaching a referrer (by code, or by phone within the viewer's store) is a customer edit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from guanxi.domain.access import Permission
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.loyalty.referrals import (
    MEASURES,
    REASON_TEXT,
    InvalidReferral,
    ReferralRefused,
    advocate_ranking,
    attach_referrer,
    referral_forest,
)
from guanxi.services.customers import customer_in_scope
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import _detail_context, scope_of

router = APIRouter()

MAX_TREES = 20  # the graph draws the largest trees only; the page says how many there are
MAX_ADVOCATES = 100


@router.get("/referrals", include_in_schema=False)
def referrals_page(
    request: Request, by: str = "spend", viewer: Viewer = requires(Permission.ANALYTICS_VIEW)
) -> Response:
    """The advocate ranking (by ``by``) and the referral forest of the viewer's stores."""
    assert viewer.signed_in is not None
    scope = scope_of(viewer.signed_in)
    measure = by if by in MEASURES else "spend"
    db = web_context(request).db
    context = {
        "viewer": viewer,
        "L": labels,
        "measure": measure,
        "measures": MEASURES,
        "advocates": advocate_ranking(db, store_scope=scope, by=measure, limit=MAX_ADVOCATES),
        "forest": referral_forest(db, store_scope=scope, max_trees=MAX_TREES),
        "scope": scope,
    }
    return web_context(request).templates.TemplateResponse(request, "referrals/index.html",
                                                           context)  # fmt: skip


def _error_text(exc: Exception) -> str:
    """The refusal in the viewer's language."""
    if isinstance(exc, InvalidReferral | ReferralRefused):
        return _(REASON_TEXT[exc.reason])
    if isinstance(exc, NotFound):
        return _("No customer has that referral code or phone number (phones: your store only).")
    return str(exc)


@router.post("/customers/{customer_id}/referrer", include_in_schema=False)
def attach_referrer_page(
    request: Request,
    customer_id: int,
    referrer: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record who referred this customer; back to the page, or the page with the reason."""
    assert viewer.signed_in is not None
    scope = scope_of(viewer.signed_in)
    db = web_context(request).db
    if not customer_in_scope(db, customer_id, scope):
        raise NotFound(f"customer {customer_id} does not exist")
    typed = referrer.strip()
    error = _("Type the referrer's referral code or phone number.") if not typed else ""
    if not error:
        try:
            attach_referrer(db, customer_id, typed, actor_id=viewer.signed_in.staff.id,
                            store_scope=scope,
                            ip=request.client.host if request.client else None)  # fmt: skip
        except (InvalidInput, Conflict, NotFound) as exc:
            error = _error_text(exc)
        else:
            return RedirectResponse(f"/customers/{customer_id}?referral=attached#referrals",
                                    status_code=303)  # fmt: skip
    context = _detail_context(request, viewer, customer_id)
    context.update(referral_form=typed, referral_error=error)
    return web_context(request).templates.TemplateResponse(
        request, "customers/detail.html", context, status_code=422
    )
