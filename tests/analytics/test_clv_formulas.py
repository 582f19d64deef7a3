"""Closed forms of the CLV models against direct numerical integration, simulation and the
properties the models imply."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from guanxi.analytics import clv, simulate

BG = clv.BgNbdFit(0.243, 4.414, 0.793, 2.426, 0.0, 0)
PN = clv.ParetoNbdFit(0.553, 10.578, 0.606, 11.669, 0.0, 0)
GG = clv.GammaGammaFit(6.25, 3.74, 15.44, 0.0, 0)
CUSTOMERS = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 35.0, 36.0), (5, 2.0, 30.0)]


def _bg_numeric(fit: clv.BgNbdFit, t: float, x: int, tx: float, T: float) -> tuple[float, float]:
    """P(alive) and E[Y(t)] by integrating over p ~ Beta(a, b) (lambda integrated exactly); the
    Beta weight p^(a-1) (1-p)^(b-1) is handled by QUADPACK's algebraic weight."""
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b

    def quad(f: object) -> float:
        return float(
            integrate.quad(f, 0, 1, weight="alg", wvar=(a - 1, b - 1), epsabs=0, epsrel=1e-12)[0]
        )

    def alive(p: float) -> float:
        return float((1 - p) ** x * (alpha + T) ** -(r + x))

    def total(p: float) -> float:
        extra = p * (1 - p) ** (x - 1) * (alpha + tx) ** -(r + x) if x > 0 else 0.0
        return alive(p) + extra

    def future(p: float) -> float:
        if p == 0:
            return float((r + x) * t * (alpha + T) ** -(r + x + 1))
        gain = (alpha + T) ** -(r + x) - (alpha + T + p * t) ** -(r + x)
        return float((1 - p) ** x * gain / p)

    den = quad(total)
    return quad(alive) / den, quad(future) / den


@pytest.mark.parametrize(("x", "tx", "T"), CUSTOMERS)
def test_bgnbd_closed_forms_match_numeric_integration(x: int, tx: float, T: float) -> None:
    alive, future = _bg_numeric(BG, 20.0, x, tx, T)
    assert BG.p_alive(x, tx, T) == pytest.approx(alive, rel=1e-7)
    assert BG.expected_purchases(20.0, x, tx, T) == pytest.approx(future, rel=1e-7)


def test_bgnbd_new_customer_curve_matches_integration_also_near_a_equal_1() -> None:
    for a in (0.793, 1.0, 1.00002, 2.5):
        fit = clv.BgNbdFit(0.243, 4.414, a, 2.426, 0.0, 0)

        def integrand(p: float, t: float, fit: clv.BgNbdFit = fit) -> float:
            if p == 0:
                return fit.r * t / fit.alpha
            return float(-math.expm1(-fit.r * math.log1p(p * t / fit.alpha)) / p)

        for t in (1.0, 39.0, 78.0):
            ref = integrate.quad(
                integrand, 0, 1, args=(t,), weight="alg", wvar=(fit.a - 1, fit.b - 1)
            )[0] / special.beta(fit.a, fit.b)
            assert fit.expected_purchases_new(t) == pytest.approx(ref, rel=1e-7)


def _pareto_numeric(
    fit: clv.ParetoNbdFit, t: float, x: int, tx: float, T: float
) -> tuple[float, float]:
    """P(alive) from the integral form of the likelihood (lambda and mu integrated exactly over
    the death time), and E[Y(t)] = P(alive) E[lambda] E[(1 - e^-mu t) / mu] by quadrature."""
    r, alpha, s, beta = fit.r, fit.alpha, fit.s, fit.beta
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s

    def died(u: float) -> float:
        return float(s * (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1))

    dead = integrate.quad(died, tx, T, epsabs=0, epsrel=1e-13, limit=200)[0] if tx < T else 0.0
    p_alive = alive / (alive + dead)
    mu = stats.gamma(s, scale=1 / (beta + T)).pdf

    def per_mu(m: float) -> float:
        return float(mu(m) * -math.expm1(-m * t) / m)

    tail = integrate.quad(per_mu, 0, np.inf, limit=200)[0]
    return p_alive, p_alive * (r + x) / (alpha + T) * tail


