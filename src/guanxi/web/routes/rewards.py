"""Pages for the rewards catalog (owner) and redeeming rewards.

The owner keeps the catalog at /loyalty/rewards: a list with an add form, an edit page per
reward, and a deactivate button (rewards are never deleted, their redemptions stay). The form
keeps what was typed (``RewardForm``, strings) and puts each error next to its field.

On the customer page a clerk redeems a reward the customer can afford; a hidden per-form key
makes a double submit redeem once. A manager or the owner may cancel a redemption (audited):
its stock and points go back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.loyalty import rewards
from guanxi.loyalty.ledger import IdempotencyConflict, InsufficientPoints
from guanxi.loyalty.rewards import (
    KIND_LABELS,
    Kind,
    LimitReached,
    OutOfStock,
    RewardDraft,
    RewardNotAvailable,
)
from guanxi.services.customer_points import new_form_key
from guanxi.services.customer_rewards import rewards_section
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import _detail_context
from guanxi.web.routes.loyalty import KEY, MAX_POINTS, _integer, _visible

router = APIRouter()


@dataclass
class RewardForm:
    """The reward form as typed."""

    kind: str = "goods"
    name: str = ""
    description: str = ""
    points_cost: str = ""
    stock: str = ""
    valid_from: str = ""
    valid_until: str = ""
    per_customer_limit: str = ""
    coupon_campaign_id: str = ""
    active: str = "1"

    @classmethod
    def of(cls, r: rewards.RewardView) -> RewardForm:
        def text(value: object) -> str:
            return "" if value is None else str(value)

        return cls(
            r.kind, r.name, r.description or "", str(r.points_cost), text(r.stock),
            text(r.valid_from), text(r.valid_until), text(r.per_customer_limit),
            text(r.coupon_campaign_id), "1" if r.active else "",
        )  # fmt: skip

    def parse(self) -> tuple[RewardDraft | None, dict[str, str]]:
        """The draft the form describes, or None and the errors per field."""
        errors: dict[str, str] = {}
        if self.kind not in set(Kind):
            errors["kind"] = _("Choose what the reward is from the list.")
        if not self.name.strip():
            errors["name"] = _("Give the reward a name.")
        cost = _number(errors, "points_cost", self.points_cost, low=1, required=True)
        stock = _number(errors, "stock", self.stock, low=0)
        limit = _number(errors, "per_customer_limit", self.per_customer_limit, low=1)
        campaign = _number(errors, "coupon_campaign_id", self.coupon_campaign_id, low=1)
        start = _day(errors, "valid_from", self.valid_from)
        end = _day(errors, "valid_until", self.valid_until)
        if start and end and end < start:
            errors["valid_until"] = _("The last day must not be before the first day.")
        if errors:
            return None, errors
        assert cost is not None
        draft = RewardDraft(self.kind, self.name, cost, self.description, stock, start, end,
                            limit, bool(self.active), campaign)  # fmt: skip
        try:
            return draft.validate(), {}
        except InvalidInput as exc:
            return None, {"form": str(exc)}


def _number(
    errors: dict[str, str], name: str, text: str, *, low: int, required: bool = False
) -> int | None:
    if not text.strip():
        if required:
            errors[name] = _("Type a whole number.")
        return None
    number = _integer(text)
    if number is None or not low <= number <= MAX_POINTS:
        errors[name] = _("Type a whole number from %(low)s to %(high)s.") % {
            "low": low,
            "high": MAX_POINTS,
        }
        return None
    return number


def _day(errors: dict[str, str], name: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors[name] = _("Type a date as YYYY-MM-DD, or leave it empty.")
        return None


async def posted_reward(request: Request) -> RewardForm:
    form = await request.form()
    values = {}
    for f in fields(RewardForm):
        value = form.get(f.name)
        values[f.name] = value.strip() if isinstance(value, str) else ""
    return RewardForm(**values)


def _catalog_page(
    request: Request,
    viewer: Viewer,
    form: RewardForm,
    *,
    reward_id: int | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    db = web_context(request).db
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "errors": errors or {},
        "done": done,
        "kinds": [(k.value, _(KIND_LABELS[k])) for k in Kind],
        "kind_label": {k.value: _(KIND_LABELS[k]) for k in Kind},
        "rewards": rewards.list_rewards(db) if reward_id is None else [],
        "reward_id": reward_id,
    }
    template = "rewards/catalog.html" if reward_id is None else "rewards/edit.html"
    return web_context(request).templates.TemplateResponse(
        request, template, context, status_code=status
    )


@router.get("/loyalty/rewards", include_in_schema=False)
def catalog_page(
    request: Request, done: str = "", viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """The rewards catalog with an add form."""
    return _catalog_page(request, viewer, RewardForm(), done=done)


@router.post("/loyalty/rewards", include_in_schema=False)
def add_reward(
    request: Request,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: RewardForm = Depends(posted_reward),
) -> Response:
    """Add a reward (audited); back to the catalog, or the form with what is wrong."""
    assert viewer.signed_in is not None
    draft, errors = form.parse()
    if draft is not None:
        rewards.create_reward(web_context(request).db, viewer.signed_in.staff, draft)
        return RedirectResponse("/loyalty/rewards?done=added", status_code=303)
    return _catalog_page(request, viewer, form, errors=errors, status=422)


@router.get("/loyalty/rewards/{reward_id}", include_in_schema=False)
def edit_page(
    request: Request, reward_id: int, viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """One reward's form, to change it."""
    found = rewards.get_reward(web_context(request).db, reward_id)
    return _catalog_page(request, viewer, RewardForm.of(found), reward_id=reward_id)


