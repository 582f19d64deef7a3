"""Staff accounts: adding staff, passwords (argon2id), sign-in with rate limiting, sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, GuanxiError, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import LoginAttempt, Staff, Store, WebSession

MIN_PASSWORD = 8


def make_hasher(*, cheap: bool = False) -> PasswordHasher:
    """argon2id with the library's (RFC 9106 low-memory) defaults; ``cheap`` only for tests."""
    if cheap:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


class SignInRefused(GuanxiError):
    """Wrong user name or password (deliberately not saying which)."""


class TooManyAttempts(GuanxiError):
    """Too many failed sign-ins; ``retry_after`` seconds until the next try is accepted."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SessionPolicy:
    """How long a browser stays signed in, and how many failed sign-ins are tolerated."""

    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=4)
    window: timedelta = timedelta(minutes=15)
    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20


@dataclass(frozen=True)
class StaffMember:
    """A staff member as the app sees them once signed in."""

    id: int
    name: str
    role: Role
    store_id: int | None
    username: str | None
    locale: str | None


@dataclass(frozen=True)
class SignedIn:
    """A live session: who, and the token that protects its forms."""

    staff: StaffMember
    csrf_token: str


def _member(s: Staff) -> StaffMember:
    return StaffMember(s.id, s.name, Role(s.role), s.store_id, s.username, s.locale)


def token_digest(token: str) -> str:
    """What is stored of a secret token (session or API): its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    """Refuse passwords that are too short to be safe at a shop counter."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")


def add_staff(
    db: Database,
    name: str,
    role: Role,
    *,
    hasher: PasswordHasher,
    username: str | None = None,
    password: str | None = None,
    store_id: int | None = None,
    actor_id: int | None = None,
) -> StaffMember:
    """Add a staff member; with a user name and password they can sign in."""
    if not name.strip():
        raise InvalidInput("the staff member needs a name")
    if (username is None) != (password is None):
        raise InvalidInput("give both a user name and a password, or neither")
    if password is not None:
        check_password(password)
    with db.write() as session:
        if store_id is not None and session.get(Store, store_id) is None:
            raise NotFound(f"store {store_id} does not exist")
        staff = Staff(name=name.strip(), role=role.value, store_id=store_id,
                      username=username.strip().lower() if username else None,
                      password_hash=hasher.hash(password) if password else None)  # fmt: skip
        session.add(staff)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"the user name {username!r} is taken: choose another") from None
        audit.record(session, audit.Action.STAFF_ADDED, actor_id=actor_id, target_type="staff",
                     target_id=staff.id, detail={"role": role.value})  # fmt: skip
        return _member(staff)


def sign_in(
    db: Database,
    username: str,
    password: str,
    *,
    ip: str,
    hasher: PasswordHasher,
    policy: SessionPolicy,
    now: datetime | None = None,
) -> tuple[str, SignedIn]:
    """Check the password and open a session; returns (cookie token, session)."""
    now = now or datetime.now(UTC)
    username = username.strip().lower()
    with db.write() as session:
        _check_rate(session, username, ip, now, policy)
        staff = session.execute(
            select(Staff).where(Staff.username == username, Staff.is_active.is_(True))
        ).scalar_one_or_none()
        ok = staff is not None and _verify(hasher, staff.password_hash, password)
        session.execute(insert(LoginAttempt), {"at": now, "username": username[:64],
                                               "ip": ip[:64], "succeeded": ok})  # fmt: skip
        signed = _open_session(session, staff, password, ip, hasher, policy, now) if ok else None
    if signed is None:  # raised after the commit, so the failed attempt counts
        raise SignInRefused("wrong user name or password")
    return signed


def _open_session(
    session: Session,
    staff: Staff | None,
    password: str,
    ip: str,
    hasher: PasswordHasher,
    policy: SessionPolicy,
    now: datetime,
) -> tuple[str, SignedIn]:
    assert staff is not None
    if hasher.check_needs_rehash(staff.password_hash or ""):
        staff.password_hash = hasher.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=token_digest(token),
        staff_id=staff.id,
        csrf_token=csrf,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    session.flush()
    audit.record(session, audit.Action.SIGN_IN, actor_id=staff.id, ip=ip)
    return token, SignedIn(_member(staff), csrf)


def _verify(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_rate(
    session: Session, username: str, ip: str, now: datetime, policy: SessionPolicy
) -> None:
    since = now - policy.window
    failures = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
    )
    by_user = session.execute(failures.where(LoginAttempt.username == username)).scalar_one()
    by_ip = session.execute(failures.where(LoginAttempt.ip == ip)).scalar_one()
    if by_user >= policy.max_failures_per_user or by_ip >= policy.max_failures_per_ip:
        minutes = int(policy.window.total_seconds() // 60)
        raise TooManyAttempts(
            f"too many failed sign-ins; try again in {minutes} minutes or ask the owner",
            retry_after=int(policy.window.total_seconds()),
        )


def find_session(
    db: Database, token: str, *, policy: SessionPolicy, now: datetime | None = None
) -> SignedIn | None:
    """The live session behind a cookie token, or None if unknown, idle too long or expired.

    Every request calls this, so it only reads; it writes (ending the session, or noting that
    it was used, at most once a minute) only when there is something to write. On SQLite a
    write transaction would queue every page view behind every other writer.
    """
    now = now or datetime.now(UTC)
    with db.read() as session:
        row = session.execute(
            select(WebSession, Staff)
            .join(Staff, Staff.id == WebSession.staff_id)
            .where(WebSession.token_hash == token_digest(token))
        ).one_or_none()
    if row is None:
        return None
    ws, staff = row
    live = now < ws.expires_at and now - ws.last_seen_at < policy.idle and staff.is_active
    if not live or now - ws.last_seen_at > timedelta(minutes=1):
        with db.write() as session:
            stmt = delete(WebSession) if not live else update(WebSession).values(last_seen_at=now)
            session.execute(stmt.where(WebSession.id == ws.id))
    return SignedIn(_member(staff), ws.csrf_token) if live else None


def sign_out(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))


def sign_out_everywhere(db: Database, staff_id: int, *, ip: str | None = None) -> int:
    """End every session of a staff member (all browsers); returns how many ended."""
    with db.write() as session:
        ended = session.execute(delete(WebSession).where(WebSession.staff_id == staff_id))
        audit.record(session, audit.Action.SIGN_OUT_EVERYWHERE, actor_id=staff_id, ip=ip)
        return int(ended.rowcount or 0)  # type: ignore[attr-defined]


def set_locale(db: Database, staff_id: int, locale: str | None) -> None:
    with db.write() as session:
        session.execute(update(Staff).where(Staff.id == staff_id).values(locale=locale))


def set_login(
    db: Database,
    staff_id: int,
    username: str,
    password: str,
    *,
    hasher: PasswordHasher,
    actor_id: int | None = None,
) -> None:
    """Give a staff member a user name and a new password (ends their sessions)."""
    check_password(password)
    with db.write() as session:
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise NotFound(f"staff member {staff_id} does not exist")
        staff.username = username.strip().lower()
        staff.password_hash = hasher.hash(password)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"the user name {username!r} is taken: choose another") from None
        session.execute(delete(WebSession).where(WebSession.staff_id == staff_id))


def list_staff(db: Database) -> list[StaffMember]:
    with db.read() as session:
        return [_member(s) for s in session.scalars(select(Staff).order_by(Staff.id))]


@dataclass(frozen=True)
class StaffRow:
    """A staff member as the owner's staff page lists them."""

    id: int
    name: str
    role: Role
    store_id: int | None
    store_name: str | None
    username: str | None
    is_active: bool


