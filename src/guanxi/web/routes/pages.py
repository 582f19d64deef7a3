"""Small pages: home, health, language choice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.services.staff import set_locale
from guanxi.web.access import requires
from guanxi.web.context import LANGUAGE_COOKIE, Viewer, web_context
from guanxi.web.i18n import LANGUAGES

router = APIRouter()
YEAR = 365 * 24 * 3600


@router.get("/healthz", include_in_schema=False)
def health(viewer: Viewer = requires(Permission.PUBLIC)) -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/", include_in_schema=False)
def home(viewer: Viewer = requires(Permission.SIGNED_IN)) -> Response:
    """The day starts at the agenda: who to contact today and why."""
    return RedirectResponse("/agenda", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only redirect within the site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _language_cookie(request: Request, response: Response, code: str) -> Response:
    secure = web_context(request).settings.cookie_secure
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=YEAR, httponly=True, samesite="lax",
                        secure=secure)  # fmt: skip
    return response


@router.get("/lang/{code}", include_in_schema=False)
def choose_language(
    request: Request, code: str, next: str = "/", viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """Set this browser's language (used on the sign-in page; changes nothing stored)."""
    if code not in LANGUAGES:
        raise InvalidInput(f"unknown language {code!r}: use one of {', '.join(LANGUAGES)}")
    return _language_cookie(request, RedirectResponse(_safe_next(next), 303), code)


@router.post("/me/language", include_in_schema=False)
def save_language(
    request: Request,
    code: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    viewer: Viewer = requires(Permission.SIGNED_IN),
) -> Response:
    """Remember the signed-in staff member's language, on every browser they use."""
    if code not in LANGUAGES:
        raise InvalidInput(f"unknown language {code!r}: use one of {', '.join(LANGUAGES)}")
    assert viewer.staff_id is not None
    set_locale(web_context(request).db, viewer.staff_id, code)
    return _language_cookie(request, RedirectResponse(_safe_next(next), 303), code)
