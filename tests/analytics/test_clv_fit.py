"""Fitting the CLV models: analytic gradients, recovery on simulated data, collapsing, weights,
extreme inputs and non-convergence."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from guanxi.analytics import _bgnbd, _gammagamma, _pareto, clv, simulate
from guanxi.analytics._clv_common import ConvergenceError
from guanxi.errors import InvalidInput

Arr = npt.NDArray[np.float64]
LogLik = Callable[[Arr], tuple[float, Arr]]

BG_TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PN_TRUE = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


def _gradient_check(loglik: LogLik, params: Arr, rel: float = 1e-5) -> None:
    """Analytic gradient against fourth-order central differences in log-parameters."""
    _, grad = loglik(params)
    h = 1e-3

    def at(i: int, k: int) -> float:
        moved = params.copy()
        moved[i] *= np.exp(k * h)
        return loglik(moved)[0]

    for i in range(params.size):
        numeric = (8 * (at(i, 1) - at(i, -1)) - (at(i, 2) - at(i, -2))) / (12 * h)
        analytic = grad[i] * params[i]
        scale = max(1.0, abs(analytic))
        assert abs(numeric - analytic) / scale < rel, (i, numeric, analytic)


def _extreme_counts() -> tuple[Arr, Arr, Arr]:
    """Zero repeaters, x = 10^5, recency == T, recency 0 with x > 0, a tiny T."""
    x = np.array([0, 0, 1, 1, 3, 7, 1e5, 1e5, 2, 40, 0], dtype=float)
    tx = np.array([0, 0, 1.5, 30.0, 10.0, 35.0, 50.0, 20.0, 0.0, 39.0, 0.0])
    t_end = np.array([39, 10, 39, 30, 39, 36, 50, 50, 5, 39, 0.01], dtype=float)
    return x, tx, t_end


@pytest.mark.parametrize(
    "params", [(0.243, 4.414, 0.793, 2.426), (2.0, 0.5, 1.0, 0.3), (0.05, 80.0, 12.0, 40.0)]
)
def test_bgnbd_gradient(params: tuple[float, ...]) -> None:
    data = _bgnbd.prepare(*_extreme_counts(), np.ones(11))
    _gradient_check(lambda p: _bgnbd.loglik(p, data), np.array(params))


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578, 0.606, 11.669),  # alpha < beta
        (0.5, 20.0, 0.6, 5.0),  # alpha > beta
        (1.0, 7.0, 2.0, 7.0),  # alpha == beta
        (0.2, 0.01, 3.0, 500.0),  # z close to 1
        (4.0, 300.0, 0.05, 0.2),  # z close to 1, other branch
    ],
)
def test_pareto_gradient(params: tuple[float, ...]) -> None:
    data = _pareto.prepare(*_extreme_counts(), np.ones(11))
    _gradient_check(lambda p: _pareto.loglik(p, data), np.array(params))


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (0.3, 0.8, 2.0), (50.0, 30.0, 900.0)])
def test_gamma_gamma_gradient(params: tuple[float, ...]) -> None:
    x = np.array([1, 2, 1e5, 7, 1], dtype=float)
    m = np.array([10.0, 0.01, 35.0, 1e4, 12.5])
    data = _gammagamma.prepare(x, m, np.ones(5))
    _gradient_check(lambda p: _gammagamma.loglik(p, data), np.array(params))


def test_pareto_likelihood_is_continuous_across_alpha_equal_beta() -> None:
    data = _pareto.prepare(*_extreme_counts(), np.ones(11))
    at = _pareto.loglik(np.array([0.7, 9.0, 0.9, 9.0]), data)[0]
    for eps in (1e-9, -1e-9):
        near = _pareto.loglik(np.array([0.7, 9.0 + eps, 0.9, 9.0]), data)[0]
        assert near == pytest.approx(at, rel=1e-10)


def test_fits_recover_simulated_parameters() -> None:
    rng = np.random.default_rng(2024)
    n = 200_000
    t_end = 39.0 - rng.integers(0, 84, n) / 7.0
    bg = clv.fit_bgnbd(*simulate.simulate_bgnbd(n, BG_TRUE, t_end, rng))
    pn = clv.fit_pareto_nbd(*simulate.simulate_pareto_nbd(n, PN_TRUE, t_end, rng))
    for fit, true in ((bg, BG_TRUE), (pn, PN_TRUE)):
        for name, value in true.items():
            assert fit.params[name] == pytest.approx(value, rel=0.12), (name, fit.params)
    rate = rng.gamma(3.74, 1 / 15.44, 20_000)
    x = rng.integers(1, 10, 20_000).astype(float)
    mean = rng.gamma(6.25 * x, 1 / (rate * x))
    gg = clv.fit_gamma_gamma(x, mean)
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gg.params[name] == pytest.approx(value, rel=0.12), gg.params


def test_weights_equal_repeated_rows(cdnow_dir: Path) -> None:
    data = np.loadtxt(cdnow_dir / "cdnow_customers_summary.csv", delimiter=",", skiprows=1)
    x, tx, t_end = data[:500, 1], data[:500, 2], data[:500, 3]
    counts = np.arange(500) % 3 + 1
    repeated = [np.repeat(a, counts) for a in (x, tx, t_end)]
    for fitter in (clv.fit_bgnbd, clv.fit_pareto_nbd):
        weighted = fitter(x, tx, t_end, weights=counts)
        plain = fitter(*repeated)
        assert weighted.n_customers == plain.n_customers == counts.sum()
        assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6)
        for name, value in plain.params.items():
            assert weighted.params[name] == pytest.approx(value, rel=1e-5)


def test_ten_million_customers_collapse(cdnow_dir: Path) -> None:
    """10^7 day-level customers are ~2,000 distinct rows: the fit is the CDNOW one, scaled."""
    data = np.loadtxt(cdnow_dir / "cdnow_customers_summary.csv", delimiter=",", skiprows=1)
    reps = 10_000_000 // len(data) + 1
    x, tx, t_end = (np.tile(data[:, i], reps)[:10_000_000] for i in (1, 2, 3))
    start = time.perf_counter()
    fit = clv.fit_bgnbd(x, tx, t_end)
    seconds = time.perf_counter() - start
    assert fit.n_customers == 10_000_000
    assert fit.params["r"] == pytest.approx(0.2426, rel=2e-3)
    assert fit.params["b"] == pytest.approx(2.426, rel=2e-3)
    assert seconds < 15


def test_extreme_rows_fit_without_nan(cdnow_dir: Path) -> None:
    data = np.loadtxt(cdnow_dir / "cdnow_customers_summary.csv", delimiter=",", skiprows=1)
    ex, etx, et = _extreme_counts()
    keep = et > 1  # the tiny-T customer is fine too, but keep the CDNOW scale
    x = np.concatenate([data[:, 1], ex[keep]])
    tx = np.concatenate([data[:, 2], etx[keep]])
    t_end = np.concatenate([data[:, 3], et[keep]])
    for fitter in (clv.fit_bgnbd, clv.fit_pareto_nbd):
        fit = fitter(x, tx, t_end)
        assert np.isfinite(fit.log_likelihood)
        assert all(np.isfinite(v) and v > 0 for v in fit.params.values())
        assert np.all(np.isfinite(fit.expected_purchases(10.0, x, tx, t_end)))


def test_only_zero_repeaters_cannot_be_fitted() -> None:
    for fitter in (clv.fit_bgnbd, clv.fit_pareto_nbd):
        with pytest.raises(InvalidInput, match="no customer has a repeat purchase"):
            fitter(np.zeros(5), np.zeros(5), np.full(5, 10.0))


def test_non_convergence_is_a_clear_error() -> None:
    """Three customers who all bought once more at T say nothing about heterogeneity or drop-out;
    three with one repeat purchase between them do not pin the Pareto/NBD down either."""
    for fitter in (clv.fit_bgnbd, clv.fit_pareto_nbd):
        with pytest.raises(ConvergenceError, match=r"did not converge: .*-> infinity"):
            fitter([1, 1, 1], [5.0, 5.0, 5.0], [5.0, 5.0, 5.0])
    assert issubclass(ConvergenceError, InvalidInput)
    assert clv.ConvergenceError is ConvergenceError


def test_homogeneous_dropout_is_a_ridge_not_a_failure() -> None:
    """When the drop-out probability hardly varies between customers, a and b grow together
    along a flat ridge; the fit is accepted and its a / (a + b) is the common drop-out rate."""
    rng = np.random.default_rng(4)  # 200 customers of a small shop, drop-out 0.1 for everyone
    x, tx, t_end = simulate.simulate_bgnbd(
        200, {"r": 0.6, "alpha": 4.0, "a": 2e4, "b": 1.8e5}, rng.uniform(20, 52, 200), rng
    )
    fit = clv.fit_bgnbd(x, tx, t_end)
    assert fit.a > 1e4 and fit.b > 1e5  # far along the ridge, short of the bound
    assert fit.a / (fit.a + fit.b) == pytest.approx(0.1, abs=0.03)
    assert np.isfinite(fit.p_alive(x, tx, t_end)).all()
    assert np.isfinite(fit.expected_purchases(13.0, x, tx, t_end)).all()


def test_expected_purchases_on_the_ridge_take_the_fixed_dropout_limit() -> None:
    """With a and b huge the hypergeometric form overflows; E[Y(t)] is then
    P(alive) (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p with p = a / (a + b)."""
    r, alpha, a, b = 0.65, 4.1, 3.0e4, 3.4e5
    fit = clv.BgNbdFit.from_params({"r": r, "alpha": alpha, "a": a, "b": b})
    x, tx, t_end = np.array([0.0, 1, 5, 20]), np.array([0.0, 10, 20, 29]), np.full(4, 30.0)
    p = a / (a + b)
    limit = (1 - ((alpha + t_end) / (alpha + t_end + p * 13)) ** (r + x)) / p
    expected = fit.expected_purchases(13.0, x, tx, t_end)
    np.testing.assert_allclose(expected, fit.p_alive(x, tx, t_end) * limit, rtol=1e-12)
    # Just below the switch the exact form agrees with the limit to 0.1 %.
    near = clv.BgNbdFit.from_params({"r": r, "alpha": alpha, "a": 999.0, "b": 8990.0})
    p = 999.0 / 9989.0
    limit = (1 - ((alpha + t_end) / (alpha + t_end + p * 13)) ** (r + x)) / p
    np.testing.assert_allclose(
        near.expected_purchases(13.0, x, tx, t_end), near.p_alive(x, tx, t_end) * limit, rtol=1e-3
    )


def test_fits_are_frozen_and_round_trip() -> None:
    fit = clv.BgNbdFit.from_params(BG_TRUE, -1.0, 10)
    with pytest.raises(AttributeError):
        fit.r = 1.0  # type: ignore[misc]
    fit.params["r"] = 5.0  # a copy: the fit is unchanged
    assert fit.r == 0.243
    assert clv.ParetoNbdFit.from_params(PN_TRUE).params == PN_TRUE
    assert clv.GammaGammaFit.from_params({"p": 1.0, "q": 2.0, "v": 3.0}).v == 3.0
