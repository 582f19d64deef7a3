"""API tokens for POS systems: created for one staff member, limited to scopes, revocable.

The plain token (``gx_`` + 43 random characters) is shown once at creation; only its SHA-256
is stored. A token never grants more than its staff member's role: a scope the role lacks is
refused at creation, and every request checks the role again (it may have changed since).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from guanxi.domain.access import Permission, is_allowed
from guanxi.domain.staff import Role
from guanxi.errors import GuanxiError, InvalidInput, NotAllowed, NotFound
from guanxi.services import audit
from guanxi.services.staff import StaffMember, token_digest
from guanxi.storage.db import Database
from guanxi.storage.models import ApiToken, Staff

PREFIX = "gx_"
USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute
MAX_NAME = 100


class Scope(StrEnum):
    """What a token may be used for; each scope needs one permission of the staff's role."""

    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    PURCHASES_READ = "purchases:read"
    PURCHASES_WRITE = "purchases:write"
    CUSTOMERS_ERASE = "customers:erase"  # anonymise on request (managers and the owner)
    POINTS_REDEEM = "points:redeem"  # spend a customer's points (and rewards) at the till
    COUPONS_REDEEM = "coupons:redeem"  # validate and redeem coupons at the till
    STORED_VALUE_WRITE = "stored_value:write"  # top up and spend stored value at the till


SCOPE_PERMISSION: dict[Scope, Permission] = {
    Scope.CUSTOMERS_READ: Permission.CUSTOMERS_VIEW,
    Scope.CUSTOMERS_WRITE: Permission.CUSTOMERS_EDIT,
    Scope.PURCHASES_READ: Permission.PURCHASES_VIEW,
    Scope.PURCHASES_WRITE: Permission.PURCHASES_CREATE,
    Scope.CUSTOMERS_ERASE: Permission.CUSTOMERS_EXPORT,
    Scope.POINTS_REDEEM: Permission.PURCHASES_CREATE,
    Scope.COUPONS_REDEEM: Permission.PURCHASES_CREATE,
    Scope.STORED_VALUE_WRITE: Permission.PURCHASES_CREATE,
}


class TokenRefused(GuanxiError):
    """The token is unknown, revoked, or belongs to a staff member who left."""


@dataclass(frozen=True)
class ApiTokenInfo:
    """A token as listed: never the token itself, which only its creator saw once."""

    id: int
    staff_id: int
    staff_name: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def scopes_of_role(role: Role) -> frozenset[Scope]:
    """Every scope a staff member with ``role`` could be given."""
    return frozenset(s for s, p in SCOPE_PERMISSION.items() if is_allowed(role, p))


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """Scopes from their names, sorted and without repeats; refuses unknown names."""
    known = {s.value: s for s in Scope}
    found: set[Scope] = set()
    for raw in values:
        for name in raw.replace(",", " ").split():
            if name not in known:
                raise InvalidInput(f"unknown scope {name!r}: use one of {', '.join(known)}")
            found.add(known[name])
    if not found:
        raise InvalidInput(f"give the token at least one scope: {', '.join(known)}")
    return tuple(sorted(found))


def create_token(
    db: Database,
    staff_id: int,
    name: str,
    scopes: Iterable[str],
    *,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> tuple[str, ApiTokenInfo]:
    """Create a token; returns (plain token, to show once, and its description)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"the token needs a name of 1-{MAX_NAME} characters, e.g. POS1")
    wanted = parse_scopes(scopes)
    plain = PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        staff = _active_staff(session, staff_id)
        _check_role_allows(staff, wanted)
        row = ApiToken(staff_id=staff.id, name=name, token_hash=token_digest(plain),
                       scopes=" ".join(wanted), created_at=now or datetime.now(UTC))  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(session, audit.Action.API_TOKEN_CREATED, actor_id=actor_id,
                     target_type="api_token", target_id=row.id,
                     detail={"staff_id": staff.id, "scopes": list(wanted)})  # fmt: skip
        return plain, _info(row, staff.name)


def _active_staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"staff member {staff_id} does not exist: see 'guanxi staff list'")
    if not staff.is_active:
        raise NotAllowed(f"staff member {staff_id} ({staff.name}) is no longer active")
    return staff


def _check_role_allows(staff: Staff, scopes: Iterable[Scope]) -> None:
    role = Role(staff.role)
    lacking = [s.value for s in scopes if s not in scopes_of_role(role)]
    if lacking:
        raise NotAllowed(
            f"staff member {staff.id} ({staff.name}) is a {role.value}, whose role does not "
            f"allow {', '.join(lacking)}: leave out that scope or create the token for a "
            "staff member whose role allows it"
        )


def revoke_token(
    db: Database, token_id: int, *, actor_id: int | None = None, now: datetime | None = None
) -> ApiTokenInfo:
    """Revoke a token at once (revoking a revoked token changes nothing)."""
    with db.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"API token {token_id} does not exist: see 'guanxi token list'")
        if row.revoked_at is None:
            row.revoked_at = now or datetime.now(UTC)
            audit.record(session, audit.Action.API_TOKEN_REVOKED, actor_id=actor_id,
                         target_type="api_token", target_id=row.id,
                         detail={"staff_id": row.staff_id})  # fmt: skip
        staff_name = session.execute(select(Staff.name).where(Staff.id == row.staff_id))
        return _info(row, staff_name.scalar_one())


def list_tokens(db: Database, *, staff_id: int | None = None) -> list[ApiTokenInfo]:
    """Every token, oldest first, optionally of one staff member only."""
    stmt = select(ApiToken, Staff.name).join(Staff, Staff.id == ApiToken.staff_id)
    if staff_id is not None:
        stmt = stmt.where(ApiToken.staff_id == staff_id)
    with db.read() as session:
        return [_info(t, n) for t, n in session.execute(stmt.order_by(ApiToken.id))]


def authenticate(
    db: Database, plain: str, *, now: datetime | None = None
) -> tuple[StaffMember, frozenset[Scope]]:
    """The staff member behind a token and its scopes; TokenRefused if it cannot be used."""
    now = now or datetime.now(UTC)
    with db.read() as session:
        found = session.execute(
            select(ApiToken, Staff)
            .join(Staff, Staff.id == ApiToken.staff_id)
            .where(ApiToken.token_hash == token_digest(plain))
        ).one_or_none()
    if found is None:
        raise TokenRefused("unknown API token: check the Authorization header")
    token, staff = found
    if token.revoked_at is not None:
        raise TokenRefused(f"API token {token.name!r} was revoked: ask the owner for a new one")
    if not staff.is_active:
        raise TokenRefused(f"API token {token.name!r} belongs to a staff member who left")
    if token.last_used_at is None or now - token.last_used_at >= USE_RESOLUTION:
        _mark_used(db, token.id, now)
    member = StaffMember(staff.id, staff.name, Role(staff.role), staff.store_id,
                         staff.username, staff.locale)  # fmt: skip
    return member, frozenset(Scope(s) for s in token.scopes.split())


def _mark_used(db: Database, token_id: int, now: datetime) -> None:
    """Written only when stale, so busy POS systems do not write on every request."""
    with db.write() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .where(
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - USE_RESOLUTION)
            )  # fmt: skip
            .values(last_used_at=now)
        )


def _info(row: ApiToken, staff_name: str) -> ApiTokenInfo:
    return ApiTokenInfo(row.id, row.staff_id, staff_name, row.name,
                        tuple(Scope(s) for s in row.scopes.split()), row.created_at,
                        row.last_used_at, row.revoked_at)  # fmt: skip
