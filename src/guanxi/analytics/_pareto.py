"""Pareto/NBD likelihood, gradient and closed forms (Schmittlein, Morrison & Colombo 1987;
Fader & Hardie 2005, "A Note on Deriving the Pareto/NBD Model and Related Expressions";
Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis").

Private: use ``guanxi.analytics.clv``. Times are in the caller's unit (the unit of T).

The likelihood is computed in a form with two positive terms (no cancellation). For one
customer with rates lambda, mu: L = lambda^x mu/(lambda+mu) e^-(lambda+mu) t_x
+ lambda^(x+1)/(lambda+mu) e^-(lambda+mu) T. Integrating over lambda ~ Gamma(r, alpha) and
mu ~ Gamma(s, beta):

    L = G(r+x)/G(r) alpha^r beta^s [ s Phi(t_x; r+x, s+1) + (r+x) Phi(T; r+x+1, s) ],
    Phi(y; a1, a2) = int_y^inf (alpha+u)^-a1 (beta+u)^-a2 du,   a1 + a2 = m + 1, m = r+s+x.

Phi is Hardie's A0 term in another guise: with alpha >= beta and z = (alpha-beta)/(alpha+y),
Phi = (alpha+y)^-a1 (beta+y)^(1-a2) H(a1, m, z) / m, and with alpha < beta and
z = (beta-alpha)/(beta+y), Phi = (alpha+y)^(1-a1) (beta+y)^-a2 H(a2, m, z) / m, where
H(b, m, z) = 2F1(1, b; m+1; z) (Hardie's 2F1(r+s+x, s+1; r+s+x+1; z) after Euler's
transformation). H is evaluated by the continued fraction of the incomplete beta function
(DLMF 8.17.22) backwards from a depth set by z, with forward-mode derivatives with respect to
r, s and z carried through the recurrence, which gives the analytic gradient. The depth grows
like 1/sqrt(1-z), so it stays small even where the power series of 2F1 converges slowly.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import special

from guanxi.analytics._clv_common import (
    FloatArray,
    IntArray,
    collapse_count_rows,
    frequency_totals,
    group_index,
    subsample_weights,
)

LOG_TOL = float(np.log(1e-12))
MARGIN = 1
MAX_DEPTH = 6000
Z_MAX = float(np.nextafter(1.0, 0.0))


@dataclass(frozen=True)
class LnPhi:
    """ln Phi per row and its partial derivatives in (r, alpha, s, beta) (None: not asked)."""

    value: FloatArray
    grad: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None


def _levels(
    top: int, b: FloatArray, q: FloatArray, m: FloatArray, case1: bool, want_grad: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Levels 1..top of the continued fraction for every distinct x, as (top + 1, K) tables (row
    n = level n): d_n / z, and d ln d_n / dr, d ln d_n / ds.

    d_2j = j (q - j) z / ((m+2j-1)(m+2j)), d_2j+1 = -(m+j)(b+j) z / ((m+2j)(m+2j+1)), with
    q = b - m (computed exactly by the caller). case1: b = r+x+delta; else b = s+1-delta.
    """
    n = np.arange(top + 1, dtype=np.float64)[:, None]
    j = np.floor(n / 2)
    even = (np.arange(top + 1) % 2 == 0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = m + n - 1.0  # m+2j-1 (even) or m+2j (odd)
        hi = m + n  # m+2j (even) or m+2j+1 (odd)
        num1 = np.where(even, j, m + j)  # j or m+j
        num2 = np.where(even, q - j, b + j)  # q-j or b+j
        e = np.where(even, 1.0, -1.0) * num1 * num2 / (lo * hi)
        if not want_grad:
            return e, e, e
        l2 = 1.0 / num2
        lm = np.where(even, -l2, 1.0 / num1) - 1.0 / lo - 1.0 / hi
        both = l2 + lm  # row 0 (never used) may hold inf or nan
    if case1:
        return e, both, lm
    return e, lm, both


def _ln_h(
    z: FloatArray,
    xi: IntArray,
    b: FloatArray,
    q: FloatArray,
    m: FloatArray,
    case1: bool,
    want_grad: bool,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """ln H(b, m, z) and its derivatives in r, s and z, for z non-increasing along the rows.

    Backward recurrence f_{n-1} = 1 + d_n / f_n from the limit tail f = (1 + sqrt(1-z)) / 2;
    H = 1 / f_0. The error shrinks by about rho = z / (1 + sqrt(1-z))^2 per level, so row i
    needs depth_i = ln(tol) / ln(rho_i) levels; with z sorted, the rows active at level n are a
    prefix of the arrays (no masks). The derivative channels are the log-derivatives of f_n:
    d ln f_{n-1} = g / f_{n-1} (d ln d_n - d ln f_n) with g = d_n / f_n, and for z,
    d ln d_n / dz = 1 / z.
    """
    n = z.size
    z = np.maximum(z, 1e-300)
    sq = np.sqrt(1.0 - z)
    rho = z / (1.0 + sq) ** 2
    depth = np.minimum(np.ceil(LOG_TOL / np.log(rho)), MAX_DEPTH).astype(np.intp) + MARGIN
    top = int(depth.max()) if n else 0
    active_at = np.cumsum(np.bincount(depth, minlength=top + 1)[::-1])[::-1]
    e_t, kr_t, ks_t = _levels(top, b, q, m, case1, want_grad)
    f = np.empty(n)
    dr = np.zeros(n)
    ds = np.zeros(n)
    dz = np.empty(n)
    inv_z = 1.0 / z if want_grad else z
    active = 0
    one_x = b.size == 1
    for level in range(top, 0, -1):
        k = int(active_at[level])
        if k > active:
            new = slice(active, k)
            f[new] = 0.5 * (1.0 + sq[new])
            if want_grad:
                dz[new] = -0.25 / (sq[new] * f[new])
            active = k
        fk = f[:k]
        zk = z[:k]
        if one_x:
            g = zk * (e_t[level, 0] / fk)
        else:
            g = np.take(e_t[level], xi[:k])
            g /= fk
            g *= zk
        np.add(g, 1.0, out=fk)
        if want_grad:
            g /= fk  # g / f_{n-1}
            for channel, table in ((dr, kr_t), (ds, ks_t)):
                ck = channel[:k]
                if one_x:
                    np.subtract(table[level, 0], ck, out=ck)
                else:
                    np.subtract(np.take(table[level], xi[:k]), ck, out=ck)
                ck *= g
            dzk = dz[:k]
            np.subtract(inv_z[:k], dzk, out=dzk)
            dzk *= g
    # ln H = -ln f_0; derivatives flip sign.
    return -np.log(f), -dr, -ds, -dz


def ln_phi(
    y: FloatArray,
    xi: IntArray,
    ux: FloatArray,
    delta: int,
    params: FloatArray,
    want_grad: bool = True,
) -> LnPhi:
    """ln Phi(y; r+x+delta, s+1-delta) per row, y ascending, x = ux[xi]."""
    r, alpha, s, beta = (float(v) for v in params)
    m_u = r + s + ux
    p = alpha + y
    qq = beta + y
    case1 = alpha >= beta
    if case1:
        z = (alpha - beta) / p
        b_u = r + ux + delta
        q_u = np.full(ux.shape, delta - s)
    else:
        z = (beta - alpha) / qq
        b_u = np.full(ux.shape, s + 1.0 - delta)
        q_u = 1.0 - delta - r - ux
    z = np.minimum(z, Z_MAX)
    ln_h, h_r, h_s, h_z = _ln_h(z, xi, b_u, q_u, m_u, case1, want_grad)
    lp = np.log(p)
    lq = np.log(qq)
    x = ux[xi]
    ln_m = np.log(m_u)[xi]
    if case1:
        ca = r + x + delta  # exponent of (alpha+y), negated
        cb = delta - s  # exponent of (beta+y)
        value = cb * lq - ca * lp + ln_h - ln_m
    else:
        ca = r + x + delta - 1.0
        cb = s + 1.0 - delta
        value = -ca * lp - cb * lq + ln_h - ln_m
    if not want_grad:
        return LnPhi(value, None)
    inv_m = (1.0 / m_u)[xi]
    g_r = h_r - lp - inv_m
    g_s = h_s - lq - inv_m
    if case1:
        g_alpha = h_z * qq / (p * p) - ca / p
        g_beta = cb / qq - h_z / p
    else:
        g_alpha = -ca / p - h_z / qq
        g_beta = h_z * p / (qq * qq) - cb / qq
    return LnPhi(value, (g_r, g_alpha, g_s, g_beta))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_POOL: list[ThreadPoolExecutor] = []
PARALLEL_ABOVE = 16_000


def ln_phi_rows(
    y: FloatArray, xi: IntArray, ux: FloatArray, delta: int, params: FloatArray, want_grad: bool
) -> LnPhi:
    """``ln_phi`` on many rows, split into contiguous chunks (each still sorted) evaluated in
    threads: numpy releases the GIL inside its loops, so the chunks run on separate cores."""
    cores = min(_cores(), 4)
    if cores < 2 or y.size < PARALLEL_ABOVE:
        return ln_phi(y, xi, ux, delta, params, want_grad)
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=cores, thread_name_prefix="guanxi-clv"))
    edges = np.linspace(0, y.size, cores + 1).astype(int)
    parts = list(
        _POOL[0].map(
            lambda ab: ln_phi(y[ab[0] : ab[1]], xi[ab[0] : ab[1]], ux, delta, params, want_grad),
            zip(edges[:-1], edges[1:], strict=True),
        )
    )
    value = np.concatenate([p.value for p in parts])
    if not want_grad:
        return LnPhi(value, None)
    grads = [p.grad for p in parts if p.grad is not None]
    stacked = tuple(np.concatenate([g[i] for g in grads]) for i in range(4))
    return LnPhi(value, (stacked[0], stacked[1], stacked[2], stacked[3]))


