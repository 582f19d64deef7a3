"""One place that turns errors into responses: pages for browsers, JSON for the API.

Besides Guanxi's own errors it answers a database that is busy or unreachable (SQLite "database
is locked" after the busy timeout, a PostgreSQL connection refused or cut, a full connection
pool) with 503 ``unavailable`` and ``Retry-After``: the request did nothing, and a client may
send it again with the same ``Idempotency-Key``. A read-only database or a full disk
(``StorageUnavailable``, storage/faults.py) is a 503 with its own code and no Retry-After
(waiting does not cure it). Other database errors stay 500s (bugs).
"""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import exc as sa_exc

from guanxi.errors import ConfigError, Conflict, GuanxiError, InvalidInput, NotAllowed, NotFound
from guanxi.services.staff import SignInRefused, TooManyAttempts
from guanxi.storage.faults import StorageUnavailable
from guanxi.web import i18n
from guanxi.web.access import CsrfRefused, Forbidden, SignInRequired
from guanxi.web.context import LANGUAGE_COOKIE, web_context

log = logging.getLogger(__name__)
BUSY_RETRY_S = 1  # SQLite: another writer held the lock for the whole busy timeout
DOWN_RETRY_S = 5  # PostgreSQL: the server is restarting or unreachable


class Unavailable(GuanxiError):
    """The database cannot serve this request now (busy or unreachable); retry later."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def unavailable(exc: BaseException) -> Unavailable | None:
    """``exc`` as an ``Unavailable`` when it means "the database is busy or away", else None.

    SQLite: only "locked"/"busy" (a read-only file or a full disk are not cured by waiting).
    PostgreSQL (psycopg): every OperationalError (refused, cut, shut down, serialization) and
    any error that invalidated the connection. Either: a pool that stayed exhausted.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return Unavailable("the database connection pool is exhausted: retry in a moment",
                           BUSY_RETRY_S)  # fmt: skip
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if isinstance(exc.orig, sqlite3.Error):
        text = str(exc.orig).lower()
        if isinstance(exc, sa_exc.OperationalError) and ("locked" in text or "busy" in text):
            return Unavailable("the database is busy: retry in a moment", BUSY_RETRY_S)
        return None
    if isinstance(exc, sa_exc.OperationalError) or exc.connection_invalidated:
        return Unavailable("the database is unreachable: retry in a moment", DOWN_RETRY_S)
    return None


def database_failure(exc: BaseException) -> tuple[str, str, int | None] | None:
    """(code, message, Retry-After or None) of a 503 for ``exc``, or None: not a database that
    is busy, away, read-only or full (for code outside the exception handlers)."""
    if isinstance(exc, StorageUnavailable):
        return exc.code, str(exc), None
    found = unavailable(exc)
    return None if found is None else ("unavailable", str(found), found.retry_after)


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
    (Unavailable, 503, "unavailable"),
    (StorageUnavailable, 503, "storage_unavailable"),
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
    if isinstance(exc, StorageUnavailable):
        code = exc.code
    headers = {}
    if isinstance(exc, TooManyAttempts | Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if wants_json(request):
        return JSONResponse({"error": {"code": code, "message": str(exc)}}, status,
                            headers=headers)  # fmt: skip
    if isinstance(exc, SignInRequired):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?next={target}"})
        return RedirectResponse(f"/login?next={target}", status_code=303)
    _ensure_language(request)
    ctx = web_context(request)
    return ctx.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": str(exc)},
        status_code=status,
        headers=headers,
    )


def _ensure_language(request: Request) -> None:
    """The page's language when the error came before the sign-in check chose it (a database
    that failed while reading the session): the cookie's, or the browser's."""
    try:
        i18n.current.get()
    except LookupError:
        code = i18n.choose(None, request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language"))  # fmt: skip
        i18n.current.set(i18n.language(code, web_context(request).settings.timezone))


async def handle_database(request: Request, exc: Exception) -> Response:
    """503 + Retry-After for a busy or unreachable database; any other database error is
    raised on to the catch-all handler (a 500: a bug)."""
    found = unavailable(exc)
    if found is None:
        raise exc
    log.warning("%s %s: 503, %s", request.method, request.url.path, exc.__class__.__name__)
    if not wants_json(request):  # a page in the visitor's language
        _ensure_language(request)
        found = Unavailable(i18n.gettext("The database is busy or restarting. Please try "
                                         "again in a moment."), found.retry_after)  # fmt: skip
    return await handle(request, found)


MAX_ID = 2**31 - 1  # the largest id an INTEGER key holds (PostgreSQL's int4; SQLite keys alike)


def refuse_oversized_ids(request: Request) -> None:
    """A page whose URL names an id no table can hold is not found (404), rather than a
    database error (SQLite: OverflowError; PostgreSQL: integer out of range) reaching the
    catch-all handler as a 500. The API checks its ids in the schema (422)."""
    for value in request.path_params.values():
        if isinstance(value, str) and value.isdigit() and int(value) > MAX_ID:
            raise NotFound(f"no record has the id {value}")


def install(app: FastAPI) -> None:
    app.add_exception_handler(GuanxiError, handle)
    app.add_exception_handler(sa_exc.DBAPIError, handle_database)
    app.add_exception_handler(sa_exc.TimeoutError, handle_database)