def staff_rows(db: Database) -> list[StaffRow]:
    """Every staff member with their store's name, active first."""
    with db.read() as session:
        rows = session.execute(
            select(Staff, Store.name)
            .outerjoin(Store, Store.id == Staff.store_id)
            .order_by(Staff.is_active.desc(), Staff.id)
        ).all()
    return [StaffRow(s.id, s.name, Role(s.role), s.store_id, store, s.username, s.is_active)
            for s, store in rows]  # fmt: skip


def change_staff(
    db: Database,
    staff_id: int,
    *,
    role: Role,
    store_id: int | None,
    is_active: bool,
    actor_id: int,
    ip: str | None = None,
) -> None:
    """Change a staff member's role, store or active flag (owner only; audited).

    A role or store change, or deactivation, ends the member's sessions so the new rights apply
    at once. The last active owner cannot be demoted or deactivated.
    """
    with db.write() as session:
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise NotFound(f"staff member {staff_id} does not exist")
        if store_id is not None and session.get(Store, store_id) is None:
            raise NotFound(f"store {store_id} does not exist")
        if role is Role.OWNER:
            store_id = None  # owners see every store
        if staff.role == Role.OWNER.value and (role is not Role.OWNER or not is_active):
            _keep_an_owner(session, staff_id)
        before = {"role": staff.role, "store_id": staff.store_id, "is_active": staff.is_active}
        after = {"role": role.value, "store_id": store_id, "is_active": is_active}
        if before == after:
            return
        staff.role, staff.store_id, staff.is_active = role.value, store_id, is_active
        session.execute(delete(WebSession).where(WebSession.staff_id == staff_id))
        audit.record(session, audit.Action.ROLE_CHANGED, actor_id=actor_id, target_type="staff",
                     target_id=staff_id, detail={"before": before, "after": after},
                     ip=ip)  # fmt: skip


def _keep_an_owner(session: Session, leaving_id: int) -> None:
    others = session.execute(
        select(func.count())
        .select_from(Staff)
        .where(Staff.role == Role.OWNER.value, Staff.is_active.is_(True), Staff.id != leaving_id)
    ).scalar_one()
    if not others:
        raise Conflict("this is the shop's only active owner: make someone else owner first")


def list_stores(db: Database) -> list[tuple[int, str]]:
    with db.read() as session:
        return [(s.id, s.name) for s in session.scalars(select(Store).order_by(Store.id))]
