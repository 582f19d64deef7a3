"""Search keys for Chinese names: full pinyin and initials, with surname readings fixed.

pypinyin reads a name as ordinary text, so polyphonic characters used as surnames come out
with their common reading (单 -> dan, 曾 -> ceng). A surname has its own reading; the table
below overrides the first character of a name (and of two-character compound surnames).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Surname readings that differ from the character's most common reading.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "查": "zha",
    "区": "ou",
    "朴": "piao",
    "乐": "yue",
    "盖": "ge",
    "华": "hua",
    "缪": "miao",
    "翟": "zhai",
    "尉迟": "yu chi",
    "万俟": "mo qi",
    "长孙": "zhang sun",
    "宁": "ning",
    "燕": "yan",
    "召": "shao",
    "种": "chong",
    "秘": "bi",
    "冼": "xian",
    "覃": "qin",
    "尉": "yu",
    "任": "ren",
    "沈": "shen",
    "柏": "bai",
    "重": "chong",
    "阚": "kan",
    "纪": "ji",
    "葛": "ge",
    "藏": "zang",
    "便": "pian",
    "贲": "ben",
}
_COMPOUND = {k for k in SURNAME_READINGS if len(k) == 2}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PARTS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\u3400-\u9fff\uf900-\ufaff]+")


@lru_cache(maxsize=65536)
def _reading(part: str) -> str:
    """One character's usual reading (or a run of non-Chinese text as it is), cached.

    Characters are read one at a time: names rarely form dictionary phrases, and a cached
    per-character lookup is ~30x faster than segmenting every name (imports of 100k names).
    pypinyin is imported here, on first use: loading its dictionaries takes 0.4 s, which every
    ``guanxi`` command and server start paid before.
    """
    from pypinyin import Style, lazy_pinyin

    return " ".join(lazy_pinyin(part, style=Style.NORMAL, errors="default", v_to_u=False))


def _syllables(name: str) -> list[str]:
    name = name.strip()
    head: list[str] = []
    rest = name
    if name[:2] in _COMPOUND:
        head, rest = [SURNAME_READINGS[name[:2]]], name[2:]
    elif name[:1] in SURNAME_READINGS:
        head, rest = [SURNAME_READINGS[name[:1]]], name[1:]
    tail = [_reading(part) if _CJK.match(part) else part for part in _PARTS.findall(rest)]
    words: list[str] = []
    for part in head + tail:
        words.extend(w for w in _NON_ALNUM.split(part.lower()) if w)
    return words


def name_keys(name: str) -> tuple[str, str]:
    """Return (full pinyin, initials) for a name: '张三' -> ('zhangsan', 'zs').

    Latin words keep their letters ('Tom 李' -> ('tomli', 'tl')); '吕' spells as 'lv'.
    """
    words = _syllables(name)
    return "".join(words), "".join(w[0] for w in words)
