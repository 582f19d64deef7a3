"""Import pages: upload a customer or purchase file, check the dry run, import, get the report.

Imports are shop-wide: a manager's import is not limited to their store (see
``services.import_uploads``). Every import run is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from guanxi.domain.access import Permission
from guanxi.domain.purchases import ImportKind
from guanxi.errors import InvalidInput
from guanxi.services.import_uploads import (
    ENCODINGS,
    MAX_BYTES,
    UploadTooLarge,
    load_upload,
    preview_upload,
    reject_file,
    run_import,
    save_upload,
)
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()
SHOWN_ERRORS = 200  # bad rows listed on a page; the reject file has them all


def _staff_id(viewer: Viewer) -> int:
    assert viewer.staff_id is not None
    return viewer.staff_id


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context.setdefault("shown_errors", SHOWN_ERRORS)
    return web_context(request).templates.TemplateResponse(
        request, name, context, status_code=status
    )


def _form(
    request: Request, viewer: Viewer, *, error: str | None = None, status: int = 200,
    kind: str = ImportKind.CUSTOMERS.value, encoding: str = "",
) -> Response:  # fmt: skip
    context = {"viewer": viewer, "error": error, "kinds": list(ImportKind), "kind": kind,
               "encodings": ENCODINGS, "encoding": encoding,
               "max_mib": round(MAX_BYTES / 2**20)}  # fmt: skip
    return _page(request, "imports/form.html", context, status)


@router.get("/imports", include_in_schema=False)
def import_form(
    request: Request, viewer: Viewer = requires(Permission.CUSTOMERS_IMPORT)
) -> Response:
    """Choose what to import and the file."""
    return _form(request, viewer)


@router.post("/imports/preview", include_in_schema=False)
def import_preview(
    request: Request,
    file: Annotated[UploadFile | None, File()] = None,
    kind: Annotated[str, Form()] = ImportKind.CUSTOMERS.value,
    encoding: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_IMPORT),
) -> Response:
    """Save the upload, then show its encoding, column mapping, first rows and bad rows."""
    ctx = web_context(request)
    try:
        if file is None:
            raise InvalidInput("choose a file to import")
        upload = save_upload(file.file, file.filename or "", kind, encoding, _staff_id(viewer))
        preview = preview_upload(ctx.db, upload, ctx.settings.timezone,
                                 erasure_secret=ctx.settings.erasure_secret)  # fmt: skip
    except InvalidInput as exc:
        status = 413 if isinstance(exc, UploadTooLarge) else 422
        return _form(request, viewer, error=str(exc), status=status, kind=kind, encoding=encoding)
    return _page(request, "imports/preview.html", {"viewer": viewer, "p": preview,
                                                   "upload": preview.upload})  # fmt: skip


@router.post("/imports/{upload_id}/confirm", include_in_schema=False)
def import_confirm(
    request: Request,
    upload_id: str,
    skip_bad_rows: Annotated[bool, Form()] = False,
    viewer: Viewer = requires(Permission.CUSTOMERS_IMPORT),
) -> Response:
    """Import the uploaded file for real and show what happened."""
    ctx = web_context(request)
    upload = load_upload(upload_id, _staff_id(viewer))
    report = run_import(ctx.db, upload, skip_bad_rows=skip_bad_rows,
                        timezone=ctx.settings.timezone, ip=viewer.ip,
                        erasure_secret=ctx.settings.erasure_secret)  # fmt: skip
    context = {"viewer": viewer, "upload": upload, "report": report}
    return _page(request, "imports/report.html", context)


@router.get("/imports/{upload_id}/rejects.csv", include_in_schema=False)
def import_rejects(
    request: Request, upload_id: str, viewer: Viewer = requires(Permission.CUSTOMERS_IMPORT)
) -> Response:
    """Download the rows an import left out, with the reason for each."""
    upload = load_upload(upload_id, _staff_id(viewer))
    return FileResponse(reject_file(upload), media_type="text/csv; charset=utf-8",
                        filename=upload.reject_name)  # fmt: skip