@dataclass(frozen=True)
class ParetoData:
    """Distinct customers, arranged for the likelihood: x-terms by distinct x, zero-repeat
    customers by T (ascending), repeat customers by t_x (ascending), and the distinct (x, T)
    pairs of repeat customers by T (ascending)."""

    ux: FloatArray
    wx: FloatArray
    t0: FloatArray
    w0: FloatArray
    rux: FloatArray
    x: FloatArray
    tx: FloatArray
    t_end: FloatArray
    w: FloatArray
    xi: IntArray
    pair_t: FloatArray
    pair_xi: IntArray
    pair_of_row: IntArray
    total: float


def prepare(x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray) -> ParetoData:
    """Collapse checked inputs into distinct weighted rows."""
    return from_rows(*collapse_count_rows(x, tx, t_end, w))


def from_rows(
    t0: FloatArray, w0: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray
) -> ParetoData:
    """From distinct rows: zero-repeat by ascending T, repeat rows by ascending t_x."""
    rux, xi, ux, wx, w0_total = frequency_totals(x, w, w0)
    if x.size:
        order = np.lexsort((xi, t_end))
        st, sxi = t_end[order], xi[order]
        change = np.empty(st.size, dtype=bool)
        change[0] = True
        change[1:] = (st[1:] != st[:-1]) | (sxi[1:] != sxi[:-1])
        starts = np.flatnonzero(change)
        pair_id = np.cumsum(change) - 1
        pair_of_row = np.empty(x.size, dtype=np.intp)
        pair_of_row[order] = pair_id
        pair_t, pair_xi = st[starts], sxi[starts]
    else:
        pair_t, pair_xi = np.zeros(0), np.zeros(0, dtype=np.intp)
        pair_of_row = np.zeros(0, dtype=np.intp)
    return ParetoData(
        ux, wx, t0, w0, rux, x, tx, t_end, w, xi, pair_t, pair_xi, pair_of_row,
        float(w0_total + w.sum()),
    )  # fmt: skip


