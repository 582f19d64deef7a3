"""Referrals (推荐): codes, attribution with guards, the reward on a first purchase, advocates.

**Codes.** Each customer gets, on demand, an 8-character code in Crockford's base32 (digits and
capitals without I, L, O, U: easy to say and to type, ~1.1 × 10¹² codes, drawn with
``secrets``), stored in ``referral_code``; typed codes are read leniently (lower case, spaces,
dashes, I/L for 1, O for 0). Staff share the code or the link ``/r/<code>``.

**Attribution** (``attach_referrer``) sets ``customer.referred_by_id`` once, refused with a
reason when: the customer would refer themselves; the referred customer already has a referrer
or already bought (a referral brings *new* customers); both share a phone number or WeChat id,
or one household (the same normalised address: the customer table has no address column, so the
``address`` / ``地址`` / ``住址`` / ``家庭住址`` custom field imports keep is compared); or the
referrer is (directly or further up) referred by the customer, which would close a cycle.
Both customer rows are locked in id order, so two opposite attachments cannot both pass.

**Reward** (``reward_first_purchase``), called by ``record_purchase`` in the purchase's own
transaction for a new purchase: when the buyer has a referrer and no referral outcome yet, the
outcome is decided once and stored in ``referral_reward`` (unique per referred customer).
Both customers get the programme's "referral" award (``rules.award_points``), each through
``ledger.earn`` with the keys ``referral:<referred>:referrer`` and ``referral:<referred>:referred``,
so the points are posted at most once ever. The referral as a whole is refused (nobody gets
points, the reason is stored for the owner) when, checked in this order:

1. the programme gives no referral points (``no_award``);
2. the buyer had bought before (``not_first_purchase``: e.g. imported history);
3. the referrer has never bought anything themselves (``referrer_no_purchase``);
4. the first purchase is below ``Policy.min_first_purchase`` (default ¥50);
5. the referrer was already rewarded for ``Policy.monthly_cap`` (default 10) referred customers
   in the calendar month of the purchase (business days of the purchase's store).

Guards 3-5 stop chains of fake accounts: a fake account must spend real money to qualify, and
one person can farm at most ten rewards a month. The two policy numbers are module constants
(``DEFAULT_POLICY``), not programme fields, because the programme's JSON belongs to the rules
editor; a caller may pass another ``Policy``. The monthly count runs after a lock on the
referrer's customer row (``FOR NO KEY UPDATE`` on PostgreSQL, which does not wait for purchases
being inserted for that customer; SQLite's IMMEDIATE transactions already serialise), so two
first purchases at once cannot both take the last place.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Select, func, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.importers.values import normalise_phone
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import programme
from guanxi.loyalty.rules import award_points
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerScore,
    Purchase,
    PurchaseReturn,
    ReferralCode,
    ReferralReward,
    Store,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
CODE_LENGTH = 8
LINK_PREFIX = "/r/"
ADDRESS_FIELDS = ("address", "地址", "住址", "家庭住址")
MAX_CHAIN = 10_000  # a walk up the referrers stops here (imports may contain cycles)
SOURCE = "referral"  # the ledger entries' source_type


@dataclass(frozen=True)
class Policy:
    """Anti-fraud limits on referral rewards (see the module docstring)."""

    min_first_purchase: Decimal = Decimal(50)  # yuan: the referred customer's first purchase
    monthly_cap: int = 10  # referred customers rewarded per referrer per calendar month


DEFAULT_POLICY = Policy()


class Reason(StrEnum):
    """Why an attachment or a reward was refused."""

    SELF = "self_referral"
    ALREADY_REFERRED = "already_referred"
    HAS_PURCHASES = "has_purchases"
    SAME_PHONE = "same_phone"
    SAME_HOUSEHOLD = "same_household"
    CYCLE = "cycle"
    NO_AWARD = "no_award"
    NOT_FIRST = "not_first_purchase"
    REFERRER_NO_PURCHASE = "referrer_no_purchase"
    BELOW_MINIMUM = "below_minimum"
    MONTHLY_CAP = "monthly_cap"


REASON_TEXT: dict[str, str] = {
    Reason.SELF: gettext_noop("A customer cannot refer themselves."),
    Reason.ALREADY_REFERRED: gettext_noop("This customer already has a referrer."),
    Reason.HAS_PURCHASES: gettext_noop(
        "This customer has already bought: referrals are for new customers."
    ),
    Reason.SAME_PHONE: gettext_noop("Both have the same phone number or WeChat: the same person."),
    Reason.SAME_HOUSEHOLD: gettext_noop("Both live at the same address: one household."),
    Reason.CYCLE: gettext_noop("The referrer was referred by this customer: that is a loop."),
    Reason.NO_AWARD: gettext_noop("The points programme gives no referral points."),
    Reason.NOT_FIRST: gettext_noop("The purchase was not the customer's first."),
    Reason.REFERRER_NO_PURCHASE: gettext_noop("The referrer has not bought anything yet."),
    Reason.BELOW_MINIMUM: gettext_noop("The first purchase was below the minimum amount."),
    Reason.MONTHLY_CAP: gettext_noop(
        "The referrer reached the monthly limit of rewarded referrals."
    ),
}
_INVALID = {Reason.SELF, Reason.SAME_PHONE, Reason.SAME_HOUSEHOLD}


class ReferralRefused(Conflict):
    """An attachment contradicts what is stored (already referred, bought, a loop)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidReferral(InvalidInput):
    """An attachment that can never be right (self-referral, one person or household)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _refuse(reason: Reason, message: str) -> None:
    raise (InvalidReferral if reason in _INVALID else ReferralRefused)(reason, message)


# --- codes -------------------------------------------------------------------------------------


def new_code() -> str:
    """A fresh random code (not yet checked for uniqueness)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """A typed code in canonical form (None: cannot be a code)."""
    cleaned = unicodedata.normalize("NFKC", text).upper()
    cleaned = re.sub(r"[\s\-]", "", cleaned).translate(str.maketrans("ILO", "110"))
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def link_for(code: str) -> str:
    """The path staff share (prefix it with the shop's address)."""
    return f"{LINK_PREFIX}{code}"


