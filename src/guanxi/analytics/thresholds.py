"""The shop's own thresholds for the loyalty ladder and the loyalty types, from a TOML file.

``GUANXI_ANALYTICS_THRESHOLDS`` names a file such as::

    [ladder]
    lapsed_after_days = 120
    lost_after_days = 270

    [loyalty_type]
    impulse_min_promo_share = 0.6

Keys not given keep their defaults (``LadderThresholds``, ``LoyaltyTypeThresholds``); an unknown
table or key, or a value out of range, is an error that names it. The scoring job and the
explanations on the customer page read the same file, so the words match the rungs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from guanxi.analytics.ladder import LadderThresholds
from guanxi.analytics.loyalty_type import LoyaltyTypeThresholds
from guanxi.errors import InvalidInput


@dataclass(frozen=True)
class Thresholds:
    """The rules the scoring job and the explanations use."""

    ladder: LadderThresholds = field(default_factory=LadderThresholds)
    loyalty: LoyaltyTypeThresholds = field(default_factory=LoyaltyTypeThresholds)


_TABLES: dict[str, type[LadderThresholds] | type[LoyaltyTypeThresholds]] = {
    "ladder": LadderThresholds,
    "loyalty_type": LoyaltyTypeThresholds,
}


def _section(path: Path, name: str, values: Any) -> Any:
    cls = _TABLES[name]
    if not isinstance(values, dict):
        raise InvalidInput(f"{path}: [{name}] must be a table of key = value lines")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        listed = ", ".join(sorted(known))
        raise InvalidInput(f"{path}: unknown key {unknown[0]!r} in [{name}]; known keys: {listed}")
    try:
        return cls(**values)
    except (InvalidInput, TypeError) as error:
        raise InvalidInput(f"{path}: [{name}]: {error}") from error


def parse_thresholds(path: Path) -> Thresholds:
    """Read and check a thresholds file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"cannot read the analytics thresholds file {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{path} is not valid TOML: {error}") from error
    unknown = sorted(set(data) - set(_TABLES))
    if unknown:
        raise InvalidInput(f"{path}: unknown table [{unknown[0]}]; use [ladder] and [loyalty_type]")
    ladder = _section(path, "ladder", data.get("ladder", {}))
    loyalty = _section(path, "loyalty_type", data.get("loyalty_type", {}))
    return Thresholds(ladder=ladder, loyalty=loyalty)


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> Thresholds:
    return parse_thresholds(Path(path))


def load_thresholds(path: str) -> Thresholds:
    """The thresholds of the file at ``path`` (empty: the defaults); re-read when it changes."""
    if not path:
        return Thresholds()
    file = Path(path)
    try:
        mtime = file.stat().st_mtime_ns
    except OSError as error:
        raise InvalidInput(
            f"GUANXI_ANALYTICS_THRESHOLDS names {path}, which cannot be read: {error}"
        ) from error
    return _cached(str(file), mtime)