@router.post("/loyalty/rewards/{reward_id}", include_in_schema=False)
def save_reward(
    request: Request,
    reward_id: int,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: RewardForm = Depends(posted_reward),
) -> Response:
    """Change a reward (audited); back to the catalog, or the form with what is wrong."""
    assert viewer.signed_in is not None
    db = web_context(request).db
    rewards.get_reward(db, reward_id)  # 404 before looking at the form
    draft, errors = form.parse()
    if draft is not None:
        rewards.update_reward(db, viewer.signed_in.staff, reward_id, draft)
        return RedirectResponse("/loyalty/rewards?done=saved", status_code=303)
    return _catalog_page(request, viewer, form, reward_id=reward_id, errors=errors, status=422)


@router.post("/loyalty/rewards/{reward_id}/deactivate", include_in_schema=False)
def deactivate(
    request: Request, reward_id: int, viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """Take a reward off the catalog (audited)."""
    assert viewer.signed_in is not None
    rewards.deactivate_reward(web_context(request).db, viewer.signed_in.staff, reward_id)
    return RedirectResponse("/loyalty/rewards?done=deactivated", status_code=303)


# --- on the customer page --------------------------------------------------------------------


def _refusal(exc: Exception) -> str:
    """Why a redemption was refused, in the request's language."""
    if isinstance(exc, InsufficientPoints):
        return _("Not enough points: the balance is %(balance)s, the reward costs %(cost)s.") % {
            "balance": labels.number(exc.balance),
            "cost": labels.number(exc.asked),
        }
    if isinstance(exc, OutOfStock):
        return _("This reward is out of stock.")
    if isinstance(exc, LimitReached):
        return _("This customer has redeemed this reward as often as allowed (%(n)s).") % {
            "n": exc.limit
        }
    if isinstance(exc, RewardNotAvailable):
        return _("This reward is not offered today.")
    return _("This form was already used for another redemption: reload the page.")


def _customer_page(
    request: Request, viewer: Viewer, customer_id: int, error: str, status: int = 409
) -> Response:
    context = _detail_context(request, viewer, customer_id)
    context["rewards"] = rewards_section(web_context(request).db, customer_id, error=error)
    return web_context(request).templates.TemplateResponse(
        request, "customers/detail.html", context, status_code=status
    )


@router.post("/customers/{customer_id}/rewards/{reward_id}/redeem", include_in_schema=False)
def redeem(
    request: Request,
    customer_id: int,
    reward_id: int,
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Redeem a reward for the customer's points at the viewer's store; back to the customer's
    page, or the page saying why not."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    staff = viewer.signed_in.staff
    key = key if KEY.fullmatch(key) else new_form_key()
    try:
        rewards.redeem_reward(web_context(request).db, customer_id, reward_id,
                              actor_id=staff.id, idempotency_key=f"web-reward:{key}",
                              store_id=staff.store_id)  # fmt: skip
    except (InsufficientPoints, OutOfStock, LimitReached, RewardNotAvailable,
            IdempotencyConflict) as exc:  # fmt: skip
        return _customer_page(request, viewer, customer_id, _refusal(exc))
    return RedirectResponse(f"/customers/{customer_id}?rewards=redeemed#rewards", status_code=303)


@router.post(
    "/customers/{customer_id}/rewards/redemptions/{redemption_id}/cancel",
    include_in_schema=False,
)
def cancel(
    request: Request,
    customer_id: int,
    redemption_id: int,
    reason: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.POINTS_ADJUST),
) -> Response:
    """A manager or the owner undoes a redemption (audited): stock and points go back."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    db = web_context(request).db
    rewards.redemption_of(db, customer_id, redemption_id)  # 404 unless it is this customer's
    if not reason.strip():
        why = _("Give a reason for cancelling the redemption.")
        return _customer_page(request, viewer, customer_id, why, status=422)
    rewards.cancel_redemption(db, viewer.signed_in.staff, redemption_id, reason=reason)
    return RedirectResponse(f"/customers/{customer_id}?rewards=cancelled#rewards", status_code=303)
