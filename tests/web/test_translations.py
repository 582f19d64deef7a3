"""The Chinese catalog covers every UI string, and is current with the templates and code."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "src/guanxi/web/translations/zh_CN/LC_MESSAGES/messages.po"


def _ids(catalog_path: Path) -> set[object]:
    with catalog_path.open("rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


def test_every_ui_string_is_translated_and_the_catalog_is_current(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_", "-k", "gettext",
        "-k", "gettext_noop", "-k", "ngettext:1,2", "--no-location", "-o", str(pot), str(ROOT),
    ])  # fmt: skip
    wanted, have = _ids(pot), _ids(PO)
    assert wanted - have == set(), "run `make messages` and translate the new strings"
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    untranslated = [
        m.id
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
