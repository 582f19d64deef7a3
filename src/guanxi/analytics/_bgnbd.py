"""BG/NBD likelihood, gradient and closed forms (Fader, Hardie & Lee 2005, "'Counting Your
Customers' the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)).

Private: use ``guanxi.analytics.clv``. Times are in the caller's unit (the unit of T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from guanxi.analytics._clv_common import (
    FloatArray,
    IntArray,
    collapse_count_rows,
    frequency_totals,
    subsample_weights,
)

# Near a = 1 (and a + b + x = 1) the closed form of E[Y(t)] is 0/0: it is then interpolated
# linearly between a = 1 -+ NUDGE (error of order NUDGE**2).
NUDGE = 1e-4
# Beyond a + b = RIDGE the drop-out probability hardly varies between customers (its standard
# deviation is below 1 % of its mean), E[Y(t)] is within 0.1 % of its closed limit, and the
# hypergeometric form soon overflows (a + b = 5e4 gives NaN): the limit is used.
RIDGE = 1e4


@dataclass(frozen=True)
class BgData:
    """Distinct customers: all x values with their total weights, zero-repeat customers by T,
    repeat customers as rows."""

    ux: FloatArray  # distinct x over all customers
    wx: FloatArray  # total weight per distinct x
    t0: FloatArray  # distinct T of customers with x = 0
    w0: FloatArray
    rux: FloatArray  # distinct x > 0
    x: FloatArray  # repeat rows
    tx: FloatArray
    t_end: FloatArray
    w: FloatArray
    xi: IntArray  # index of each repeat row into rux
    total: float


def prepare(x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray) -> BgData:
    """Collapse checked inputs into distinct weighted rows."""
    return from_rows(*collapse_count_rows(x, tx, t_end, w))


def from_rows(
    t0: FloatArray, w0: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray
) -> BgData:
    rux, xi, ux, wx, w0_total = frequency_totals(x, w, w0)
    return BgData(ux, wx, t0, w0, rux, x, tx, t_end, w, xi, float(w0_total + w.sum()))


def subsample(data: BgData, rng: np.random.Generator, rows: int) -> BgData:
    """About ``rows`` repeat-customer rows drawn with probability proportional to weight (and
    the zero-repeat rows, one per distinct T, kept whole when there are few of them), weights
    rescaled so each group keeps its total."""
    w0 = subsample_weights(data.w0, rng, rows) if data.w0.size > rows // 2 else data.w0
    cr = subsample_weights(data.w, rng, rows)
    k0 = w0 > 0
    kr = cr > 0
    return from_rows(data.t0[k0], w0[k0], data.x[kr], data.tx[kr], data.t_end[kr], cr[kr])


def loglik(params: FloatArray, d: BgData) -> tuple[float, FloatArray]:
    """Total log-likelihood (FHL 2005 eq. 6) and its gradient in (r, alpha, a, b).

    ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
           + ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)],
    the last term as -(r+x) ln(alpha+T) + softplus(dd) with
    dd = ln a - ln(b+x-1) + (r+x) (ln(alpha+T) - ln(alpha+t_x)).
    """
    r, alpha, a, b = (float(v) for v in params)
    ux, wx = d.ux, d.wx
    la = np.log(alpha)
    per_x = (
        special.gammaln(r + ux)
        - special.gammaln(r)
        + r * la
        + special.gammaln(a + b)
        + special.gammaln(b + ux)
        - special.gammaln(b)
        - special.gammaln(a + b + ux)
    )
    ll = float(wx @ per_x)
    dg_ab_x = special.digamma(a + b + ux)
    g_r = float(wx @ (special.digamma(r + ux) - special.digamma(r) + la))
    g_alpha = d.total * r / alpha
    g_a = float(wx @ (special.digamma(a + b) - dg_ab_x))
    g_b = float(
        wx @ (special.digamma(a + b) + special.digamma(b + ux) - special.digamma(b) - dg_ab_x)
    )
    if d.t0.size:
        lt0 = np.log(alpha + d.t0)
        wl = float(d.w0 @ lt0)
        ll -= r * wl
        g_r -= wl
        g_alpha -= r * float(d.w0 @ (1.0 / (alpha + d.t0)))
    if d.x.size:
        rux = d.rux
        c = np.log(a) - np.log(b + rux - 1.0)
        inv_b = 1.0 / (b + rux - 1.0)
        a_t = alpha + d.t_end
        a_tx = alpha + d.tx
        lt = np.log(a_t)
        diff = lt - np.log(a_tx)
        rx = r + d.x
        dd = rx * diff
        dd += c[d.xi]
        sp = np.logaddexp(0.0, dd)
        w4 = np.exp(dd - sp)  # P(the t_x branch), the sigmoid of dd
        w = d.w
        wrx = w * rx
        ww = w * w4
        ll += float(w @ sp) - float(wrx @ lt)
        inv_t = 1.0 / a_t
        g_r += float(ww @ diff) - float(w @ lt)
        g_alpha += float((ww * rx) @ (inv_t - 1.0 / a_tx)) - float(wrx @ inv_t)
        wwx = np.bincount(d.xi, weights=ww, minlength=rux.size)
        g_a += float(wwx.sum()) / a
        g_b -= float(wwx @ inv_b)
    return ll, np.array([g_r, g_alpha, g_a, g_b])


def _log_odds_dead(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> FloatArray:
    """ln[a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)] for x > 0 (-inf for x = 0)."""
    r, alpha, a, b = params
    out = np.full(x.shape, -np.inf)
    rep = x > 0
    xr = x[rep]
    out[rep] = (
        np.log(a)
        - np.log(b + xr - 1.0)
        + (r + xr) * (np.log(alpha + t_end[rep]) - np.log(alpha + tx[rep]))
    )
    return out


def p_alive(params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    (FHL 2005, and Fader, Hardie & Lee's note "Computing P(alive) Using the BG/NBD Model")."""
    return np.asarray(np.exp(-np.logaddexp(0.0, _log_odds_dead(params, x, tx, t_end))))


