"""The CLV models against their published CDNOW fits (Fader, Hardie & Lee 2005; Hardie's notes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy import special

from guanxi.analytics import clv

Arrays = tuple[npt.NDArray[np.float64], ...]


def _load(path: Path) -> npt.NDArray[np.float64]:
    return np.loadtxt(path, delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def rft(cdnow_dir: Path) -> Arrays:
    data = _load(cdnow_dir / "cdnow_customers_summary.csv")
    return data[:, 1], data[:, 2], data[:, 3]


@pytest.fixture(scope="module")
def spend(cdnow_dir: Path) -> Arrays:
    data = _load(cdnow_dir / "cdnow_customers_summary_with_transactions.csv")
    return data[:, 1], data[:, 2], data[:, 3], data[:, 4]


def _sig3(value: float, published: float) -> None:
    assert float(f"{value:.3g}") == pytest.approx(float(f"{published:.3g}")), (value, published)


def test_bgnbd_reproduces_fader_hardie_lee_2005(rft: Arrays) -> None:
    fit = clv.fit_bgnbd(*rft)
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        _sig3(fit.params[name], published)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.n_customers == 2357


def test_pareto_nbd_reproduces_the_published_fit(rft: Arrays) -> None:
    fit = clv.fit_pareto_nbd(*rft)
    for name, published in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        _sig3(fit.params[name], published)
    # Published LL -9595.0; the converged optimum is -9594.97.
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.05)


def test_pareto_likelihood_equals_hardies_hyp2f1_form(rft: Arrays) -> None:
    """Our cancellation-free form against eq. (11)-(15) of Fader & Hardie's 2005 note."""
    x, tx, t_end = rft
    for r, alpha, s, beta in [(0.553, 10.578, 0.606, 11.669), (0.5, 20.0, 0.6, 5.0)]:
        big, diff = max(alpha, beta), abs(alpha - beta)
        second = s + 1 if alpha >= beta else r + x
        m = r + s + x
        a0 = (
            special.hyp2f1(m, second, m + 1, diff / (big + tx)) / (big + tx) ** m
            - special.hyp2f1(m, second, m + 1, diff / (big + t_end)) / (big + t_end) ** m
        )
        ref = np.sum(
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            + np.log((alpha + t_end) ** -(r + x) * (beta + t_end) ** -s + s / m * a0)
        )
        fit = clv.ParetoNbdFit(r, alpha, s, beta, 0.0, 0)
        from guanxi.analytics import _pareto

        ours, _ = _pareto.loglik(fit._vector(), _pareto.prepare(x, tx, t_end, np.ones_like(x)))
        assert ours == pytest.approx(ref, rel=1e-12)


def test_gamma_gamma_reproduces_hardies_note(spend: Arrays) -> None:
    x, _, _, zbar = spend
    fit = clv.fit_gamma_gamma(x, zbar)
    for name, published in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        _sig3(fit.params[name], published)
    # Hardie's note quotes LL -4059.5 for p, q, v above; the same likelihood as lifetimes on
    # this file (zbar to the cent) converges to -4055.92.
    assert fit.log_likelihood == pytest.approx(-4055.9, abs=0.05)
    assert fit.n_customers == 946


def test_cdnow_predictions_are_sensible(rft: Arrays, spend: Arrays) -> None:
    x, tx, t_end = rft
    bg = clv.fit_bgnbd(x, tx, t_end)
    pn = clv.fit_pareto_nbd(x, tx, t_end)
    # FHL 2005 figure 1: the cohort buys ~1.2 repeat purchases per customer by week 39 and
    # about 1.85 by week 78 in the tracking curve of a customer acquired at week 0.
    assert bg.expected_purchases_new(39.0) == pytest.approx(1.195, abs=0.01)
    assert bg.expected_purchases_new(78.0) == pytest.approx(1.858, abs=0.01)
    # The holdout (39 weeks): 1788 repeat purchases were made; both models land near it.
    for fit in (bg, pn):
        total = float(np.sum(fit.expected_purchases(39.0, x, tx, t_end)))
        assert 1500 < total < 2000
        alive = fit.p_alive(x, tx, t_end)
        assert np.all((alive >= 0) & (alive <= 1))
    # FHL 2005: customer with x=2, t_x=30.43, T=38.86 expects about 1.226 purchases in 39 weeks.
    assert bg.expected_purchases(39.0, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.01)
    gx, _, _, zbar = spend
    gg = clv.fit_gamma_gamma(gx, zbar)
    value = clv.clv(bg, gg, x, tx, t_end, zbar, periods_per_month=30.4375 / 7)
    assert value.shape == x.shape
    assert np.all(np.isfinite(value)) and np.all(value >= 0)
