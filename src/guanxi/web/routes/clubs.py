"""Clubs and member events: the staff pages, the door's check-in page, the public RSVP page.

* ``/clubs`` (CLUBS_MANAGE): clubs (rule or invitation), their members, a sync, new events.
* ``/events`` and ``/events/{id}`` (CUSTOMERS_VIEW): the events and an event's guest list;
  managers also edit it, cancel it (one occurrence or the rest of its series) and invite a club,
  a segment or a tier, with a dry run (how many, who cannot get a message and why) first.
* ``/events/{id}/rsvp`` and ``/events/{id}/check-in`` (CUSTOMERS_EDIT, clerks included): an
  answer taken on the phone, and the door: search by the last 4 digits of the phone or the
  name, check a guest or a walk-in in (HTMX fragment ``_guests.html``, or the full page).
* ``/e/{token}`` (PUBLIC, rate-limited per address): the guest's own page, phone-friendly and
  standalone (the shop's name, the event, Confirm / Decline). A bad link answers 404, an
  expired or used-up one 410, too many requests 429 with Retry-After; nothing about the
  customer is shown.

Managers and clerks see the events of their store and the shop-wide ones; the owner all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.care import templating
from guanxi.club import checkin, clubs, events, invitations, rsvp
from guanxi.club.messages import LOCALES, when_text
from guanxi.domain.access import Permission, mask_phone, sees_full_phone
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.feedback.links import LinkRefused
from guanxi.loyalty.tiers import defined_tiers
from guanxi.storage.models import Club, Segment, Store
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.routes.customers import is_htmx, scope_of

router = APIRouter()

AUDIENCES = ("club", "segment", "tier")


def _actor(viewer: Viewer) -> Any:
    assert viewer.signed_in is not None
    return viewer.signed_in.staff


def _scope(viewer: Viewer) -> int | None:
    assert viewer.signed_in is not None
    return scope_of(viewer.signed_in)


def _writable(viewer: Viewer, store_id: int | None) -> bool:
    """Whether the viewer may change a club or event of ``store_id``: the owner any, staff
    limited to a store only their store's (a shared one is read-only for them)."""
    scope = _scope(viewer)
    return scope is None or store_id == scope


def _must_write(viewer: Viewer, store_id: int | None, what: str) -> None:
    if not _writable(viewer, store_id):
        raise NotAllowed(f"this {what} is shared by every store: only the owner may change it")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _phone(viewer: Viewer, phone: str | None, owner_staff_id: int | None) -> str:
    staff = _actor(viewer)
    mine = owner_staff_id is not None and owner_staff_id == staff.id
    return (
        (phone or "") if sees_full_phone(staff.role, is_account_owner=mine) else mask_phone(phone)
    )


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    ctx = web_context(request)
    return ctx.templates.TemplateResponse(request, template, context, status_code=status_code)


