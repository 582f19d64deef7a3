"""Saved segments: rule checks, members over the latest scores, store scope, audit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services.segments import (
    delete_segment,
    get_segment,
    list_segments,
    parse_rule,
    parse_rules,
    preview,
    save_segment,
    segment_member_ids,
)
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, CustomerScore, CustomerTag, Staff, Store
from tests.factories import make_customer

MONTH = date(2025, 12, 1)


def _score(db: Database, customer: int, month: date = MONTH, **values: object) -> None:
    row = {"rung": "repeat", "purchase_days": 2, "total_spend": Decimal(100), "evidence": {}}
    row.update(values)
    with db.write() as session:
        session.add(CustomerScore(customer_id=customer, month=month, computed_on=month, **row))


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    with db.write() as session:
        one, two = Store(code="A", name="A"), Store(code="B", name="B")
        session.add_all([one, two])
        session.flush()
        owner = Staff(name="Owner", role="owner")
        session.add(owner)
        session.flush()
        ids = {"store_a": one.id, "store_b": two.id, "owner": owner.id}
    ids["vip"] = make_customer(db, home_store_id=ids["store_a"], tags=["VIP"])
    ids["slipping"] = make_customer(db, home_store_id=ids["store_a"])
    ids["other_store"] = make_customer(db, home_store_id=ids["store_b"])
    _score(db, ids["vip"], rung="loyal", rfm_segment="champions", clv_12m=Decimal("900.50"),
           p_alive=0.95, churn_risk=0.1)  # fmt: skip
    _score(db, ids["slipping"], rung="lapsed", rfm_segment="at_risk", clv_12m=Decimal("300"),
           p_alive=0.3, churn_risk=0.8)  # fmt: skip
    _score(db, ids["other_store"], rung="lapsed", rfm_segment="at_risk", clv_12m=Decimal("500"),
           p_alive=0.2, churn_risk=0.9)  # fmt: skip
    # An older month that says otherwise: only the latest month counts.
    _score(db, ids["vip"], month=date(2025, 11, 1), rung="lost")
    return ids


def _owner(shop: dict[str, int]) -> StaffMember:
    return StaffMember(shop["owner"], "Owner", Role.OWNER, None, None, None)


def test_rules_select_members_of_the_latest_month(db: Database, shop: dict[str, int]) -> None:
    at_risk = parse_rules([{"field": "rung", "value": ["lapsed", "lost"]},
                           {"field": "clv_12m", "value": [400, None]}])  # fmt: skip
    found = preview(db, at_risk, store_scope=None)
    assert found.month == MONTH and found.count == 1
    assert [m.id for m in found.members] == [shop["other_store"]]
    everyone_lapsed = parse_rules([{"field": "rung", "value": "lapsed"}])
    ordered = preview(db, everyone_lapsed, store_scope=None)
    assert [m.id for m in ordered.members] == [shop["other_store"], shop["slipping"]]  # by CLV
    assert preview(db, everyone_lapsed, store_scope=shop["store_a"]).count == 1
    tagged = parse_rules(
        [{"field": "tag", "value": "VIP"}, {"field": "p_alive", "value": [0.9, 1]}]
    )
    assert [m.id for m in preview(db, tagged, store_scope=None).members] == [shop["vip"]]
    by_store = parse_rules([{"field": "store", "value": shop["store_b"]}])
    assert preview(db, by_store, store_scope=None).count == 1


def test_save_list_change_and_delete_are_audited(db: Database, shop: dict[str, int]) -> None:
    owner = _owner(shop)
    rules = parse_rules([{"field": "rung", "value": ["lapsed"]}])
    sid = save_segment(db, owner, name="Win back", description="lapsed", rules=rules)
    assert [(s.name, s.count) for s in list_segments(db, store_scope=None)] == [("Win back", 2)]
    assert [s.count for s in list_segments(db, store_scope=shop["store_a"])] == [1]
    assert segment_member_ids(db, sid, store_scope=None) == sorted(
        [shop["slipping"], shop["other_store"]]
    )
    with pytest.raises(Conflict, match="exists already"):
        save_segment(db, owner, name="Win back", description=None, rules=rules)
    champions = parse_rules([{"field": "rfm_segment", "value": ["champions"]}])
    save_segment(db, owner, name="Champions", description=None, rules=champions, segment_id=sid)
    assert get_segment(db, sid, store_scope=None).count == 1
    delete_segment(db, owner, sid)
    with pytest.raises(NotFound):
        get_segment(db, sid, store_scope=None)
    with db.read() as session:
        actions = session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
        assert list(actions) == ["segment.saved", "segment.saved", "segment.deleted"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "colour"}, "unknown field 'colour'"),
        ({"field": "rung", "value": []}, "choose at least one value"),
        ({"field": "rung", "value": ["gold"]}, "unknown value 'gold'"),
        ({"field": "p_alive", "value": [None, None]}, "a low bound, a high bound or both"),
        ({"field": "p_alive", "value": [0.9, 0.1]}, "above the high bound"),
        ({"field": "clv_12m", "value": ["lots", 5]}, "'lots' is not a number"),
        ({"field": "clv_12m", "value": 5}, "give [low, high]"),
        ({"field": "tag", "value": " "}, "give the tag's name"),
        ({"field": "store", "value": "1.5"}, "give the store's id"),
    ],
)
def test_bad_rules_say_what_is_wrong(rule: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[")):
        parse_rule(rule)


def test_a_segment_needs_a_name_and_a_rule(db: Database, shop: dict[str, int]) -> None:
    owner = _owner(shop)
    with pytest.raises(InvalidInput, match="name"):
        save_segment(db, owner, name=" ", description=None, rules=parse_rules([{"field": "tag",
                     "value": "VIP"}]))  # fmt: skip
    with pytest.raises(InvalidInput, match="at least one rule"):
        save_segment(db, owner, name="All", description=None, rules=[])


def test_before_any_scoring_nothing_matches(db: Database) -> None:
    make_customer(db)
    with db.write() as session:
        session.add(CustomerTag(customer_id=make_customer(db), name="x"))
    found = preview(db, parse_rules([{"field": "tag", "value": "x"}]), store_scope=None)
    assert (found.count, found.month, found.members) == (0, None, [])
