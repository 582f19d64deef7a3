"""What the app holds for its lifetime, and what each request knows about who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from fastapi import Request
from fastapi.templating import Jinja2Templates

from guanxi.config import Settings
from guanxi.services.staff import SessionPolicy, SignedIn
from guanxi.storage.db import Database
from guanxi.web.i18n import Language
from guanxi.web.ratelimit import RateLimiter


def _public_limiter() -> RateLimiter:
    return RateLimiter(limit=30, window_s=60.0)


@dataclass
class WebContext:
    """The app's settings, database, password hasher, session policy and templates."""

    settings: Settings
    db: Database
    hasher: PasswordHasher
    policy: SessionPolicy
    templates: Jinja2Templates
    # the public link pages (/f, /s, /e): 30 requests a minute from one address
    public_limiter: RateLimiter = field(default_factory=_public_limiter)


@dataclass
class Viewer:
    """Who is making this request (None when not signed in) and in which language."""

    signed_in: SignedIn | None
    language: Language
    ip: str

    @property
    def staff_id(self) -> int | None:
        return self.signed_in.staff.id if self.signed_in else None


def web_context(request: Request) -> WebContext:
    ctx = request.app.state.guanxi
    assert isinstance(ctx, WebContext)
    return ctx


SESSION_COOKIE = "guanxi_session"
LANGUAGE_COOKIE = "guanxi_lang"
PRE_CSRF_COOKIE = "guanxi_csrf"  # double-submit token for the sign-in form
