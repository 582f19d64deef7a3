"""/api/v1/purchases/batch: an offline POS uploads the receipts it kept while it had no network.

Each receipt is recorded on its own (its own transaction) exactly as ``POST /purchases`` would
record it, so a receipt is counted once however often it is uploaded: a re-uploaded batch, a
truncated one that is sent again in full, or two that overlap. The answer names, per receipt,
whether it was ``created`` now, a ``duplicate`` of one recorded before (same store + receipt
number, same content), a ``conflict`` (same receipt number, other content) or ``invalid`` (with
the fields at fault). One bad receipt never stops the others.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from guanxi.errors import GuanxiError
from guanxi.services.api_tokens import Scope
from guanxi.services.purchases import InvalidField, OrderConflict, record_purchase
from guanxi.web import errors
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.errors import field_name
from guanxi.web.api.purchases import purchase_input
from guanxi.web.api.schemas import PurchaseIn
from guanxi.web.context import web_context

router = APIRouter(tags=["purchases"])
MAX_RECEIPTS = 500

Status = Literal["created", "duplicate", "conflict", "invalid"]


class BatchIn(BaseModel):
    """Receipts kept by an offline POS, oldest first; each is a ``POST /purchases`` body."""

    receipts: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECEIPTS)


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ReceiptResultOut(BaseModel):
    """What became of one receipt of the batch (``index`` counts from 0)."""

    index: int
    external_order_id: str | None
    status: Status
    purchase_id: int | None = None
    points_earned: int | None = None
    code: str | None = None  # the error code when conflict or invalid
    message: str | None = None
    fields: list[FieldErrorOut] = []


class BatchOut(BaseModel):
    received: int
    created: int
    duplicate: int
    conflict: int
    invalid: int
    results: list[ReceiptResultOut]


def _order_id(raw: dict[str, Any]) -> str | None:
    value = raw.get("external_order_id")
    return str(value) if value is not None else None


def _one(request: Request, caller: ApiCaller, index: int, raw: dict[str, Any]) -> ReceiptResultOut:
    def result(status: Status, **more: Any) -> ReceiptResultOut:
        return ReceiptResultOut(index=index, external_order_id=_order_id(raw), status=status,
                                **more)  # fmt: skip

    try:
        body = PurchaseIn.model_validate(raw)
    except ValidationError as exc:
        fields = [FieldErrorOut(field=field_name(tuple(e["loc"])),
                                message=str(e["msg"]).removeprefix("Value error, "))
                  for e in exc.errors()]  # fmt: skip
        return result("invalid", code="invalid_input",
                                message=f"{fields[0].field}: {fields[0].message}",
                                fields=fields)  # fmt: skip
    try:
        done = record_purchase(web_context(request).db, purchase_input(body),
                               store_scope=caller.store_scope)  # fmt: skip
    except OrderConflict as exc:
        return result("conflict", code="conflict", message=str(exc),
                                purchase_id=exc.purchase_id)  # fmt: skip
    except InvalidField as exc:
        wrong = [FieldErrorOut(field=exc.field, message=exc.reason)]
        return result("invalid", code="invalid_input", message=str(exc),
                                fields=wrong)  # fmt: skip
    except GuanxiError as exc:
        _status, code = errors.status_of(exc)
        return result("invalid", code=code, message=str(exc))
    return result(
        "duplicate" if done.replayed else "created",
        purchase_id=done.purchase.id,
        points_earned=done.points.points if done.points is not None else None,
    )


@router.post("/purchases/batch", response_model=BatchOut)
def upload_batch(
    request: Request, body: BatchIn, caller: ApiCaller = api_requires(Scope.PURCHASES_WRITE)
) -> BatchOut:
    """Record up to 500 receipts from an offline POS, each exactly once: the answer says per
    receipt ``created``, ``duplicate`` (recorded before: nothing changed), ``conflict`` (the
    receipt number was recorded before with other content) or ``invalid``. Re-uploading the
    batch, or part of it, is always safe."""
    results = [_one(request, caller, i, raw) for i, raw in enumerate(body.receipts)]
    count = {s: sum(r.status == s for r in results)
             for s in ("created", "duplicate", "conflict", "invalid")}  # fmt: skip
    return BatchOut(received=len(results), results=results, **count)
