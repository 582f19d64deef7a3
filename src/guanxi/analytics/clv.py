"""Probabilistic customer-lifetime-value models: BG/NBD and Pareto/NBD for the number of repeat
purchases, Gamma-Gamma for their value, and the discounted CLV that combines them.

Pure numpy/scipy functions over per-customer arrays; the fits are frozen dataclasses.

Inputs per customer (the "RFM" summary of Fader, Hardie & Lee):

* ``frequency`` x: the number of repeat purchases (purchase occasions after the first);
* ``recency`` t_x: the customer's age at the last repeat purchase (0 when x = 0);
* ``T``: the customer's age at the end of the calibration period;
* ``monetary``: the mean value of the repeat purchases (Gamma-Gamma; ignored where x = 0).

Times are in the caller's unit (days or weeks, whatever recency and T use); every ``t`` passed
to a prediction is in the same unit, and the fitted alpha and beta are in it as well.

Models and formulas:

* BG/NBD: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative
  to the Pareto/NBD Model", Marketing Science 24(2) 275-284 (likelihood eq. 6, E[X(t)] eq. 7,
  E[Y(t) | x, t_x, T] eq. 10, P(alive) from their note "Computing P(alive) Using the BG/NBD
  Model").
* Pareto/NBD: Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005), "A Note on
  Deriving the Pareto/NBD Model and Related Expressions" (likelihood, P(alive), E[Y(t)]),
  computed in a cancellation-free form (see ``_pareto``).
* Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", JMR 42(4) 415-430; Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

Fitting is maximum likelihood on the log-parameters with analytic gradients (L-BFGS-B; on large
data a weighted subsample gives the start and the Hessian, then BFGS polishes on all rows).
Customers with identical inputs are collapsed into weighted rows first, so 10^7 customers with
day-level data fit about as fast as their distinct rows. Bad input raises
``guanxi.errors.InvalidInput``; a fit that does not converge raises ``ConvergenceError`` (a
subclass of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np

from guanxi.analytics import _bgnbd, _gammagamma, _pareto
from guanxi.analytics._clv_common import (
    ArrayLike,
    ConvergenceError,
    FloatArray,
    Objective,
    as_array,
    check_finite,
    check_nonnegative,
    check_whole,
    count_inputs,
    maximise,
    pair_index,
    weight_input,
)
from guanxi.errors import InvalidInput

__all__ = [
    "BgNbdFit",
    "ConvergenceError",
    "GammaGammaFit",
    "ParetoNbdFit",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
]


def _horizon(t: ArrayLike) -> FloatArray:
    h = as_array("t", t)
    check_finite("t", h)
    check_nonnegative("t", h)
    return h


def _params_from(
    kind: str, names: tuple[str, ...], params: Mapping[str, float]
) -> tuple[float, ...]:
    missing = [n for n in names if n not in params]
    if missing:
        raise InvalidInput(f"{kind} parameters need {', '.join(names)}; missing {missing}")
    values = tuple(float(params[n]) for n in names)
    for n, v in zip(names, values, strict=True):
        if not (math.isfinite(v) and v > 0):
            raise InvalidInput(f"{kind} parameter {n} must be a positive number, not {v}")
    return values


def _n_customers(weights: ArrayLike | None, n: int, total: float) -> int:
    return n if weights is None else int(round(total))


# BG/NBD -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdFit:
    """A fitted BG/NBD model (Fader, Hardie & Lee 2005).

    Purchase rate lambda ~ Gamma(r, alpha) (alpha in the time unit of T), drop-out probability
    after each repeat purchase p ~ Beta(a, b). ``log_likelihood`` is the total over customers.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int

    NAMES = ("r", "alpha", "a", "b")

    @property
    def params(self) -> dict[str, float]:
        """The parameters by name: r, alpha, a, b."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @classmethod
    def from_params(
        cls, params: Mapping[str, float], log_likelihood: float = math.nan, n_customers: int = 0
    ) -> BgNbdFit:
        """A fit from stored parameters (keys r, alpha, a, b)."""
        r, alpha, a, b = _params_from("BG/NBD", cls.NAMES, params)
        return cls(r, alpha, a, b, float(log_likelihood), int(n_customers))

    def _vector(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.a, self.b])

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(the customer is still active at T | x, t_x, T); 1 for customers without repeat
        purchases (BG/NBD customers can only drop out right after a purchase)."""
        x, tx, t_end = count_inputs(frequency, recency, T, fit=False)
        return _bgnbd.p_alive(self._vector(), x, tx, t_end)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected repeat purchases in the next t periods (T, T + t]
        (FHL 2005 eq. 10). ``t`` is a scalar or broadcasts with the customers."""
        h = _horizon(t)
        x, tx, t_end = count_inputs(frequency, recency, T, fit=False)
        alive = _bgnbd.p_alive(self._vector(), x, tx, t_end)
        return np.asarray(alive * _bgnbd.growth(self._vector(), h, x, t_end))

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases of a new customer in the t periods after the first
        purchase (FHL 2005 eq. 7); the cohort tracking curve. Vectorised over t."""
        h = _horizon(t)
        return _bgnbd.growth(self._vector(), h, np.zeros(1), np.zeros(1)).reshape(h.shape)

    def _growth(self, t: FloatArray, x: FloatArray, t_end: FloatArray) -> FloatArray:
        return _bgnbd.growth(self._vector(), t, x, t_end)


