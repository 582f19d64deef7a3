"""Bad input to the CLV models raises InvalidInput with a message that says what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from guanxi.analytics import clv, simulate
from guanxi.errors import InvalidInput

GOOD = ([0, 1, 3], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0])
BG = clv.BgNbdFit(0.243, 4.414, 0.793, 2.426, 0.0, 0)
PN = clv.ParetoNbdFit(0.553, 10.578, 0.606, 11.669, 0.0, 0)
GG = clv.GammaGammaFit(6.25, 3.74, 15.44, 0.0, 0)

BAD_COUNTS: list[tuple[Any, Any, Any, str]] = [
    ([0, -1, 3], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0], "frequency has 1 negative"),
    ([0, 1, 3], [0.0, -2.0, 5.0], [10.0, 10.0, 6.0], "recency has 1 negative"),
    ([0, 1, 3], [0.0, 2.0, 5.0], [10.0, -10.0, 6.0], "T has 1 negative"),
    ([0, 1, 3], [0.0, 2.0, 7.0], [10.0, 10.0, 6.0], "recency is greater than T"),
    ([0, np.nan, 3], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0], "frequency has 1 missing or infinite"),
    ([0, 1, 3], [0.0, np.inf, 5.0], [10.0, 10.0, 6.0], "recency has 1 missing or infinite"),
    ([0, 1, 3], [0.0, 2.0, 5.0], [10.0, np.nan, 6.0], "T has 1 missing or infinite"),
    ([0, 1.5, 3], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0], "whole numbers"),
    ([0, 1], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0], "lengths are 2, 3 and 3"),
    ([], [], [], "no customers to fit"),
    ([1, 1, 3], [1.0, 2.0, 5.0], [[10.0]], "1-D"),
    ([0, 1, 3], [4.0, 2.0, 5.0], [10.0, 10.0, 6.0], "recency must be 0"),
    (["a", 1, 3], [0.0, 2.0, 5.0], [10.0, 10.0, 6.0], "frequency must be numbers"),
]


@pytest.mark.parametrize(("x", "tx", "t_end", "message"), BAD_COUNTS)
def test_count_models_reject_bad_input(x: Any, tx: Any, t_end: Any, message: str) -> None:
    for fitter in (clv.fit_bgnbd, clv.fit_pareto_nbd):
        with pytest.raises(InvalidInput, match=message):
            fitter(x, tx, t_end)
    if message in ("no customers to fit", "1-D") or "lengths" in message:
        return
    for fit in (BG, PN):
        with pytest.raises(InvalidInput, match=message):
            fit.p_alive(x, tx, t_end)
        with pytest.raises(InvalidInput, match=message):
            fit.expected_purchases(5.0, x, tx, t_end)


def test_predictions_reject_shapes_that_do_not_match_and_bad_horizons() -> None:
    with pytest.raises(InvalidInput, match="do not match"):
        BG.p_alive([1, 2], [1.0, 1.0, 1.0], [5.0, 5.0])
    for fit in (BG, PN):
        with pytest.raises(InvalidInput, match="t has 1 negative"):
            fit.expected_purchases(-1.0, *GOOD)
        with pytest.raises(InvalidInput, match="t has 1 missing"):
            fit.expected_purchases_new(np.nan)


def test_weights_are_checked() -> None:
    with pytest.raises(InvalidInput, match="weights must have one value per customer"):
        clv.fit_bgnbd(*GOOD, weights=[1.0, 2.0])
    with pytest.raises(InvalidInput, match="weights has 1 negative"):
        clv.fit_bgnbd(*GOOD, weights=[1.0, -2.0, 1.0])
    with pytest.raises(InvalidInput, match="weights are all 0"):
        clv.fit_pareto_nbd(*GOOD, weights=[0.0, 0.0, 0.0])
    with pytest.raises(InvalidInput, match="weights has 1 missing"):
        clv.fit_gamma_gamma([1, 2], [3.0, 4.0], weights=[1.0, np.nan])


def test_no_repeat_buyers_or_no_time() -> None:
    with pytest.raises(InvalidInput, match="no customer has a repeat purchase"):
        clv.fit_bgnbd([0, 0], [0.0, 0.0], [5.0, 7.0])
    with pytest.raises(InvalidInput, match="no customer has a repeat purchase"):
        clv.fit_gamma_gamma([0, 0], [0.0, 0.0])


@pytest.mark.parametrize(
    ("x", "m", "message"),
    [
        ([1, 2], [10.0, 0.0], "monetary must be > 0"),
        ([1, 2], [10.0, -5.0], "monetary must be > 0"),
        ([1, 2], [10.0, np.nan], "monetary of repeat customers has 1 missing"),
        ([1, -2], [10.0, 5.0], "frequency has 1 negative"),
        ([1, 2.5], [10.0, 5.0], "whole numbers"),
        ([1, 2, 3], [10.0, 5.0], "one value per customer"),
        ([], [], "no customers to fit"),
    ],
)
def test_gamma_gamma_rejects_bad_input(x: Any, m: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        clv.fit_gamma_gamma(x, m)


def test_gamma_gamma_ignores_spend_of_customers_without_repeats() -> None:
    spend = GG.expected_spend([0, 3], [np.nan, 20.0])
    assert np.all(np.isfinite(spend))
    with pytest.raises(InvalidInput, match="monetary must be > 0"):
        GG.expected_spend([1], [0.0])
    infinite_mean = clv.GammaGammaFit(2.0, 0.8, 10.0, 0.0, 0)
    with pytest.raises(InvalidInput, match="q = 0.8 <= 1"):
        infinite_mean.expected_spend([0, 3], [0.0, 20.0])


def test_clv_options_are_checked() -> None:
    args = (BG, GG, *GOOD, [0.0, 10.0, 20.0])
    with pytest.raises(TypeError):
        clv.clv(*args)  # type: ignore[call-arg]  # periods_per_month is required
    for kwargs, message in [
        ({"periods_per_month": 0.0}, "periods_per_month must be > 0"),
        ({"periods_per_month": np.nan}, "periods_per_month must be a finite"),
        ({"periods_per_month": 4.3, "months": -1}, "months must be a whole number"),
        ({"periods_per_month": 4.3, "months": 2.5}, "months must be a whole number"),
        ({"periods_per_month": 4.3, "monthly_discount_rate": -1.0}, "monthly_discount_rate"),
        ({"periods_per_month": 4.3, "margin": np.inf}, "margin must be a finite"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            clv.clv(*args, **kwargs)
    with pytest.raises(InvalidInput, match="count_fit must be"):
        clv.clv(GG, GG, *GOOD, [0.0, 10.0, 20.0], periods_per_month=4.3)  # type: ignore[arg-type]


def test_stored_parameters_are_checked() -> None:
    with pytest.raises(InvalidInput, match="missing"):
        clv.BgNbdFit.from_params({"r": 1.0, "alpha": 2.0, "a": 1.0})
    with pytest.raises(InvalidInput, match="must be a positive number"):
        clv.ParetoNbdFit.from_params({"r": 1.0, "alpha": 2.0, "s": -1.0, "beta": 3.0})


def test_simulators_check_their_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInput, match="missing"):
        simulate.simulate_bgnbd(10, {"r": 1.0}, 10.0, rng)
    with pytest.raises(InvalidInput, match="positive"):
        simulate.simulate_pareto_nbd(10, {"r": 1.0, "alpha": 1.0, "s": 0.0, "beta": 1.0}, 5, rng)
    with pytest.raises(InvalidInput, match="T must be finite"):
        simulate.simulate_bgnbd(2, {"r": 1, "alpha": 1, "a": 1, "b": 1}, [1.0, -1.0], rng)
