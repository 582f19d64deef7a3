"""Who is calling the API: a bearer token (POS systems) or the web UI's session cookie.

``api_requires(scope)`` declares a route's scope; the permission behind the scope is what the
access-matrix test reads (``ApiGuard`` is a ``Guard``). A request with an ``Authorization``
header is judged by its token alone. Without one, a signed-in browser session is accepted
too, exactly as ``Guard`` accepts it for pages: same role check, and the session's CSRF token
in ``X-CSRF-Token`` on every unsafe request, so HTMX in the web UI can call the API while
another site cannot make a signed-in browser do so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from guanxi.domain.access import (
    Permission,
    is_allowed,
    sees_full_phone,
    store_scope,
)
from guanxi.services.api_tokens import (
    SCOPE_PERMISSION,
    Scope,
    TokenRefused,
    authenticate,
    scopes_of_role,
)
from guanxi.services.staff import StaffMember
from guanxi.web import i18n
from guanxi.web.access import Forbidden, Guard, SignInRequired
from guanxi.web.context import Viewer, web_context

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An API token from `guanxi token create`: `Authorization: Bearer gx_…`",
)


class Unauthorized(SignInRequired):
    """No usable credentials: no token (and no session), or a bad or revoked token."""

    def __init__(self, message: str, *, token_sent: bool) -> None:
        super().__init__(message)
        self.challenge = 'Bearer error="invalid_token"' if token_sent else "Bearer"


class InsufficientScope(Forbidden):
    """A valid token that lacks the scope the route needs."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(
            f"this token lacks the scope {scope.value}: ask the owner for a token created "
            f"with --scope {scope.value}"
        )
        self.scope = scope
        self.challenge = f'Bearer error="insufficient_scope", scope="{scope.value}"'


@dataclass
class ApiCaller(Viewer):
    """The staff member behind the request, the scopes granted, and how they came."""

    staff: StaffMember
    scopes: frozenset[Scope]
    by_token: bool

    @property
    def staff_id(self) -> int:
        return self.staff.id

    @property
    def store_scope(self) -> int | None:
        """The one store this caller sees (None: every store; -1: none, no store set)."""
        return store_scope(self.staff.role, self.staff.store_id)

    def sees_phone_of(self, owner_staff_id: int | None) -> bool:
        """The masking rule: clerks see full phones of their own customers only."""
        return sees_full_phone(self.staff.role, is_account_owner=owner_staff_id == self.staff.id)


class ApiGuard(Guard):
    """The dependency behind ``api_requires``: a token with the scope, or a session."""

    def __init__(self, permission: Permission, scope: Scope) -> None:
        super().__init__(permission)
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> ApiCaller:
        if "authorization" in request.headers:
            return self._by_token(request, credentials)
        try:
            viewer = await super().__call__(request)
        except SignInRequired:
            raise Unauthorized(
                "send an API token: 'Authorization: Bearer gx_…' (create one with "
                "'guanxi token create')",
                token_sent=False,
            ) from None
        assert viewer.signed_in is not None
        staff = viewer.signed_in.staff
        return ApiCaller(viewer.signed_in, viewer.language, viewer.ip, staff,
                         scopes_of_role(staff.role), by_token=False)  # fmt: skip

    def _by_token(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None
    ) -> ApiCaller:
        if credentials is None:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'", token_sent=True)
        ctx = web_context(request)
        try:
            staff, scopes = authenticate(ctx.db, credentials.credentials)
        except TokenRefused as exc:
            raise Unauthorized(str(exc), token_sent=True) from None
        if self.scope not in scopes:
            raise InsufficientScope(self.scope)
        if not is_allowed(staff.role, self.permission):  # the role may have changed since
            raise Forbidden(f"your role ({staff.role.value}) may not do this")
        code = i18n.choose(staff.locale, None, request.headers.get("accept-language"))
        language = i18n.language(code, ctx.settings.timezone)
        i18n.current.set(language)
        host = request.client.host if request.client else "unknown"
        caller = ApiCaller(None, language, host, staff, scopes, by_token=True)
        request.state.viewer = caller
        return caller


def api_requires(scope: Scope) -> Any:
    """Declare an API route's scope (and so its permission): ``caller: ApiCaller = ...``."""
    return Depends(ApiGuard(SCOPE_PERMISSION[scope], scope))
