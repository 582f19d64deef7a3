"""The shop's own thresholds file: parsed, checked, re-read when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guanxi.analytics.ladder import LadderThresholds
from guanxi.analytics.loyalty_type import LoyaltyTypeThresholds
from guanxi.analytics.thresholds import Thresholds, load_thresholds, parse_thresholds
from guanxi.errors import InvalidInput


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_given_keys_override_the_defaults(tmp_path: Path) -> None:
    path = _file(tmp_path, "[ladder]\nlapsed_after_days = 120\n\n"
                           "[loyalty_type]\nimpulse_min_promo_share = 0.6\n")  # fmt: skip
    found = parse_thresholds(path)
    assert found.ladder == LadderThresholds(lapsed_after_days=120)
    assert found.loyalty == LoyaltyTypeThresholds(impulse_min_promo_share=0.6)
    assert load_thresholds("") == Thresholds()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tiers]\nx = 1\n", r"unknown table \[tiers\]"),
        ("[ladder]\nlapsed_days = 1\n", "unknown key 'lapsed_days' in \\[ladder\\]; known keys"),
        ("[ladder]\nlapsed_after_days = 400\n", "day thresholds must satisfy"),
        ("[loyalty_type]\nmin_type_score = 2\n", "must be <= 1"),
        ("[ladder\n", "not valid TOML"),
        ("ladder = 3\n", r"\[ladder\] must be a table"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_thresholds(_file(tmp_path, text))


def test_a_missing_file_is_an_error_and_a_changed_file_is_read_again(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_thresholds(str(tmp_path / "nowhere.toml"))
    path = _file(tmp_path, "[ladder]\nactive_days = 60\n")
    assert load_thresholds(str(path)).ladder.active_days == 60
    path.write_text("[ladder]\nactive_days = 30\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_thresholds(str(path)).ladder.active_days == 30
