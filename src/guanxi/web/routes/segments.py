"""Saved customer segments: the list with member counts, the builder, preview, save and delete.

A segment is a set of rules over the latest scores (RFM segment, rung, loyalty type, score
ranges), a tag, the home store and the account owner; ``services.segments`` checks and stores
them. The builder's "Preview" asks HTMX for the count and the most valuable members; without
JavaScript the same button posts the whole form and the page comes back with the preview.
Managers see counts and members within their own store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from guanxi.domain.access import Permission
from guanxi.errors import Conflict, InvalidInput
from guanxi.services.customer_edits import form_choices
from guanxi.services.segments import (
    CHOICE_FIELDS,
    FIELDS,
    RANGE_FIELDS,
    Preview,
    Rule,
    SegmentView,
    delete_segment,
    get_segment,
    latest_month,
    list_segments,
    parse_rules,
    preview,
    save_segment,
)
from guanxi.storage.db import Database
from guanxi.storage.models import Staff, Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.routes.customers import is_htmx, scope_of

router = APIRouter()
PREVIEW_LIMIT = 50


def _text(value: float | None) -> str:
    """A stored bound as the builder shows it: 3, 0.5, 1500 (never 1.5e+03)."""
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@dataclass
class BuilderForm:
    """The builder's fields as typed (strings), so a refused form comes back unchanged."""

    name: str = ""
    description: str = ""
    choices: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[str, str]] = field(default_factory=dict)
    tag: str = ""
    store: str = ""
    owner: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> BuilderForm:
        def one(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(
            name=one("name"),
            description=one("description"),
            choices={name: [v for v in form.getlist(name) if isinstance(v, str)]
                     for name in CHOICE_FIELDS},
            ranges={name: (one(f"{name}_min"), one(f"{name}_max")) for name in RANGE_FIELDS},
            tag=one("tag"),
            store=one("store"),
            owner=one("owner"),
        )  # fmt: skip

    @classmethod
    def from_segment(cls, segment: SegmentView) -> BuilderForm:
        form = cls(name=segment.name, description=segment.description or "")
        for rule in segment.rules:
            if rule.op == "in":
                form.choices[rule.field] = list(rule.value)
            elif rule.op == "between":
                low, high = rule.value
                form.ranges[rule.field] = (_text(low), _text(high))
            elif rule.field == "tag":
                form.tag = str(rule.value)
            elif rule.field == "store":
                form.store = str(rule.value)
            elif rule.field == "owner":
                form.owner = str(rule.value)
        return form

    def rules_data(self) -> list[dict[str, Any]]:
        """The rules as the service parses them; only the fields filled in make a rule."""
        data: list[dict[str, Any]] = []
        for name in CHOICE_FIELDS:
            if self.choices.get(name):
                data.append({"field": name, "value": self.choices[name]})
        for name in RANGE_FIELDS:
            low, high = self.ranges.get(name, ("", ""))
            if low or high:
                data.append({"field": name, "value": [low, high]})
        for name, value in (("tag", self.tag), ("store", self.store), ("owner", self.owner)):
            if value:
                data.append({"field": name, "value": value})
        return data

    def rules(self) -> list[Rule]:
        return parse_rules(self.rules_data())


def error_field(message: str) -> str | None:
    """The field a service error names first ('p_alive low: ...' -> 'p_alive')."""
    head = message.split(":", 1)[0].split(" ", 1)[0]
    return head if head in FIELDS else None


def _names(db: Database) -> dict[str, dict[int, str]]:
    """Store and staff names for describing saved rules (ids outside a scope stay readable)."""
    with db.read() as session:
        stores = {int(i): str(n) for i, n in session.execute(select(Store.id, Store.name))}
        staff = {int(i): str(n) for i, n in session.execute(select(Staff.id, Staff.name))}
    return {"store": stores, "owner": staff}


def _scored(db: Database) -> bool:
    with db.read() as session:
        return latest_month(session) is not None


def _actor_scope(viewer: Viewer) -> int | None:
    assert viewer.signed_in is not None
    return scope_of(viewer.signed_in)


def _builder(
    request: Request,
    viewer: Viewer,
    form: BuilderForm,
    segment_id: int | None,
    *,
    error: str | None = None,
    shown: Preview | None = None,
    preview_error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = web_context(request)
    assert viewer.signed_in is not None
    scope = _actor_scope(viewer)
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "segment_id": segment_id,
        "error": error,
        "error_field": error_field(error or preview_error or ""),
        "preview": shown,
        "preview_error": preview_error,
        "choice_fields": CHOICE_FIELDS,
        "range_fields": list(RANGE_FIELDS),
        "choices": form_choices(ctx.db, viewer.signed_in.staff),
        "names": _names(ctx.db),
        "scope": scope,
    }
    return ctx.templates.TemplateResponse(request, "segments/form.html", context,
                                          status_code=status)  # fmt: skip


@router.get("/segments", include_in_schema=False)
def segment_list(
    request: Request,
    saved: str = "",
    deleted: str = "",
    viewer: Viewer = requires(Permission.SEGMENTS_MANAGE),
) -> Response:
    """Every saved segment with its rules in words and its member count now."""
    ctx = web_context(request)
    scope = _actor_scope(viewer)
    context = {
        "viewer": viewer,
        "L": labels,
        "segments": list_segments(ctx.db, store_scope=scope),
        "names": _names(ctx.db),
        "scope": scope,
        "saved": saved,
        "deleted": deleted,
        "scored": _scored(ctx.db),
    }
    return ctx.templates.TemplateResponse(request, "segments/list.html", context)


@router.get("/segments/new", include_in_schema=False)
def new_segment(
    request: Request, viewer: Viewer = requires(Permission.SEGMENTS_MANAGE)
) -> Response:
    return _builder(request, viewer, BuilderForm(), None)


@router.get("/segments/{segment_id}", include_in_schema=False)
def edit_segment(
    request: Request, segment_id: int, viewer: Viewer = requires(Permission.SEGMENTS_MANAGE)
) -> Response:
    """The builder filled with a saved segment, and its members now."""
    ctx = web_context(request)
    scope = _actor_scope(viewer)
    segment = get_segment(ctx.db, segment_id, store_scope=scope)
    shown = preview(ctx.db, segment.rules, store_scope=scope, limit=PREVIEW_LIMIT)
    return _builder(request, viewer, BuilderForm.from_segment(segment), segment_id, shown=shown)


@dataclass
class Posted:
    """The builder as posted, and which saved segment it edits (None: a new one)."""

    form: BuilderForm
    segment_id: int | None


async def posted_builder(request: Request) -> Posted:
    """Read the posted builder (the form body is parsed once; the CSRF check read it too)."""
    data = await request.form()
    value = data.get("segment_id")
    segment_id = int(value) if isinstance(value, str) and value.isdigit() else None
    return Posted(BuilderForm.from_form(data), segment_id)


@router.post("/segments/preview", include_in_schema=False)
def preview_segment(
    request: Request,
    viewer: Viewer = requires(Permission.SEGMENTS_MANAGE),
    posted: Posted = Depends(posted_builder),
) -> Response:
    """How many customers the rules select, and the first 50 by CLV.

    HTMX gets the preview block alone (errors in it, status 200 so that HTMX shows it); a plain
    post gets the whole builder back with the preview.
    """
    ctx = web_context(request)
    shown, problem = None, None
    try:
        shown = preview(ctx.db, posted.form.rules(), store_scope=_actor_scope(viewer),
                        limit=PREVIEW_LIMIT)  # fmt: skip
    except InvalidInput as exc:
        problem = str(exc)
    if is_htmx(request):
        context = {"viewer": viewer, "L": labels, "preview": shown, "preview_error": problem,
                   "scope": _actor_scope(viewer)}  # fmt: skip
        return ctx.templates.TemplateResponse(request, "segments/_preview.html", context)
    return _builder(request, viewer, posted.form, posted.segment_id, shown=shown,
                    preview_error=problem, status=422 if problem else 200)  # fmt: skip


def _save(request: Request, viewer: Viewer, form: BuilderForm, segment_id: int | None) -> Response:
    assert viewer.signed_in is not None
    try:
        saved = save_segment(web_context(request).db, viewer.signed_in.staff, name=form.name,
                             description=form.description, rules=form.rules(),
                             segment_id=segment_id)  # fmt: skip
    except InvalidInput as exc:
        return _builder(request, viewer, form, segment_id, error=str(exc), status=422)
    except Conflict as exc:
        return _builder(request, viewer, form, segment_id, error=str(exc), status=409)
    return RedirectResponse(f"/segments?saved={saved}", status_code=303)


@router.post("/segments", include_in_schema=False)
def create_segment(
    request: Request,
    viewer: Viewer = requires(Permission.SEGMENTS_MANAGE),
    posted: Posted = Depends(posted_builder),
) -> Response:
    """Save a new segment (audited); back to the list, or the form with what is wrong."""
    return _save(request, viewer, posted.form, None)


@router.post("/segments/{segment_id}", include_in_schema=False)
def update_segment(
    request: Request,
    segment_id: int,
    viewer: Viewer = requires(Permission.SEGMENTS_MANAGE),
    posted: Posted = Depends(posted_builder),
) -> Response:
    """Replace a saved segment's name and rules (audited)."""
    return _save(request, viewer, posted.form, segment_id)


@router.post("/segments/{segment_id}/delete", include_in_schema=False)
def remove_segment(
    request: Request, segment_id: int, viewer: Viewer = requires(Permission.SEGMENTS_MANAGE)
) -> Response:
    """Delete a segment once confirmed in the builder (audited)."""
    assert viewer.signed_in is not None
    delete_segment(web_context(request).db, viewer.signed_in.staff, segment_id)
    return RedirectResponse("/segments?deleted=1", status_code=303)