def _bg_objective(data: _bgnbd.BgData) -> Objective:
    return Objective(
        names=BgNbdFit.NAMES,
        total_weight=data.total,
        rows=data.x.size + data.t0.size,
        loglik=lambda p: _bgnbd.loglik(p, data),
        subsample=lambda rng, k: _bg_objective(_bgnbd.subsample(data, rng, k)),
    )


def _rate(x: FloatArray, t_end: FloatArray, w: FloatArray, model: str) -> float:
    """Mean repeat-purchase rate, the scale of the starting values; checks there is something
    to fit."""
    repeat = float(w @ x)
    if repeat <= 0:
        raise InvalidInput(f"no customer has a repeat purchase: {model} needs repeat buyers to fit")
    exposure = float(w @ t_end)
    if exposure <= 0:
        raise InvalidInput(f"every T is 0: {model} needs customers observed for some time")
    return repeat / exposure


def fit_bgnbd(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> BgNbdFit:
    """Fit the BG/NBD model by maximum likelihood (Fader, Hardie & Lee 2005, eq. 6).

    frequency, recency, T: one value per customer (see the module docstring; recency and T in
    one time unit). weights: optional non-negative weight (count) per row. On CDNOW (weeks) it
    gives r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4, as published.
    """
    x, tx, t_end = count_inputs(frequency, recency, T, fit=True)
    w = weight_input(weights, x.size)
    rate = _rate(x, t_end, w, "BG/NBD")
    data = _bgnbd.prepare(x, tx, t_end, w)
    theta0 = np.log(np.array([1.0, 1.0 / rate, 1.0, 3.0]))
    best, ll = maximise(_bg_objective(data), theta0, "BG/NBD")
    r, alpha, a, b = (float(v) for v in best)
    return BgNbdFit(r, alpha, a, b, ll, _n_customers(weights, x.size, data.total))


# Pareto/NBD ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoNbdFit:
    """A fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Purchase rate lambda ~ Gamma(r, alpha), drop-out rate mu ~ Gamma(s, beta) (alpha and beta in
    the time unit of T). ``log_likelihood`` is the total over customers.
    """

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float
    n_customers: int

    NAMES = ("r", "alpha", "s", "beta")

    @property
    def params(self) -> dict[str, float]:
        """The parameters by name: r, alpha, s, beta."""
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    @classmethod
    def from_params(
        cls, params: Mapping[str, float], log_likelihood: float = math.nan, n_customers: int = 0
    ) -> ParetoNbdFit:
        """A fit from stored parameters (keys r, alpha, s, beta)."""
        r, alpha, s, beta = _params_from("Pareto/NBD", cls.NAMES, params)
        return cls(r, alpha, s, beta, float(log_likelihood), int(n_customers))

    def _vector(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.s, self.beta])

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(the customer is still active at T | x, t_x, T) (Fader & Hardie 2005 note)."""
        x, tx, t_end = count_inputs(frequency, recency, T, fit=False)
        return _pareto.p_alive(self._vector(), x, tx, t_end)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected repeat purchases in the next t periods (T, T + t]
        = P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]."""
        h = _horizon(t)
        x, tx, t_end = count_inputs(frequency, recency, T, fit=False)
        alive = _pareto.p_alive(self._vector(), x, tx, t_end)
        return np.asarray(alive * _pareto.growth(self._vector(), h, x, t_end))

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]: expected repeat
        purchases of a new customer in the t periods after the first; vectorised over t."""
        h = _horizon(t)
        return _pareto.growth(self._vector(), h, np.zeros(1), np.zeros(1)).reshape(h.shape)

    def _growth(self, t: FloatArray, x: FloatArray, t_end: FloatArray) -> FloatArray:
        return _pareto.growth(self._vector(), t, x, t_end)


def _pareto_objective(data: _pareto.ParetoData) -> Objective:
    return Objective(
        names=ParetoNbdFit.NAMES,
        total_weight=data.total,
        rows=data.x.size + data.t0.size,
        loglik=lambda p: _pareto.loglik(p, data),
        subsample=lambda rng, k: _pareto_objective(_pareto.subsample(data, rng, k)),
    )


def fit_pareto_nbd(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
) -> ParetoNbdFit:
    """Fit the Pareto/NBD model by maximum likelihood (Fader & Hardie 2005, "A Note on
    Deriving the Pareto/NBD Model and Related Expressions").

    Same inputs as ``fit_bgnbd``. On CDNOW (weeks) it gives r = 0.553, alpha = 10.578,
    s = 0.606, beta = 11.669, LL = -9595.0, as published.
    """
    x, tx, t_end = count_inputs(frequency, recency, T, fit=True)
    w = weight_input(weights, x.size)
    rate = _rate(x, t_end, w, "Pareto/NBD")
    data = _pareto.prepare(x, tx, t_end, w)
    mean_t = float(w @ t_end) / float(w.sum())
    theta0 = np.log(np.array([1.0, 1.0 / rate, 1.0, mean_t]))
    best, ll = maximise(_pareto_objective(data), theta0, "Pareto/NBD")
    r, alpha, s, beta = (float(v) for v in best)
    return ParetoNbdFit(r, alpha, s, beta, ll, _n_customers(weights, x.size, data.total))


# Gamma-Gamma --------------------------------------------------------------------------------


def _spend_inputs(
    frequency: ArrayLike, monetary: ArrayLike, *, fit: bool
) -> tuple[FloatArray, FloatArray]:
    x = as_array("frequency", frequency)
    m = as_array("monetary", monetary)
    if fit:
        if x.ndim != 1 or m.ndim != 1 or x.size != m.size:
            raise InvalidInput(
                f"frequency and monetary must be 1-D with one value per customer, but their "
                f"shapes are {x.shape} and {m.shape}"
            )
        if x.size == 0:
            raise InvalidInput("no customers to fit: frequency and monetary are empty")
    else:
        try:
            x, m = np.broadcast_arrays(x, m)
        except ValueError as error:
            raise InvalidInput(
                f"frequency and monetary have shapes {x.shape} and {m.shape}, which do not match"
            ) from error
    check_finite("frequency", x)
    check_nonnegative("frequency", x)
    check_whole("frequency", x)
    rep = x > 0
    check_finite("monetary of repeat customers", m[rep])
    bad = rep & ~(m > 0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InvalidInput(
            f"monetary must be > 0 for customers with repeat purchases, but {int(bad.sum())} "
            f"are not (first at index {i}: {m.ravel()[i]}); it is the mean value of the repeat "
            "purchases"
        )
    return x, m


@dataclass(frozen=True)
class GammaGammaFit:
    """A fitted Gamma-Gamma spend model: each purchase value ~ Gamma(p, nu) with
    nu ~ Gamma(q, v) across customers (v in the currency unit); mean spend p v / (q - 1)."""

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int

    NAMES = ("p", "q", "v")

    @property
    def params(self) -> dict[str, float]:
        """The parameters by name: p, q, v (Hardie's gamma)."""
        return {"p": self.p, "q": self.q, "v": self.v}

    @classmethod
    def from_params(
        cls, params: Mapping[str, float], log_likelihood: float = math.nan, n_customers: int = 0
    ) -> GammaGammaFit:
        """A fit from stored parameters (keys p, q, v)."""
        p, q, v = _params_from("Gamma-Gamma", cls.NAMES, params)
        return cls(p, q, v, float(log_likelihood), int(n_customers))

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """E[Z | x, mbar] = p (v + x mbar) / (p x + q - 1) (FHL 2005 "RFM and CLV"; Hardie's
        Gamma-Gamma note): the expected value of a customer's future purchases, a weighted mean
        of the population mean p v / (q - 1) and the customer's own mean; the population mean
        for x = 0."""
        x, m = _spend_inputs(frequency, monetary, fit=False)
        den = self.p * x + self.q - 1.0
        if np.any(den <= 0):
            raise InvalidInput(
                f"the Gamma-Gamma fit has q = {self.q:.4g} <= 1, so the mean spend of customers "
                "without repeat purchases is infinite; compute CLV for repeat buyers only"
            )
        mbar = np.where(x > 0, m, 0.0)
        return np.asarray(self.p * (self.v + x * mbar) / den)


def _gg_objective(data: _gammagamma.SpendData) -> Objective:
    return Objective(
        names=GammaGammaFit.NAMES,
        total_weight=float(data.w.sum()),
        rows=data.x.size,
        loglik=lambda p: _gammagamma.loglik(p, data),
        subsample=lambda rng, k: _gg_objective(_gammagamma.subsample(data, rng, k)),
    )


def fit_gamma_gamma(
    frequency: ArrayLike, monetary: ArrayLike, *, weights: ArrayLike | None = None
) -> GammaGammaFit:
    """Fit the Gamma-Gamma model by maximum likelihood on the customers with x > 0 (the others
    carry no spend information and are skipped; their monetary is ignored).

    frequency: repeat purchases x; monetary: mean value of those x purchases (> 0). On CDNOW it
    gives p = 6.25, q = 3.74, v = 15.44 (Hardie's note).
    """
    x, m = _spend_inputs(frequency, monetary, fit=True)
    w = weight_input(weights, x.size)
    rep = (x > 0) & (w > 0)
    if not rep.any():
        raise InvalidInput(
            "no customer has a repeat purchase: Gamma-Gamma needs repeat buyers' spend to fit"
        )
    data = _gammagamma.prepare(x[rep], m[rep], w[rep])
    mean = float(data.w @ data.mbar) / float(data.w.sum())
    theta0 = np.log(np.array([2.0, 3.0, mean]))
    best, ll = maximise(_gg_objective(data), theta0, "Gamma-Gamma")
    p, q, v = (float(t) for t in best)
    n = int(np.count_nonzero(rep)) if weights is None else int(round(float(w[rep].sum())))
    return GammaGammaFit(p, q, v, ll, n)


# CLV ----------------------------------------------------------------------------------------

CountFit = Union[BgNbdFit, ParetoNbdFit]  # noqa: UP007 - a runtime alias


def clv(
    count_fit: CountFit,
    spend_fit: GammaGammaFit,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    months: int = 12,
    margin: float = 1.0,
    monthly_discount_rate: float = 0.01,
    periods_per_month: float,
) -> FloatArray:
    """Discounted customer lifetime value over the next ``months`` months, per customer.

        CLV_i = margin * E[Z_i] * sum_{k=1..months} (E[Y_i(k m)] - E[Y_i((k-1) m)]) / (1+d)^k,

    with m = periods_per_month, E[Y_i(t)] the count model's expected repeat purchases in the
    next t periods given the customer's history, E[Z_i] the Gamma-Gamma expected value per
    purchase (``GammaGammaFit.expected_spend``) and d the monthly discount rate: the purchases
    expected in month k are discounted as if made at the end of that month. This is what
    lifetimes' ``customer_lifetime_value`` computes (FHL 2005 "RFM and CLV" discount monthly
    cash flows the same way), done for all customers at once: E[Y(t)] factors into P(alive)
    and a term that only depends on (x, T), evaluated once per distinct (x, T) pair.

    periods_per_month: how many of the fit's time units make one month, e.g. 30.4375 when
    recency and T are in days, 30.4375 / 7 (4.348) when they are in weeks, 1 for months.
    margin: the share of spend that is profit (1 gives revenue). Returns an array in the
    currency of ``monetary``.
    """
    if not isinstance(count_fit, BgNbdFit | ParetoNbdFit):
        raise InvalidInput("count_fit must be a BgNbdFit or a ParetoNbdFit")
    if isinstance(months, bool) or not isinstance(months, int | np.integer) or months < 0:
        raise InvalidInput(f"months must be a whole number >= 0, not {months!r}")
    for name, value in (
        ("margin", margin),
        ("monthly_discount_rate", monthly_discount_rate),
        ("periods_per_month", periods_per_month),
    ):
        if not math.isfinite(float(value)):
            raise InvalidInput(f"{name} must be a finite number, not {value}")
    if not periods_per_month > 0:
        raise InvalidInput(
            f"periods_per_month must be > 0 (e.g. 30.4375 for days, 4.348 for weeks), "
            f"not {periods_per_month}"
        )
    if not monthly_discount_rate > -1:
        raise InvalidInput(f"monthly_discount_rate must be > -1, not {monthly_discount_rate}")
    x, tx, t_end = count_inputs(frequency, recency, T, fit=False)
    spend = spend_fit.expected_spend(x, np.broadcast_to(as_array("monetary", monetary), x.shape))
    shape = x.shape
    x, tx, t_end = x.ravel(), tx.ravel(), t_end.ravel()
    alive = count_fit.p_alive(x, tx, t_end)
    px, pt, pair = pair_index(x, t_end)
    times = np.arange(months + 1, dtype=np.float64) * float(periods_per_month)
    curve = count_fit._growth(times[None, :], px[:, None], pt[:, None])
    discount = (1.0 + float(monthly_discount_rate)) ** -np.arange(1, months + 1, dtype=np.float64)
    per_pair = np.diff(curve, axis=1) @ discount if months else np.zeros(px.size)
    out = float(margin) * spend.ravel() * alive * per_pair[pair]
    return np.asarray(out.reshape(shape))
