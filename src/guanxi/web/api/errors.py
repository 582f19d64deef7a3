"""API error responses: ``{"error": {"code", "message", ...}}`` with a stable code.

``install_api_errors(app)`` adds handlers that answer in that shape for paths under /api/ and
leave every other path as it was: pages keep FastAPI's and ``web.errors``' behaviour. The
handlers are registered for specific classes, so the order against ``errors.install`` does
not matter.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from guanxi.errors import GuanxiError, InvalidInput
from guanxi.loyalty.coupons import AlreadyRedeemedForOrder, CouponNotValid, CouponUsedUp
from guanxi.loyalty.ledger import IdempotencyConflict, InsufficientPoints
from guanxi.loyalty.rewards import LimitReached, OutOfStock, RewardNotAvailable
from guanxi.loyalty.stored_value import InsufficientBalance
from guanxi.services.customer_edits import DuplicateCustomer
from guanxi.services.customer_forms import FormErrors
from guanxi.services.purchases import InvalidField, OrderConflict
from guanxi.services.returns import ReturnConflict
from guanxi.web import errors
from guanxi.web.api.auth import InsufficientScope, Unauthorized

SOURCES = {"body", "query", "path", "header", "cookie"}
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
              406: "not_acceptable", 413: "too_large", 415: "unsupported_media_type"}  # fmt: skip


class BadIdempotencyKey(InvalidInput):
    """The ``Idempotency-Key`` header is missing (``idempotency_key_missing``) or unusable
    (``idempotency_key_invalid``): 400, as the IETF httpapi idempotency-key draft says."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def field_name(loc: tuple[int | str, ...]) -> str:
    """('body', 'lines', 0, 'quantity') -> 'lines.0.quantity'; ('query', 'page') -> 'page'."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in SOURCES:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _field(error: dict[str, Any]) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        return {"field": "body", "message": f"not valid JSON: {error.get('ctx', {}).get('error')}"}
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return {"field": field_name(tuple(error.get("loc", ()))), "message": message}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


async def handle_validation(request: Request, exc: Exception) -> Response:
    """422 ``invalid_input`` naming every field; pages keep FastAPI's default answer."""
    assert isinstance(exc, RequestValidationError)
    if not errors.wants_json(request):
        return await request_validation_exception_handler(request, exc)
    fields = [_field(e) for e in exc.errors()]
    first = f"{fields[0]['field']}: {fields[0]['message']}" if fields else "invalid request"
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return JSONResponse(error_body("invalid_input", first + more, fields=fields), 422)


async def handle_http(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods under /api/ in the same shape; others as FastAPI does."""
    assert isinstance(exc, HTTPException)
    if not errors.wants_json(request):
        return await http_exception_handler(request, exc)
    code = HTTP_CODES.get(exc.status_code, "error")
    where = f"{request.method} {request.url.path}"
    hint = " (the API's paths are listed at /api/docs)" if exc.status_code in (404, 405) else ""
    body = error_body(code, f"{exc.detail}: {where}{hint}")
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


async def handle_guanxi(request: Request, exc: Exception) -> Response:
    """The API's own errors: their code, the challenge header, the field or the id."""
    assert isinstance(exc, GuanxiError)
    if not errors.wants_json(request):
        return await errors.handle(request, exc)
    status, code = errors.status_of(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, Unauthorized):
        code, headers["WWW-Authenticate"] = "unauthorized", exc.challenge
    elif isinstance(exc, InsufficientScope):
        code, headers["WWW-Authenticate"] = "insufficient_scope", exc.challenge
        extra["scope"] = exc.scope.value
    elif isinstance(exc, InvalidField):
        extra["fields"] = [{"field": exc.field, "message": exc.reason}]
    elif isinstance(exc, FormErrors):
        extra["fields"] = [{"field": k, "message": m} for k, m in exc.errors.items()]
    elif isinstance(exc, OrderConflict):
        extra["purchase_id"] = exc.purchase_id
    elif isinstance(exc, DuplicateCustomer):
        extra.update(customer_id=exc.customer_id, field=exc.field)
    elif isinstance(exc, ReturnConflict):
        extra["return_id"] = exc.return_id
    elif isinstance(exc, BadIdempotencyKey):
        status, code = 400, exc.code
    elif isinstance(exc, IdempotencyConflict):
        status, code = 422, "idempotency_key_reused"
    elif isinstance(exc, InsufficientPoints):
        code = "insufficient_points"
        extra.update(balance=exc.balance, asked=exc.asked)
    elif isinstance(exc, CouponNotValid):
        code, extra["reason"] = "coupon_not_valid", exc.reason.value
    elif isinstance(exc, CouponUsedUp):
        code = "coupon_used_up"
    elif isinstance(exc, AlreadyRedeemedForOrder):
        code, extra["redemption_id"] = "already_redeemed_for_order", exc.redemption_id
    elif isinstance(exc, OutOfStock | LimitReached | RewardNotAvailable):
        code = exc.code
        extra["reward_id"] = exc.reward_id
    elif isinstance(exc, InsufficientBalance):  # stored value: amounts as money strings
        code = "insufficient_balance"
        extra.update(balance=f"{exc.balance:.2f}", asked=f"{exc.asked:.2f}")
    return JSONResponse(error_body(code, str(exc), **extra), status, headers=headers)


async def handle_crash(request: Request, exc: Exception) -> Response:
    """A bug: JSON for the API, Starlette's plain text for pages (the traceback is logged)."""
    if errors.wants_json(request):
        return JSONResponse(
            error_body("internal_error", "the server failed; the error was logged"), 500
        )
    return PlainTextResponse("Internal Server Error", 500)


def install_api_errors(app: FastAPI) -> None:
    """Answer errors under /api/ in the API's JSON shape (call once in ``create_app``)."""
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(HTTPException, handle_http)
    handled = (Unauthorized, InsufficientScope, InvalidField, FormErrors, OrderConflict,
               DuplicateCustomer, ReturnConflict, BadIdempotencyKey, IdempotencyConflict,
               InsufficientPoints, CouponNotValid, CouponUsedUp,
               AlreadyRedeemedForOrder)  # fmt: skip
    for cls in handled:
        app.add_exception_handler(cls, handle_guanxi)
    for reward_error in (OutOfStock, LimitReached, RewardNotAvailable):  # rewards catalog
        app.add_exception_handler(reward_error, handle_guanxi)
    app.add_exception_handler(InsufficientBalance, handle_guanxi)  # stored value
    app.add_exception_handler(Exception, handle_crash)
