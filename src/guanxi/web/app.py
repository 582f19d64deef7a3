"""``create_app(settings)``: the FastAPI application with its pages, API and assets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from guanxi import __version__
from guanxi.config import Settings
from guanxi.domain.access import Permission, is_allowed
from guanxi.services.staff import SessionPolicy, make_hasher
from guanxi.storage.db import Database
from guanxi.web import api, errors, i18n
from guanxi.web.api.idempotency import IdempotencyMiddleware
from guanxi.web.context import WebContext
from guanxi.web.routes import (
    agenda,
    analytics,
    audit,
    auth,
    bonds,
    campaigns,
    care,
    clubs,
    complaints,
    counter,
    coupons,
    customers,
    exports,
    imports,
    loyalty,
    occasions_page,
    outbox,
    pages,
    public_links,
    referrals,
    rewards,
    segments,
    service_plans,
    staff,
    stored_value,
    surveys,
    tiers,
)

HERE = Path(__file__).parent


def find_vendor_dir(settings: Settings) -> Path | None:
    """Where `npm ci` put the front-end packages: the setting, else the checkout's node_modules."""
    if settings.vendor_dir:
        return Path(settings.vendor_dir)
    for parent in HERE.parents:
        candidate = parent / "node_modules"
        if (candidate / "htmx.org").is_dir():
            return candidate
    return None


def can(viewer: object, permission: str) -> bool:
    """In templates: ``can(viewer, "customers.import")`` shows a link only to those allowed."""
    signed = getattr(viewer, "signed_in", None)
    return signed is not None and is_allowed(signed.staff.role, Permission(permission))


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["version"] = __version__
    env.globals["can"] = can
    env.globals["role_names"] = i18n.ROLE_NAMES
    return templates


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    hasher: PasswordHasher | None = None,
    policy: SessionPolicy | None = None,
) -> FastAPI:
    """Build the app; tests pass their own database and a cheap password hasher."""
    app = FastAPI(title="Guanxi", version=__version__, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json")  # fmt: skip
    vendor = find_vendor_dir(settings)
    app.state.guanxi = WebContext(
        settings=settings,
        db=db or Database.from_settings(settings),
        hasher=hasher or make_hasher(),
        policy=policy
        or SessionPolicy(
            absolute=timedelta(hours=settings.session_hours),
            idle=timedelta(minutes=settings.session_idle_minutes),
        ),
        templates=make_templates(),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if vendor is not None:  # only the built files of the packages the pages use
        app.mount("/vendor/htmx", StaticFiles(directory=vendor / "htmx.org" / "dist"), "htmx")
        app.mount("/vendor/chart", StaticFiles(directory=vendor / "chart.js" / "dist"), "chart")
    for router in (pages.router, auth.router, customers.router, imports.router, audit.router,
                   staff.router, analytics.router, segments.router, exports.router, loyalty.router,
                   rewards.router, coupons.router, stored_value.router, referrals.router,
                   counter.router, tiers.router, agenda.router, care.router,
                   occasions_page.router, campaigns.router, outbox.router,
                   complaints.router, public_links.router, surveys.router, clubs.router,
                   service_plans.router, bonds.router):  # fmt: skip
        app.include_router(router, dependencies=[Depends(errors.refuse_oversized_ids)])
    app.include_router(api.router)
    errors.install(app)
    api.install_api_errors(app)
    app.add_middleware(IdempotencyMiddleware)
    return app
