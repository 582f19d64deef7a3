"""Surveys (问卷): build, send by tokenised link, take the answers and close the loop.

A survey is one of three kinds:

- ``nps``: "how likely are you to recommend us?" 0–10 (promoters 9–10, passives 7–8,
  detractors 0–6);
- ``csat``: "how satisfied are you?" 1–5;
- ``expectation``: per attribute (product quality, price fairness, service attitude, speed,
  environment by default; the list is editable) what the customer expected and what they got,
  both 1–7, then overall satisfaction 1–7, repurchase intention 1–5 and share of wallet 0–100 %
  ("of what you spend on this kind of product, how much is with us?").

Every kind takes an optional comment.

**Sending** is in ``survey_sending``: a dry run, then one single-use link and one invitation
(marketing: consent, opt-out and the weekly cap apply) per customer of an audience, at most once
per customer and survey (the outbox key ``survey:<survey>:<customer>``).

**Answering** (``submit_response``) counts the link's use under a row lock, stores the response
and its per-attribute answers, and closes the loop in the same transaction: a promoter (NPS 9–10)
gets their referral code (made now if needed) when the programme gives referral points, shown
on the thank-you page and sent as a service message with the referral link; a detractor (0–6)
gets a follow-up task (``survey-detractor:<response>``) for their account owner, or the store's
manager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from guanxi.care import outbox, tasks, templating
from guanxi.club.events import zone_of
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.complaint_steps import message_channel
from guanxi.feedback.links import LinkRefused, use_link
from guanxi.loyalty import referrals
from guanxi.loyalty.accrual import programme
from guanxi.loyalty.rules import award_points
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    PublicLink,
    Staff,
    Survey,
    SurveyAnswer,
    SurveyResponse,
)

KINDS = ("nps", "csat", "expectation")
KIND_NAMES = {
    "nps": gettext_noop("Net Promoter Score (0–10)"),
    "csat": gettext_noop("Customer satisfaction (1–5)"),
    "expectation": gettext_noop("Expectation vs perception"),
}
DEFAULT_ATTRIBUTES = (
    "product_quality", "price_fairness", "service_attitude", "speed", "environment",
)  # fmt: skip
ATTRIBUTE_NAMES = {
    "product_quality": gettext_noop("Product quality"),
    "price_fairness": gettext_noop("Price fairness"),
    "service_attitude": gettext_noop("Service attitude"),
    "speed": gettext_noop("Speed"),
    "environment": gettext_noop("Shop environment"),
}
"""Display names of the default attributes; an attribute staff typed is shown as typed."""
CHANNELS = outbox.CHANNELS
MAX_NAME = 100
MAX_ATTRIBUTE = 64
MAX_ATTRIBUTES = 12
MAX_INTRO = 1000
MAX_COMMENT = 2000
PROMOTER, DETRACTOR = 9, 6  # NPS: 9–10 promoters, 0–6 detractors
DETRACTOR_TITLE = "问卷回访：客户打分偏低（NPS {nps}），请联系了解原因"

INVITATION = {
    "zh_CN": "{salutation}您好！{shop}想听听您的意见，请花一分钟填写问卷：{url}",
    "en": "Dear {salutation}, {shop} would like to hear from you: a one-minute survey at {url}",
}
"""The survey invitation per locale; ``{url}`` is the customer's own link."""
REFERRAL_TEXT = {
    "zh_CN": "{salutation}您好！感谢您愿意向朋友推荐{shop}。您的推荐码是 {code}，"
             "朋友通过这个链接成为会员并首次购物，你们都会得到积分：{url}",
    "en": "Dear {salutation}, thank you for recommending {shop}. Your referral code is {code}; "
          "when a friend joins through this link and buys, you both earn points: {url}",
}  # fmt: skip
"""The service message a promoter gets with their referral link."""


def texts(table: Mapping[str, str], locale: str) -> str:
    return table.get(locale) or table["zh_CN" if locale.startswith("zh") else "en"]


def dedupe_key(survey_id: int, customer_id: int) -> str:
    """The outbox key of one survey invitation: at most one per customer and survey."""
    return f"survey:{survey_id}:{customer_id}"


def nps_group(score: int) -> str:
    """promoter (9–10), passive (7–8) or detractor (0–6)."""
    if score >= PROMOTER:
        return "promoter"
    return "detractor" if score <= DETRACTOR else "passive"


