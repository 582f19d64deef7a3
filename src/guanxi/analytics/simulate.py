"""Simulated customer bases from the BG/NBD and Pareto/NBD models, for tests and benchmarks.

Vectorised over customers (no Python loop): 10^7 customers take a few seconds. Each returns
(frequency, recency, T) arrays as ``guanxi.analytics.clv`` expects them, in the time unit of
``T`` (alpha and beta are in that unit too).

* BG/NBD (Fader, Hardie & Lee 2005): lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); purchases
  follow a Poisson process of rate lambda and after each repeat purchase the customer drops out
  with probability p. So the number of repeat purchases the customer would ever make is
  N ~ Geometric(p) on {1, 2, ...}, the Poisson count in (0, T] is K ~ Poisson(lambda T), the
  observed frequency is x = min(N, K), and given K the x-th purchase time is T times the x-th
  order statistic of K uniforms, T * Beta(x, K - x + 1).
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987): lambda ~ Gamma(r, alpha),
  mu ~ Gamma(s, beta), lifetime tau ~ Exponential(mu); x ~ Poisson(lambda min(tau, T)) and the
  last purchase is at min(tau, T) * Beta(x, 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from guanxi.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


def _setup(
    n: int, params: Mapping[str, float], names: tuple[str, ...], T: npt.ArrayLike
) -> tuple[tuple[float, ...], FloatArray]:
    if n < 0:
        raise InvalidInput(f"n must be >= 0, not {n}")
    missing = [k for k in names if k not in params]
    if missing:
        raise InvalidInput(f"params need {', '.join(names)}; missing {missing}")
    values = tuple(float(params[k]) for k in names)
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InvalidInput(
            f"params must be positive numbers: {dict(zip(names, values, strict=True))}"
        )
    t_end = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if not (np.isfinite(t_end).all() and (t_end >= 0).all()):
        raise InvalidInput("T must be finite and >= 0")
    return values, t_end


def _last_purchase(
    x: npt.NDArray[np.int64], k: npt.NDArray[np.int64], span: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """span * (x-th order statistic of k uniforms on (0, 1)); 0 where x = 0."""
    recency = np.zeros(x.size)
    rep = x > 0
    recency[rep] = span[rep] * rng.beta(x[rep], k[rep] - x[rep] + 1)
    return recency


def simulate_bgnbd(
    n: int, params: Mapping[str, float], T: npt.ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """n BG/NBD customers (params r, alpha, a, b) observed for T (scalar or one per customer).

    Returns (frequency, recency, T) as float64 arrays.
    """
    (r, alpha, a, b), t_end = _setup(n, params, ("r", "alpha", "a", "b"), T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # Purchases ever made before dropping out; p can underflow to 0 (never drops out).
    never = np.iinfo(np.int64).max
    ever = np.where(p > 0, rng.geometric(np.maximum(p, 1e-300)), never)
    k = rng.poisson(lam * t_end)
    x = np.minimum(ever, k)
    recency = _last_purchase(x, k, t_end, rng)
    return x.astype(np.float64), recency, t_end


def simulate_pareto_nbd(
    n: int, params: Mapping[str, float], T: npt.ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """n Pareto/NBD customers (params r, alpha, s, beta) observed for T (scalar or per customer).

    Returns (frequency, recency, T) as float64 arrays.
    """
    (r, alpha, s, beta), t_end = _setup(n, params, ("r", "alpha", "s", "beta"), T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0, n) / np.maximum(mu, 1e-300)
    span = np.minimum(lifetime, t_end)
    x = rng.poisson(lam * span)
    recency = _last_purchase(x, x, span, rng)
    return x.astype(np.float64), recency, t_end
