"""The texts sent about events: an invitation (marketing) and "a place opened up" (service).

Bodies are rendered with ``care.templating.render`` over the customer's variables
(``templating.contexts``: salutation, shop …) plus the event's: ``event``, ``when`` (the local
start in the event store's zone), ``place`` and ``link`` (the RSVP link). Chinese and English.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from guanxi.care.templating import render

LOCALES = ("zh_CN", "en")

INVITATION: dict[str, tuple[str, str]] = {
    "zh_CN": ("活动邀请：{{ event }}",
              "{{ salutation }}您好，{{ shop }}诚邀您参加「{{ event }}」：{{ when }}，{{ place }}。"
              "请点击链接告诉我们是否出席：{{ link }}"),
    "en": ("Invitation: {{ event }}",
           "Dear {{ salutation }}, {{ shop }} invites you to \"{{ event }}\" on {{ when }} at "
           "{{ place }}. Please tell us whether you can come: {{ link }}"),
}  # fmt: skip

PROMOTED: dict[str, tuple[str, str]] = {
    "zh_CN": ("您的候补已确认：{{ event }}",
              "{{ salutation }}您好，「{{ event }}」有名额空出，您已从候补转为确认出席："
              "{{ when }}，{{ place }}。期待您的光临！{{ shop }}"),
    "en": ("Your place is confirmed: {{ event }}",
           "Dear {{ salutation }}, a place opened up at \"{{ event }}\" and it is yours: "
           "{{ when }} at {{ place }}. We look forward to seeing you. {{ shop }}"),
}  # fmt: skip


def when_text(starts_at: datetime, zone: str, locale: str) -> str:
    """'11月20日 19:30' / '20 Nov 19:30' in the event store's zone."""
    local = starts_at.astimezone(ZoneInfo(zone))
    if locale.startswith("zh"):
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b} {local:%H:%M}"


def render_text(pair: tuple[str, str], variables: dict[str, object]) -> tuple[str, str]:
    """(subject, body) of one customer."""
    return render(pair[0], variables), render(pair[1], variables)
