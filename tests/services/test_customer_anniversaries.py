"""A customer's anniversaries and membership date: validated, kept to the actor's store,
audited, and greeted by the care calendar; the form of address kept in the custom fields."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from guanxi.care.occasions import customer_occasions
from guanxi.care.templating import contexts
from guanxi.domain.staff import Role
from guanxi.errors import NotFound
from guanxi.services import audit
from guanxi.services.customer_anniversaries import (
    MAX_LABEL,
    AnniversaryDraft,
    add_anniversary,
    anniversaries_section,
    delete_anniversary,
    set_member_since,
    update_anniversary,
)
from guanxi.services.customer_edits import update_customer
from guanxi.services.customer_forms import CustomerForm, FormErrors
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Anniversary, AuditEntry, Customer, Staff, Store
from tests.factories import make_customer


def _staff(db: Database, role: Role, store_id: int | None) -> StaffMember:
    with db.write() as s:
        row = Staff(name=role.value, role=role.value, store_id=store_id)
        s.add(row)
        s.flush()
        return StaffMember(row.id, row.name, role, store_id, None, None)


def _store(db: Database, code: str) -> int:
    with db.write() as s:
        row = Store(code=code, name=code)
        s.add(row)
        s.flush()
        return row.id


def _actions(db: Database) -> list[tuple[str, dict[str, object]]]:
    with db.read() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id))
        return [(a, d) for a, d in rows]


def test_add_edit_delete_audited_without_values(db: Database) -> None:
    store = _store(db, "A")
    clerk = _staff(db, Role.CLERK, store)
    c = make_customer(db, home_store_id=store)
    aid = add_anniversary(
        db, c, AnniversaryDraft(" 结婚纪念日 ", "2016/10/3", "solar"), actor=clerk
    )
    section = anniversaries_section(db, c)
    assert [(a.label, a.occurs_on, a.calendar_kind) for a in section.anniversaries] == [
        ("结婚纪念日", date(2016, 10, 3), "solar")
    ]
    changed = update_anniversary(
        db, c, aid, AnniversaryDraft("结婚纪念日", "2016-10-03", "lunar"), actor=clerk
    )
    assert changed == ["calendar_kind"]
    assert update_anniversary(
        db, c, aid, AnniversaryDraft("结婚纪念日", "2016-10-03", "lunar"), actor=clerk
    ) == []  # fmt: skip
    delete_anniversary(db, c, aid, actor=clerk)
    assert anniversaries_section(db, c).anniversaries == []
    assert _actions(db) == [
        (audit.Action.ANNIVERSARY_ADDED, {"anniversary_id": aid, "calendar_kind": "solar"}),
        (audit.Action.ANNIVERSARY_UPDATED, {"anniversary_id": aid, "fields": ["calendar_kind"]}),
        (audit.Action.ANNIVERSARY_DELETED, {"anniversary_id": aid}),
    ]


@pytest.mark.parametrize(
    ("draft", "field", "words"),
    [
        (AnniversaryDraft("", "2016-10-03"), "label", "needs a name"),
        (AnniversaryDraft("x" * (MAX_LABEL + 1), "2016-10-03"), "label", "at most 64"),
        (AnniversaryDraft("开业", "2023-02-30"), "occurs_on", "February 2023 has 28 days"),
        (AnniversaryDraft("开业", "someday"), "occurs_on", "not a date"),
        (AnniversaryDraft("开业", ""), "occurs_on", "type the date"),
        (AnniversaryDraft("开业", "2099-01-01"), "occurs_on", "in the future"),
        (AnniversaryDraft("开业", "2016-10-03", "julian"), "calendar_kind", "solar or lunar"),
    ],
)
def test_bad_input_is_refused_with_a_message(
    db: Database, draft: AnniversaryDraft, field: str, words: str
) -> None:
    owner = _staff(db, Role.OWNER, None)
    c = make_customer(db)
    with pytest.raises(FormErrors) as refused:
        add_anniversary(db, c, draft, actor=owner)
    assert words in refused.value.errors[field]
    with db.read() as s:
        assert s.execute(select(Anniversary)).first() is None


def test_another_stores_customer_looks_absent(db: Database) -> None:
    a, b = _store(db, "A"), _store(db, "B")
    clerk_b = _staff(db, Role.CLERK, b)
    c = make_customer(db, home_store_id=a)
    owner = _staff(db, Role.OWNER, None)
    aid = add_anniversary(db, c, AnniversaryDraft("开业", "2020-05-01"), actor=owner)
    with pytest.raises(NotFound):
        add_anniversary(db, c, AnniversaryDraft("开业", "2020-05-01"), actor=clerk_b)
    with pytest.raises(NotFound):
        delete_anniversary(db, c, aid, actor=clerk_b)
    other = make_customer(db, home_store_id=a)
    with pytest.raises(NotFound):  # the anniversary of another customer
        delete_anniversary(db, other, aid, actor=owner)
    assert len(anniversaries_section(db, c).anniversaries) == 1


def test_member_since_is_one_row_set_moved_and_cleared(db: Database) -> None:
    owner = _staff(db, Role.OWNER, None)
    c = make_customer(db)
    assert set_member_since(db, c, "2021-03-15", actor=owner) is True
    assert set_member_since(db, c, "2021-03-15", actor=owner) is False
    assert set_member_since(db, c, "2021年3月16日", actor=owner) is True
    section = anniversaries_section(db, c)
    assert (section.member_since, section.anniversaries) == (date(2021, 3, 16), [])
    with db.read() as s:
        assert len(s.execute(select(Anniversary)).all()) == 1
    with pytest.raises(FormErrors) as refused:
        set_member_since(db, c, "2021-13-01", actor=owner)
    assert "month" in refused.value.errors["member_since"]
    with pytest.raises(NotFound):  # the membership row is not an ordinary anniversary
        delete_anniversary(db, c, _member_row(db, c), actor=owner)
    assert set_member_since(db, c, "", actor=owner) is True
    assert anniversaries_section(db, c).member_since is None
    assert [d for a, d in _actions(db) if a == audit.Action.MEMBER_SINCE_CHANGED] == [
        {"member_since": "set"}, {"member_since": "changed"}, {"member_since": "cleared"}
    ]  # fmt: skip


def _member_row(db: Database, customer_id: int) -> int:
    with db.read() as s:
        return s.execute(
            select(Anniversary.id).where(Anniversary.customer_id == customer_id)
        ).scalar_one()


def test_membership_occasion_on_its_solar_day(db: Database) -> None:
    owner = _staff(db, Role.OWNER, None)
    c = make_customer(db)
    set_member_since(db, c, "2021-03-15", actor=owner)
    add_anniversary(db, c, AnniversaryDraft("结婚纪念日", "2010-03-15"), actor=owner)
    with db.read() as s:
        found = customer_occasions(s, date(2026, 3, 14), date(2026, 3, 16))
        before = customer_occasions(s, date(2021, 3, 15), date(2021, 3, 15))  # the day itself
    assert [(o.occasion, o.on, o.label, o.years) for o in found] == [
        ("anniversary", date(2026, 3, 15), "结婚纪念日", 16),
        ("membership", date(2026, 3, 15), "", 5),
    ]
    assert [o.occasion for o in before] == ["anniversary"]


# --- the form of address -----------------------------------------------------------------------


def _greeting(db: Database, customer_id: int) -> str:
    with db.read() as s:
        return str(contexts(s, [customer_id], locale="zh_CN")[customer_id]["salutation"])


def test_salutation_preference_round_trip(db: Database) -> None:
    owner = _staff(db, Role.OWNER, None)
    store = _store(db, "A")
    custom = {"prefers_first_name": "yes", "会员卡": "金卡"}  # imported: 称呼偏好 by an older key
    c = make_customer(db, name="张晓明", gender="female", home_store_id=store, phone=None,
                      source="walk_in", custom_fields=custom)  # fmt: skip
    assert _greeting(db, c) == "晓明"

    def form(choice: str) -> CustomerForm:
        return CustomerForm(name="张晓明", gender="female", source="walk_in",
                            home_store_id=str(store), salutation=choice)  # fmt: skip

    assert update_customer(db, c, form("full_name"), actor=owner) == ["salutation"]
    assert _greeting(db, c) == "张晓明"
    with db.read() as s:
        stored = s.get(Customer, c)
        assert stored is not None
        assert stored.custom_fields == {"会员卡": "金卡", "称呼偏好": "full_name"}
    assert update_customer(db, c, form(""), actor=owner) == ["salutation"]
    assert _greeting(db, c) == "张女士"
    assert update_customer(db, c, form(""), actor=owner) == []
    with pytest.raises(FormErrors) as refused:
        update_customer(db, c, form("nickname"), actor=owner)
    assert "form of address" in refused.value.errors["salutation"]


def test_a_year_later_the_membership_anniversary_is_greeted(db: Database) -> None:
    owner = _staff(db, Role.OWNER, None)
    c = make_customer(db)
    joined = date.today() - timedelta(days=400)
    set_member_since(db, c, joined.isoformat(), actor=owner)
    with db.read() as s:
        found = customer_occasions(s, joined, joined + timedelta(days=366), customer_ids=[c])
    assert [o.occasion for o in found] == ["membership"] and found[0].years == 1


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_today_is_the_stores_day_not_the_servers(db: Database, zone: str) -> None:
    """A date that is today in the store (UTC+14 or UTC-11) is not "in the future", and the
    store's tomorrow is, whatever day the server's clock says."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with db.write() as s:
        row = Store(code="Z", name="Z", timezone=zone)
        s.add(row)
        s.flush()
        store = row.id
    clerk = _staff(db, Role.CLERK, store)
    c = make_customer(db, home_store_id=store)
    today = datetime.now(ZoneInfo(zone)).date()
    add_anniversary(db, c, AnniversaryDraft("开业", today.isoformat(), "solar"), actor=clerk)
    assert set_member_since(db, c, today.isoformat(), actor=clerk)
    tomorrow = (today + timedelta(days=1)).isoformat()
    with pytest.raises(FormErrors, match="future"):
        add_anniversary(db, c, AnniversaryDraft("明天", tomorrow, "solar"), actor=clerk)