@pytest.mark.parametrize(("x", "tx", "T"), CUSTOMERS)
@pytest.mark.parametrize("params", [(0.553, 10.578, 0.606, 11.669), (0.5, 20.0, 0.6, 5.0)])
def test_pareto_closed_forms_match_numeric_integration(
    params: tuple[float, float, float, float], x: int, tx: float, T: float
) -> None:
    fit = clv.ParetoNbdFit(*params, 0.0, 0)
    alive, future = _pareto_numeric(fit, 20.0, x, tx, T)
    assert fit.p_alive(x, tx, T) == pytest.approx(alive, rel=1e-8)
    assert fit.expected_purchases(20.0, x, tx, T) == pytest.approx(future, rel=1e-7)


def test_pareto_expected_purchases_is_continuous_at_s_equal_1() -> None:
    near = [clv.ParetoNbdFit(0.5, 10.0, s, 12.0, 0.0, 0) for s in (1 - 1e-7, 1.0, 1 + 1e-7)]
    values = [f.expected_purchases(30.0, 3, 20.0, 30.0) for f in near]
    assert values[0] == pytest.approx(values[1], rel=1e-6)
    assert values[2] == pytest.approx(values[1], rel=1e-6)
    new = [f.expected_purchases_new(30.0) for f in near]
    assert new[0] == pytest.approx(new[1], rel=1e-6)


def test_basic_identities() -> None:
    x = np.array([0, 1, 5, 0, 3], dtype=float)
    tx = np.array([0, 2.0, 10.0, 0, 30.0])
    t_end = np.array([5.0, 20.0, 40.0, 40.0, 30.0])
    assert np.all(BG.p_alive(x, tx, t_end)[x == 0] == 1.0)
    for fit in (BG, PN):
        assert np.all(fit.expected_purchases(0.0, x, tx, t_end) == 0.0)
        assert fit.expected_purchases_new(0.0) == 0.0
        assert fit.expected_purchases_new(np.array([0.0, 1.0, 2.0])).shape == (3,)
        assert fit.expected_purchases(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), x, tx, t_end).shape == (
            5,
        )
    # A customer whose last purchase is at T cannot look more alive.
    assert PN.p_alive(4, 30.0, 30.0) > PN.p_alive(4, 10.0, 30.0)


def test_gamma_gamma_expected_spend() -> None:
    spend = GG.expected_spend(np.array([0, 1, 10]), np.array([0.0, 50.0, 50.0]))
    assert spend[0] == pytest.approx(GG.p * GG.v / (GG.q - 1))
    weight = GG.p * 10 / (GG.p * 10 + GG.q - 1)
    assert spend[2] == pytest.approx(weight * 50 + (1 - weight) * spend[0])
    assert spend[0] < spend[1] < spend[2]


def test_clv_matches_a_month_by_month_loop() -> None:
    x = np.array([0, 1, 5, 12], dtype=float)
    tx = np.array([0, 2.0, 30.0, 38.0])
    t_end = np.array([39.0, 39.0, 39.0, 39.0])
    money = np.array([0.0, 20.0, 35.0, 50.0])
    ppm = 30.4375 / 7
    for fit in (BG, PN):
        value = clv.clv(fit, GG, x, tx, t_end, money, months=6, margin=0.3, periods_per_month=ppm)
        spend = GG.expected_spend(x, money)
        ref = np.zeros(4)
        for k in range(1, 7):
            step = fit.expected_purchases(k * ppm, x, tx, t_end) - fit.expected_purchases(
                (k - 1) * ppm, x, tx, t_end
            )
            ref += 0.3 * spend * step / 1.01**k
        np.testing.assert_allclose(value, ref, rtol=1e-10)
    assert np.all(clv.clv(BG, GG, x, tx, t_end, money, months=0, periods_per_month=ppm) == 0)