# --- surveys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyRow:
    """A survey as pages and the CLI list it, with its links issued and responses."""

    id: int
    name: str
    kind: str
    attributes: tuple[str, ...]
    intro: str | None
    is_active: bool
    created_at: datetime
    links: int = 0
    responses: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind,
                "attributes": list(self.attributes), "is_active": self.is_active,
                "created_at": self.created_at.isoformat(), "links": self.links,
                "responses": self.responses}  # fmt: skip


def _row(s: Survey, links: int = 0, responses: int = 0) -> SurveyRow:
    return SurveyRow(s.id, s.name, s.kind, tuple(s.attributes or ()), s.intro, s.is_active,
                     s.created_at, links, responses)  # fmt: skip


def list_surveys(session: Session) -> list[SurveyRow]:
    """Every survey, newest first, with how many links were issued and answered."""
    links = dict(session.execute(
        select(PublicLink.survey_id, func.count()).where(PublicLink.survey_id.is_not(None))
        .group_by(PublicLink.survey_id)
    ).all())  # fmt: skip
    answered = dict(session.execute(
        select(SurveyResponse.survey_id, func.count()).group_by(SurveyResponse.survey_id)
    ).all())  # fmt: skip
    surveys = session.execute(select(Survey).order_by(Survey.id.desc())).scalars()
    return [_row(s, int(links.get(s.id, 0)), int(answered.get(s.id, 0))) for s in surveys]


def get_survey(session: Session, survey_id: int) -> SurveyRow:
    found = session.get(Survey, survey_id)
    if found is None:
        raise NotFound(f"survey {survey_id} does not exist")
    return _row(found)


def check_attributes(kind: str, attributes: Sequence[str]) -> list[str]:
    """The attribute list cleaned (blank lines dropped, duplicates once), or InvalidInput."""
    if kind != "expectation":
        return []
    cleaned = list(dict.fromkeys(a.strip() for a in attributes if a.strip()))
    if not cleaned:
        raise InvalidInput("attributes: an expectation survey needs at least one attribute")
    if len(cleaned) > MAX_ATTRIBUTES:
        raise InvalidInput(f"attributes: at most {MAX_ATTRIBUTES} (found {len(cleaned)})")
    long = [a for a in cleaned if len(a) > MAX_ATTRIBUTE]
    if long:
        raise InvalidInput(f"attributes: {long[0][:20]!r}… is longer than {MAX_ATTRIBUTE}")
    return cleaned


def save_survey(
    db: Database,
    *,
    name: str,
    kind: str,
    attributes: Sequence[str] = (),
    intro: str | None = None,
    survey_id: int | None = None,
    actor_id: int | None,
) -> int:
    """Create (or, with ``survey_id``, change) a survey; audited as ``survey.saved``.

    The kind of a survey that has responses cannot change (its answers would not fit).
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name: give a name of 1 to {MAX_NAME} characters")
    if kind not in KINDS:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    cleaned = check_attributes(kind, attributes)
    intro = (intro or "").strip() or None
    if intro is not None and len(intro) > MAX_INTRO:
        raise InvalidInput(f"intro: at most {MAX_INTRO} characters")
    values: dict[str, Any] = {"name": name, "kind": kind, "attributes": cleaned, "intro": intro}
    with db.write() as session:
        before = None
        if survey_id is None:
            survey = Survey(is_active=True, created_by_staff_id=actor_id, **values)
            session.add(survey)
        else:
            found = session.execute(
                select(Survey).where(Survey.id == survey_id).with_for_update()
            ).scalar_one_or_none()
            if found is None:
                raise NotFound(f"survey {survey_id} does not exist")
            survey = found
            if kind != survey.kind and _responses(session, survey_id):
                raise Conflict(f"survey {survey_id} has responses: its kind stays {survey.kind}")
            before = {k: getattr(survey, k) for k in values}
            for key, value in values.items():
                setattr(survey, key, value)
        session.flush()
        audit.record(session, audit.Action.SURVEY_SAVED, actor_id=actor_id,
                     target_type="survey", target_id=survey.id,
                     detail={"before": before, "after": values})  # fmt: skip
        return survey.id


def _responses(session: Session, survey_id: int) -> int:
    return int(session.execute(
        select(func.count()).where(SurveyResponse.survey_id == survey_id)
    ).scalar_one())  # fmt: skip


def set_survey_active(db: Database, survey_id: int, active: bool, *, actor_id: int | None) -> None:
    """Open or close a survey: the links of a closed survey say so and take no answers."""
    with db.write() as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise NotFound(f"survey {survey_id} does not exist")
        before, survey.is_active = survey.is_active, active
        audit.record(session, audit.Action.SURVEY_SAVED, actor_id=actor_id,
                     target_type="survey", target_id=survey_id,
                     detail={"before": {"is_active": before},
                             "after": {"is_active": active}})  # fmt: skip


# --- answers -------------------------------------------------------------------------------------


@dataclass
class Answers:
    """One customer's answers as typed (``values``: the form, to show again) and as numbers."""

    values: dict[str, str] = field(default_factory=dict)
    nps: int | None = None
    csat: int | None = None
    overall: int | None = None
    repurchase: int | None = None
    share_of_wallet: int | None = None
    comment: str | None = None
    scores: dict[str, tuple[int, int]] = field(default_factory=dict)  # attr → expected, perceived


