"""Surveys: building, answering and closing the loop, sending through the outbox (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from guanxi.care.campaigns import Audience
from guanxi.errors import Conflict, InvalidInput
from guanxi.feedback import survey_sending, surveys
from guanxi.feedback.links import LinkRefused, check_link, issue_link
from guanxi.loyalty.rules import Bonus, EarningProgram
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    CareTask,
    Consent,
    LoyaltyProgram,
    Message,
    PublicLink,
    ReferralCode,
    Staff,
    Store,
    SurveyResponse,
)
from tests.factories import make_customer

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
URL = "https://shop.example"


def give_referral_points(db: Database, points: int = 100) -> None:
    with db.write() as session:
        rules = EarningProgram(bonuses=(Bonus("referral", points),)).as_json()
        session.add(LoyaltyProgram(rules=rules, points_valid_months=12))


def consent(db: Database, customer_id: int, channel: str = "sms", granted: bool = True) -> None:
    with db.write() as session:
        session.add(Consent(customer_id=customer_id, channel=channel, is_granted=granted,
                            changed_at=NOW, source="form"))  # fmt: skip


@pytest.fixture
def store(db: Database) -> int:
    with db.write() as session:
        row = Store(code="S1", name="一店")
        session.add(row)
        session.flush()
        return row.id


def staff(db: Database, role: str, store_id: int | None, *, active: bool = True) -> int:
    with db.write() as session:
        row = Staff(name=role, role=role, store_id=store_id, is_active=active)
        session.add(row)
        session.flush()
        return row.id


def answer(db: Database, survey_id: int, customer_id: int, form: dict[str, str]
           ) -> surveys.Submitted:  # fmt: skip
    with db.write() as session:
        token = issue_link(session, "survey", customer_id, now=NOW, survey_id=survey_id)
    with db.read() as session:
        survey = surveys.get_survey(session, survey_id)
    answers, errors = surveys.check_answers(survey.kind, survey.attributes, form)
    assert errors == {}
    return surveys.submit_response(db, token, answers, now=NOW, public_url=URL)


def send(db: Database, sid: int, audience: Audience, *, scope: int | None,
         public_url: str = URL) -> survey_sending.SendResult:  # fmt: skip
    return survey_sending.send_survey(db, sid, audience, "sms", now=NOW, actor_id=None,
                                      scope=scope, public_url=public_url)  # fmt: skip


def test_save_survey_checks_and_audits(db: Database) -> None:
    with pytest.raises(InvalidInput, match="name"):
        surveys.save_survey(db, name=" ", kind="nps", actor_id=None)
    with pytest.raises(InvalidInput, match="kind"):
        surveys.save_survey(db, name="x", kind="ces", actor_id=None)
    with pytest.raises(InvalidInput, match="attribute"):
        surveys.save_survey(db, name="x", kind="expectation", attributes=["", " "], actor_id=None)
    with pytest.raises(InvalidInput, match="longer"):
        surveys.save_survey(db, name="x", kind="expectation", attributes=["长" * 65],
                            actor_id=None)  # fmt: skip
    typed = ["speed", " speed ", "包装", ""]
    sid = surveys.save_survey(db, name="体验", kind="expectation", attributes=typed, actor_id=None)
    with db.read() as session:
        row = surveys.get_survey(session, sid)
        assert row.attributes == ("speed", "包装") and row.is_active
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert actions == [audit.Action.SURVEY_SAVED]
    nps = surveys.save_survey(db, name="NPS", kind="nps", attributes=["ignored"], actor_id=None)
    answer(db, nps, make_customer(db), {"nps": "8"})
    with pytest.raises(Conflict):
        surveys.save_survey(db, name="NPS", kind="csat", survey_id=nps, actor_id=None)
    surveys.save_survey(db, name="NPS 2026", kind="nps", survey_id=nps, actor_id=None)
    with db.read() as session:
        listed = {s.id: s for s in surveys.list_surveys(session)}
    assert listed[nps].name == "NPS 2026" and listed[nps].attributes == ()
    assert (listed[nps].links, listed[nps].responses) == (1, 1)


def test_check_answers_per_kind() -> None:
    answers, errors = surveys.check_answers("nps", [], {"nps": "0", "comment": "  嗯 "})
    assert (answers.nps, answers.comment, errors) == (0, "嗯", {})
    for bad in ("", "-1", "11", "5.5", "x"):
        assert "nps" in surveys.check_answers("nps", [], {"nps": bad})[1]
    assert "csat" in surveys.check_answers("csat", [], {"csat": "0"})[1]
    assert surveys.check_answers("csat", [], {"csat": "5"})[0].csat == 5
    form = {"expected_0": "7", "perceived_0": "1", "overall": "1", "repurchase": "5"}
    answers, errors = surveys.check_answers("expectation", ["a"], form)
    assert errors == {} and answers.scores == {"a": (7, 1)} and answers.share_of_wallet is None
    _, errors = surveys.check_answers(
        "expectation", ["a", "b"], {**form, "share_of_wallet": "101", "comment": "x" * 2001}
    )
    assert set(errors) == {"attribute_1", "share_of_wallet", "comment"}


def test_promoter_gets_code_and_service_message(db: Database) -> None:
    give_referral_points(db)
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    cid = make_customer(db)  # no SMS consent: a service message needs none
    done = answer(db, sid, cid, {"nps": "9"})
    assert done.group == "promoter" and done.referral_queued
    assert done.referral_url == f"{URL}/r/{done.referral_code}"
    with db.read() as session:
        assert session.execute(select(ReferralCode.code)).scalar_one() == done.referral_code
        message = session.execute(select(Message)).scalar_one()
    assert message.channel == "sms" and not message.is_marketing
    assert done.referral_url in message.body and message.dedupe_key.startswith("survey-referral:")
    again = answer(db, sid, cid, {"nps": "10"})  # the same code, a second thank-you message
    assert again.referral_code == done.referral_code


def test_promoter_without_referral_programme_gets_nothing(db: Database) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    done = answer(db, sid, make_customer(db), {"nps": "10"})
    assert done.group == "promoter" and done.referral_code is None
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(Message)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(ReferralCode)).scalar_one() == 0


def test_detractor_gets_a_followup_for_owner_or_manager(db: Database, store: int) -> None:
    manager = staff(db, "manager", store)
    owner = staff(db, "clerk", store)
    gone = staff(db, "clerk", store, active=False)
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    owned = make_customer(db, home_store_id=store, owner_staff_id=owner)
    orphan = make_customer(db, home_store_id=store, owner_staff_id=gone)
    first = answer(db, sid, owned, {"nps": "3", "comment": "等了很久"})
    answer(db, sid, orphan, {"nps": "6"})
    passive = answer(db, sid, make_customer(db, home_store_id=store), {"nps": "7"})
    assert first.followup_task and passive.group == "passive" and not passive.followup_task
    with db.read() as session:
        rows = session.execute(select(CareTask).order_by(CareTask.id)).scalars().all()
    assert [(t.customer_id, t.assignee_staff_id, t.kind) for t in rows] == [
        (owned, owner, "followup"), (orphan, manager, "followup")]  # fmt: skip
    assert rows[0].source_key == f"survey-detractor:{first.response_id}"
    assert rows[0].detail == "等了很久" and rows[0].due_on == date(2026, 11, 20)
    assert rows[0].store_id == store and "NPS 3" in rows[0].title


def test_submit_refuses_used_closed_and_wrong_links(db: Database) -> None:
    sid = surveys.save_survey(db, name="CSAT", kind="csat", actor_id=None)
    cid = make_customer(db)
    with db.write() as session:
        token = issue_link(session, "survey", cid, now=NOW, survey_id=sid)
        feedback = issue_link(session, "feedback", cid, now=NOW)
    answers, _ = surveys.check_answers("csat", [], {"csat": "4"})
    with pytest.raises(LinkRefused) as refused:
        surveys.submit_response(db, feedback, answers, now=NOW)
    assert refused.value.reason == "wrong_purpose"
    nps_answers, _ = surveys.check_answers("nps", [], {"nps": "4"})
    with pytest.raises(InvalidInput, match="do not fit"):
        surveys.submit_response(db, token, nps_answers, now=NOW)
    surveys.set_survey_active(db, sid, False, actor_id=None)
    with pytest.raises(LinkRefused) as refused:
        surveys.submit_response(db, token, answers, now=NOW)
    assert refused.value.reason == "closed"
    with db.read() as session:  # nothing was used up by the refusals
        assert check_link(session, token, now=NOW).uses == 0
    surveys.set_survey_active(db, sid, True, actor_id=None)
    surveys.submit_response(db, token, answers, now=NOW)
    with pytest.raises(LinkRefused) as refused:
        surveys.submit_response(db, token, answers, now=NOW)
    assert refused.value.reason == "used"
    with db.read() as session:
        response = session.execute(select(SurveyResponse)).scalar_one()
        link_id = session.execute(select(PublicLink.id).where(PublicLink.survey_id == sid))
        assert (response.csat, response.link_id) == (4, link_id.scalar_one())


def test_send_survey_dry_run_then_queue_once(db: Database, store: int) -> None:
    sid = surveys.save_survey(db, name="NPS", kind="nps", actor_id=None)
    yes = [make_customer(db, home_store_id=store) for _ in range(3)]
    for cid in yes:
        consent(db, cid)
    no_consent = make_customer(db, home_store_id=store)
    unsubscribed = make_customer(db, home_store_id=store)
    with db.write() as session:
        session.add(Consent(customer_id=unsubscribed, channel="sms", is_granted=False,
                            changed_at=NOW, source="sms_reply"))  # fmt: skip
    other_store = make_customer(db)
    consent(db, other_store)
    audience = Audience(customer_ids=[*yes, no_consent, unsubscribed, other_store])
    with db.read() as session:
        plan = survey_sending.plan_send(session, sid, audience, "sms", now=NOW, scope=store)
    assert [c for c, _ in plan.recipients] == yes
    assert plan.reasons == {"no_consent": 1, "unsubscribed": 1} and plan.audience == 5
    with pytest.raises(InvalidInput, match="PUBLIC_URL"):
        send(db, sid, audience, scope=store, public_url="")
    with pytest.raises(InvalidInput, match="own store"):
        send(db, sid, Audience(store_id=store + 1), scope=store)
    sent = send(db, sid, audience, scope=store, public_url=URL + "/")
    assert (sent.queued, sent.excluded, sent.already_sent) == (3, 2, 0)
    with db.read() as session:
        messages = session.execute(select(Message).order_by(Message.id)).scalars().all()
        links = session.execute(select(PublicLink)).scalars().all()
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert [m.customer_id for m in messages] == yes
    assert all(m.is_marketing and f"{URL}/s/" in m.body for m in messages)
    assert [m.dedupe_key for m in messages] == [surveys.dedupe_key(sid, c) for c in yes]
    assert len(links) == 3 and {link.store_id for link in links} == {store}
    assert {link.purpose for link in links} == {"survey"}
    assert actions.count(audit.Action.SURVEY_SENT) == 1
    assert actions.count(audit.Action.LINKS_ISSUED) == 1
    again = send(db, sid, audience, scope=store)
    assert (again.queued, again.already_sent) == (0, 3)
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(PublicLink)).scalar_one() == 3
    surveys.set_survey_active(db, sid, False, actor_id=None)
    with pytest.raises(Conflict):
        send(db, sid, audience, scope=None)
