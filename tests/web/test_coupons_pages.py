"""Coupon pages: campaigns list and form (owner), issuing (managers), pool codes and their
audited CSV download (owner), and the customer page's coupons section."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.loyalty import coupons
from guanxi.loyalty.coupons import CampaignDraft, Kind
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Coupon, CouponCampaign, Segment
from tests.factories import make_customer
from tests.services.test_segments import _score
from tests.web.conftest import Account
from tests.web.test_api_coupons import _staff

Factory = Callable[[str], tuple[TestClient, str]]


def _english(pair: tuple[TestClient, str]) -> tuple[TestClient, str]:
    pair[0].headers["Accept-Language"] = "en"
    return pair


def _campaign(db: Database, accounts: dict[str, Account], **fields: object) -> int:
    values: dict[str, object] = {"name": "满百减二十", "kind": Kind.FIXED, "value": Decimal(20)}
    values.update(fields)
    draft = CampaignDraft(**values)  # type: ignore[arg-type]
    return coupons.create_campaign(db, _staff(accounts["owner"]), draft).id


def _text(html: str, testid: str) -> str:
    found = BeautifulSoup(html, "html.parser").select_one(f"[data-testid={testid}]")
    assert found is not None, f"no {testid}"
    return found.get_text(" ", strip=True)


def test_the_owner_creates_a_campaign_with_errors_next_to_fields(
    db: Database, accounts: dict[str, Account], client_for: Factory
) -> None:
    client, csrf = _english(client_for("owner"))
    assert "nav-coupons" in client.get("/loyalty/coupons").text
    form = {"csrf_token": csrf, "name": "", "kind": "percent", "value": "150",
            "last_day": "2026-13-01", "is_active": "1"}  # fmt: skip
    bad = client.post("/loyalty/coupons/new", data=form)
    assert bad.status_code == 422
    assert {"error-name", "error-value", "error-last_day"} <= {
        str(p["data-testid"]) for p in BeautifulSoup(bad.text, "html.parser").select(".field-error")
    }
    good = {**form, "name": "九折", "value": "10", "max_discount": "30", "categories": "茶叶, 茶具",
            "first_day": "2026-01-01", "last_day": "2026-01-31", "uses_per_code": ""}  # fmt: skip
    made = client.post("/loyalty/coupons/new", data=good, follow_redirects=False)
    assert made.status_code == 303, made.text
    with db.read() as s:
        row = s.execute(select(CouponCampaign)).scalar_one()
    assert (row.kind, row.value, row.max_discount, row.categories, row.uses_per_code) == (
        "percent", Decimal(10), Decimal(30), ["茶叶", "茶具"], None)  # fmt: skip
    # Asia/Shanghai business days: 2026-01-01 00:00 +08 .. 2026-02-01 00:00 +08
    assert row.valid_from == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert row.valid_until == datetime(2026, 1, 31, 16, tzinfo=UTC)
    page = client.get(made.headers["location"])
    assert "10% off" in _text(page.text, "terms") and "2026" in page.text
    assert 'value="2026-01-31"' in page.text  # the edit form shows the last day back


def test_a_manager_issues_to_a_customer_and_a_segment_but_may_not_edit(
    db: Database, accounts: dict[str, Account], client_for: Factory
) -> None:
    store = accounts["manager"].store_id
    campaign = _campaign(db, accounts)
    members = [make_customer(db, home_store_id=store) for _ in range(2)]
    elsewhere = make_customer(db, home_store_id=accounts["clerk_b"].store_id)
    for customer in [*members, elsewhere]:
        _score(db, customer, rung="loyal")
    with db.write() as s:
        seg = Segment(name="loyal", rules=[{"field": "rung", "op": "in", "value": ["loyal"]}])
        s.add(seg)
        s.flush()
        seg_id = seg.id
    client, csrf = _english(client_for("manager"))
    page = client.get(f"/loyalty/coupons/{campaign}")
    assert page.status_code == 200 and 'data-testid="pool"' not in page.text
    one = client.post(f"/loyalty/coupons/{campaign}/issue",
                      data={"csrf_token": csrf, "customer_id": str(members[0])})  # fmt: skip
    assert one.status_code == 200 and "Coupon issued." in one.text
    other = client.post(f"/loyalty/coupons/{campaign}/issue",
                        data={"csrf_token": csrf, "customer_id": str(elsewhere)})  # fmt: skip
    assert other.status_code == 422 and _text(other.text, "issue-error")
    many = client.post(f"/loyalty/coupons/{campaign}/issue",
                       data={"csrf_token": csrf, "segment_id": str(seg_id)})  # fmt: skip
    assert "2 coupons issued" in many.text  # only the manager's store's members
    with db.read() as s:
        owners = s.execute(select(Coupon.customer_id)).scalars().all()
    assert sorted(owners) == sorted([members[0], *members])
    assert client.post(f"/loyalty/coupons/{campaign}", data={"csrf_token": csrf}).status_code == 403
    pool = client.post(f"/loyalty/coupons/{campaign}/pool", data={"csrf_token": csrf, "count": "3"})
    assert pool.status_code == 403
    assert client.get(f"/loyalty/coupons/{campaign}/codes.csv").status_code == 403


def test_clerks_see_no_coupon_pages(accounts: dict[str, Account], client_for: Factory) -> None:
    client, _ = client_for("clerk")
    assert client.get("/loyalty/coupons").status_code == 403
    assert "nav-coupons" not in client.get("/customers").text


def test_the_owner_generates_a_pool_and_the_download_is_audited(
    db: Database, accounts: dict[str, Account], client_for: Factory
) -> None:
    campaign = _campaign(db, accounts, uses_per_code=None)
    client, csrf = _english(client_for("owner"))
    made = client.post(f"/loyalty/coupons/{campaign}/pool", data={"csrf_token": csrf, "count": "5"})
    assert made.status_code == 200 and "5 codes generated" in made.text
    assert _text(made.text, "codes") == "5"
    bad = client.post(f"/loyalty/coupons/{campaign}/pool", data={"csrf_token": csrf, "count": "0"})
    assert bad.status_code == 422 and _text(bad.text, "error-count")
    csv = client.get(f"/loyalty/coupons/{campaign}/codes.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert len(lines) == 6 and lines[0].startswith("code,")
    with db.read() as s:
        audited = s.execute(
            select(AuditEntry.actor_staff_id, AuditEntry.detail)
            .where(AuditEntry.action == coupons.CODES_EXPORTED)
        ).all()  # fmt: skip
    assert audited == [(accounts["owner"].id, {"count": 5})]


def test_the_customer_page_lists_their_coupons(
    db: Database, accounts: dict[str, Account], client_for: Factory
) -> None:
    customer = make_customer(db, home_store_id=accounts["clerk"].store_id)
    campaign = _campaign(db, accounts)
    issued = coupons.issue_to_customer(db, _staff(accounts["manager"]), campaign, customer)
    client, _ = _english(client_for("clerk"))
    page = client.get(f"/customers/{customer}")
    assert page.status_code == 200
    section = _text(page.text, "coupons")
    assert issued.code in section and "满百减二十" in section
    assert _text(page.text, "coupon-state") == "usable"
    listing = _english(client_for("owner"))[0].get("/loyalty/coupons")
    assert _text(listing.text, "campaigns").count("满百减二十") == 1