def _choices(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The stores, tiers, segments and clubs the forms offer."""
    scope = _scope(viewer)
    with web_context(request).db.read() as session:
        rows = session.execute(select(Store.id, Store.name).order_by(Store.id)).all()
        stores = [(i, n) for i, n in rows if scope is None or i == scope]
        tiers = [(t.key, t.name) for t in defined_tiers(session)]
        segments = [(i, n) for i, n in session.execute(
            select(Segment.id, Segment.name).order_by(Segment.name))]  # fmt: skip
        club_rows = [(i, n) for i, n in session.execute(select(Club.id, Club.name)
                     .where(clubs.visible(scope)).order_by(Club.name))]  # fmt: skip
    return {"stores": stores, "tiers": tiers, "segments": segments, "clubs": club_rows,
            "kinds": events.KINDS, "kind_labels": events.KIND_LABELS,
            "recurrences": events.RECURRENCES}  # fmt: skip


# --- clubs ------------------------------------------------------------------------------------


@router.get("/clubs", include_in_schema=False)
def clubs_page(request: Request, viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:
    """Clubs and their members' counts, with links to each club and to new events."""
    with web_context(request).db.read() as session:
        rows = clubs.list_clubs(session, scope=_scope(viewer))
    return _page(request, "clubs/list.html", {"viewer": viewer, "clubs": rows})


def _rule(kind: str, tier: str, segment: str) -> dict[str, Any]:
    if kind == "tier":
        return {"tier": tier}
    if kind == "segment":
        return {"segment_id": _int(segment) or segment}
    return {"invitation": True}


def _club_form(request: Request, viewer: Viewer, club: clubs.ClubView | None,
               **extra: Any) -> Response:  # fmt: skip
    members: list[Any] = []
    writable = club is None or _writable(viewer, club.store_id)
    if club is not None:
        with web_context(request).db.read() as session:
            members = clubs.club_members(session, club.id, scope=_scope(viewer))
    context = {"viewer": viewer, "club": club, "members": members, "writable": writable,
               "phone": lambda m: _phone(viewer, m.phone, m.owner_staff_id),
               **_choices(request, viewer), **extra}  # fmt: skip
    return _page(request, "clubs/club_form.html", context)


@router.get("/clubs/new", include_in_schema=False)
def new_club(request: Request, viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:
    """The form for a new club."""
    return _club_form(request, viewer, None)


@router.get("/clubs/{club_id}", include_in_schema=False)
def club_page(request: Request, club_id: int,
              viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:  # fmt: skip
    """A club: its rule (editable) and its current members."""
    with web_context(request).db.read() as session:
        club = clubs.get_club(session, club_id, scope=_scope(viewer))
    params = request.query_params
    return _club_form(request, viewer, club, synced=params.get("synced"),
                      joined=params.get("joined"), left=params.get("left"))  # fmt: skip


@router.post("/clubs/{club_id}", include_in_schema=False)
@router.post("/clubs/new", include_in_schema=False)  # registered first: "new" is no club id
def save_club(
    request: Request,
    club_id: int | None = None,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    rule: Annotated[str, Form()] = "invitation",
    tier: Annotated[str, Form()] = "",
    segment: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CLUBS_MANAGE),
) -> Response:
    """Create or change a club (audited)."""
    scope = _scope(viewer)
    db = web_context(request).db
    if club_id is not None:
        with db.read() as session:
            _must_write(viewer, clubs.get_club(session, club_id, scope=scope).store_id, "club")
    store_id = _int(store) if scope is None else scope
    saved = clubs.save_club(db, _actor(viewer), name=name, rule=_rule(rule, tier, segment),
                            club_id=club_id, description=description, store_id=store_id,
                            is_active=club_id is None or active == "yes")  # fmt: skip
    return RedirectResponse(f"/clubs/{saved.id}", status_code=303)


@router.post("/clubs/{club_id}/sync", include_in_schema=False)
def sync_club(request: Request, club_id: int,
              viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:  # fmt: skip
    """Bring a rule club's members up to its rule now."""
    db = web_context(request).db
    with db.read() as session:
        clubs.get_club(session, club_id, scope=_scope(viewer))
    done = clubs.sync_members(db, club_id, now=datetime.now(UTC), actor_id=_actor(viewer).id)
    query = urlencode({"synced": 1, "joined": done.joined, "left": done.left})
    return RedirectResponse(f"/clubs/{club_id}?{query}", status_code=303)


@router.post("/clubs/{club_id}/members", include_in_schema=False)
def change_members(
    request: Request,
    club_id: int,
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CLUBS_MANAGE),
) -> Response:
    """Add a customer (by id) to an invitation club, or remove one."""
    added, removed = _int(add), _int(remove)
    if added is None and removed is None:
        raise InvalidInput("give the customer number to add or remove")
    done = clubs.change_members(web_context(request).db, _actor(viewer), club_id,
                                add=[added] if added else [], remove=[removed] if removed else [],
                                now=datetime.now(UTC), scope=_scope(viewer))  # fmt: skip
    query = urlencode({"joined": done.joined, "left": done.left})
    return RedirectResponse(f"/clubs/{club_id}?{query}", status_code=303)


# --- events -----------------------------------------------------------------------------------


@router.get("/events", include_in_schema=False)
def events_page(request: Request, past: int = 0,
                viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)) -> Response:  # fmt: skip
    """Upcoming events (``past=1``: the last ones), with their places and check-in links."""
    now = datetime.now(UTC)
    with web_context(request).db.read() as session:
        if past:
            rows = events.list_events(session, scope=_scope(viewer), until=now, limit=100,
                                      newest_first=True)  # fmt: skip
        else:
            rows = events.list_events(session, scope=_scope(viewer), since=now, limit=100)
    return _page(request, "clubs/events.html", {"viewer": viewer, "events": rows,
                                                "past": bool(past)})  # fmt: skip


def _local(value: str, zone: str, what: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{what}: {value!r} is not a date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def _event_input(request: Request, viewer: Viewer, form: dict[str, str]) -> events.EventInput:
    scope = _scope(viewer)
    store_id = _int(form.get("store")) if scope is None else scope
    with web_context(request).db.read() as session:
        zone = events.zone_of(session, store_id)
    starts = _local(form.get("starts_at", ""), zone, "start")
    if starts is None:
        raise InvalidInput("an event needs its start date and time")
    capacity = form.get("capacity", "").strip()
    points = form.get("attendance_points", "").strip() or "0"
    if (capacity and not capacity.isdigit()) or not points.isdigit():
        raise InvalidInput("capacity and attendance points are whole numbers")
    return events.EventInput(
        name=form.get("name", ""), starts_at=starts,
        ends_at=_local(form.get("ends_at", ""), zone, "end"), kind=form.get("kind", "other"),
        store_id=store_id, club_id=_int(form.get("club")), location=form.get("location"),
        capacity=int(capacity) if capacity else None, attendance_points=int(points),
        recurrence=form.get("recurrence", "none"),
    )  # fmt: skip


def _event_form(request: Request, viewer: Viewer, event: events.EventView | None) -> Response:
    def local(value: datetime | None) -> str:
        if value is None or event is None:
            return ""
        return value.astimezone(ZoneInfo(event.zone)).strftime("%Y-%m-%dT%H:%M")

    context = {"viewer": viewer, "event": event, "local": local,
               "writable": event is None or _writable(viewer, event.store_id),
               **_choices(request, viewer)}  # fmt: skip
    return _page(request, "clubs/event_form.html", context)


@router.get("/events/new", include_in_schema=False)
def new_event(request: Request, viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:
    """The form for a new event (one, or a series)."""
    return _event_form(request, viewer, None)


@router.post("/events/new", include_in_schema=False)
async def create_event(request: Request,
                       viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:  # fmt: skip
    """Create the event (and its occurrences for a year when it recurs)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    ids = events.create_event(web_context(request).db, _actor(viewer),
                              _event_input(request, viewer, form))  # fmt: skip
    return RedirectResponse(f"/events/{ids[0]}", status_code=303)


def _get_event(request: Request, viewer: Viewer, event_id: int) -> events.EventView:
    with web_context(request).db.read() as session:
        return events.get_event(session, event_id, scope=_scope(viewer))


@router.get("/events/{event_id}/edit", include_in_schema=False)
def edit_event(request: Request, event_id: int,
               viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:  # fmt: skip
    """The form of an event."""
    return _event_form(request, viewer, _get_event(request, viewer, event_id))


@router.post("/events/{event_id}/edit", include_in_schema=False)
async def update_event(request: Request, event_id: int,
                       viewer: Viewer = requires(Permission.CLUBS_MANAGE)) -> Response:  # fmt: skip
    """Change this occurrence, or (``series=yes``) it and the later ones."""
    _must_write(viewer, _get_event(request, viewer, event_id).store_id, "event")
    form = {k: str(v) for k, v in (await request.form()).items()}
    events.update_event(web_context(request).db, _actor(viewer), event_id,
                        _event_input(request, viewer, form),
                        series=form.get("series") == "yes")  # fmt: skip
    return RedirectResponse(f"/events/{event_id}", status_code=303)


@router.post("/events/{event_id}/status", include_in_schema=False)
def event_status(
    request: Request,
    event_id: int,
    status: Annotated[str, Form()] = "",
    series: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CLUBS_MANAGE),
) -> Response:
    """Cancel (or mark done, or plan again) an occurrence or the rest of its series."""
    _must_write(viewer, _get_event(request, viewer, event_id).store_id, "event")
    events.set_status(web_context(request).db, _actor(viewer), event_id, status,
                      series=series == "yes")  # fmt: skip
    return RedirectResponse(f"/events/{event_id}", status_code=303)


def _audience(kind: str, value: str) -> invitations.Audience:
    if kind == "club":
        return invitations.Audience(club_id=_int(value) or -1)
    if kind == "segment":
        return invitations.Audience(segment_id=_int(value) or -1)
    if kind == "tier":
        return invitations.Audience(tier=value or None)
    raise InvalidInput(f"invite a club, a segment or a tier (not {kind!r})")


def _event_page(request: Request, viewer: Viewer, event_id: int, **extra: Any) -> Response:
    event = _get_event(request, viewer, event_id)
    with web_context(request).db.read() as session:
        guests = checkin.guest_list(session, event_id)
    context = {"viewer": viewer, "event": event, "guests": guests, "locales": LOCALES,
               "writable": _writable(viewer, event.store_id),
               "channels": ("sms", "email", "wechat"), "audiences": AUDIENCES,
               "phone": lambda g: _phone(viewer, g.phone, g.owner_staff_id),
               "sent": _int(request.query_params.get("sent")),
               **_choices(request, viewer), **extra}  # fmt: skip
    return _page(request, "clubs/event.html", context)


@router.get("/events/{event_id}", include_in_schema=False)
def event_page(request: Request, event_id: int,
               viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)) -> Response:  # fmt: skip
    """An event, its guest list, and (managers) its invitations."""
    return _event_page(request, viewer, event_id)


@router.post("/events/{event_id}/invite", include_in_schema=False)
def invite(
    request: Request,
    event_id: int,
    audience: Annotated[str, Form()] = "club",
    club: Annotated[str, Form()] = "",
    segment: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "sms",
    locale: Annotated[str, Form()] = "zh_CN",
    confirm: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CLUBS_MANAGE),
) -> Response:
    """The dry run (how many, who is excluded and why); with ``confirm=yes`` the send."""
    _get_event(request, viewer, event_id)
    ctx = web_context(request)
    value = {"club": club, "segment": segment, "tier": tier}.get(audience, "")
    who = _audience(audience, value)
    now = datetime.now(UTC)
    if confirm != "yes":
        plan = invitations.plan_invitations(ctx.db, event_id, who, channel=channel, now=now,
                                            scope=_scope(viewer))  # fmt: skip
        chosen = {"audience": audience, "value": value, "channel": channel, "locale": locale}
        return _event_page(request, viewer, event_id, plan=plan, chosen=chosen)
    sent = invitations.send_invitations(
        ctx.db, _actor(viewer), event_id, who, channel=channel, now=now, locale=locale,
        public_url=ctx.settings.public_url, shop=ctx.settings.shop_name, scope=_scope(viewer),
    )  # fmt: skip
    return RedirectResponse(f"/events/{event_id}?sent={sent.queued}", status_code=303)


@router.post("/events/{event_id}/rsvp", include_in_schema=False)
def staff_rsvp(
    request: Request,
    event_id: int,
    customer_id: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "confirm",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record a customer's answer taken by staff (on the phone, at the counter)."""
    _get_event(request, viewer, event_id)
    cid = _int(customer_id)
    if cid is None:
        raise InvalidInput("give the customer number")
    rsvp.respond(web_context(request).db, event_id, cid, answer, now=datetime.now(UTC),
                 scope=_scope(viewer))  # fmt: skip
    return RedirectResponse(f"/events/{event_id}", status_code=303)


# --- check-in at the door ----------------------------------------------------------------------


def _checkin_page(request: Request, viewer: Viewer, event_id: int, q: str,
                  done: checkin.CheckIn | None = None) -> Response:  # fmt: skip
    event = _get_event(request, viewer, event_id)
    with web_context(request).db.read() as session:
        listed, walk_ins = checkin.find_guests(session, event_id, q, scope=_scope(viewer))
    context = {"viewer": viewer, "event": event, "q": q, "listed": listed,
               "walk_ins": walk_ins, "done": done,
               "phone": lambda g: _phone(viewer, g.phone, g.owner_staff_id)}  # fmt: skip
    template = "clubs/_guests.html" if is_htmx(request) else "clubs/checkin.html"
    return _page(request, template, context)


@router.get("/events/{event_id}/check-in", include_in_schema=False)
def checkin_page(request: Request, event_id: int, q: str = "",
                 viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """The door: search by the phone's last 4 digits or the name (HTMX: the results only)."""
    return _checkin_page(request, viewer, event_id, q.strip()[:40])


@router.post("/events/{event_id}/check-in", include_in_schema=False)
def check_in(
    request: Request,
    event_id: int,
    customer_id: Annotated[str, Form()] = "",
    q: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Check a guest or a walk-in in (once; attendance points once)."""
    _get_event(request, viewer, event_id)
    cid = _int(customer_id)
    if cid is None:
        raise InvalidInput("choose the customer to check in")
    done = checkin.check_in(web_context(request).db, _actor(viewer).id, event_id, cid,
                            now=datetime.now(UTC), scope=_scope(viewer))  # fmt: skip
    return _checkin_page(request, viewer, event_id, q.strip()[:40], done)


# --- public: the guest's RSVP page ---------------------------------------------------------------

_GONE = ("expired", "used")


def _public(request: Request, viewer: Viewer, context: dict[str, Any],
            status_code: int = 200) -> Response:  # fmt: skip
    ctx = web_context(request)
    with ctx.db.read() as session:
        shop = templating.shop_name(session, ctx.settings.shop_name)
    response = ctx.templates.TemplateResponse(
        request, "public_rsvp/page.html", {"viewer": viewer, "shop": shop, **context},
        status_code=status_code,
    )  # fmt: skip
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _limited(request: Request, viewer: Viewer) -> Response | None:
    limiter = web_context(request).public_limiter
    key = f"ip:{viewer.ip}"
    if limiter.allow(key):
        return None
    response = _public(request, viewer, {"state": "limited"}, status_code=429)
    response.headers["Retry-After"] = str(limiter.retry_after(key))
    return response


def _refused(request: Request, viewer: Viewer, error: LinkRefused) -> Response:
    gone = error.reason in _GONE
    return _public(request, viewer, {"state": "gone" if gone else "invalid"},
                   status_code=410 if gone else 404)  # fmt: skip


def _event_context(page: rsvp.LinkPage, viewer: Viewer) -> dict[str, Any]:
    ev, code = page.event, viewer.language.code
    ends = ev.ends_at.astimezone(ZoneInfo(page.zone)).strftime("%H:%M") if ev.ends_at else ""
    return {"event": ev, "status": page.status, "can_answer": page.can_answer,
            "when": when_text(ev.starts_at, page.zone, code), "ends": ends}  # fmt: skip


@router.get("/e/{token}", include_in_schema=False)
def rsvp_page(request: Request, token: str,
              viewer: Viewer = requires(Permission.PUBLIC)) -> Response:  # fmt: skip
    """The guest's page: the event and Confirm / Decline (a GET changes nothing)."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    try:
        page = rsvp.link_page(web_context(request).db, token, now=datetime.now(UTC))
    except LinkRefused as error:
        return _refused(request, viewer, error)
    except NotFound:
        return _public(request, viewer, {"state": "invalid"}, status_code=404)
    return _public(request, viewer, {"state": "ask", **_event_context(page, viewer)})


@router.post("/e/{token}", include_in_schema=False)
def rsvp_answer(
    request: Request,
    token: str,
    answer: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PUBLIC),
) -> Response:
    """The guest's answer: one use of the link; the page then shows their place."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    db, now = web_context(request).db, datetime.now(UTC)
    if answer not in ("confirm", "decline"):
        return _public(request, viewer, {"state": "invalid"}, status_code=422)
    try:
        result = rsvp.respond_by_link(db, token, answer, now=now)
        page = rsvp.link_page(db, token, now=now)
    except LinkRefused as error:
        return _refused(request, viewer, error)
    except (Conflict, NotFound):  # the event was cancelled, is over, or is gone
        return _public(request, viewer, {"state": "closed"}, status_code=410)
    return _public(request, viewer, {"state": "answered", "result": result,
                                     **_event_context(page, viewer)})  # fmt: skip
