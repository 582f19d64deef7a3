"""Member events (活动): lectures, trainings, outdoor days, the year-end gala.

An event has a store (its time zone gives the business dates), a place, a start and an end, an
optional capacity, the points an attendee earns, and a status: planned, cancelled or done.

Recurrence: creating an event with ``monthly``, ``quarterly`` or ``yearly`` creates its
occurrences for the next 12 months at once (the first one's id is every occurrence's
``series_id``), each on the same day of the month (the last day of a shorter month) and the
same local time. Editing or cancelling applies to one occurrence or to it and every later
planned occurrence of its series (``series=True``); a new start time moves each of them by the
same amount. Cancelling keeps the RSVPs (so the guests can be told).

``lock_event`` takes the event row's lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
IMMEDIATE write transaction is the lock, as for ``loyalty.rewards``): RSVPs, check-ins and a
change of capacity write the cached ``confirmed`` count only under it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Club, ClubEvent, EventRsvp, Store

KINDS = ("lecture", "training", "outdoor", "gala", "other")
KIND_LABELS = {
    "lecture": gettext_noop("Lecture"), "training": gettext_noop("Training"),
    "outdoor": gettext_noop("Outdoor activity"), "gala": gettext_noop("Gala"),
    "other": gettext_noop("Other"),
}  # fmt: skip
RECURRENCES = ("none", "monthly", "quarterly", "yearly")
STEP_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
STATUSES = ("planned", "cancelled", "done")
HORIZON_MONTHS = 12
DEFAULT_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class EventInput:
    """What staff fill in for an event (times are aware; converted to UTC when stored)."""

    name: str
    starts_at: datetime
    ends_at: datetime | None = None
    kind: str = "other"
    store_id: int | None = None
    club_id: int | None = None
    location: str | None = None
    capacity: int | None = None
    attendance_points: int = 0
    recurrence: str = "none"


@dataclass(frozen=True)
class EventView:
    """One event as pages and the CLI show it."""

    id: int
    name: str
    kind: str
    club_id: int | None
    club_name: str | None
    series_id: int | None
    store_id: int | None
    location: str | None
    starts_at: datetime
    ends_at: datetime | None
    capacity: int | None
    confirmed: int
    waitlisted: int
    invited: int
    checked_in: int
    recurrence: str
    attendance_points: int
    status: str
    zone: str

    @property
    def room(self) -> int | None:
        """Places left (None: no capacity)."""
        return None if self.capacity is None else max(self.capacity - self.confirmed, 0)

    def local_day(self) -> date:
        return self.starts_at.astimezone(ZoneInfo(self.zone)).date()


def occurrence_starts(first: datetime, recurrence: str, *, months: int = HORIZON_MONTHS,
                      zone: str = DEFAULT_ZONE) -> list[datetime]:  # fmt: skip
    """The starts of a series within ``months`` of the first one (local day and time kept)."""
    if recurrence not in RECURRENCES:
        raise InvalidInput(f"recurrence is one of {', '.join(RECURRENCES)}, not {recurrence!r}")
    if recurrence == "none":
        return [first]
    tz = ZoneInfo(zone)
    local = first.astimezone(tz)
    step = STEP_MONTHS[recurrence]
    starts = []
    for n in range(0, months, step):
        day = add_months(local.date(), n)
        starts.append(datetime.combine(day, local.timetz().replace(tzinfo=None), tz)
                      .astimezone(UTC))  # fmt: skip
    return starts


def zone_of(session: Session, store_id: int | None) -> str:
    if store_id is None:
        return DEFAULT_ZONE
    return session.execute(select(Store.timezone).where(Store.id == store_id)).scalar() or (
        DEFAULT_ZONE
    )


def _check(session: Session, data: EventInput) -> EventInput:
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("an event needs a name of 1 to 100 characters")
    if data.kind not in KINDS:
        raise InvalidInput(f"event kind is one of {', '.join(KINDS)}, not {data.kind!r}")
    if data.recurrence not in RECURRENCES:
        raise InvalidInput(f"recurrence is one of {', '.join(RECURRENCES)}, not "
                           f"{data.recurrence!r}")  # fmt: skip
    if data.starts_at.tzinfo is None:
        raise InvalidInput("an event's start needs a time zone")
    if data.ends_at is not None and data.ends_at <= data.starts_at:
        raise InvalidInput("an event ends after it starts")
    if data.capacity is not None and data.capacity < 1:
        raise InvalidInput(f"capacity is 1 or more, or empty for no limit (not {data.capacity})")
    if data.attendance_points < 0:
        raise InvalidInput("attendance points are 0 or more")
    if data.store_id is not None and session.get(Store, data.store_id) is None:
        raise InvalidInput(f"store {data.store_id} does not exist")
    if data.club_id is not None and session.get(Club, data.club_id) is None:
        raise InvalidInput(f"club {data.club_id} does not exist")
    location = (data.location or "").strip()[:200] or None
    ends = None if data.ends_at is None else data.ends_at.astimezone(UTC)
    return replace(data, name=name, location=location, starts_at=data.starts_at.astimezone(UTC),
                   ends_at=ends)  # fmt: skip


def _fields(data: EventInput) -> dict[str, object]:
    return {"name": data.name, "kind": data.kind, "store_id": data.store_id,
            "club_id": data.club_id, "location": data.location, "capacity": data.capacity,
            "attendance_points": data.attendance_points}  # fmt: skip


def _audit_detail(data: EventInput) -> dict[str, object]:
    return {**_fields(data), "starts_at": data.starts_at.isoformat(),
            "ends_at": data.ends_at.isoformat() if data.ends_at else None,
            "recurrence": data.recurrence}  # fmt: skip


def create_event(db: Database, actor: StaffMember, data: EventInput) -> list[int]:
    """Create an event and, when it recurs, its occurrences for the next 12 months; returns
    their ids in order (audited once, EVENT_SAVED)."""
    with db.write() as session:
        clean = _check(session, data)
        zone = zone_of(session, clean.store_id)
        length = None if clean.ends_at is None else clean.ends_at - clean.starts_at
        ids: list[int] = []
        for start in occurrence_starts(clean.starts_at, clean.recurrence, zone=zone):
            row = ClubEvent(
                **_fields(clean),
                starts_at=start,
                ends_at=None if length is None else start + length,
                recurrence=clean.recurrence,
                status="planned",
                confirmed=0,
                created_by_staff_id=actor.id,
                series_id=ids[0] if ids else None,
            )
            session.add(row)
            session.flush()
            if not ids and clean.recurrence != "none":
                row.series_id = row.id
            ids.append(row.id)
        audit.record(
            session,
            audit.Action.EVENT_SAVED,
            actor_id=actor.id,
            target_type="event",
            target_id=ids[0],
            detail={"created": len(ids), **_audit_detail(clean)},
        )
        return ids


def lock_event(session: Session, event_id: int) -> ClubEvent:
    """The event row, locked on PostgreSQL (SQLite: the IMMEDIATE transaction is the lock)."""
    stmt = select(ClubEvent).where(ClubEvent.id == event_id)
    stmt = stmt.execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"event {event_id} does not exist")
    return row


def _targets(session: Session, row: ClubEvent, series: bool) -> list[ClubEvent]:
    """The occurrence, or it and the later planned occurrences of its series (locked, by id)."""
    if not series or row.series_id is None:
        return [row]
    ids = session.execute(
        select(ClubEvent.id).where(ClubEvent.series_id == row.series_id,
                                   ClubEvent.starts_at >= row.starts_at,
                                   ClubEvent.status == "planned")
        .order_by(ClubEvent.id)
    ).scalars().all()  # fmt: skip
    return [lock_event(session, i) for i in ids] or [row]


def update_event(db: Database, actor: StaffMember, event_id: int, data: EventInput, *,
                 series: bool = False) -> list[int]:  # fmt: skip
    """Change one occurrence, or it and the later ones of its series (a new start time moves
    each by the same amount); a capacity under the confirmed count is refused, a larger one
    moves the first waitlisted guests up. Returns the ids changed (audited, EVENT_SAVED)."""
    from guanxi.club.rsvp import promote_waitlisted

    with db.write() as session:
        row = lock_event(session, event_id)
        clean = _check(session, replace(data, recurrence=row.recurrence))
        shift = clean.starts_at - row.starts_at
        length = None if clean.ends_at is None else clean.ends_at - clean.starts_at
        changed = []
        for ev in _targets(session, row, series):
            if clean.capacity is not None and clean.capacity < ev.confirmed:
                raise Conflict(
                    f"event {ev.id} has {ev.confirmed} confirmed guests: a capacity of "
                    f"{clean.capacity} is too small (cancel some places first)"
                )
            for name, value in _fields(clean).items():
                setattr(ev, name, value)
            ev.starts_at = ev.starts_at + shift
            ev.ends_at = None if length is None else ev.starts_at + length
            session.flush()
            promote_waitlisted(session, ev, now=datetime.now(UTC))
            changed.append(ev.id)
        audit.record(session, audit.Action.EVENT_SAVED, actor_id=actor.id, target_type="event",
                     target_id=event_id,
                     detail={"changed": changed, **_audit_detail(clean)})  # fmt: skip
        return changed


def set_status(db: Database, actor: StaffMember, event_id: int, status: str, *,
               series: bool = False) -> list[int]:  # fmt: skip
    """Cancel an occurrence (or it and the later ones), mark it done, or plan it again."""
    if status not in STATUSES:
        raise InvalidInput(f"event status is one of {', '.join(STATUSES)}, not {status!r}")
    with db.write() as session:
        row = lock_event(session, event_id)
        changed = []
        for ev in _targets(session, row, series):
            if ev.status != status:
                ev.status = status
                changed.append(ev.id)
        if changed:
            audit.record(session, audit.Action.EVENT_SAVED, actor_id=actor.id,
                         target_type="event", target_id=event_id,
                         detail={"status": status, "changed": changed})  # fmt: skip
        return changed


def _counts(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return out
    for event_id, status, n, checked in session.execute(
        select(EventRsvp.event_id, EventRsvp.status, func.count(),
               func.count(EventRsvp.checked_in_at))
        .where(EventRsvp.event_id.in_(ids)).group_by(EventRsvp.event_id, EventRsvp.status)
    ):  # fmt: skip
        out[event_id][status] = int(n)
        out[event_id]["checked_in"] = out[event_id].get("checked_in", 0) + int(checked)
    return out


def _views(session: Session, rows: list[ClubEvent]) -> list[EventView]:
    counts = _counts(session, [r.id for r in rows])
    clubs: dict[int, str] = dict(session.execute(select(Club.id, Club.name)).all())
    zones: dict[int, str] = dict(session.execute(select(Store.id, Store.timezone)).all())
    return [
        EventView(r.id, r.name, r.kind, r.club_id, clubs.get(r.club_id or 0), r.series_id,
                  r.store_id, r.location, r.starts_at, r.ends_at, r.capacity, r.confirmed,
                  counts[r.id].get("waitlisted", 0), counts[r.id].get("invited", 0),
                  counts[r.id].get("checked_in", 0), r.recurrence, r.attendance_points,
                  r.status, zones.get(r.store_id or 0, DEFAULT_ZONE))
        for r in rows
    ]  # fmt: skip


def in_scope(store_id: int | None, scope: int | None) -> bool:
    """Whether a viewer limited to ``scope`` sees an event of ``store_id`` (shop-wide: yes)."""
    return scope is None or store_id is None or store_id == scope


def get_event(session: Session, event_id: int, *, scope: int | None = None) -> EventView:
    row = session.get(ClubEvent, event_id)
    if row is None or not in_scope(row.store_id, scope):
        raise NotFound(f"event {event_id} does not exist")
    return _views(session, [row])[0]


def list_events(session: Session, *, scope: int | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = 200,
                newest_first: bool = False) -> list[EventView]:  # fmt: skip
    """Events by start (those starting from ``since``, before ``until``), within ``scope``;
    ``newest_first``: the latest ``limit`` of them, the latest first."""
    order = ((ClubEvent.starts_at.desc(), ClubEvent.id.desc()) if newest_first
             else (ClubEvent.starts_at, ClubEvent.id))  # fmt: skip
    stmt = select(ClubEvent).order_by(*order).limit(limit)
    if since is not None:
        stmt = stmt.where(ClubEvent.starts_at >= since)
    if until is not None:
        stmt = stmt.where(ClubEvent.starts_at < until)
    if scope is not None:
        stmt = stmt.where((ClubEvent.store_id.is_(None)) | (ClubEvent.store_id == scope))
    return _views(session, list(session.execute(stmt).scalars()))


def open_for_answers(row: ClubEvent, now: datetime) -> bool:
    """Whether guests may still answer: planned and not over."""
    end = row.ends_at or row.starts_at + timedelta(hours=4)
    return row.status == "planned" and now < end
