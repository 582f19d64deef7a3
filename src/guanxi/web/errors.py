"""One place that turns errors into responses: pages for browsers, JSON for the API."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from guanxi.errors import ConfigError, Conflict, GuanxiError, InvalidInput, NotAllowed, NotFound
from guanxi.services.staff import SignInRefused, TooManyAttempts
from guanxi.web.access import CsrfRefused, Forbidden, SignInRequired
from guanxi.web.context import web_context

STATUS: list[tuple[type[GuanxiError], int, str]] = [
    (SignInRequired, 401, "sign_in_required"),
    (SignInRefused, 401, "sign_in_refused"),
    (Forbidden, 403, "forbidden"),
    (NotAllowed, 403, "forbidden"),
    (CsrfRefused, 403, "csrf_refused"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (TooManyAttempts, 429, "too_many_attempts"),
    (ConfigError, 503, "not_configured"),
]


def status_of(exc: GuanxiError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "error"


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GuanxiError)
    status, code = status_of(exc)
    headers = {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    if wants_json(request):
        return JSONResponse({"error": {"code": code, "message": str(exc)}}, status,
                            headers=headers)  # fmt: skip
    if isinstance(exc, SignInRequired):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?next={target}"})
        return RedirectResponse(f"/login?next={target}", status_code=303)
    ctx = web_context(request)
    return ctx.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": str(exc)},
        status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GuanxiError, handle)
