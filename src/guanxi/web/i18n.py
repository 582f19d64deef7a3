"""Languages: zh-CN and English via Babel catalogs; the current one per request in a contextvar.

Jinja2's i18n extension calls the gettext functions installed here, which read the request's
translations, so one template environment serves every language at once.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

from guanxi.domain.text import gettext_noop

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"


@dataclass(frozen=True)
class Language:
    """The language of one request and how it formats values."""

    code: str  # zh_CN or en
    translations: NullTranslations
    timezone: ZoneInfo

    @property
    def html_lang(self) -> str:
        return self.code.replace("_", "-")

    def money(self, amount: Decimal | None) -> str:
        if amount is None:
            return ""
        return str(format_currency(amount, "CNY", locale=self.code))

    def number(self, value: int | Decimal | float | None) -> str:
        return "" if value is None else str(format_decimal(value, locale=self.code))

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return str(format_date(value.astimezone(self.timezone).date(), "medium",
                                   locale=self.code))  # fmt: skip
        return str(format_date(value, "medium", locale=self.code))

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return str(format_datetime(value, "short", tzinfo=self.timezone, locale=self.code))


@cache
def translations_for(code: str) -> NullTranslations:
    """Compiled catalog for a language (English is the source language: no catalog)."""
    if code == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [code], domain="messages")


def choose(preferred: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The staff member's choice, else the browser cookie, else Accept-Language, else zh_CN."""
    for choice in (preferred, cookie):
        if choice in LANGUAGES:
            return choice
    if accept_language:
        wanted = [
            part.split(";")[0].strip().replace("-", "_") for part in accept_language.split(",")
        ]
        found = negotiate_locale(wanted, list(LANGUAGES) + ["zh"], sep="_")
        if found:
            return "zh_CN" if found.startswith("zh") else str(found)
    return DEFAULT_LANGUAGE


current: ContextVar[Language] = ContextVar("guanxi_language")


def language(code: str, tz: str) -> Language:
    return Language(code, translations_for(code), ZoneInfo(tz))


def gettext(message: str) -> str:
    return current.get().translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current.get().translations.ngettext(singular, plural, n)


class _RoleNames:
    """Role labels in the request's language (``role_names["clerk"]`` in templates)."""

    _labels = {"owner": "Owner", "manager": "Manager", "clerk": "Clerk"}

    def __getitem__(self, role: str) -> str:
        return gettext(self._labels[role])


ROLE_NAMES = _RoleNames()
# For the catalog extractor: the labels above are translated at run time.
_ROLE_MESSAGES = (gettext_noop("Owner"), gettext_noop("Manager"), gettext_noop("Clerk"))