def test_unconditional_expectation_matches_simulation() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    for sim, fit, params in (
        (simulate.simulate_bgnbd, BG, {"r": BG.r, "alpha": BG.alpha, "a": BG.a, "b": BG.b}),
        (
            simulate.simulate_pareto_nbd,
            PN,
            {"r": PN.r, "alpha": PN.alpha, "s": PN.s, "beta": PN.beta},
        ),
    ):
        x, tx, t_end = sim(n, params, 39.0, rng)
        assert np.all(tx <= t_end) and np.all(tx[x == 0] == 0) and np.all(tx[x > 0] > 0)
        mean, se = x.mean(), x.std() / math.sqrt(n)
        assert abs(mean - float(fit.expected_purchases_new(39.0))) < 4 * se


def test_conditional_expectation_adds_up_over_a_simulated_base() -> None:
    """E[X(78)] = E[X(39)] + E over calibration histories of E[Y(39) | x, t_x, 39]: on a
    simulated 39-week base the conditional predictions must fill the gap to week 78."""
    rng = np.random.default_rng(11)
    n = 100_000
    for sim, fit, params in (
        (simulate.simulate_bgnbd, BG, {"r": BG.r, "alpha": BG.alpha, "a": BG.a, "b": BG.b}),
        (
            simulate.simulate_pareto_nbd,
            PN,
            {"r": PN.r, "alpha": PN.alpha, "s": PN.s, "beta": PN.beta},
        ),
    ):
        x, tx, t_end = sim(n, params, 39.0, rng)
        total = x.mean() + fit.expected_purchases(39.0, x, tx, t_end).mean()
        assert total == pytest.approx(float(fit.expected_purchases_new(78.0)), rel=0.02)


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(1, 60),
    t_end=st.floats(1.0, 100.0),
    frac=st.floats(0.0, 1.0),
    more=st.floats(0.01, 0.5),
)
def test_p_alive_grows_with_recency_and_falls_with_age(
    x: int, t_end: float, frac: float, more: float
) -> None:
    tx = frac * t_end
    later = min(t_end, tx + more * t_end)
    for fit in (BG, PN):
        now = float(fit.p_alive(x, tx, t_end))
        assert 0.0 <= now <= 1.0
        assert float(fit.p_alive(x, later, t_end)) >= now - 1e-12
        assert float(fit.p_alive(x, tx, t_end * (1 + more))) <= now + 1e-12


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, 40), t_end=st.floats(1.0, 80.0), frac=st.floats(0.0, 1.0))
def test_expected_purchases_grow_with_the_horizon(x: int, t_end: float, frac: float) -> None:
    tx = frac * t_end if x else 0.0
    for fit in (BG, PN):
        path = fit.expected_purchases(np.array([0.5, 1.0, 5.0, 20.0, 100.0]), x, tx, t_end)
        assert np.all(np.diff(path) > 0) and np.all(np.isfinite(path))
    curve = BG.expected_purchases_new(np.linspace(0, 200, 21))
    assert np.all(np.diff(curve) > 0)


def test_large_frequencies_stay_finite() -> None:
    x = np.array([1e5, 1e5, 1e5, 3.0])
    tx = np.array([50.0, 49.99, 10.0, 50.0])
    t_end = np.full(4, 50.0)
    for fit in (BG, PN):
        alive = fit.p_alive(x, tx, t_end)
        future = fit.expected_purchases(10.0, x, tx, t_end)
        assert np.all(np.isfinite(alive)) and np.all(np.isfinite(future))
        assert alive[0] > 0.99 and alive[2] < 1e-6
        # an alive customer with 10^5 purchases in 50 periods buys ~2000 per period, less the
        # chance of dropping out within the 10 periods
        rate = 10 * (fit.r + 1e5) / (fit.alpha + 50)
        assert 0.85 * rate < future[0] < rate
    assert special.gammaln(1e5) > 0  # sanity of the environment
