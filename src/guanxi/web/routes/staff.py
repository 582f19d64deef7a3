"""The owner's staff page: who works here, their role and store; add, change, deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from guanxi.domain.access import Permission
from guanxi.domain.staff import Role
from guanxi.errors import GuanxiError, InvalidInput
from guanxi.services.staff import add_staff, change_staff, list_stores, staff_rows
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()


def _page(request: Request, viewer: Viewer, *, error: str | None = None,
          status: int = 200) -> Response:  # fmt: skip
    ctx = web_context(request)
    context = {"viewer": viewer, "staff": staff_rows(ctx.db), "stores": list_stores(ctx.db),
               "roles": list(Role), "error": error}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "staff/list.html", context, status_code=status)


@router.get("/staff", include_in_schema=False)
def staff_page(request: Request, viewer: Viewer = requires(Permission.STAFF_MANAGE)) -> Response:
    return _page(request, viewer)


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InvalidInput(f"unknown role {text!r}: owner, manager or clerk") from None


def _store(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


@router.post("/staff", include_in_schema=False)
def add_member(
    request: Request,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    store: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.STAFF_MANAGE),
) -> Response:
    """Add a staff member; with a user name and password they can sign in."""
    ctx = web_context(request)
    try:
        add_staff(ctx.db, name, _role(role), hasher=ctx.hasher, username=username or None,
                  password=password or None, store_id=_store(store),
                  actor_id=viewer.staff_id)  # fmt: skip
    except GuanxiError as exc:
        return _page(request, viewer, error=str(exc), status=422)
    return RedirectResponse("/staff", 303)


@router.post("/staff/{staff_id}", include_in_schema=False)
def change_member(
    request: Request,
    staff_id: int,
    role: Annotated[str, Form()],
    store: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.STAFF_MANAGE),
) -> Response:
    """Change role, store or active flag; the member's sessions end so it applies at once."""
    assert viewer.staff_id is not None
    try:
        change_staff(web_context(request).db, staff_id, role=_role(role), store_id=_store(store),
                     is_active=bool(active), actor_id=viewer.staff_id, ip=viewer.ip)  # fmt: skip
    except GuanxiError as exc:
        return _page(request, viewer, error=str(exc), status=422)
    return RedirectResponse("/staff", 303)
