"""The customer form and the values it yields: text in, validated values out, field by field.

``CustomerForm`` is the form as typed (every field text); ``CustomerValues`` holds validated
values as they are stored, whether a form or an API request gave them, and is what
``services.customer_edits`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from guanxi.care.templating import prefers_first_name, prefers_full_name
from guanxi.domain.access import mask_phone
from guanxi.domain.customers import Birthday, CustomerSource
from guanxi.domain.names import name_keys
from guanxi.errors import InvalidInput
from guanxi.importers import values as v
from guanxi.importers.rows import SOURCES, STYLES, split_list

MAX_LABELS = 30
LABELS = ("tags", "interests")  # whole sets of names, kept in their own tables
# The form of address is kept in the customer's custom fields, where ``care.templating`` reads
# it: 称呼偏好 = first_name / full_name (no key: by gender, 张女士 / 王先生). Imports may have set
# the older keys too; saving the form replaces them all.
SALUTATION_KEY = "称呼偏好"
SALUTATION_KEYS = (SALUTATION_KEY, "prefers_first_name", "first_name_basis")
SALUTATIONS = ("first_name", "full_name")


class FormErrors(InvalidInput):
    """Input that cannot be accepted; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


# --- validated values ------------------------------------------------------------------------


@dataclass
class CustomerValues:
    """Validated values for a customer's fields, as stored; a field left out keeps its value.

    A phone is in E.164, ``birthday`` a ``Birthday`` (or None), ``tags`` and ``interests``
    whole sets. ``is_store_optional``: whether the owner may leave the home store empty (an
    API request may; the form asks the owner to choose one).
    """

    fields: dict[str, Any]
    is_store_optional: bool = True

    @classmethod
    def of(cls, values: Mapping[str, Any], *, is_store_optional: bool = True) -> CustomerValues:
        """Values named by the form's fields; None for tags or interests clears them."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise InvalidInput(f"cannot set {', '.join(sorted(unknown))} on a customer")
        given = {k: tuple(x or ()) if k in LABELS else x for k, x in values.items()}
        return cls(given, is_store_optional)

    @property
    def columns(self) -> dict[str, Any]:
        """The customer columns these fields are stored in."""
        out: dict[str, Any] = {}
        for name, value in self.fields.items():
            out.update(columns_of(name, value))
        return out

    def given(self) -> list[str]:
        """The names of the fields that hold something (for audit entries, never values)."""
        return sorted(k for k, x in self.fields.items() if x is not None and x not in ("", ()))


def columns_of(name: str, value: Any) -> dict[str, Any]:
    """The customer columns one field is stored in (name and phone bring their search keys)."""
    if name == "name":
        pinyin, initials = name_keys(value)
        return {"name": value, "name_pinyin": pinyin, "name_initials": initials}
    if name == "phone":
        return {"phone": value, "phone_last4": value[-4:] if value else None}
    if name == "birthday":
        return birthday_columns(value)
    return {} if name in (*LABELS, "salutation") else {name: value}


def birthday_columns(b: Birthday | None) -> dict[str, Any]:
    """A birthday (None: not known) as the customer columns that hold it."""
    if b is None:
        return {"birthday_kind": "solar", "birthday_year": None, "birthday_month": None,
                "birthday_day": None, "birthday_is_leap_month": False}  # fmt: skip
    return {"birthday_kind": b.kind.value, "birthday_year": b.year, "birthday_month": b.month,
            "birthday_day": b.day, "birthday_is_leap_month": b.is_leap_month}  # fmt: skip


# --- the form --------------------------------------------------------------------------------


@dataclass
class CustomerForm:
    """A customer form as typed: every field is text; ``clean`` validates it field by field."""

    name: str = ""
    phone: str = ""
    email: str = ""
    code: str = ""
    gender: str = ""
    birthday: str = ""
    wechat_id: str = ""
    city: str = ""
    source: str = ""
    communication_style: str = ""
    tags: str = ""
    interests: str = ""
    notes: str = ""
    home_store_id: str = ""
    owner_staff_id: str = ""
    salutation: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CustomerForm:
        """Take the known fields of submitted form data; anything else is ignored."""
        return cls(
            **{k: val.strip() for k, val in data.items() if k in FIELDS and isinstance(val, str)}
        )

    @classmethod
    def from_customer(
        cls, c: Mapping[str, Any], tags: list[str], interests: list[str]
    ) -> CustomerForm:
        """The form for editing a stored customer; the phone is shown masked."""
        return cls(
            name=c["name"],
            phone=mask_phone(c["phone"]),
            email=c["email"] or "",
            code=c["code"] or "",
            gender=c["gender"],
            birthday=birthday_text(c),
            wechat_id=c["wechat_id"] or "",
            city=c["city"] or "",
            source=c["source"],
            communication_style=c["communication_style"] or "",
            tags=", ".join(tags),
            interests=", ".join(interests),
            notes=c["notes"] or "",
            home_store_id=_text(c["home_store_id"]),
            owner_staff_id=_text(c["owner_staff_id"]),
            salutation=salutation_choice(c.get("custom_fields")) or "",
        )

    def check(self, *, masked_phone: str = "") -> tuple[CustomerValues, dict[str, str]]:
        """Parse every field: (the values that parsed, a message for each field that did not)."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            raw = getattr(self, name)
            if name == "phone" and masked_phone and raw == masked_phone:
                continue  # the stored number sent back as shown (masked): keep it
            try:
                values[name] = parse(raw)
            except (ValueError, InvalidInput) as exc:
                errors[name] = str(exc)
        return CustomerValues(values, is_store_optional=False), errors

    def clean(self, *, masked_phone: str = "") -> CustomerValues:
        """The validated form; FormErrors names every field that is wrong."""
        values, errors = self.check(masked_phone=masked_phone)
        if errors:
            raise FormErrors(errors)
        return values