def subsample(data: ParetoData, rng: np.random.Generator, rows: int) -> ParetoData:
    """About ``rows`` repeat-customer rows drawn with probability proportional to weight (and
    the zero-repeat rows, one per distinct T, kept whole when there are few of them), weights
    rescaled so each group keeps its total."""
    w0 = subsample_weights(data.w0, rng, rows) if data.w0.size > rows // 2 else data.w0
    cr = subsample_weights(data.w, rng, rows)
    k0 = w0 > 0
    kr = cr > 0
    return from_rows(data.t0[k0], w0[k0], data.x[kr], data.tx[kr], data.t_end[kr], cr[kr])


def _mix(l1: FloatArray, l2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """logaddexp(l1, l2) and the share exp(l1 - lse) of the first term."""
    lse = np.logaddexp(l1, l2)
    return lse, np.exp(l1 - lse)


def loglik(params: FloatArray, d: ParetoData) -> tuple[float, FloatArray]:
    """Total log-likelihood and its gradient in (r, alpha, s, beta)."""
    r, alpha, s, beta = (float(v) for v in params)
    ux, wx = d.ux, d.wx
    la, lb = math.log(alpha), math.log(beta)
    ll = float(wx @ (special.gammaln(r + ux) - special.gammaln(r))) + d.total * (r * la + s * lb)
    grad = np.array(
        [
            float(wx @ (special.digamma(r + ux) - special.digamma(r))) + d.total * la,
            d.total * r / alpha,
            d.total * lb,
            d.total * s / beta,
        ]
    )
    ls = np.log(s)
    if d.t0.size:
        zero_x = np.zeros(1)
        one = ln_phi(np.zeros(1), np.zeros(1, dtype=np.intp), zero_x, 0, params)
        two = ln_phi(d.t0, np.zeros(d.t0.size, dtype=np.intp), zero_x, 1, params)
        z1 = one.value + ls
        z2 = two.value + np.log(r)
        zlse, zshare = _mix(z1, z2)
        ll += float(d.w0 @ zlse)
        u1 = float(d.w0 @ zshare)
        u2 = d.w0 * (1.0 - zshare)
        assert one.grad is not None and two.grad is not None
        g1 = np.array([float(g[0]) for g in one.grad])
        g1[2] += 1.0 / s
        g2 = np.array([float(u2 @ g) for g in two.grad])
        g2[0] += float(u2.sum()) / r
        grad += u1 * g1 + g2
    if d.x.size:
        one = ln_phi_rows(d.tx, d.xi, d.rux, 0, params, True)
        two = ln_phi(d.pair_t, d.pair_xi, d.rux, 1, params)
        lr_x = np.log(r + d.rux)
        l1 = one.value + ls
        l2 = (two.value + lr_x[d.pair_xi])[d.pair_of_row]
        lse, share = _mix(l1, l2)
        ll += float(d.w @ lse)
        w1 = d.w * share
        w2 = np.bincount(d.pair_of_row, weights=d.w - w1, minlength=d.pair_t.size)
        assert one.grad is not None and two.grad is not None
        g = np.array(
            [float(w1 @ a) + float(w2 @ b) for a, b in zip(one.grad, two.grad, strict=True)]
        )
        g[2] += float(w1.sum()) / s
        g[0] += float(w2 @ (1.0 / (r + d.rux))[d.pair_xi])
        grad += g
    return ll, grad


def ln_parts(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per customer (1-D, any order): ln of s Phi(t_x; r+x, s+1) (dropped out after t_x), of
    (r+x) Phi(T; r+x+1, s) (alive at T, with the "died in (t_x, T)" share moved into the first
    term), and of (alpha+T)^-(r+x) (beta+T)^-s (alive at T), all without the common factor
    G(r+x)/G(r) alpha^r beta^s."""
    r, alpha, s, beta = (float(v) for v in params)
    ux, xi = group_index(x)
    ls = float(np.log(s))
    l1 = np.empty(x.size)
    zero = x == 0
    if zero.any():
        none = np.zeros(1)
        l1[zero] = ln_phi(none, np.zeros(1, dtype=np.intp), none, 0, params, False).value[0] + ls
    rep = np.flatnonzero(~zero)
    if rep.size:
        o1 = rep[np.argsort(tx[rep])]
        l1[o1] = ln_phi_rows(tx[o1], xi[o1], ux, 0, params, False).value + ls
    o2 = np.argsort(t_end)
    l2 = np.empty(x.size)
    l2[o2] = ln_phi_rows(t_end[o2], xi[o2], ux, 1, params, False).value
    l2 += np.log(r + x)
    alive = -(r + x) * np.log(alpha + t_end) - s * np.log(beta + t_end)
    return l1, l2, alive


def p_alive(params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray) -> FloatArray:
    """P(alive at T | x, t_x, T) = (alpha+T)^-(r+x) (beta+T)^-s / [L / (G-factor)]
    (Fader & Hardie 2005 note, in the form above)."""
    flat = [np.ravel(v) for v in (x, tx, t_end)]
    l1, l2, alive = ln_parts(params, *flat)
    out = np.exp(np.minimum(alive - np.logaddexp(l1, l2), 0.0))
    return np.asarray(out.reshape(np.shape(x)))


def growth(params: FloatArray, t: FloatArray, x: FloatArray, t_end: FloatArray) -> FloatArray:
    """E[Y(t) | x, T] / P(alive)
    = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
    (Schmittlein, Morrison & Colombo 1987; FHL 2005), computed as
    (r+x)/(alpha+T) (beta+T) L exprel(-(s-1) L) with L = ln(1 + t/(beta+T)), finite at s = 1.
    """
    r, alpha, s, beta = (float(v) for v in params)
    t, x, t_end = np.broadcast_arrays(t, x, t_end)
    bt = beta + t_end
    lg = np.log1p(t / bt)
    return np.asarray((r + x) / (alpha + t_end) * bt * lg * special.exprel(-(s - 1.0) * lg))
