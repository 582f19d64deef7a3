"""Sign in and out. The sign-in form is protected by a double-submit CSRF cookie."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from guanxi.domain.access import Permission
from guanxi.services.staff import SignInRefused, TooManyAttempts, sign_in, sign_out
from guanxi.services.staff import sign_out_everywhere as end_all_sessions
from guanxi.web.access import CsrfRefused, requires
from guanxi.web.context import PRE_CSRF_COOKIE, SESSION_COOKIE, Viewer, web_context
from guanxi.web.routes.pages import _safe_next

router = APIRouter()


def _login_page(
    request: Request, *, error: str | None, next_url: str, status: int = 200, username: str = ""
) -> Response:
    token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24)
    ctx = web_context(request)
    response = ctx.templates.TemplateResponse(
        request, "auth/login.html",
        {"error": error, "next": next_url, "csrf_token": token, "username": username},
        status_code=status,
    )  # fmt: skip
    response.set_cookie(PRE_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx.settings.cookie_secure)  # fmt: skip
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/",
               viewer: Viewer = requires(Permission.PUBLIC)) -> Response:  # fmt: skip
    if viewer.signed_in:
        return RedirectResponse(_safe_next(next), 303)
    return _login_page(request, error=None, next_url=_safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    viewer: Viewer = requires(Permission.PUBLIC),
) -> Response:
    expected = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise CsrfRefused("the sign-in form expired: reload the page and try again")
    ctx = web_context(request)
    _ = viewer.language.translations.gettext
    try:
        token, _signed = sign_in(ctx.db, username, password, ip=viewer.ip, hasher=ctx.hasher,
                                 policy=ctx.policy)  # fmt: skip
    except SignInRefused:
        return _login_page(request, error=_("Wrong user name or password."),
                           next_url=_safe_next(next), status=401, username=username)  # fmt: skip
    except TooManyAttempts as exc:
        response = _login_page(
            request,
            error=_("Too many failed sign-ins. Try again later."),
            next_url=_safe_next(next),
            status=429,
            username=username,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(_safe_next(next), 303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=ctx.settings.cookie_secure,
                        max_age=int(ctx.policy.absolute.total_seconds()))  # fmt: skip
    response.delete_cookie(PRE_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, viewer: Viewer = requires(Permission.SIGNED_IN)) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sign_out(web_context(request).db, token)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/logout/everywhere", include_in_schema=False)
def logout_everywhere(request: Request,
                      viewer: Viewer = requires(Permission.SIGNED_IN)) -> Response:  # fmt: skip
    assert viewer.staff_id is not None
    end_all_sessions(web_context(request).db, viewer.staff_id, ip=viewer.ip)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response
