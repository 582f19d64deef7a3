"""Marketing consent per channel and its history: given at sign-up, now and then withdrawn."""

from __future__ import annotations

from datetime import datetime

from guanxi.domain.customers import Channel, CustomerSource
from guanxi.services.demo.context import Context

CONSENT_SOURCES = {
    CustomerSource.WALK_IN: "demo: signed paper form",
    CustomerSource.REFERRAL: "demo: signed paper form",
    CustomerSource.ONLINE: "demo: online sign-up form",
    CustomerSource.EVENT: "demo: event sign-up sheet",
}
WITHDRAWALS = {
    Channel.SMS: "demo: replied TD to an SMS",
    Channel.EMAIL: "demo: unsubscribe link",
    Channel.WECHAT: "demo: blocked the official account",
    Channel.PHONE: "demo: asked in store",
}
GRANT_RATES = {Channel.SMS: 0.55, Channel.EMAIL: 0.45, Channel.WECHAT: 0.7, Channel.PHONE: 0.2}


def add_consents(
    ctx: Context,
    customer_id: int,
    *,
    source: CustomerSource,
    day: int,
    at: datetime,
    email: bool,
    wechat: bool,
) -> bool:
    """Current consent per channel plus its history: given at sign-up, a few withdrawn.

    ``day`` and ``at`` are the sign-up day index and moment. Returns whether the customer
    consents on at least one channel.
    """
    channels = [Channel.SMS, Channel.PHONE]
    channels += [Channel.EMAIL] if email else []
    channels += [Channel.WECHAT] if wechat else []
    granted_any = False
    for channel in sorted(channels):
        granted = _consent(ctx, customer_id, channel, source=source, day=day, at=at)
        granted_any = granted_any or granted
    return granted_any


def _consent(
    ctx: Context, cid: int, channel: Channel, *, source: CustomerSource, day: int, at: datetime
) -> bool:
    """One channel's consent: asked at sign-up, and withdrawn later by about 6 % who agreed."""
    rng = ctx.rng
    granted = rng.random() < GRANT_RATES[channel]
    how = CONSENT_SOURCES[source]
    _consent_event(ctx, cid, channel, granted, at, how)
    left = len(ctx.days) - 1 - day
    if granted and left > 0 and rng.random() < 0.06:
        granted, how = False, WITHDRAWALS[channel]
        at = ctx.shop_time(day + rng.randint(1, left))
        _consent_event(ctx, cid, channel, granted, at, how)
    ctx.t.add(
        "consent",
        customer_id=cid,
        channel=channel.value,
        is_granted=granted,
        changed_at=at,
        source=how,
    )
    return granted


def _consent_event(
    ctx: Context, cid: int, ch: Channel, granted: bool, at: datetime, how: str
) -> None:
    """One row of the consent history."""
    ctx.t.add(
        "consent_event",
        id=ctx.t.count("consent_event") + 1,
        customer_id=cid,
        channel=ch.value,
        is_granted=granted,
        at=at,
        source=how,
    )
