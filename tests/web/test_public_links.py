"""The public link pages: /f (feedback, satisfaction) and /s (surveys), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.config import Settings
from guanxi.feedback import complaints, surveys
from guanxi.feedback.links import issue_link
from guanxi.storage.db import Database
from guanxi.storage.models import Complaint, Message, PublicLink, SurveyAnswer, SurveyResponse
from guanxi.web.app import create_app
from guanxi.web.ratelimit import RateLimiter
from tests.factories import make_customer
from tests.web.conftest import HASHER

PUBLIC_URL = "https://shop.example"


@pytest.fixture
def app(db: Database) -> FastAPI:
    settings = Settings(public_url=PUBLIC_URL, shop_name="听茶")
    return create_app(settings, db=db, hasher=HASHER)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def link(db: Database, purpose: str, customer_id: int | None, **kw: object) -> str:
    with db.write() as session:
        kw.setdefault("now", datetime.now(UTC))
        return issue_link(session, purpose, customer_id, **kw)


def test_feedback_link_opens_a_complaint_once(db: Database, client: TestClient) -> None:
    cid = make_customer(db, name="王小明")
    token = link(db, "feedback", cid)
    page = client.get(f"/f/{token}")
    assert page.status_code == 200
    html = soup(page.text)
    assert html.find(attrs={"data-testid": "shop"}).text == "听茶"
    assert html.find("meta", attrs={"name": "viewport"}) is not None
    assert "王小明" not in page.text and "/static" not in page.text  # no customer data, no assets
    options = [o["value"] for o in html.select("[data-testid=category] option") if o["value"]]
    assert options == list(complaints.CATEGORIES)
    evil = "<script>alert(1)</script> 茶叶受潮"
    done = client.post(f"/f/{token}", data={"category": "product", "text": evil})
    assert done.status_code == 200
    assert soup(done.text).find(attrs={"data-testid": "thanks"})["data-kind"] == "feedback"
    with db.read() as session:
        row = session.execute(select(Complaint)).scalar_one()
    assert (row.customer_id, row.category, row.channel, row.summary) == (cid, "product", "link",
                                                                         evil)  # fmt: skip
    again = client.post(f"/f/{token}", data={"category": "product", "text": "again"})
    assert again.status_code == 410
    assert soup(again.text).find(attrs={"data-testid": "refused"})["data-reason"] == "used"
    shown = client.get(f"/f/{token}")  # a used link still says thank you
    assert shown.status_code == 200 and soup(shown.text).find(attrs={"data-testid": "thanks"})
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Complaint)).scalar_one() == 1


def test_feedback_form_errors_keep_the_text(db: Database, client: TestClient) -> None:
    token = link(db, "feedback", make_customer(db))
    page = client.post(f"/f/{token}", data={"category": "", "text": "<b>还行</b>"})
    assert page.status_code == 422
    html = soup(page.text)
    assert html.find(attrs={"data-testid": "error-category"}) is not None
    assert html.find(attrs={"data-testid": "text"}).text == "<b>还行</b>"  # escaped, kept
    assert "<b>还行</b>" not in page.text
    too_long = client.post(f"/f/{token}", data={"category": "other", "text": "长" * 2001})
    assert too_long.status_code == 422
    assert soup(too_long.text).find(attrs={"data-testid": "error-text"}) is not None
    with db.read() as session:
        assert session.execute(select(PublicLink.uses)).scalar_one() == 0


def test_satisfaction_link_records_the_stars(db: Database, client: TestClient) -> None:
    cid = make_customer(db)
    now = datetime.now(UTC)
    with db.write() as session:
        complaint = complaints.open_complaint(
            session, customer_id=cid, store_id=None, category="service", severity="low",
            channel="counter", summary="等太久", actor_id=None, now=now,
        )  # fmt: skip
    token = link(db, "satisfaction", cid, complaint_id=complaint)
    page = client.get(f"/f/{token}")
    assert soup(page.text).find(attrs={"data-testid": "satisfaction-form"}) is not None
    assert len(soup(page.text).select("[data-testid=scale-score] input")) == 5
    bad = client.post(f"/f/{token}", data={"score": "6"})
    assert bad.status_code == 422
    done = client.post(f"/f/{token}", data={"score": "4"})
    assert soup(done.text).find(attrs={"data-testid": "thanks"})["data-kind"] == "satisfaction"
    with db.read() as session:
        assert session.get(Complaint, complaint).satisfaction == 4
    assert client.post(f"/f/{token}", data={"score": "1"}).status_code == 410


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [("short", 404, "malformed"), ("<img src=x onerror=alert(1)>aaaa", 404,
                                   "malformed"),
     ("A" * 32, 404, "unknown")],
)  # fmt: skip
def test_bad_tokens_get_a_clean_page(
    client: TestClient, token: str, status: int, reason: str
) -> None:
    for path in (f"/f/{token}", f"/s/{token}"):
        page = client.get(path)
        assert page.status_code == status
        assert soup(page.text).find(attrs={"data-testid": "refused"})["data-reason"] == reason
        assert "<img src=x" not in page.text


def test_expired_and_wrong_purpose_links(db: Database, client: TestClient) -> None:
    cid = make_customer(db)
    old = link(db, "feedback", cid, now=datetime.now(UTC) - timedelta(days=40))
    page = client.get(f"/f/{old}")
    assert page.status_code == 410
    assert soup(page.text).find(attrs={"data-testid": "refused"})["data-reason"] == "expired"
    survey = surveys.save_survey(db, name="满意度", kind="nps", actor_id=None)
    survey_token = link(db, "survey", cid, survey_id=survey)
    wrong = client.get(f"/f/{survey_token}")
    assert wrong.status_code == 404
    assert soup(wrong.text).find(attrs={"data-testid": "refused"})["data-reason"] == "wrong_purpose"
    assert client.post(f"/s/{link(db, 'feedback', cid)}", data={"nps": "9"}).status_code == 404


def test_rate_limit_answers_429(app: FastAPI, db: Database, client: TestClient) -> None:
    app.state.guanxi.public_limiter = RateLimiter(limit=2, window_s=60)
    token = link(db, "feedback", make_customer(db))
    assert client.get(f"/f/{token}").status_code == 200
    assert client.get(f"/s/{'B' * 32}").status_code == 404
    limited = client.get(f"/f/{token}")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert soup(limited.text).find(attrs={"data-testid": "refused"})["data-reason"] == "limited"


def test_nps_survey_promoter_gets_a_referral_code(db: Database, client: TestClient) -> None:
    from tests.feedback.test_surveys import give_referral_points

    give_referral_points(db)
    cid = make_customer(db, name="李四")
    survey = surveys.save_survey(db, name="推荐意愿", kind="nps", intro="一分钟", actor_id=None)
    token = link(db, "survey", cid, survey_id=survey)
    page = client.get(f"/s/{token}")
    html = soup(page.text)
    assert html.find(attrs={"data-testid": "survey-form"})["data-kind"] == "nps"
    assert len(html.select("[data-testid=scale-nps] input")) == 11
    assert "李四" not in page.text
    bad = client.post(f"/s/{token}", data={"nps": "11", "comment": "<i>好</i>"})
    assert bad.status_code == 422
    assert soup(bad.text).find(attrs={"data-testid": "error-nps"}) is not None
    assert soup(bad.text).find(attrs={"data-testid": "comment"}).text == "<i>好</i>"
    done = client.post(f"/s/{token}", data={"nps": "10", "comment": "很好"})
    assert done.status_code == 200
    code = soup(done.text).find(attrs={"data-testid": "referral-code"}).text
    assert len(code) == 8
    url = soup(done.text).find(attrs={"data-testid": "referral-url"})["href"]
    assert url == f"{PUBLIC_URL}/r/{code}"
    with db.read() as session:
        response = session.execute(select(SurveyResponse)).scalar_one()
        assert (response.customer_id, response.nps, response.comment) == (cid, 10, "很好")
        message = session.execute(select(Message)).scalar_one()
        assert message.is_marketing is False and code in message.body
    assert client.post(f"/s/{token}", data={"nps": "3"}).status_code == 410
    again = client.get(f"/s/{token}")
    assert soup(again.text).find(attrs={"data-testid": "thanks"}) is not None


def test_expectation_survey_keeps_answers_and_stores_them(db: Database, client: TestClient) -> None:
    cid = make_customer(db)
    survey = surveys.save_survey(db, name="期望与感知", kind="expectation",
                                 attributes=[*surveys.DEFAULT_ATTRIBUTES[:2], "包装"],
                                 actor_id=None)  # fmt: skip
    token = link(db, "survey", cid, survey_id=survey)
    html = soup(client.get(f"/s/{token}").text)
    assert len(html.select("fieldset[data-testid^=attribute-]")) == 3
    assert "包装" in html.find(attrs={"data-testid": "attribute-2"}).text
    partial = {"expected_0": "5", "perceived_0": "6", "expected_1": "4", "overall": "6",
               "share_of_wallet": "150"}  # fmt: skip
    bad = client.post(f"/s/{token}", data=partial)
    assert bad.status_code == 422
    html = soup(bad.text)
    for testid in ("error-attribute-1", "error-attribute-2", "error-repurchase",
                   "error-share_of_wallet"):  # fmt: skip
        assert html.find(attrs={"data-testid": testid}) is not None, testid
    assert html.find(attrs={"data-testid": "error-attribute-0"}) is None
    assert html.find(attrs={"data-testid": "expected_0-5"}).has_attr("checked")
    assert html.find(attrs={"data-testid": "overall-6"}).has_attr("checked")
    full = {**partial, "perceived_1": "3", "expected_2": "6", "perceived_2": "6",
            "repurchase": "4", "share_of_wallet": "60"}  # fmt: skip
    done = client.post(f"/s/{token}", data=full)
    assert done.status_code == 200 and soup(done.text).find(attrs={"data-testid": "thanks"})
    with db.read() as session:
        r = session.execute(select(SurveyResponse)).scalar_one()
        assert (r.overall, r.repurchase, r.share_of_wallet, r.nps) == (6, 4, 60, None)
        answers = {a.attribute: (a.expected, a.perceived)
                   for a in session.execute(select(SurveyAnswer)).scalars()}  # fmt: skip
    assert answers == {"product_quality": (5, 6), "price_fairness": (4, 3), "包装": (6, 6)}


def test_closed_survey_takes_no_answers(db: Database, client: TestClient) -> None:
    survey = surveys.save_survey(db, name="CSAT", kind="csat", actor_id=None)
    token = link(db, "survey", make_customer(db), survey_id=survey)
    assert client.get(f"/s/{token}").status_code == 200
    surveys.set_survey_active(db, survey, False, actor_id=None)
    assert client.get(f"/s/{token}").status_code == 410
    page = client.post(f"/s/{token}", data={"csat": "5"})
    assert page.status_code == 410
    assert soup(page.text).find(attrs={"data-testid": "refused"})["data-reason"] == "closed"
    with db.read() as session:
        assert session.execute(select(PublicLink.uses)).scalar_one() == 0