def find_code(session: Session, customer_id: int) -> str | None:
    """The customer's code if one was made."""
    return session.execute(
        select(ReferralCode.code).where(ReferralCode.customer_id == customer_id)
    ).scalar()


def code_in(session: Session, customer_id: int) -> str:
    """The customer's code, made now if they have none (in the caller's write transaction)."""
    if (found := find_code(session, customer_id)) is not None:
        return found
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if customer.erased_at is not None:
        raise Conflict(f"customer {customer_id} was erased: an erased customer refers nobody")
    for _ in range(5):  # a clash of random codes is very unlikely; a concurrent maker wins
        try:
            with session.begin_nested():
                session.add(ReferralCode(customer_id=customer_id, code=new_code()))
        except IntegrityError:
            if (found := find_code(session, customer_id)) is not None:
                return found
            continue
        return str(find_code(session, customer_id))
    raise Conflict("could not make a unique referral code: try again")


def referral_code(db: Database, customer_id: int) -> str:
    """The customer's code, made on first use."""
    with db.read() as session:
        if (found := find_code(session, customer_id)) is not None:
            return found
    with db.write() as session:
        return code_in(session, customer_id)


def customer_for_code(session: Session, text: str) -> int | None:
    """The customer whose code ``text`` is (leniently read); None if nobody's."""
    code = normalise_code(text)
    if code is None:
        return None
    found = session.execute(
        select(ReferralCode.customer_id).where(ReferralCode.code == code)
    ).scalar()
    return None if found is None else int(found)


# --- attribution -------------------------------------------------------------------------------


def _resolve(session: Session, given: str | int, store_scope: int | None) -> int:
    """A referrer id from an id, a code (any store) or a phone (within ``store_scope``)."""
    if isinstance(given, int):
        if session.get(Customer, given) is None:
            raise NotFound(f"customer {given} does not exist")
        return given
    text = given.strip()
    if (by_code := customer_for_code(session, text)) is not None:
        return by_code
    try:
        phone = normalise_phone(text)
    except ValueError:
        phone = None
    if phone is not None:
        query = select(Customer.id).where(Customer.phone == phone)
        if store_scope is not None:
            query = query.where(Customer.home_store_id == store_scope)
        if (by_phone := session.execute(query).scalar()) is not None:
            return int(by_phone)
    raise NotFound(
        f"no customer has the referral code or phone {text!r}: check it on the referrer's page"
    )


