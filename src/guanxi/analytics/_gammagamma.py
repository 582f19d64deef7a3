"""Gamma-Gamma spend model: likelihood and gradient (Fader, Hardie & Lee 2005, "RFM and CLV:
Using Iso-Value Curves for Customer Base Analysis", JMR 42(4); Hardie's note "The Gamma-Gamma
Model of Monetary Value", 2013).

Private: use ``guanxi.analytics.clv``. Spend is in the caller's currency unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from guanxi.analytics._clv_common import FloatArray, collapse, subsample_weights


@dataclass(frozen=True)
class SpendData:
    """Distinct (x, mean spend) rows of repeat customers with their weights."""

    x: FloatArray
    mbar: FloatArray
    w: FloatArray
    ln_mbar: FloatArray
    ln_x: FloatArray


def prepare(x: FloatArray, mbar: FloatArray, w: FloatArray) -> SpendData:
    (ux, um), uw = collapse([x, mbar], w)
    return from_rows(ux, um, uw)


def from_rows(x: FloatArray, mbar: FloatArray, w: FloatArray) -> SpendData:
    return SpendData(x, mbar, w, np.log(mbar), np.log(x))


def subsample(data: SpendData, rng: np.random.Generator, rows: int) -> SpendData:
    counts = subsample_weights(data.w, rng, rows)
    keep = counts > 0
    return from_rows(data.x[keep], data.mbar[keep], counts[keep])


def loglik(params: FloatArray, d: SpendData) -> tuple[float, FloatArray]:
    """Total log-likelihood of the mean spends and its gradient in (p, q, v).

    f(mbar | x) = G(px+q) / (G(px) G(q)) v^q mbar^(px-1) x^(px) / (v + x mbar)^(px+q),
    the density of the mean of x Gamma(p, nu) spends with nu ~ Gamma(q, v) (Hardie's note;
    the same as lifetimes' GammaGammaFitter).
    """
    p, q, v = (float(t) for t in params)
    x, w = d.x, d.w
    px = p * x
    ln_den = np.log(v + x * d.mbar)
    lv = np.log(v)
    per = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * lv
        + (px - 1.0) * d.ln_mbar
        + px * d.ln_x
        - (px + q) * ln_den
    )
    dg = special.digamma(px + q)
    g_p = float(w @ (x * (dg - special.digamma(px) + d.ln_mbar + d.ln_x - ln_den)))
    g_q = float(w @ (dg - ln_den)) + float(w.sum()) * (lv - float(special.digamma(q)))
    g_v = float(w.sum()) * q / v - float(w @ ((px + q) / (v + x * d.mbar)))
    return float(w @ per), np.array([g_p, g_q, g_v])
