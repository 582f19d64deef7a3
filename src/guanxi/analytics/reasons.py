"""Reasons in words, and the input checks shared by the analytics modules.

A :class:`Reason` is an English template marked with ``gettext_noop`` plus the numbers that fill
its ``{name}`` placeholders. The analytics modules return reasons untranslated; the web layer
translates ``template`` at display time and then fills it with ``template.format(**values)``, so
translators see one message per rule, never one per customer.

The ``check_*`` functions turn caller input into 1-D numpy arrays and raise
:class:`guanxi.errors.InvalidInput` with a message that names the argument, the offending value
and its position, so a bug in the SQL that feeds the analytics shows up as one clear line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from guanxi.errors import InvalidInput

Value = float | int | str
"""A value of a reason: a plain number or string."""
AnyValue = Value | np.integer[Any] | np.floating[Any] | np.bool_
"""What a reason accepts: numpy scalars too, turned into plain Python values."""


@dataclass(frozen=True)
class Reason:
    """One explanation: a translatable template and the values for its placeholders.

    ``template`` uses :meth:`str.format` fields such as ``{days}`` or ``{share:.0%}``; ``values``
    maps each field name to a plain Python number or string (never a numpy scalar, so reasons
    serialise to JSON as they are).
    """

    template: str
    values: Mapping[str, AnyValue] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", {k: _plain(v) for k, v in self.values.items()})

    def render(self) -> str:
        """The English text (untranslated), for logs, tests and the CLI."""
        return self.template.format(**self.values)


def _plain(value: Any) -> Value:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    raise TypeError(f"reason values must be numbers or strings, not {type(value).__name__}")


def _as_1d(name: str, values: npt.ArrayLike, dtype: Any = None) -> npt.NDArray[Any]:
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{name} must be an array of numbers: {error}") from None
    if array.ndim != 1:
        raise InvalidInput(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def _first_bad(name: str, array: npt.NDArray[Any], bad: npt.NDArray[np.bool_], what: str) -> None:
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"{name} has {int(bad.sum())} {what} value(s) (first at index {index}: "
            f"{array[index]!r}); fix the input or leave those customers out"
        )


def check_floats(
    name: str,
    values: npt.ArrayLike,
    *,
    allow_nan: bool = False,
    lower: float | None = None,
    upper: float | None = None,
) -> npt.NDArray[np.float64]:
    """``values`` as float64; infinities are refused, NaN only when ``allow_nan``.

    ``lower`` and ``upper`` are inclusive bounds checked on the non-NaN values.
    """
    array = _as_1d(name, values, np.float64).astype(np.float64, copy=False)
    nan = np.isnan(array)
    if not allow_nan:
        _first_bad(name, array, nan, "NaN (missing)")
    _first_bad(name, array, np.isinf(array), "infinite")
    if lower is not None:
        _first_bad(name, array, ~nan & (array < lower), f"below {lower:g}")
    if upper is not None:
        _first_bad(name, array, ~nan & (array > upper), f"above {upper:g}")
    return array


def check_ints(name: str, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``values`` as int64; floats are accepted when they hold whole numbers."""
    array = _as_1d(name, values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "b":
        raise InvalidInput(f"{name} must hold whole numbers, not booleans")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    floats = check_floats(name, array)
    _first_bad(name, floats, floats != np.round(floats), "non-whole")
    return floats.astype(np.int64)


def check_counts(name: str, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``values`` as non-negative int64 counts."""
    array = check_ints(name, values)
    _first_bad(name, array, array < 0, "negative")
    return array


def check_flags(name: str, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``values`` as booleans; 0 and 1 are accepted, anything else is refused."""
    array = _as_1d(name, values)
    if array.dtype.kind == "b":
        return array.astype(np.bool_, copy=False)
    if array.size == 0:
        return np.zeros(0, dtype=np.bool_)
    numbers = check_ints(name, array)
    _first_bad(name, numbers, (numbers != 0) & (numbers != 1), "non-boolean")
    return numbers.astype(np.bool_)


def check_same_length(**arrays: npt.NDArray[Any]) -> int:
    """The common length of ``arrays``; InvalidInput naming each length when they differ."""
    lengths = {name: int(array.shape[0]) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise InvalidInput(f"arrays must have one entry per customer, got lengths {listed}")
    return next(iter(lengths.values()), 0)