ERRORS = {
    "nps": gettext_noop("Choose a score from 0 to 10."),
    "csat": gettext_noop("Choose a score from 1 to 5."),
    "overall": gettext_noop("Choose a score from 1 to 7."),
    "repurchase": gettext_noop("Choose a score from 1 to 5."),
    "share_of_wallet": gettext_noop("Give a share from 0 to 100, or leave it empty."),
    "comment": gettext_noop("The comment is too long (at most 2000 characters)."),
    "attribute": gettext_noop("Choose both scores, from 1 to 7."),
}
"""What a wrong answer says (English msgids, translated by the page)."""


def _score(form: Mapping[str, str], key: str, low: int, high: int) -> int | None:
    text = (form.get(key) or "").strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def check_answers(
    kind: str, attributes: Sequence[str], form: Mapping[str, str]
) -> tuple[Answers, dict[str, str]]:
    """Read a survey form: the answers, and per field what is wrong (empty: all good).

    Fields: ``nps``; ``csat``; ``expected_<i>`` and ``perceived_<i>`` per attribute (by
    position), ``overall``, ``repurchase``, ``share_of_wallet`` (optional); ``comment``.
    """
    keys = ["nps", "csat", "overall", "repurchase", "share_of_wallet", "comment"]
    keys += [f"{side}_{i}" for i in range(len(attributes)) for side in ("expected", "perceived")]
    answers = Answers(values={k: str(form.get(k) or "")[: MAX_COMMENT + 1] for k in keys})
    errors: dict[str, str] = {}
    comment = answers.values["comment"].strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = ERRORS["comment"]
    answers.comment = comment or None
    required = {"nps": ("nps", 0, 10), "csat": ("csat", 1, 5)}.get(kind)
    if required is not None:
        key, low, high = required
        setattr(answers, key, _score(form, key, low, high))
        if getattr(answers, key) is None:
            errors[key] = ERRORS[key]
        return answers, errors
    for i, attribute in enumerate(attributes):
        expected = _score(form, f"expected_{i}", 1, 7)
        perceived = _score(form, f"perceived_{i}", 1, 7)
        if expected is None or perceived is None:
            errors[f"attribute_{i}"] = ERRORS["attribute"]
        else:
            answers.scores[attribute] = (expected, perceived)
    answers.overall = _score(form, "overall", 1, 7)
    answers.repurchase = _score(form, "repurchase", 1, 5)
    for key in ("overall", "repurchase"):
        if getattr(answers, key) is None:
            errors[key] = ERRORS[key]
    if answers.values["share_of_wallet"].strip():
        answers.share_of_wallet = _score(form, "share_of_wallet", 0, 100)
        if answers.share_of_wallet is None:
            errors["share_of_wallet"] = ERRORS["share_of_wallet"]
    return answers, errors


@dataclass(frozen=True)
class Submitted:
    """What answering did: the response, and how the loop was closed."""

    response_id: int
    group: str | None  # promoter / passive / detractor for NPS answers
    referral_code: str | None = None
    referral_url: str | None = None
    referral_queued: bool = False
    followup_task: bool = False


