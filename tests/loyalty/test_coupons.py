"""Coupons: codes, every validation reason, discounts, and redemption under concurrency."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.errors import NotAllowed
from guanxi.loyalty import coupons
from guanxi.loyalty.coupons import (
    AlreadyRedeemedForOrder,
    Basket,
    CampaignDraft,
    CouponNotValid,
    CouponUsedUp,
    Kind,
    Line,
    Reason,
    Redemption,
)
from guanxi.loyalty.ledger import IdempotencyConflict
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Coupon, CouponRedemption, Segment, Store
from tests.factories import make_customer
from tests.loyalty.test_ledger_concurrency import _in_threads
from tests.services.test_segments import _score

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CODE = re.compile(r"^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}-"
                  r"[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}$")  # fmt: skip


@pytest.fixture
def store(db: Database) -> int:
    with db.write() as s:
        row = Store(code="S1", name="旗舰店")
        s.add(row)
        s.flush()
        return row.id


def _campaign(db: Database, owner: StaffMember, **fields: object) -> int:
    values: dict[str, object] = {"name": "春节券", "kind": Kind.FIXED, "value": Decimal(20)}
    values.update(fields)
    return coupons.create_campaign(db, owner, CampaignDraft(**values)).id  # type: ignore[arg-type]


def _pool(db: Database, owner: StaffMember, campaign: int, n: int = 1) -> list[str]:
    return coupons.generate_pool(db, owner, campaign, n)


def _basket(store: int, *lines: tuple[str, str | None], customer: int | None = None) -> Basket:
    return Basket(store, tuple(Line(Decimal(a), c) for a, c in lines), customer)


def test_codes_are_unique_crockford_base32_in_groups_of_four(
    db: Database, staff: dict[Role, StaffMember]
) -> None:
    campaign = _campaign(db, staff[Role.OWNER], uses_per_code=None)
    codes = _pool(db, staff[Role.OWNER], campaign, 500)
    assert len(set(codes)) == 500
    assert all(CODE.match(c) for c in codes), codes[:5]
    assert coupons.ENTROPY_BITS == 5 * coupons.CODE_LENGTH == 60
    with db.read() as s:
        stored = s.execute(select(Coupon.code)).scalars().all()
    assert sorted(stored) == sorted(c.replace("-", "") for c in codes)


def test_lookups_ignore_case_dashes_and_spaces(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    [code] = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER]))
    typed = " " + code.lower().replace("-", " ") + " "
    verdict = coupons.validate(db, typed, _basket(store, ("50", None)))
    assert verdict.valid and verdict.discount == Decimal("20.00")
    assert coupons.normalise("abcd-efgh-ilo0") == "ABCDEFGH1100"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_active": False}, Reason.INACTIVE),
        ({"valid_from": NOW + timedelta(days=1)}, Reason.NOT_STARTED),
        ({"valid_until": NOW}, Reason.EXPIRED),
        ({"store_ids": (999_999,)}, Reason.WRONG_STORE),
        ({"categories": ("茶叶",)}, Reason.WRONG_CATEGORY),
        ({"uses_per_customer": 1}, Reason.CUSTOMER_REQUIRED),
    ],
)
def test_each_reason_a_code_does_not_apply(
    db: Database,
    staff: dict[Role, StaffMember],
    store: int,
    fields: dict[str, object],
    reason: Reason,
) -> None:
    campaign = _campaign(db, staff[Role.OWNER])
    [code] = _pool(db, staff[Role.OWNER], campaign)
    changed = {"name": "春节券", "kind": Kind.FIXED, "value": Decimal(20), **fields}
    coupons.update_campaign(db, staff[Role.OWNER], campaign, CampaignDraft(**changed))  # type: ignore[arg-type]
    verdict = coupons.validate(db, code, _basket(store, ("100", "茶具")), now=NOW)
    assert (verdict.valid, verdict.reason, verdict.discount) == (False, reason, 0)
    assert verdict.message


def test_unknown_code_and_garbage(db: Database, store: int) -> None:
    for typed in ("ABCD-EFGH-JKMN", "x", "", "ABCD-EFGH-JKMN-PQRS"):
        verdict = coupons.validate(db, typed, _basket(store, ("10", None)))
        assert verdict.reason is Reason.UNKNOWN_CODE


def test_min_spend_says_how_much_is_missing_counting_only_qualifying_lines(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    campaign = _campaign(db, staff[Role.OWNER], min_spend=Decimal(200), categories=("茶叶",))
    [code] = _pool(db, staff[Role.OWNER], campaign)
    verdict = coupons.validate(db, code, _basket(store, ("150", "茶叶"), ("500", "茶具")))
    assert verdict.reason is Reason.MIN_SPEND
    assert (verdict.missing, verdict.qualifying) == (Decimal(50), Decimal(150))
    assert "50.00" in verdict.message and "200.00" in verdict.message
    ok = coupons.validate(db, code, _basket(store, ("150", "茶叶"), ("60", "茶叶"), ("9", None)))
    assert ok.valid and ok.qualifying == Decimal(210) and ok.discount == Decimal(20)


def test_percent_with_a_cap_on_the_category_amount(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    owner = staff[Role.OWNER]
    capped = _campaign(db, owner, kind=Kind.PERCENT, value=Decimal(15),
                       max_discount=Decimal(30), categories=("茶叶",))  # fmt: skip
    [code] = _pool(db, owner, capped)
    small = coupons.validate(db, code, _basket(store, ("99.99", "茶叶"), ("1000", "茶具")))
    assert small.discount == Decimal("14.99")  # 15 % of 99.99 = 14.9985, rounded down
    big = coupons.validate(db, code, _basket(store, ("500", "茶叶"), ("1000", "茶具")))
    assert big.discount == Decimal(30)  # 75 capped at 30
    fixed = _pool(db, owner, _campaign(db, owner, value=Decimal(50)))[0]
    assert coupons.validate(db, fixed, _basket(store, ("30", None))).discount == Decimal(30)


def test_a_customer_coupon_is_only_for_that_customer(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    alice, bob = make_customer(db), make_customer(db)
    issued = coupons.issue_to_customer(db, staff[Role.MANAGER], _campaign(db, staff[Role.OWNER]),
                                       alice)  # fmt: skip
    assert coupons.validate(db, issued.code, _basket(store, ("50", None), customer=alice)).valid
    for who in (bob, None):
        verdict = coupons.validate(db, issued.code, _basket(store, ("50", None), customer=who))
        assert verdict.reason is Reason.OTHER_CUSTOMER


def test_uses_per_customer_on_a_shared_code(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    campaign = _campaign(db, staff[Role.OWNER], uses_per_code=None, uses_per_customer=1)
    [code] = _pool(db, staff[Role.OWNER], campaign)
    alice, bob = make_customer(db), make_customer(db)
    coupons.redeem(db, code, _basket(store, ("50", None), customer=alice), idempotency_key="k1",
                   actor_id=None, order_ref="o1")  # fmt: skip
    again = coupons.validate(db, code, _basket(store, ("50", None), customer=alice))
    assert again.reason is Reason.CUSTOMER_LIMIT
    assert coupons.validate(db, code, _basket(store, ("50", None), customer=bob)).valid


def test_used_up_single_use_and_the_same_order_once(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    multi = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER], uses_per_code=3))[0]
    basket = _basket(store, ("50", None))
    first = coupons.redeem(db, multi, basket, idempotency_key="a", actor_id=None, order_ref="o1")
    assert first.discount == Decimal(20) and not first.replayed
    with pytest.raises(AlreadyRedeemedForOrder):
        coupons.redeem(db, multi, basket, idempotency_key="b", actor_id=None, order_ref="o1")
    single = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER]))[0]
    coupons.redeem(db, single, basket, idempotency_key="c", actor_id=None, order_ref="o2")
    assert coupons.validate(db, single, basket).reason is Reason.USED_UP
    with pytest.raises(CouponUsedUp):
        coupons.redeem(db, single, basket, idempotency_key="d", actor_id=None, order_ref="o3")
    with pytest.raises(CouponNotValid) as refused:
        coupons.redeem(db, "NOPE", basket, idempotency_key="e", actor_id=None, order_ref="o4")
    assert refused.value.reason is Reason.UNKNOWN_CODE
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 2


def test_idempotent_replay_and_key_reuse(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    [code] = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER]))
    basket = _basket(store, ("50", None))
    first = coupons.redeem(db, code, basket, idempotency_key="k", actor_id=None, order_ref="o1")
    again = coupons.redeem(db, code, basket, idempotency_key="k", actor_id=None, order_ref="o1")
    assert again.replayed and again.id == first.id and again.discount == first.discount
    with pytest.raises(IdempotencyConflict):
        coupons.redeem(db, code, _basket(store, ("60", None)), idempotency_key="k",
                       actor_id=None, order_ref="o1")  # fmt: skip


def _redeem_in_threads(db: Database, code: str, store: int, n: int) -> list[object]:
    def work(i: int) -> Redemption:
        return coupons.redeem(db, code, _basket(store, ("100", None)), idempotency_key=f"t{i}",
                              actor_id=None, order_ref=f"order-{i}")  # fmt: skip

    return list(_in_threads(n, work))


def test_a_single_use_code_redeemed_by_20_threads_at_once_is_used_once(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    [code] = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER]))
    results = _redeem_in_threads(db, code, store, 20)
    done = [r for r in results if isinstance(r, Redemption)]
    refused = [r for r in results if isinstance(r, CouponUsedUp)]
    assert (len(done), len(refused)) == (1, 19), [r for r in results if not isinstance(
        r, Redemption | CouponUsedUp)]  # fmt: skip
    with db.read() as s:
        row = s.execute(select(Coupon)).scalar_one()
        assert (row.uses, row.status) == (1, "used_up")


def test_a_code_with_5_uses_under_30_threads_is_used_5_times(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    [code] = _pool(db, staff[Role.OWNER], _campaign(db, staff[Role.OWNER], uses_per_code=5))
    results = _redeem_in_threads(db, code, store, 30)
    assert sum(isinstance(r, Redemption) for r in results) == 5
    assert sum(isinstance(r, CouponUsedUp) for r in results) == 25
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(CouponRedemption)).scalar_one() == 5
        assert s.execute(select(Coupon.uses)).scalar_one() == 5


def test_the_same_order_raced_is_redeemed_once(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    campaign = _campaign(db, staff[Role.OWNER], uses_per_code=None)
    [code] = _pool(db, staff[Role.OWNER], campaign)

    def work(i: int) -> Redemption:
        return coupons.redeem(db, code, _basket(store, ("100", None)), idempotency_key=f"t{i}",
                              actor_id=None, order_ref="same-order")  # fmt: skip

    results = _in_threads(10, work)
    assert sum(isinstance(r, Redemption) for r in results) == 1
    assert sum(isinstance(r, AlreadyRedeemedForOrder) for r in results) == 9


def test_issue_to_a_segment_gives_every_member_a_code(
    db: Database, staff: dict[Role, StaffMember]
) -> None:
    members = [make_customer(db) for _ in range(3)]
    outsider = make_customer(db)
    for customer in members:
        _score(db, customer, rung="loyal")
    _score(db, outsider, rung="lapsed")
    with db.write() as s:
        seg = Segment(name="loyal", rules=[{"field": "rung", "op": "in", "value": ["loyal"]}])
        s.add(seg)
        s.flush()
        seg_id = seg.id
    campaign = _campaign(db, staff[Role.OWNER])
    count = coupons.issue_to_segment(db, staff[Role.MANAGER], campaign, seg_id, store_scope=None)
    assert count == len(members) == 3
    assert coupons.customer_coupons(db, outsider) == []
    for customer in members:
        assert [c.campaign_id for c in coupons.customer_coupons(db, customer)] == [campaign]
    with db.read() as s:
        actions = s.execute(select(AuditEntry.action, AuditEntry.detail)).all()
    assert (coupons.COUPONS_ISSUED, {"campaign_id": campaign, "count": count}) in [
        (a, d) for a, d in actions
    ]
    with pytest.raises(NotAllowed):
        coupons.issue_to_segment(db, staff[Role.CLERK], campaign, seg_id, store_scope=None)


def test_campaign_changes_pools_and_exports_are_the_owners_and_audited(
    db: Database, staff: dict[Role, StaffMember]
) -> None:
    owner = staff[Role.OWNER]
    campaign = _campaign(db, owner)
    draft = CampaignDraft("改名", Kind.PERCENT, Decimal(10), uses_per_code=None)
    assert coupons.update_campaign(db, owner, campaign, draft).name == "改名"
    codes = _pool(db, owner, campaign, 3)
    text = coupons.pool_csv(db, owner, campaign)
    assert text.splitlines()[0] == "code,uses,uses_per_code,status"
    assert sorted(line.split(",")[0] for line in text.splitlines()[1:]) == sorted(codes)
    for who in (staff[Role.MANAGER], staff[Role.CLERK]):
        with pytest.raises(NotAllowed):
            coupons.pool_csv(db, who, campaign)
        with pytest.raises(NotAllowed):
            coupons.update_campaign(db, who, campaign, draft)
    with db.read() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count(coupons.CAMPAIGN_SAVED) == 2
    assert actions.count(coupons.CODES_EXPORTED) == 1


def test_applicable_coupons_are_the_customers_own_that_qualify(
    db: Database, staff: dict[Role, StaffMember], store: int
) -> None:
    owner, manager = staff[Role.OWNER], staff[Role.MANAGER]
    alice = make_customer(db)
    big = coupons.issue_to_customer(db, manager, _campaign(db, owner, value=Decimal(30)), alice)
    small = coupons.issue_to_customer(db, manager, _campaign(db, owner, value=Decimal(5)), alice)
    coupons.issue_to_customer(db, manager, _campaign(db, owner, min_spend=Decimal(999)), alice)
    _pool(db, owner, _campaign(db, owner))  # a pool code is nobody's own
    offers = coupons.applicable_coupons(db, alice, _basket(store, ("100", None)))
    assert [(o.code, o.discount) for o in offers] == [(big.code, 30), (small.code, 5)]