FIELDS = tuple(f.name for f in fields(CustomerForm))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def birthday_text(c: Mapping[str, Any]) -> str:
    """A stored birthday written the way the form reads it back (1990-01-05, 农历闰04-08)."""
    if not c.get("birthday_month"):
        return ""
    year = c.get("birthday_year")
    leap = "闰" if c.get("birthday_is_leap_month") else ""
    month_day = f"{c['birthday_month']:02d}-{c['birthday_day']:02d}"
    if c.get("birthday_kind") == "lunar":
        return f"农历{year}-{leap}{month_day}" if year else f"农历{leap}{month_day}"
    return f"{year}-{month_day}" if year else month_day


def salutation_choice(custom_fields: Mapping[str, Any] | None) -> str | None:
    """The form of address the custom fields ask for: first_name, full_name or None (by
    gender)."""
    if prefers_first_name(custom_fields):
        return "first_name"
    return "full_name" if prefers_full_name(custom_fields) else None


def with_salutation(custom_fields: Mapping[str, Any] | None, choice: str | None) -> dict[str, Any]:
    """The custom fields with the form of address set to ``choice`` (None: by gender)."""
    kept = {k: x for k, x in (custom_fields or {}).items() if k not in SALUTATION_KEYS}
    return {**kept, SALUTATION_KEY: choice} if choice else kept


# --- one parser per field: text in, the stored value out (ValueError says what is wrong) -----


def _limited(limit: int) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        if len(raw) > limit:
            raise ValueError(f"too long: at most {limit} characters (found {len(raw)})")
        return raw or None

    return parse


def _name(raw: str) -> str:
    text = v.to_halfwidth(raw)
    if not text:
        raise ValueError("a customer needs a name: type the name the customer goes by")
    if len(text) > 100:
        raise ValueError(f"too long: at most 100 characters (found {len(text)})")
    return text


def _phone(raw: str) -> str | None:
    if not raw:
        return None
    try:
        return v.normalise_phone(raw)
    except ValueError:
        raise ValueError(
            "not a valid phone number: type a mobile such as 13812345678, "
            "or + and the country code for a number abroad"
        ) from None


def _email(raw: str) -> str | None:
    return v.normalise_email(raw) if raw else None


def _code(raw: str) -> str | None:
    return _limited(64)(v.to_halfwidth(raw))


def _gender(raw: str) -> str:
    return v.parse_gender(raw).value


def _birthday(raw: str) -> Birthday | None:
    return v.parse_birthday(raw) if raw else None


def _choice(table: Mapping[str, Any], what: str, empty: str | None) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        if not raw:
            return empty
        found = table.get(raw.lower()) or table.get(raw)
        if found is None:
            known = ", ".join(sorted({str(x.value) for x in table.values()}))
            raise ValueError(f"unknown {what} {raw!r}: choose one of {known}")
        return str(found.value)

    return parse


def _labels(raw: str) -> tuple[str, ...]:
    labels = split_list(v.to_halfwidth(raw))
    too_long = [x for x in labels if len(x) > 64]
    if too_long:
        raise ValueError(f"{too_long[0][:20]}… is too long: at most 64 characters each")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"too many: at most {MAX_LABELS} (found {len(labels)})")
    return labels


def _salutation(raw: str) -> str | None:
    if raw and raw not in SALUTATIONS:
        raise ValueError(f"unknown form of address {raw!r}: choose one from the list")
    return raw or None


def _choose_id(what: str) -> Callable[[str], int | None]:
    def parse(raw: str) -> int | None:
        if not raw:
            return None
        if not raw.isdigit():
            raise ValueError(f"not a {what}: choose one from the list")
        return int(raw)

    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "name": _name,
    "phone": _phone,
    "email": _email,
    "code": _code,
    "gender": _gender,
    "birthday": _birthday,
    "wechat_id": _limited(64),
    "city": _limited(64),
    "source": _choice(SOURCES, "source", CustomerSource.OTHER.value),
    "communication_style": _choice(STYLES, "style", None),
    "tags": _labels,
    "interests": _labels,
    "notes": _limited(4000),
    "home_store_id": _choose_id("store"),
    "owner_staff_id": _choose_id("staff member"),
    "salutation": _salutation,
}