def _address(customer: Customer) -> str | None:
    fields = customer.custom_fields or {}
    for name in ADDRESS_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            text = unicodedata.normalize("NFKC", value).lower()
            return re.sub(r"[\s,.，。、#\-]", "", text) or None
    return None


def _same_person(a: Customer, b: Customer) -> bool:
    return any(x is not None and x == y for x, y in ((a.phone, b.phone),
                                                       (a.wechat_id, b.wechat_id)))  # fmt: skip


def _referrers_of(session: Session, customer_id: int) -> list[int]:
    """The chain above ``customer_id``: their referrer, that one's referrer, ..."""
    chain: list[int] = []
    current: int | None = customer_id
    while current is not None and len(chain) < MAX_CHAIN:
        current = session.execute(
            select(Customer.referred_by_id).where(Customer.id == current)
        ).scalar()
        if current is None or current in chain:
            break
        chain.append(current)
    return chain


def _check(session: Session, customer: Customer, referrer: Customer) -> None:
    """Every guard of the module docstring, in order; raises with the first that fails."""
    if customer.id == referrer.id:
        _refuse(Reason.SELF, f"customer {customer.id} cannot refer themselves")
    if customer.referred_by_id is not None:
        _refuse(Reason.ALREADY_REFERRED, f"customer {customer.id} was already referred by "
                f"customer {customer.referred_by_id}: a customer has one referrer")  # fmt: skip
    if _has_purchases(session, customer.id):
        _refuse(Reason.HAS_PURCHASES, f"customer {customer.id} has bought before: a referral "
                "is only for a new customer's first purchase")  # fmt: skip
    if _same_person(customer, referrer):
        _refuse(Reason.SAME_PHONE, f"customers {customer.id} and {referrer.id} share a phone "
                "number or WeChat id: they look like one person")  # fmt: skip
    home = _address(customer)
    if home is not None and home == _address(referrer):
        _refuse(Reason.SAME_HOUSEHOLD, f"customers {customer.id} and {referrer.id} share an "
                "address: one household does not refer itself")  # fmt: skip
    if customer.id in _referrers_of(session, referrer.id):
        _refuse(Reason.CYCLE, f"customer {referrer.id} was referred (directly or through "
                f"others) by customer {customer.id}: a referral cannot loop")  # fmt: skip


def _locked(session: Session, ids: Sequence[int]) -> dict[int, Customer]:
    """The customers, their rows locked in ascending id order, read fresh after the lock."""
    rows = session.execute(
        select(Customer).where(Customer.id.in_(sorted(set(ids)))).order_by(Customer.id)
        .with_for_update().execution_options(populate_existing=True)
    ).scalars()  # fmt: skip
    return {c.id: c for c in rows}


def attach_referrer(
    db: Database,
    customer_id: int,
    code_or_referrer_id: str | int,
    *,
    actor_id: int | None,
    store_scope: int | None = None,
    ip: str | None = None,
) -> int:
    """Record that ``code_or_referrer_id`` (a customer id, a referral code, or a phone number
    looked up within ``store_scope``) referred ``customer_id``; audited; returns the referrer's
    id. Attaching the same referrer again changes nothing. A guard that fails raises
    ``InvalidReferral`` or ``ReferralRefused``, whose ``reason`` says which."""
    with db.write() as session:
        referrer_id = _resolve(session, code_or_referrer_id, store_scope)
        found = _locked(session, [customer_id, referrer_id])
        if customer_id not in found:
            raise NotFound(f"customer {customer_id} does not exist")
        customer, referrer = found[customer_id], found[referrer_id]
        if customer.referred_by_id == referrer_id:
            return referrer_id
        if customer.erased_at is not None or referrer.erased_at is not None:
            raise Conflict("an erased customer cannot take part in a referral")
        _check(session, customer, referrer)
        customer.referred_by_id = referrer_id
        audit.record(session, audit.Action.CUSTOMER_UPDATED, actor_id=actor_id,
                     target_type="customer", target_id=customer_id, ip=ip,
                     detail={"fields": ["referred_by"], "referred_by_id": referrer_id,
                             "via": "referral"})  # fmt: skip
        return referrer_id


