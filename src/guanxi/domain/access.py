"""Who may do what: permissions, the roles that hold them, and the phone-masking rule.

Every web page and API route declares one permission (or PUBLIC); a test walks the route table
against every role, so a new route without a declared permission fails the build.
"""

from __future__ import annotations

from enum import StrEnum

from guanxi.domain.staff import Role


class Permission(StrEnum):
    """One thing a staff member may be allowed to do."""

    PUBLIC = "public"  # no login needed (login page, assets, health)
    SIGNED_IN = "signed_in"  # any staff member who is signed in (own profile, logout)
    CUSTOMERS_VIEW = "customers.view"
    CUSTOMERS_EDIT = "customers.edit"
    CUSTOMERS_IMPORT = "customers.import"
    CUSTOMERS_EXPORT = "customers.export"  # personal data export, erasure
    PURCHASES_VIEW = "purchases.view"
    PURCHASES_CREATE = "purchases.create"
    STAFF_MANAGE = "staff.manage"
    AUDIT_VIEW = "audit.view"
    ANALYTICS_VIEW = "analytics.view"  # the analytics dashboard (scores, charts, economics)
    SEGMENTS_MANAGE = "segments.manage"  # build, save and delete customer segments
    POINTS_ADJUST = "points.adjust"  # correct a customer's points with a reason (audited)
    LOYALTY_MANAGE = "loyalty.manage"  # the points programme; waive claw-backs (owner only)
    COUPONS_ISSUE = "coupons.issue"  # issue coupons to a customer or a segment (managers)
    STORED_VALUE_REFUND = "stored_value.refund"  # refund a stored-value card's paid money
    CARE_MANAGE = "care.manage"  # follow-up plans, observed occasions, message templates
    CAMPAIGNS_SEND = "campaigns.send"  # build, dry-run and queue bulk messages (audited)
    COMPLAINTS_MANAGE = "complaints.manage"  # assign, escalate, compensate, reports (managers)
    SURVEYS_MANAGE = "surveys.manage"  # build and send surveys, satisfaction reports
    CLUBS_MANAGE = "clubs.manage"  # clubs, members and events (clerks check members in)


_CLERK = frozenset({
    Permission.SIGNED_IN, Permission.CUSTOMERS_VIEW, Permission.CUSTOMERS_EDIT,
    Permission.PURCHASES_VIEW, Permission.PURCHASES_CREATE,
})  # fmt: skip
_MANAGER = _CLERK | {
    Permission.CUSTOMERS_IMPORT, Permission.CUSTOMERS_EXPORT, Permission.ANALYTICS_VIEW,
    Permission.SEGMENTS_MANAGE, Permission.POINTS_ADJUST, Permission.COUPONS_ISSUE,
    Permission.STORED_VALUE_REFUND, Permission.CARE_MANAGE, Permission.CAMPAIGNS_SEND,
    Permission.COMPLAINTS_MANAGE, Permission.SURVEYS_MANAGE, Permission.CLUBS_MANAGE,
}  # fmt: skip

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.MANAGER: frozenset(_MANAGER),
    Role.CLERK: _CLERK,
}


def is_allowed(role: Role, permission: Permission) -> bool:
    """Whether a staff member with ``role`` holds ``permission`` (PUBLIC: everyone)."""
    return permission is Permission.PUBLIC or permission in ROLE_PERMISSIONS[role]


def sees_all_stores(role: Role) -> bool:
    """Owners see every store's customers; managers and clerks those of their own store."""
    return role is Role.OWNER


NO_STORE = -1  # the scope of a manager or clerk with no store set: they see no customers


def store_scope(role: Role, store_id: int | None) -> int | None:
    """The one store whose customers a staff member sees; None means every store (owners)."""
    if sees_all_stores(role):
        return None
    return store_id if store_id is not None else NO_STORE


def sees_full_phone(role: Role, *, is_account_owner: bool) -> bool:
    """Clerks see masked phones except for customers they own; managers and owners see all."""
    return role is not Role.CLERK or is_account_owner


def mask_phone(phone: str | None) -> str:
    """'+8613812345678' -> '138****5678'; other numbers keep only their last 4 digits."""
    if not phone:
        return ""
    national = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(national) >= 8:
        return f"{national[:3]}****{national[-4:]}"
    return f"****{national[-4:]}"