def submit_response(
    db: Database,
    token: str,
    answers: Answers,
    *,
    now: datetime,
    public_url: str = "",
    locale: str = "zh_CN",
) -> Submitted:
    """Take a survey link's answers (the link's one use) and close the loop; one transaction.

    Raises LinkRefused (malformed, unknown, expired, used, wrong_purpose, and ``closed`` for a
    survey that was switched off) and InvalidInput when the answers do not fit the survey.
    """
    with db.write() as session:
        link = use_link(session, token, now=now, purpose="survey")
        survey = session.get(Survey, link.survey_id) if link.survey_id is not None else None
        if survey is None:
            raise LinkRefused("unknown")
        if not survey.is_active:
            raise LinkRefused("closed")
        _check_fit(survey, answers)
        response = SurveyResponse(
            survey_id=survey.id, customer_id=link.customer_id, link_id=link.id,
            submitted_at=now, nps=answers.nps, csat=answers.csat, overall=answers.overall,
            repurchase=answers.repurchase, share_of_wallet=answers.share_of_wallet,
            comment=answers.comment,
        )  # fmt: skip
        session.add(response)
        session.flush()
        if answers.scores:
            session.execute(insert(SurveyAnswer), [
                {"response_id": response.id, "attribute": a, "expected": e, "perceived": p}
                for a, (e, p) in answers.scores.items()
            ])  # fmt: skip
        return _close_loop(session, response, link.store_id, now=now, public_url=public_url,
                           locale=locale)  # fmt: skip


def _check_fit(survey: Survey, answers: Answers) -> None:
    needed = {"nps": answers.nps, "csat": answers.csat, "expectation": answers.overall}
    if needed[survey.kind] is None:
        raise InvalidInput(f"the answers do not fit survey {survey.id} ({survey.kind})")
    unknown = set(answers.scores) - set(survey.attributes or ())
    if unknown:
        raise InvalidInput(f"survey {survey.id} asks nothing about {sorted(unknown)[0]!r}")


def _close_loop(
    session: Session,
    response: SurveyResponse,
    link_store: int | None,
    *,
    now: datetime,
    public_url: str,
    locale: str,
) -> Submitted:
    if response.nps is None:
        return Submitted(response.id, None)
    group = nps_group(response.nps)
    customer = session.get(Customer, response.customer_id) if response.customer_id else None
    if customer is None or customer.erased_at is not None:
        return Submitted(response.id, group)
    if group == "promoter":
        return _invite_to_refer(session, response.id, customer, now=now, public_url=public_url,
                                locale=locale)  # fmt: skip
    if group == "detractor":
        _followup(session, response, customer, link_store, now=now)
        return Submitted(response.id, group, followup_task=True)
    return Submitted(response.id, group)


def has_referrals(session: Session) -> bool:
    """Whether the points programme gives referral points (a promoter is invited only then)."""
    return award_points(programme(session).rules, "referral") > 0


def _invite_to_refer(
    session: Session,
    response_id: int,
    customer: Customer,
    *,
    now: datetime,
    public_url: str,
    locale: str,
) -> Submitted:
    if not has_referrals(session):
        return Submitted(response_id, "promoter")
    code = referrals.code_in(session, customer.id)
    base = public_url.strip().rstrip("/")
    url = f"{base}{referrals.link_for(code)}" if base else None
    channel = message_channel(session, customer.id, "survey", now=now)
    queued = 0
    if url is not None and channel is not None:
        context = templating.contexts(session, [customer.id], locale=locale, now=now)
        values = context.get(customer.id, {})
        body = texts(REFERRAL_TEXT, locale).format(
            salutation=values.get("salutation", ""), shop=values.get("shop", ""), code=code,
            url=url,
        )  # fmt: skip
        queued = outbox.queue(session, [outbox.Draft(
            customer_id=customer.id, channel=channel, subject=None, body=body,
            dedupe_key=f"survey-referral:{response_id}", is_marketing=False,
        )], now=now)  # fmt: skip
    return Submitted(response_id, "promoter", code, url, bool(queued))


def _followup(
    session: Session,
    response: SurveyResponse,
    customer: Customer,
    link_store: int | None,
    *,
    now: datetime,
) -> None:
    store = customer.home_store_id if customer.home_store_id is not None else link_store
    owner = customer.owner_staff_id
    if owner is not None and not _active_staff(session, owner):
        owner = None
    assignee = owner if owner is not None else tasks.store_managers(session).get(store or -1)
    tasks.ensure_tasks(session, [{
        "kind": "followup", "customer_id": customer.id, "assignee_staff_id": assignee,
        "store_id": store, "due_on": now.astimezone(ZoneInfo(zone_of(session, store))).date(),
        "title": DETRACTOR_TITLE.format(nps=response.nps),
        "detail": (response.comment or "")[:500] or None,
        "source_key": f"survey-detractor:{response.id}",
    }])  # fmt: skip


def _active_staff(session: Session, staff_id: int) -> bool:
    return bool(session.execute(
        select(Staff.is_active).where(Staff.id == staff_id)
    ).scalar())  # fmt: skip