# --- the reward --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A referral's stored outcome."""

    referred_id: int
    referrer_id: int
    purchase_id: int
    status: str  # rewarded / refused
    reason: str | None
    referrer_points: int
    referred_points: int
    business_day: date

    @property
    def reason_text(self) -> str | None:
        """The refusal in English (a msgid: translate it for display)."""
        return REASON_TEXT.get(self.reason) if self.reason else None


def _outcome(row: ReferralReward) -> Outcome:
    return Outcome(row.referred_id, row.referrer_id, row.purchase_id, row.status, row.reason,
                   row.referrer_points, row.referred_points, row.business_day)  # fmt: skip


def _has_purchases(session: Session, customer_id: int, *, besides: int | None = None) -> bool:
    query = select(Purchase.id).where(Purchase.customer_id == customer_id)
    if besides is not None:
        query = query.where(Purchase.id != besides)
    return session.execute(query.limit(1)).first() is not None


def _month_count(session: Session, referrer_id: int, day: date) -> int:
    start = day.replace(day=1)
    return int(session.execute(
        select(func.count()).select_from(ReferralReward).where(
            ReferralReward.referrer_id == referrer_id, ReferralReward.status == "rewarded",
            ReferralReward.business_day >= start,
            ReferralReward.business_day < add_months(start, 1),
        )
    ).scalar_one())  # fmt: skip


def _refusal(
    session: Session, purchase: Purchase, referrer_id: int, day: date, points: int, policy: Policy
) -> Reason | None:
    """The first guard (module docstring order) that refuses the reward; None: reward."""
    if points <= 0:
        return Reason.NO_AWARD
    if _has_purchases(session, purchase.customer_id, besides=purchase.id):
        return Reason.NOT_FIRST
    if not _has_purchases(session, referrer_id):
        return Reason.REFERRER_NO_PURCHASE
    if purchase.total_amount < policy.min_first_purchase:
        return Reason.BELOW_MINIMUM
    if _month_count(session, referrer_id, day) >= policy.monthly_cap:
        return Reason.MONTHLY_CAP
    return None


def _lock_referrer(session: Session, referrer_id: int) -> None:
    session.execute(
        select(Customer.id).where(Customer.id == referrer_id).with_for_update(key_share=True)
    )