def _growth_a(
    t: FloatArray, x: FloatArray, t_end: FloatArray, r: float, alpha: float, a: float, b: float
) -> FloatArray:
    """(a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)], z = t/(alpha+T+t):
    FHL 2005 eq. 10 without the P(alive) factor, after Euler's transformation
    2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A,C-B;C;z) (stable for large x)."""
    c = a + b + x - 1.0
    z = t / (alpha + t_end + t)
    log1mz = np.log1p(-z)
    f = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return np.asarray(c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * log1mz) * f))


def _growth_fixed_dropout(
    t: FloatArray, x: FloatArray, t_end: FloatArray, r: float, alpha: float, p: float
) -> FloatArray:
    """The limit of :func:`growth` as a and b grow with a / (a + b) = p (every customer drops
    out with the same probability p after a purchase): for a rate lambda, purchases while alive
    come at rate lambda and deaths at rate lambda p, so E[Y(t) | alive] = (1 - e^(-lambda p t)) / p;
    averaged over lambda ~ Gamma(r + x, alpha + T) this is
    (1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p. The hypergeometric form overflows there."""
    ratio = np.log((alpha + t_end) / (alpha + t_end + p * t))
    return np.asarray(np.where(t > 0, -np.expm1((r + x) * ratio) / p, 0.0))


def growth(params: FloatArray, t: FloatArray, x: FloatArray, t_end: FloatArray) -> FloatArray:
    """E[Y(t) | x, T] / P(alive): the expected repeat purchases in (T, T+t] of a customer who is
    alive at T. t, x and T broadcast together."""
    r, alpha, a, b = (float(v) for v in params)
    t, x, t_end = np.broadcast_arrays(t, x, t_end)
    if a + b > RIDGE:
        return _growth_fixed_dropout(t, x, t_end, r, alpha, a / (a + b))
    near = abs(a - 1.0) < NUDGE or (abs(a + b - 1.0) < NUDGE and bool(np.any(x == 0)))
    if not near:
        out = _growth_a(t, x, t_end, r, alpha, a, b)
    else:
        lo, hi = a - NUDGE, a + NUDGE
        if abs(a - 1.0) < NUDGE:
            lo, hi = 1.0 - NUDGE, 1.0 + NUDGE
        else:
            lo, hi = 1.0 - b - NUDGE, 1.0 - b + NUDGE
        f_lo = _growth_a(t, x, t_end, r, alpha, lo, b)
        f_hi = _growth_a(t, x, t_end, r, alpha, hi, b)
        out = f_lo + (a - lo) / (hi - lo) * (f_hi - f_lo)
    return np.asarray(np.where(t > 0, out, 0.0))
