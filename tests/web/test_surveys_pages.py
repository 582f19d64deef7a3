"""The survey pages for managers and the owner: builder, dry run and send, the report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.feedback import surveys
from guanxi.feedback.links import issue_link
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, CustomerScore, Message, PublicLink, Survey
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_public_links import app  # noqa: F401  (the app with the survey routes)

Client = Callable[[str], tuple[TestClient, str]]


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def by_id(page: BeautifulSoup, name: str) -> BeautifulSoup:
    found = page.find(attrs={"data-testid": name})
    assert found is not None, name
    return found


def test_clerks_may_not_see_survey_pages(client_for: Client, accounts: dict[str, Account]) -> None:
    client, _ = client_for("clerk")
    for path in ("/surveys", "/surveys/new", "/surveys/report"):
        assert client.get(path).status_code == 403, path


def test_build_from_a_template_and_edit(
    db: Database, client_for: Client, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("manager")
    page = soup(client.get("/surveys/new?kind=expectation").text)
    attributes = by_id(page, "survey-attributes").text.split()
    assert attributes == list(surveys.DEFAULT_ATTRIBUTES)
    form = {"csrf_token": csrf, "name": "体验调查", "kind": "expectation",
            "attributes": "product_quality\n包装\n", "intro": "<b>谢谢</b>"}  # fmt: skip
    saved = client.post("/surveys/new", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with db.read() as session:
        survey = session.execute(select(Survey)).scalar_one()
    assert (survey.attributes, survey.intro) == (["product_quality", "包装"], "<b>谢谢</b>")
    detail = client.get(saved.headers["location"])
    assert by_id(soup(detail.text), "saved-notice") is not None
    assert "<b>谢谢</b>" not in detail.text  # escaped
    bad = client.post("/surveys/new", data={**form, "attributes": ""})
    assert bad.status_code == 422 and by_id(soup(bad.text), "survey-error")
    no_csrf = client.post("/surveys/new", data={**form, "csrf_token": "x"})
    assert no_csrf.status_code == 403
    client.post(f"/surveys/{survey.id}/active", data={"csrf_token": csrf, "active": "0"})
    listed = soup(client.get("/surveys").text)
    assert by_id(listed, f"survey-{survey.id}") is not None
    with db.read() as session:
        assert session.get(Survey, survey.id).is_active is False


def test_dry_run_then_send(
    db: Database, client_for: Client, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    mine = [make_customer(db, home_store_id=stores[0]) for _ in range(3)]
    theirs = make_customer(db, home_store_id=stores[1])
    with db.write() as session:
        for cid in [*mine[:2], theirs]:
            session.add(Consent(customer_id=cid, channel="sms", is_granted=True,
                                changed_at=datetime.now(UTC), source="form"))  # fmt: skip
    client, csrf = client_for("manager")
    ids = " ".join(str(c) for c in [*mine, theirs])
    page = soup(client.get(f"/surveys/{sid}?preview=1&customer_ids={ids}&channel=sms").text)
    assert by_id(page, "dry-run-recipients").text == "2"
    reasons = by_id(page, "excluded-reasons")
    assert [tr["data-reason"] for tr in reasons.select("tbody tr")] == ["no_consent"]
    assert by_id(page, "audience-ids")["value"] == ids
    with db.read() as session:
        assert session.execute(select(PublicLink)).first() is None  # the dry run changed nothing
    sent = client.post(f"/surveys/{sid}/send", data={"csrf_token": csrf, "customer_ids": ids,
                                                     "channel": "sms"})  # fmt: skip
    assert sent.status_code == 200
    assert by_id(soup(sent.text), "sent-notice") is not None
    with db.read() as session:
        assert sorted(m.customer_id for m in session.execute(select(Message)).scalars()) == (
            mine[:2])  # fmt: skip
    other_store = client.get(f"/surveys/{sid}?preview=1&store_id={stores[1]}")
    assert other_store.status_code == 422
    assert by_id(soup(other_store.text), "send-error") is not None


def test_report_counts_and_masks(
    db: Database, client_for: Client, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    now = datetime.now(UTC)
    happy = make_customer(db, home_store_id=stores[0], name="快乐", phone="+8613800001111")
    unhappy = make_customer(db, home_store_id=stores[0], name="不满")
    elsewhere = make_customer(db, home_store_id=stores[1])
    with db.write() as session:
        session.add(CustomerScore(customer_id=unhappy, month=date(now.year, now.month, 1),
                                  computed_on=now.date(), rung="repeat", purchase_days=5,
                                  p_alive=0.9))  # fmt: skip
    for cid, score in ((happy, "10"), (unhappy, "2"), (elsewhere, "9")):
        with db.write() as session:
            token = issue_link(session, "survey", cid, now=now, survey_id=sid)
        answers, _ = surveys.check_answers("nps", [], {"nps": score})
        surveys.submit_response(db, token, answers, now=now)
    client, _ = client_for("manager")
    page = soup(client.get("/surveys/report").text)
    assert by_id(page, "kpi-responses").select_one(".kpi-value").text == "2"
    assert by_id(page, "kpi-nps").select_one(".kpi-value").text == "0"  # 1 promoter, 1 detractor
    assert by_id(page, "cell-satisfied-leaving").text == "1"
    assert by_id(page, "cell-dissatisfied-staying").text == "1"
    leaving = by_id(page, "list-leaving")
    assert [tr["data-customer"] for tr in leaving.select("tbody tr")] == [str(happy)]
    assert "13800001111" in leaving.text  # managers see full phones
    assert page.find("script", id="analytics-data") is not None
    owner, _ = client_for("owner")
    everyone = soup(owner.get("/surveys/report").text)
    assert by_id(everyone, "kpi-responses").select_one(".kpi-value").text == "3"


def test_the_customer_page_shows_the_customers_answers(
    db: Database, client_for: Client, accounts: dict[str, Account]
) -> None:
    from guanxi.storage.models import SurveyAnswer, SurveyResponse

    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    other = make_customer(db, home_store_id=accounts["clerk"].store_id)
    with db.write() as s:
        nps = Survey(name="推荐意愿", kind="nps", attributes=[])
        exp = Survey(name="期望与感知", kind="expectation", attributes=["speed", "price_fairness"])
        s.add_all([nps, exp])
        s.flush()
        first = SurveyResponse(survey_id=nps.id, customer_id=cid, nps=10,
                               submitted_at=datetime(2026, 10, 1, 2, tzinfo=UTC),
                               comment="<b>好茶</b>")  # fmt: skip
        second = SurveyResponse(survey_id=exp.id, customer_id=cid, overall=6,
                                submitted_at=datetime(2026, 11, 1, 2, tzinfo=UTC))  # fmt: skip
        s.add_all([first, second, SurveyResponse(survey_id=nps.id, customer_id=other, nps=2)])
        s.flush()
        s.add_all([SurveyAnswer(response_id=second.id, attribute="speed", expected=5, perceived=6),
                   SurveyAnswer(response_id=second.id, attribute="price_fairness", expected=6,
                                perceived=4)])  # fmt: skip
        ids = (first.id, second.id)
    clerk, _ = client_for("clerk")
    page = soup(clerk.get(f"/customers/{cid}").text)
    rows = page.select("[data-testid=customer-answer]")
    assert [int(str(r["data-response"])) for r in rows] == [ids[1], ids[0]]  # newest first
    assert rows[1]["data-nps-group"] == "promoter"
    assert "-0.5" in rows[0].get_text()  # (+1 − 2) / 2
    assert rows[1].select_one("b") is None and "<b>好茶</b>" in rows[1].get_text()  # escaped
    lone = make_customer(db, home_store_id=accounts["clerk"].store_id)
    empty = soup(clerk.get(f"/customers/{lone}").text)
    assert empty.select_one("[data-testid=customer-no-answers]") is not None


def test_an_unknown_segment_is_a_form_error(
    db: Database, client_for: Client, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    client, csrf = client_for("manager")
    page = client.get(f"/surveys/{sid}?preview=1&segment_id=999999&channel=sms")
    assert page.status_code == 422
    assert "segment" in by_id(soup(page.text), "send-error").text
    sent = client.post(f"/surveys/{sid}/send", data={"csrf_token": csrf, "segment_id": "999999",
                                                     "channel": "sms"})  # fmt: skip
    assert sent.status_code == 422  # back to the survey, with the error
    assert by_id(soup(sent.text), "send-error") is not None
    with db.read() as session:
        assert session.execute(select(PublicLink)).first() is None
