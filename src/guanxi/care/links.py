"""Signed links in messages: the unsubscribe link of one message.

A token is ``<message id>.<signature>``: the signature is an HMAC-SHA256 (truncated to 128
bits, base64url) of the message id under a secret generated once and kept in the database
(``AppSetting`` ``link_secret``), so links keep working across restarts and machines without
configuration, and a changed id is refused. The token names the message, so an unsubscribe
knows the customer and the channel (and which message led to it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.services import audit
from guanxi.services.customer_consents import write_consent
from guanxi.storage.db import Database
from guanxi.storage.models import AppSetting, Consent, Customer, Message

SECRET_KEY = "link_secret"
UNSUBSCRIBE_SOURCE = "unsubscribe_link"
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{22})$")
_CACHE = "guanxi.link_secret"


def link_secret(session: Session, *, create: bool = True) -> bytes | None:
    """The shop's link-signing secret, created (32 random bytes) the first time a link is made
    (in the caller's write transaction); None when there is none and ``create`` is False."""
    cached = session.info.get(_CACHE)
    if isinstance(cached, bytes):
        return cached
    value = session.execute(select(AppSetting.value).where(AppSetting.key == SECRET_KEY)).scalar()
    if value is None and not create:
        return None
    if value is None:
        fresh = secrets.token_hex(32)
        try:
            with session.begin_nested():  # another process may be creating it right now
                session.execute(insert(AppSetting), {"key": SECRET_KEY, "value": fresh})
            value = fresh
        except IntegrityError:
            value = session.execute(
                select(AppSetting.value).where(AppSetting.key == SECRET_KEY)
            ).scalar_one()
    secret = bytes.fromhex(value)
    session.info[_CACHE] = secret
    return secret


def _signature(secret: bytes, message_id: int) -> str:
    digest = hmac.new(secret, f"unsubscribe:{message_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def unsubscribe_token(session: Session, message_id: int) -> str:
    """The token of message ``message_id``'s unsubscribe link."""
    secret = link_secret(session)
    assert secret is not None
    return f"{message_id}.{_signature(secret, message_id)}"


def verify(session: Session, token: str) -> int | None:
    """The message id a token was made for; None when the token is malformed or tampered."""
    found = _TOKEN.match(token.strip()) if token else None
    if found is None:
        return None
    message_id = int(found.group(1))
    secret = link_secret(session, create=False)
    if secret is None:  # no link was ever made
        return None
    expected = _signature(secret, message_id)
    return message_id if hmac.compare_digest(expected, found.group(2)) else None


def unsubscribe_url(base_url: str, token: str) -> str:
    """``https://crm.example.cn/u/<token>``."""
    return f"{base_url.rstrip('/')}/u/{token}"


@dataclass(frozen=True)
class LinkTarget:
    """Whom an unsubscribe link is about: the message, its customer and channel, and whether
    the customer is still subscribed (consent granted) on that channel."""

    message_id: int
    customer_id: int
    channel: str
    subscribed: bool


def link_target(session: Session, token: str) -> LinkTarget | None:
    """What a token's link is about; None for a bad or tampered token (or a deleted message)."""
    message_id = verify(session, token)
    if message_id is None:
        return None
    row = session.execute(
        select(Message.customer_id, Message.channel, Consent.is_granted)
        .outerjoin(Consent, and_(Consent.customer_id == Message.customer_id,
                                 Consent.channel == Message.channel))
        .where(Message.id == message_id)
    ).first()  # fmt: skip
    if row is None:
        return None
    return LinkTarget(message_id, int(row[0]), str(row[1]), bool(row[2]))


def unsubscribe(db: Database, token: str, *, ip: str | None = None) -> LinkTarget | None:
    """Withdraw the marketing consent of the token's customer on the token's channel (consent
    and its evidence, source ``unsubscribe_link``; audited without an actor). Doing it twice
    changes nothing more. None for a bad token."""
    with db.write() as session:
        target = link_target(session, token)
        if target is None:
            return None
        session.execute(select(Customer.id).where(Customer.id == target.customer_id)
                        .with_for_update())  # fmt: skip
        if target.subscribed or session.get(Consent, (target.customer_id, target.channel)) is None:
            write_consent(session, target.customer_id, target.channel, False, UNSUBSCRIBE_SOURCE)
            audit.record(session, audit.Action.CONSENT_CHANGED, actor_id=None,
                         target_type="customer", target_id=target.customer_id, ip=ip,
                         detail={"channel": target.channel, "granted": False,
                                 "source": UNSUBSCRIBE_SOURCE,
                                 "message": target.message_id})  # fmt: skip
        return LinkTarget(target.message_id, target.customer_id, target.channel, False)
