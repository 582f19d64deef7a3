"""Shared plumbing of the CLV models (``guanxi.analytics.clv``): input checks, collapsing identical
customers into weighted rows, and the maximum-likelihood driver.

Private: use ``guanxi.analytics.clv``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize

from guanxi.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
ArrayLike = npt.ArrayLike

# Log-parameters are kept within [-LOG_BOUND, LOG_BOUND]: a parameter that runs to exp(+-14)
# (about 8e-7 or 1.2e6) means the model is not identified by the data (for example no sign
# of customers dropping out, or too few customers).
LOG_BOUND = 14.0
# Data with more distinct rows than this are first fitted on a weighted subsample of
# SUBSAMPLE_ROWS rows; the full data then only polish that optimum (a few evaluations).
SUBSAMPLE_ABOVE = 20_000
SUBSAMPLE_ROWS = 5_000
# The fit is accepted when the largest gradient component of the mean log-likelihood per
# customer (with respect to the log-parameters) is below this. 1e-4 means a 1 % change of any
# parameter moves the mean log-likelihood by at most 1e-6: a flat ridge (e.g. a and b of BG/NBD
# growing together when dropout hardly varies between customers, common in small shops) is an
# answer, not a failure.
GRADIENT_TOLERANCE = 1e-4


class ConvergenceError(InvalidInput):
    """The maximum-likelihood fit did not converge; the message says why and what to try."""


def as_array(name: str, value: ArrayLike) -> FloatArray:
    """``value`` as a float64 array, or InvalidInput naming the argument."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{name} must be numbers: {error}") from error
    return array


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def check_finite(name: str, values: FloatArray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        i = _first(bad)
        raise InvalidInput(
            f"{name} has {int(bad.sum())} missing or infinite values (first at index {i}: "
            f"{values.ravel()[i]}); drop or fill those customers first"
        )


def check_nonnegative(name: str, values: FloatArray) -> None:
    bad = values < 0
    if bad.any():
        i = _first(bad)
        raise InvalidInput(
            f"{name} has {int(bad.sum())} negative values (first at index {i}: "
            f"{values.ravel()[i]}); it cannot be below 0"
        )


def check_whole(name: str, values: FloatArray) -> None:
    bad = values != np.floor(values)
    if bad.any():
        i = _first(bad)
        raise InvalidInput(
            f"{name} must be whole numbers of repeat purchases, but {int(bad.sum())} are not "
            f"(first at index {i}: {values.ravel()[i]})"
        )


def count_inputs(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, fit: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Checked (frequency, recency, T): float64 arrays of one shape.

    For a fit they must be non-empty 1-D arrays of one length; for a prediction they may be
    scalars or arrays that broadcast together.
    """
    x = as_array("frequency", frequency)
    tx = as_array("recency", recency)
    t_end = as_array("T", T)
    if fit:
        for name, a in (("frequency", x), ("recency", tx), ("T", t_end)):
            if a.ndim != 1:
                raise InvalidInput(f"{name} must be a 1-D array, one value per customer")
        if not x.size == tx.size == t_end.size:
            raise InvalidInput(
                f"frequency, recency and T must have one value per customer, but their lengths "
                f"are {x.size}, {tx.size} and {t_end.size}"
            )
        if x.size == 0:
            raise InvalidInput("no customers to fit: frequency, recency and T are empty")
    else:
        try:
            x, tx, t_end = np.broadcast_arrays(x, tx, t_end)
        except ValueError as error:
            raise InvalidInput(
                f"frequency, recency and T have shapes {x.shape}, {tx.shape} and "
                f"{t_end.shape}, which do not match"
            ) from error
    for name, a in (("frequency", x), ("recency", tx), ("T", t_end)):
        check_finite(name, a)
        check_nonnegative(name, a)
    check_whole("frequency", x)
    late = tx > t_end
    if late.any():
        i = _first(late)
        raise InvalidInput(
            f"recency is greater than T for {int(late.sum())} customers (first at index {i}: "
            f"recency {tx.ravel()[i]} > T {t_end.ravel()[i]}); recency is the customer's age "
            "at the last repeat purchase and cannot exceed the age T"
        )
    stray = (x == 0) & (tx != 0)
    if stray.any():
        i = _first(stray)
        raise InvalidInput(
            f"recency must be 0 for customers without repeat purchases, but {int(stray.sum())} "
            f"have frequency 0 and recency > 0 (first at index {i}: recency {tx.ravel()[i]})"
        )
    return x, tx, t_end


def weight_input(weights: ArrayLike | None, n: int) -> FloatArray:
    """Checked per-customer weights (ones when None)."""
    if weights is None:
        return np.ones(n)
    w = as_array("weights", weights)
    if w.ndim != 1 or w.size != n:
        raise InvalidInput(f"weights must have one value per customer ({n}), not shape {w.shape}")
    check_finite("weights", w)
    check_nonnegative("weights", w)
    if not w.sum() > 0:
        raise InvalidInput("weights are all 0: there is nothing to fit")
    return w


def collapse(keys: Sequence[FloatArray], w: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Distinct rows of ``keys`` (sorted by the first key, then the next ones) and their summed
    weights. Rows of weight 0 are dropped."""
    keep = w > 0
    if not keep.all():
        keys = [k[keep] for k in keys]
        w = w[keep]
    first = keys[0]
    order = np.argsort(first)
    sorted_first = first[order]
    if keys[1:] and bool(np.any(sorted_first[1:] == sorted_first[:-1])):
        # Ties on the first key: sort on all keys (np.lexsort takes the primary key last).
        order = np.lexsort(tuple(reversed(keys)))
        sorted_first = first[order]
    sorted_keys = [sorted_first] + [k[order] for k in keys[1:]]
    change = np.empty(sorted_first.size, dtype=bool)
    change[:1] = True
    change[1:] = False
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    weights = np.add.reduceat(w[order], starts) if starts.size else w[:0]
    return [k[starts] for k in sorted_keys], weights


CountRows = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def collapse_count_rows(
    x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray
) -> CountRows:
    """Distinct weighted rows for a count model: (T, weight) of zero-repeat customers, then
    (x, t_x, T, weight) of repeat customers."""
    zero = x == 0
    (t0,), w0 = collapse([t_end[zero]], w[zero])
    rep = ~zero
    (rtx, rx, rt), rw = collapse([tx[rep], x[rep], t_end[rep]], w[rep])
    return t0, w0, rx, rtx, rt, rw


def frequency_totals(
    x: FloatArray, w: FloatArray, w0: FloatArray
) -> tuple[FloatArray, IntArray, FloatArray, FloatArray, float]:
    """Distinct repeat frequencies ``rux`` with each row's index ``xi`` into them, and the
    distinct frequencies of everyone ``ux`` (0 first when there are zero-repeat customers) with
    their total weights ``wx``; also the total weight of zero-repeat customers."""
    rux, xi = group_index(x)
    wr = np.bincount(xi, weights=w, minlength=rux.size).astype(np.float64)
    w0_total = float(w0.sum())
    ux = np.concatenate([np.zeros(1), rux]) if w0_total > 0 else rux
    wx = np.concatenate([np.full(1, w0_total), wr]) if w0_total > 0 else wr
    return rux, xi, ux, wx, w0_total


def subsample_weights(w: FloatArray, rng: np.random.Generator, rows: int) -> FloatArray:
    """Weights of a with-replacement sample of ``rows`` draws proportional to ``w``, scaled to
    the same total (0 for rows not drawn); ``w`` itself when it has no more than ``rows``."""
    total = float(w.sum())
    if w.size <= rows or total <= 0:
        return w
    pick = rng.choice(w.size, size=rows, p=w / total)
    return np.asarray(np.bincount(pick, minlength=w.size) * (total / rows), dtype=np.float64)


def group_index(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values and each element's position among them. Whole numbers below 10^7 (the
    frequencies) are grouped in O(n) with a bincount instead of a sort."""
    if values.size and float(values.max()) < 1e7 and float(values.min()) >= 0:
        as_int = values.astype(np.intp)
        if np.array_equal(as_int, values):
            present = np.bincount(as_int) > 0
            lookup = np.cumsum(present) - 1
            return np.flatnonzero(present).astype(np.float64), lookup[as_int]
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.astype(np.intp).ravel()


def pair_index(x: FloatArray, t_end: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Distinct (x, T) pairs (sorted by T, then x) and each element's pair index; x whole."""
    n = x.size
    if n == 0:
        return x[:0], t_end[:0], np.zeros(0, dtype=np.intp)
    ux, xi = group_index(x)
    order = np.argsort(t_end)
    st = t_end[order]
    t_id = np.zeros(n, dtype=np.int64)
    np.cumsum(st[1:] != st[:-1], out=t_id[1:])
    if (int(t_id[-1]) + 1) * (ux.size + 1) < 2**62:
        key = t_id * ux.size + xi[order]
        o2 = np.argsort(key)
        order = order[o2]
        sk = key[o2]
    else:  # pragma: no cover - astronomically many distinct pairs
        order = np.lexsort((x, t_end))
        sk = np.stack([t_end[order], x[order]])
    change = np.empty(n, dtype=bool)
    change[0] = True
    if sk.ndim == 1:
        change[1:] = sk[1:] != sk[:-1]
    else:
        change[1:] = np.any(sk[:, 1:] != sk[:, :-1], axis=0)
    pair = np.empty(n, dtype=np.intp)
    pair[order] = np.cumsum(change) - 1
    starts = order[change]
    return x[starts], t_end[starts], pair


# The optimiser -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A model's data, ready for the likelihood.

    ``loglik(params)`` returns the total weighted log-likelihood and its gradient with respect to
    the parameters; ``subsample(rng, rows)`` a smaller Objective whose weights sum to the same
    total (used for starting values).
    """

    names: tuple[str, ...]
    total_weight: float
    rows: int
    loglik: Callable[[FloatArray], tuple[float, FloatArray]]
    subsample: Callable[[np.random.Generator, int], Objective] | None


def _mean_negative(objective: Objective) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Minus the mean log-likelihood per customer and its gradient in the log-parameters; a
    non-finite value (extreme trial parameters) becomes a large finite one with zero gradient so
    the line search steps back."""
    scale = 1.0 / objective.total_weight

    def f(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            ll, grad = objective.loglik(params)
        value = -ll * scale
        g = -grad * params * scale
        if not (math.isfinite(value) and np.isfinite(g).all()):
            return 1e30, np.zeros_like(theta)
        return value, g

    return f


def _lbfgsb(
    f: Callable[[FloatArray], tuple[float, FloatArray]], theta0: FloatArray, gtol: float = 1e-9
) -> Any:
    bounds = [(-LOG_BOUND, LOG_BOUND)] * theta0.size
    return optimize.minimize(
        f,
        np.clip(theta0, -LOG_BOUND + 1, LOG_BOUND - 1),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": gtol, "maxls": 50},
    )


def _hessian(f: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray) -> FloatArray:
    """Central differences of the analytic gradient."""
    k = theta.size
    h = 1e-4
    hess = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = h
        hess[i] = (f(theta + step)[1] - f(theta - step)[1]) / (2 * h)
    return np.asarray(0.5 * (hess + hess.T), dtype=np.float64)


def maximise(objective: Objective, theta0: FloatArray, model: str) -> tuple[FloatArray, float]:
    """Maximum-likelihood parameters and the total log-likelihood.

    Works on log-parameters with the analytic gradient. Small data: L-BFGS-B from ``theta0``.
    Large data: L-BFGS-B on a weighted subsample of distinct rows (deterministic seed) gives a
    start and a Hessian, then BFGS on all rows from there (Newton-like first steps), falling back
    to L-BFGS-B on all rows. Raises ConvergenceError when the gradient does not vanish or a
    parameter runs off to 0 or infinity.
    """
    f = _mean_negative(objective)
    theta = theta0
    result: Any = None
    if objective.subsample is not None and objective.rows > SUBSAMPLE_ABOVE:
        small = objective.subsample(np.random.default_rng(20050101), SUBSAMPLE_ROWS)
        fs = _mean_negative(small)
        start = _lbfgsb(fs, theta0, gtol=1e-4)
        if np.all(np.abs(start.x) < LOG_BOUND - 0.5):
            hess = _hessian(fs, start.x)
            try:
                eig = np.linalg.eigvalsh(hess)
                if eig.min() > 0:
                    inv0 = np.linalg.inv(hess)
                    inv0 = 0.5 * (inv0 + inv0.T)
                    result = optimize.minimize(
                        f,
                        start.x,
                        jac=True,
                        method="BFGS",
                        options={"gtol": 3e-7, "maxiter": 200, "hess_inv0": inv0},
                    )
            except (np.linalg.LinAlgError, ValueError):
                result = None
            theta = start.x
        if result is None or not _good(f, result.x):
            result = _lbfgsb(f, theta)
    else:
        result = _lbfgsb(f, theta)
    best = np.asarray(result.x, dtype=np.float64)
    value, grad = f(best)
    _check_converged(objective, best, grad, value, model, str(result.message))
    return np.exp(best), float(-value * objective.total_weight)


def _good(f: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray) -> bool:
    value, grad = f(theta)
    return (
        value < 1e29
        and float(np.max(np.abs(grad))) < GRADIENT_TOLERANCE
        and bool(np.all(np.abs(theta) < LOG_BOUND))
    )


def _check_converged(
    objective: Objective,
    theta: FloatArray,
    grad: FloatArray,
    value: float,
    model: str,
    message: str,
) -> None:
    at_bound = np.abs(theta) >= LOG_BOUND - 1e-3
    if at_bound.any():
        which = ", ".join(
            f"{name} -> {'0' if t < 0 else 'infinity'} ({math.exp(t):.3g})"
            for name, t, b in zip(objective.names, theta, at_bound, strict=True)
            if b
        )
        raise ConvergenceError(
            f"the {model} fit did not converge: {which}; the data do not identify the model "
            "(too few customers or repeat purchases, or no sign of customers dropping out); "
            "use more customers or a longer calibration period"
        )
    worst = float(np.max(np.abs(grad))) if grad.size else 0.0
    if not (value < 1e29) or not worst < GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the {model} fit did not converge (largest gradient {worst:.2g} per customer, "
            f"optimiser: {message}); check the data (units of recency and T, outliers) or use "
            "more customers"
        )