def reward_first_purchase(
    session: Session, purchase_id: int, policy: Policy = DEFAULT_POLICY
) -> Outcome | None:
    """Decide, once, the referral reward of ``purchase_id``'s buyer (module docstring), in the
    caller's transaction. None: the buyer has no referrer; else the (possibly earlier) outcome."""
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise NotFound(f"purchase {purchase_id} does not exist")
    referred = session.get(Customer, purchase.customer_id)
    if referred is None or referred.referred_by_id is None:
        return None
    stored = session.execute(
        select(ReferralReward).where(ReferralReward.referred_id == referred.id)
    ).scalar()
    if stored is not None:
        return _outcome(stored)
    referrer_id = referred.referred_by_id
    _lock_referrer(session, referrer_id)
    store = session.get(Store, purchase.store_id)
    assert store is not None
    day = purchase.purchased_at.astimezone(ZoneInfo(store.timezone)).date()
    prog = programme(session)
    points = award_points(prog.rules, "referral")
    refused = _refusal(session, purchase, referrer_id, day, points, policy)
    if refused is None:
        expires = None if prog.points_valid_months is None else add_months(
            day, prog.points_valid_months)  # fmt: skip
        for role, who in (("referrer", referrer_id), ("referred", referred.id)):
            ledger.earn(
                session, who, points, source_type=SOURCE, source_id=referred.id,
                expires_on=expires, reason=f"referral of customer {referred.id}",
                explanation={"steps": [_step(role, referred.id, referrer_id, points)]},
                idempotency_key=f"referral:{referred.id}:{role}",
            )  # fmt: skip
    row = ReferralReward(
        referred_id=referred.id, referrer_id=referrer_id, purchase_id=purchase.id,
        status="refused" if refused else "rewarded", reason=refused.value if refused else None,
        referrer_points=0 if refused else points, referred_points=0 if refused else points,
        business_day=day,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _outcome(row)


def _step(role: str, referred_id: int, referrer_id: int, points: int) -> dict[str, Any]:
    if role == "referrer":
        template = gettext_noop("Referral: customer {other} you referred bought: +{points}.")
        return {"template": template, "values": {"other": referred_id, "points": points}}
    template = gettext_noop("Referral: first purchase, referred by customer {other}: +{points}.")
    return {"template": template, "values": {"other": referrer_id, "points": points}}


def outcome_for(session: Session, referred_id: int) -> Outcome | None:
    """The stored outcome of ``referred_id``'s referral (None: not decided yet)."""
    row = session.execute(
        select(ReferralReward).where(ReferralReward.referred_id == referred_id)
    ).scalar()
    return None if row is None else _outcome(row)


# --- advocate ranking --------------------------------------------------------------------------

MEASURES = ("spend", "bought", "referred", "clv", "rewarded")


@dataclass(frozen=True)
class Advocate:
    """One referrer and the customers they brought. ``spend`` is the referred customers'
    purchases net of refunds; ``clv`` the sum of their latest 12-month CLV scores (None: none
    of them scored)."""

    customer_id: int
    name: str
    referred: int
    bought: int
    spend: Decimal
    clv: Decimal | None
    rewarded: int


def _scope(store_scope: int | None) -> list[ColumnElement[bool]]:
    """The filter that keeps customers of ``store_scope`` (None: every store)."""
    return [] if store_scope is None else [Customer.home_store_id == store_scope]


def _per_referred(
    session: Session, referred: Any, amount: Any, joined: Select[Any]
) -> dict[int, int]:
    """A per-customer sum (fen) of ``amount`` over ``joined``, for the referred customers."""
    rows = session.execute(
        joined.add_columns(func.sum(type_coerce(amount, BigInteger)))
        .where(Purchase.customer_id.in_(select(referred.c.id)))
        .group_by(Purchase.customer_id)
    )
    return {int(cid): int(total or 0) for cid, total in rows}


def _latest_clv(session: Session, referred: Any) -> dict[int, Decimal]:
    latest = (
        select(CustomerScore.customer_id, func.max(CustomerScore.month).label("month"))
        .where(CustomerScore.customer_id.in_(select(referred.c.id)))
        .group_by(CustomerScore.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(CustomerScore.customer_id, CustomerScore.clv_12m).join(
            latest,
            (latest.c.customer_id == CustomerScore.customer_id)
            & (latest.c.month == CustomerScore.month),
        )
    )
    return {int(cid): clv for cid, clv in rows if clv is not None}


def advocate_ranking(
    db: Database, *, store_scope: int | None, by: str = "spend", limit: int = 100
) -> list[Advocate]:
    """Referrers with what their referred customers did, best first by ``by`` (one of
    ``MEASURES``; ties: more bought, more referred, lower id). Both the referrer and the
    referred customers are limited to ``store_scope`` (None: every store)."""
    if by not in MEASURES:
        raise InvalidInput(f"rank by one of {', '.join(MEASURES)}, not {by!r}")
    with db.read() as session:
        referred = (
            select(Customer.id, Customer.referred_by_id)
            .where(Customer.referred_by_id.is_not(None), *_scope(store_scope))
            .subquery()
        )
        pairs = [(int(r[0]), int(r[1])) for r in session.execute(select(referred))]
        gross = _per_referred(session, referred, Purchase.total_amount,
                              select(Purchase.customer_id))  # fmt: skip
        refunds = _per_referred(
            session, referred, PurchaseReturn.refund_amount,
            select(Purchase.customer_id).join(PurchaseReturn,
                                              PurchaseReturn.purchase_id == Purchase.id),
        )  # fmt: skip
        clv = _latest_clv(session, referred)
        rewarded = {int(a): str(b) for a, b in session.execute(
            select(ReferralReward.referred_id, ReferralReward.status)
            .where(ReferralReward.referred_id.in_(select(referred.c.id)))
        )}  # fmt: skip
        referrer_ids = {b for _, b in pairs}
        names = {int(a): str(b) for a, b in session.execute(
            select(Customer.id, Customer.name)
            .where(Customer.id.in_(referrer_ids), *_scope(store_scope))
        )}  # fmt: skip
    rows = []
    for referrer_id, name in names.items():
        mine = [a for a, b in pairs if b == referrer_id]
        scored = [clv[a] for a in mine if a in clv]
        rows.append(Advocate(
            referrer_id, name, len(mine), sum(1 for a in mine if a in gross),
            Decimal(sum(gross.get(a, 0) - refunds.get(a, 0) for a in mine)) / 100,
            sum(scored, Decimal(0)) if scored else None,
            sum(1 for a in mine if rewarded.get(a) == "rewarded"),
        ))  # fmt: skip
    rows.sort(key=lambda r: (-(getattr(r, by) or 0), -r.bought, -r.referred, r.customer_id))
    return rows[:limit]


# --- the referral graph ------------------------------------------------------------------------

COLUMN = 190  # px between depths
ROW = 34  # px between leaves
MARGIN = 20


@dataclass
class Node:
    """A customer in the referral forest, placed: ``x`` by depth, ``y`` by leaf row."""

    id: int
    name: str
    bought: bool
    depth: int = 0
    x: int = 0
    y: int = 0
    children: list[Node] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(child.size() for child in self.children)


@dataclass(frozen=True)
class Edge:
    """A referral drawn from ``source`` (the referrer) to ``target`` (the referred)."""

    source: Node
    target: Node


@dataclass(frozen=True)
class Forest:
    """The largest referral trees, laid out left (roots) to right; ``trees`` counts them all."""

    roots: list[Node]
    nodes: list[Node]
    edges: list[Edge]
    trees: int
    width: int
    height: int


def _trees(names: dict[int, tuple[str, bool]], parent: dict[int, int]) -> list[Node]:
    """Nodes linked into trees; a customer whose referrer is outside the set is a root, and a
    loop (possible in old imports) is cut at its smallest id, so every node is placed once."""
    nodes = {cid: Node(cid, name, bought) for cid, (name, bought) in names.items()}
    roots: list[Node] = []
    attached: set[int] = set()
    for cid in sorted(nodes):
        up = parent.get(cid)
        if up is None or up not in nodes:
            roots.append(nodes[cid])
    children: dict[int, list[int]] = {}
    for cid, up in sorted(parent.items()):
        if cid in nodes and up in nodes:
            children.setdefault(up, []).append(cid)

    def grow(node: Node) -> None:
        attached.add(node.id)
        for cid in children.get(node.id, []):
            if cid not in attached:
                node.children.append(nodes[cid])
                grow(nodes[cid])

    for root in roots:
        grow(root)
    for cid in sorted(nodes):  # left over: members of a loop
        if cid not in attached:
            roots.append(nodes[cid])
            grow(nodes[cid])
    return roots


def layout(roots: Sequence[Node]) -> tuple[list[Node], list[Edge], int, int]:
    """Place the trees: each leaf on its own row, a parent midway between its first and last
    child, x by depth; subtrees take disjoint rows, so no two nodes overlap."""
    placed: list[Node] = []
    edges: list[Edge] = []
    row = 0

    def place(node: Node, depth: int) -> None:
        nonlocal row
        node.depth, node.x = depth, MARGIN + depth * COLUMN
        placed.append(node)
        for child in node.children:
            place(child, depth + 1)
            edges.append(Edge(node, child))
        if node.children:
            node.y = (node.children[0].y + node.children[-1].y) // 2
        else:
            node.y = MARGIN + row * ROW
            row += 1

    for root in roots:
        place(root, 0)
    depth = max((n.depth for n in placed), default=0)
    return placed, edges, MARGIN * 2 + depth * COLUMN + COLUMN, MARGIN * 2 + max(row - 1, 0) * ROW


def referral_forest(db: Database, *, store_scope: int | None, max_trees: int = 20) -> Forest:
    """Customers who referred or were referred (within ``store_scope``), as the ``max_trees``
    largest trees (ties: lowest root id), laid out for an SVG drawing."""
    with db.read() as session:
        linked = select(Customer.id, Customer.referred_by_id).where(
            Customer.referred_by_id.is_not(None), *_scope(store_scope))  # fmt: skip
        parent = {int(a): int(b) for a, b in session.execute(linked) if b is not None}
        ids = set(parent) | set(parent.values())
        rows = session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(ids), *_scope(store_scope))
        )
        buyers = set(session.execute(
            select(Purchase.customer_id).where(Purchase.customer_id.in_(ids)).distinct()
        ).scalars())  # fmt: skip
        names = {int(cid): (name, cid in buyers) for cid, name in rows}
    roots = _trees(names, parent)
    roots.sort(key=lambda r: (-r.size(), r.id))
    shown = roots[:max_trees]
    nodes, edges, width, height = layout(shown)
    return Forest(shown, nodes, edges, len(roots), width, height)
