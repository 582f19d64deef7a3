"""The customer list export page (客户导出): owners and managers download a CSV or Excel file.

GET ``/exports/customers`` shows the form (format, saved segment, store for the owner, masked
phones); POST (with the form's CSRF token, checked by ``requires``) writes the file into a
private temporary folder through ``services.customer_export`` (scoped, audited, neutralised
text), opens it, removes the folder and streams the open file back. A manager's file holds
their store's customers only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.services import customer_export
from guanxi.services.customer_export import ExportFilter
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()

CHUNK = 64 * 1024

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _id(value: str, what: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{what} must be chosen from the list (found {value!r})")
    return int(value)


@router.get("/exports/customers", include_in_schema=False)
def export_form(
    request: Request, viewer: Viewer = requires(Permission.CUSTOMERS_EXPORT)
) -> Response:
    """The form: file format, an optional saved segment and (owners) store, masked phones."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    context = {
        "viewer": viewer,
        "choices": customer_export.form_choices(ctx.db, viewer.signed_in.staff),
        "formats": customer_export.FORMATS,
    }
    return ctx.templates.TemplateResponse(request, "exports/customers.html", context)


@router.post("/exports/customers", include_in_schema=False)
def export_download(
    request: Request,
    fmt: Annotated[str, Form(alias="format")] = "csv",
    segment: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
    mask_phones: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EXPORT),
) -> Response:
    """Write the file and send it (the export is audited before the first byte leaves)."""
    assert viewer.signed_in is not None
    if fmt not in customer_export.FORMATS:
        raise InvalidInput(f"choose CSV or Excel, not {fmt!r}")
    ctx = web_context(request)
    filters = ExportFilter(segment_id=_id(segment, "the segment"), store_id=_id(store, "the store"))
    name = f"customers-{datetime.now(UTC):%Y%m%d-%H%M}.{fmt}"
    folder = Path(tempfile.mkdtemp(prefix="guanxi-export-"))
    try:
        result = customer_export.export_customers(
            ctx.db, folder / name, actor=viewer.signed_in.staff, filters=filters,
            mask_phones=mask_phones == "yes", timezone=ctx.settings.timezone, ip=viewer.ip,
        )  # fmt: skip
        size = result.path.stat().st_size
        handle = result.path.open("rb")
    finally:
        # Personal data stays on disk no longer than needed, even if the client goes away
        # mid-download: on POSIX the open handle keeps the file readable once it is unlinked
        # (where it cannot be, as on Windows, the background task removes it afterwards).
        shutil.rmtree(folder, ignore_errors=True)
    return StreamingResponse(
        _chunks(handle), media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Content-Length": str(size), "X-Rows": str(result.rows),
                 "Cache-Control": "no-store"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )  # fmt: skip


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The file in blocks; closing the generator (a client gone) closes the file."""
    with handle:
        while block := handle.read(CHUNK):
            yield block
