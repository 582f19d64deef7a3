"""Access control for every route: each declares one Permission through ``requires``.

``requires(permission)`` is a FastAPI dependency that finds the signed-in staff member from the
session cookie, checks the role holds the permission, checks the CSRF token on every unsafe
request (forms send the ``csrf_token`` field, HTMX the ``X-CSRF-Token`` header), sets the
request's language, and returns a ``Viewer``. ``route_permission`` reads the declaration back,
which the access-matrix test uses.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from guanxi.domain.access import Permission, is_allowed
from guanxi.errors import GuanxiError
from guanxi.services.staff import SignedIn, find_session
from guanxi.web import i18n
from guanxi.web.context import LANGUAGE_COOKIE, SESSION_COOKIE, Viewer, web_context

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(GuanxiError):
    """No valid session: pages redirect to the sign-in page, the API answers 401."""


class Forbidden(GuanxiError):
    """Signed in, but the role lacks the permission."""


class CsrfRefused(GuanxiError):
    """An unsafe request without the session's CSRF token."""


class Guard:
    """The dependency behind ``requires``; keeps the permission for introspection."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Viewer:
        ctx = web_context(request)
        signed = _session(request)
        code = i18n.choose(signed.staff.locale if signed else None,
                           request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language"))  # fmt: skip
        viewer = Viewer(signed, i18n.language(code, ctx.settings.timezone), _ip(request))
        i18n.current.set(viewer.language)
        request.state.viewer = viewer
        if self.permission is Permission.PUBLIC:
            return viewer
        if signed is None:
            raise SignInRequired("sign in first")
        if not is_allowed(signed.staff.role, self.permission):
            raise Forbidden(f"your role ({signed.staff.role.value}) may not do this")
        if request.method in UNSAFE:
            await _check_csrf(request, signed)
        return viewer


def _session(request: Request) -> SignedIn | None:
    if hasattr(request.state, "signed_in"):  # once per request
        cached: SignedIn | None = request.state.signed_in
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    ctx = web_context(request)
    signed = find_session(ctx.db, token, policy=ctx.policy) if token else None
    request.state.signed_in = signed
    return signed


async def _check_csrf(request: Request, signed: SignedIn) -> None:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, signed.csrf_token):
        raise CsrfRefused("the form expired or came from elsewhere: reload the page and try again")


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def requires(permission: Permission) -> Any:
    """Declare a route's permission: ``viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)``."""
    return Depends(Guard(permission))


def route_permission(route: APIRoute) -> Permission | None:
    """The permission a route declared, or None if it declared none (a bug)."""
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Guard):
            return dep.call.permission
    return None
