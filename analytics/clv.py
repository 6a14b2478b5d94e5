"""Predicted customer lifetime value: BG/NBD purchases, Gamma-Gamma spend.

The models and the summaries they are fitted on follow the "buy till you die"
literature, so published results can be reproduced:

- P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "Counting Your
  Customers the Easy Way: An Alternative to the Pareto/NBD Model",
  Marketing Science 24(2). On the CDNOW sample the maximum-likelihood fit is
  r=0.243, alpha=4.414, a=0.793, b=2.426.
- P. S. Fader and B. G. S. Hardie (2013), "The Gamma-Gamma Model of Monetary
  Value" (note). On the same sample p=6.25, q=3.74, v=15.44.

Time is measured in weeks. Calibration covers the purchases dated before
``as_of`` and ends on the day before it, like the CDNOW summaries (whose
calibration runs through 1997-09-30, i.e. ``as_of`` 1997-10-01).
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaincinv, betaln, expit, gammaln, hyp2f1

from analytics import charts
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import line_revenue

DAYS_PER_WEEK = 7.0
WEEKS_PER_MONTH = 365.25 / 12 / DAYS_PER_WEEK
MAX_HORIZON_MONTHS = 120
MIN_CUSTOMERS = 10
MIN_SPEND_CUSTOMERS = 10
MAX_PAGE_SIZE = 1000
SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]
CUSTOMER_COLUMNS = [
    "external_id", "name", *SUMMARY_COLUMNS, "expected_purchases", "p_alive",
    "expected_spend", "predicted_value",
]  # fmt: skip

# Parameters stay within e^±9 (1.2e-4 .. 8,100; weeks, and spend relative to
# its mean): wider than fits of real data, and a flat likelihood (no
# heterogeneity, nobody dropping out) runs an estimate to the bound, not to
# overflow.
_LOG_BOUND = 9.0
_QUADRATURE_NODES = 64
_PENALTY = 1e10
_HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rates ~ Gamma(r, alpha), dropout ~ Beta(a, b).

    The formulas are equations (6), (10) and (13) of Fader, Hardie & Lee
    (2005); ``frequency`` counts repeat purchases, ``recency`` and ``T`` are
    in weeks from the first purchase.
    """

    r: float
    alpha: float
    a: float
    b: float

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Log-likelihood of each customer's (frequency, recency, T)."""
        return _PurchaseHistories(frequency, recency, T).log_likelihood(self)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Probability that each customer is still active at the end of calibration.

        A customer without repeat purchases cannot have dropped out (BG/NBD
        customers drop out only right after a purchase), so theirs is 1.
        """
        x, t_x, t_cal = _floats(frequency, recency, T)
        return np.where(x > 0, expit(-self._log_odds_dropped(x, t_x, t_cal)), 1.0)

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` weeks, given their history.

        Where scipy's hyp2f1 cannot evaluate the closed form (extreme
        parameters, from a likelihood without heterogeneity to measure), the
        same expectation is integrated numerically instead.
        """
        x, t_x, t_cal = _floats(frequency, recency, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + t_cal + t)
        with np.errstate(all="ignore"):
            # Euler's transformation of the paper's ((alpha+T)/(alpha+T+t))^(r+x)
            # * 2F1(r+x, b+x; a+b+x-1; z): the same number, but its parameters no
            # longer grow with x, so heavy buyers neither overflow nor lose precision.
            remaining = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
            if_alive = (a + b + x - 1) / (a - 1) * (1 - remaining)
        failed = ~np.isfinite(if_alive)
        if failed.any():
            if_alive[failed] = self._integrate_if_alive(t, x[failed], t_cal[failed])
        return if_alive * self.p_alive(x, t_x, t_cal)

    def _integrate_if_alive(self, t: float, x: np.ndarray, t_cal: np.ndarray) -> np.ndarray:
        """E[purchases in t | alive] = E[(1 - ((alpha+T) / (alpha+T+pt))^(r+x)) / p].

        Given the history and being alive, the dropout probability p is
        Beta(a, b + x) and the purchase rate Gamma(r + x, alpha + T), which
        integrates out in closed form. Gauss-Legendre quadrature over p's
        quantiles handles both a near-singular and a sharply peaked Beta.
        """
        nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
        p = betaincinv(self.a, self.b + x[:, None], (nodes + 1) / 2)
        shape = (self.r + x)[:, None]
        scale = (t / (self.alpha + t_cal))[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            # At p = 0 (a quantile that underflows) the integrand's limit is shape x scale.
            integrand = np.where(p > 0, -np.expm1(-shape * np.log1p(p * scale)) / p, shape * scale)
        return np.asarray(integrand @ (weights / 2))

    def _log_odds_dropped(self, x: np.ndarray, t_x: np.ndarray, t_cal: np.ndarray) -> np.ndarray:
        x_repeat = np.where(x > 0, x, 1.0)
        return (
            np.log(self.a)
            - np.log(self.b + x_repeat - 1)
            + (self.r + x) * (np.log(self.alpha + t_cal) - np.log(self.alpha + t_x))
        )


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma spend parameters (Fader & Hardie 2013): shape p, and q, v of the scale prior."""

    p: float
    q: float
    v: float

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """Log-density of each repeat buyer's mean spend over ``frequency`` purchases."""
        return _SpendHistories(frequency, monetary_value).log_likelihood(self)

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per purchase over all customers, ``p v / (q - 1)``; infinite when q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else math.inf

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """Expected spend per future purchase: the population mean shrunk towards each
        customer's own mean, the more so the more purchases they made.
        """
        x, m = _floats(frequency, monetary_value)
        return self.p * (self.v + x * m) / (self.p * x + self.q - 1)


class _PurchaseHistories:
    """Customers' (frequency, recency, T), with each column's distinct values.

    Likelihood evaluations compute the special functions and logarithms once
    per distinct value, not once per customer: an optimiser calls them
    hundreds of times, and a large dataset has few distinct frequencies and
    days but many customers.
    """

    def __init__(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> None:
        x, t_x, t_cal = _floats(frequency, recency, T)
        self.x = x
        self.repeat = x > 0
        self.x_levels, self.x_codes = np.unique(x, return_inverse=True)
        self.t_x_levels, self.t_x_codes = np.unique(t_x, return_inverse=True)
        self.t_levels, self.t_codes = np.unique(t_cal, return_inverse=True)

    def log_likelihood(self, params: BgNbdParams) -> np.ndarray:
        r, alpha, a, b = params.r, params.alpha, params.a, params.b
        x, levels = self.x, self.x_levels
        repeat_levels = np.where(levels > 0, levels, 1.0)
        common = gammaln(r + levels) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        still_alive = (
            betaln(a, b + levels)[self.x_codes]
            - (r + x) * np.log(alpha + self.t_levels)[self.t_codes]
        )
        dropped = (
            betaln(a + 1, b + repeat_levels - 1)[self.x_codes]
            - (r + x) * np.log(alpha + self.t_x_levels)[self.t_x_codes]
        )
        return common[self.x_codes] + np.where(
            self.repeat, np.logaddexp(still_alive, dropped), still_alive
        )


class _SpendHistories:
    """Repeat buyers' (frequency, mean spend), prepared like ``_PurchaseHistories``."""

    def __init__(self, frequency: ArrayLike, monetary_value: ArrayLike) -> None:
        x, m = _floats(frequency, monetary_value)
        self.x = x
        self.spent = x * m
        self.log_m = np.log(m)
        self.x_levels, self.x_codes = np.unique(x, return_inverse=True)

    def log_likelihood(self, params: GammaGammaParams) -> np.ndarray:
        p, q, v = params.p, params.q, params.v
        levels = self.x_levels
        per_level = gammaln(p * levels + q) - gammaln(p * levels) + p * levels * np.log(levels)
        return (
            per_level[self.x_codes]
            - gammaln(q)
            + q * np.log(v)
            + (p * self.x - 1) * self.log_m
            - (p * self.x + q) * np.log(v + self.spent)
        )


class BgNbdModel:
    """BG/NBD model of repeat purchases and dropout, fitted by maximum likelihood.

    Parameters
    ----------
    max_iter : int, default 2000
        Iteration budget of each optimiser pass.

    Attributes
    ----------
    params_ : BgNbdParams
        The fitted parameters.
    log_likelihood_ : float
        Total log-likelihood at ``params_``.
    """

    def __init__(self, max_iter: int = 2000) -> None:
        self.max_iter = max_iter

    def fit(self, summary: pd.DataFrame) -> BgNbdModel:
        """Fit on a ``summarize_btyd`` frame (columns frequency, recency, T)."""
        _require_columns(summary, ["frequency", "recency", "T"])
        histories = _PurchaseHistories(summary["frequency"], summary["recency"], summary["T"])

        def log_likelihood(params: list[float]) -> float:
            return float(histories.log_likelihood(BgNbdParams(*params)).sum())

        # Start with a mean purchase rate r / alpha near the observed repeat
        # rate, and a dropout probability of a quarter per purchase.
        rate = max(float(summary["frequency"].sum()), 1.0) / max(float(summary["T"].sum()), 1.0)
        starts = [[1.0, 1.0 / rate, 1.0, 3.0], [0.5, 0.5 / rate, 0.5, 1.0]]
        estimate, total = _maximize(log_likelihood, starts, len(summary), self.max_iter)
        self.params_ = BgNbdParams(*estimate)
        self.log_likelihood_ = total
        return self

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` weeks."""
        return self.params_.expected_purchases(
            t, summary["frequency"], summary["recency"], summary["T"]
        )

    def p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        """Probability that each customer is still active."""
        return self.params_.p_alive(summary["frequency"], summary["recency"], summary["T"])


class GammaGammaModel:
    """Gamma-Gamma model of spend per purchase, fitted by maximum likelihood.

    Fitted on repeat buyers with a positive mean spend (the model's spend is
    positive); it assumes spend is independent of purchase frequency.

    Parameters
    ----------
    max_iter : int, default 2000
        Iteration budget of each optimiser pass.

    Attributes
    ----------
    params_ : GammaGammaParams
        The fitted parameters.
    log_likelihood_ : float
        Total log-likelihood at ``params_``.
    n_customers_ : int
        Repeat buyers the model was fitted on.
    """

    def __init__(self, max_iter: int = 2000) -> None:
        self.max_iter = max_iter

    def fit(self, summary: pd.DataFrame) -> GammaGammaModel:
        """Fit on a ``summarize_btyd`` frame (columns frequency, monetary_value)."""
        _require_columns(summary, ["frequency", "monetary_value"])
        buyers = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        if buyers.empty:
            raise InvalidArgumentError(
                "dataset: the spend model needs repeat buyers with a positive spend, found none"
            )
        # Spend is fitted in units of its mean, so v's bounds fit any currency;
        # the model is scale-equivariant: v scales with the unit, p and q do not.
        unit = float(buyers["monetary_value"].mean())
        histories = _SpendHistories(buyers["frequency"], buyers["monetary_value"] / unit)

        def log_likelihood(params: list[float]) -> float:
            return float(histories.log_likelihood(GammaGammaParams(*params)).sum())

        # p = 1, q = 2 makes the prior mean spend p v / (q - 1) equal to v.
        starts = [[1.0, 2.0, 1.0], [5.0, 5.0, 1.0]]
        (p, q, v), total = _maximize(log_likelihood, starts, len(buyers), self.max_iter)
        self.params_ = GammaGammaParams(p, q, v * unit)
        # Densities of spend in currency units: the Jacobian of the change of unit.
        self.log_likelihood_ = total - len(buyers) * math.log(unit)
        self.n_customers_ = len(buyers)
        return self

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected spend per future purchase of each customer."""
        return self.params_.expected_spend(summary["frequency"], summary["monetary_value"])


class ClvSortField(enum.StrEnum):
    PREDICTED_VALUE = "predicted_value"
    EXPECTED_PURCHASES = "expected_purchases"
    P_ALIVE = "p_alive"
    EXPECTED_SPEND = "expected_spend"
    FREQUENCY = "frequency"
    MONETARY_VALUE = "monetary_value"


@dataclass(frozen=True)
class CustomerClv:
    """One customer's history summary and predictions (see ``predict_lifetime_value``)."""

    customer_id: str
    name: str | None
    frequency: int
    recency: float
    t: float
    monetary_value: float
    expected_purchases: float
    p_alive: float
    expected_spend: float
    predicted_value: float


@dataclass(frozen=True)
class ClvResult:
    """Predicted lifetime value of a dataset's customers (see ``predict_lifetime_value``).

    ``customers`` holds every customer with a purchase before ``as_of``,
    indexed by the dataset's customer_id, by predicted value descending (ties
    by external id), with the columns ``CUSTOMER_COLUMNS``: the
    ``summarize_btyd`` summary, then ``expected_purchases`` over the horizon,
    ``p_alive`` at ``as_of``, ``expected_spend`` per purchase and the
    discounted ``predicted_value`` over the horizon.
    """

    as_of: dt.date
    horizon_months: int
    discount_rate: float
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams | None
    average_p_alive: float
    total_predicted_value: float
    customers: pd.DataFrame
    figure: charts.Figure

    @property
    def customer_count(self) -> int:
        return len(self.customers)

    def for_customer(self, customer_id: int) -> CustomerClv | None:
        """The prediction for one customer (by dataset customer_id), ``None`` when not modelled.

        Customers without a purchase before ``as_of`` are not modelled.
        """
        if customer_id not in self.customers.index:
            return None
        return _customer_clv(self.customers.loc[customer_id].to_dict())

    def page(
        self,
        first: int = 100,
        offset: int = 0,
        sort: ClvSortField = ClvSortField.PREDICTED_VALUE,
        descending: bool = True,
    ) -> tuple[CustomerClv, ...]:
        """``first`` customers from ``offset`` in ``sort`` order (ties by external id)."""
        if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= MAX_PAGE_SIZE:
            raise InvalidArgumentError(f"first: expected 1..{MAX_PAGE_SIZE}, got {first!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgumentError(f"offset: expected 0 or more, got {offset!r}")
        try:
            sort = ClvSortField(sort)
        except ValueError:
            raise InvalidArgumentError(f"orderBy: unknown field {sort!r}") from None
        rows = self.customers
        if sort is not ClvSortField.PREDICTED_VALUE or not descending:
            rows = rows.sort_values(
                [sort.value, "external_id"], ascending=[not descending, True], kind="stable"
            )
        return tuple(
            _customer_clv(row) for row in rows.iloc[offset : offset + first].to_dict("records")
        )


def summarize_btyd(transactions: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per-customer calibration summary of a transaction log, as the BTYD literature builds it.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per transaction or line: ``customer_id``, ``order_date``
        (datetime64) and ``revenue``.
    as_of : date
        Calibration covers the transactions dated before it and ends on the
        day before it.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer_id (customers with a purchase in calibration),
        with ``frequency`` (repeat purchase days), ``recency`` (weeks from
        the first to the last purchase), ``T`` (weeks from the first purchase
        to the end of calibration) and ``monetary_value`` (mean revenue of
        the repeat purchase days, 0 without any). Purchases are collapsed to
        one per customer per day; a day whose revenue nets below zero is a
        refund, not a purchase, and is left out.
    """
    _require_columns(transactions, ["customer_id", "order_date", "revenue"])
    if not isinstance(as_of, dt.date):
        raise InvalidArgumentError(f"asOf: expected a date, got {type(as_of).__name__}")
    end = pd.Timestamp(as_of) - pd.Timedelta(days=1)
    in_calibration = transactions["order_date"] <= end
    daily = (
        transactions.loc[in_calibration, ["customer_id", "order_date", "revenue"]]
        .groupby(["customer_id", "order_date"], sort=True)["revenue"]
        .sum()
    )
    daily = daily[daily >= 0].reset_index()
    by_customer = daily.groupby("customer_id", sort=True)
    first_day = by_customer["order_date"].first()
    purchases = by_customer.size()
    repeat_revenue = by_customer["revenue"].sum() - by_customer["revenue"].first()
    frequency = (purchases - 1).astype("int64")
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (by_customer["order_date"].last() - first_day).dt.days / DAYS_PER_WEEK,
            "T": (end - first_day).dt.days / DAYS_PER_WEEK,
            "monetary_value": (repeat_revenue / frequency.where(frequency > 0)).fillna(0.0),
        }
    )
    summary.index.name = "customer_id"
    return summary.astype({"recency": "float64", "T": "float64", "monetary_value": "float64"})


def predict_lifetime_value(
    frames: DatasetFrames,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    as_of: dt.date | None = None,
) -> ClvResult:
    """Predict each customer's purchases, activity and discounted value over a horizon.

    BG/NBD gives the expected purchases and the probability of being active,
    Gamma-Gamma the expected spend per purchase; both are fitted on the
    purchases before ``as_of`` (see ``summarize_btyd``). The predicted value
    is lifetimes' discounted sum over the months of the horizon::

        value = sum(m = 1..H) spend x (E[X(m)] - E[X(m - 1)]) / (1 + d)^m

    where ``E[X(m)]`` is the expected number of purchases in the first ``m``
    months after ``as_of`` (a month is 365.25 / 12 days) and ``d`` the
    monthly discount rate.

    When the spend model cannot be fitted (fewer than ``MIN_SPEND_CUSTOMERS``
    repeat buyers with a positive spend, or an estimate whose population mean
    is infinite, q <= 1), ``gamma_gamma`` is ``None`` and the expected spend
    falls back to each repeat buyer's mean repeat spend, and to the mean of
    those for one-time buyers.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset; revenue is ``line_revenue``.
    horizon_months : int, default 12
        Months to predict, 1..120.
    discount_rate : float, default 0.01
        Monthly discount rate, 0..1.
    as_of : date, optional
        End of calibration (exclusive); defaults to the day after the latest order.

    Returns
    -------
    ClvResult

    Raises
    ------
    InvalidArgumentError
        For an argument out of range, or when the dataset has fewer than
        ``MIN_CUSTOMERS`` customers with purchases before ``as_of`` or no
        repeat buyer among them.
    """
    if (
        isinstance(horizon_months, bool)
        or not isinstance(horizon_months, int)
        or not 1 <= horizon_months <= MAX_HORIZON_MONTHS
    ):
        raise InvalidArgumentError(
            f"horizonMonths: expected an integer from 1 to {MAX_HORIZON_MONTHS}, "
            f"got {horizon_months!r}"
        )
    if (
        isinstance(discount_rate, bool)
        or not isinstance(discount_rate, int | float)
        or not 0 <= discount_rate <= 1
    ):
        raise InvalidArgumentError(
            f"discountRate: expected a monthly rate from 0 to 1, got {discount_rate!r}"
        )
    if as_of is not None and not isinstance(as_of, dt.date):
        raise InvalidArgumentError(f"asOf: expected a date, got {type(as_of).__name__}")
    as_of = frames.default_as_of if as_of is None else as_of

    lines = frames.lines
    transactions = pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "order_date": lines["order_date"],
            "revenue": line_revenue(lines),
        }
    )
    summary = summarize_btyd(transactions, as_of)
    repeat_buyers = int((summary["frequency"] > 0).sum())
    if len(summary) < MIN_CUSTOMERS or repeat_buyers == 0:
        raise InvalidArgumentError(
            f"dataset: predicting lifetime value needs at least {MIN_CUSTOMERS} customers "
            f"with purchases before {as_of.isoformat()} and at least one repeat buyer; "
            f"found {len(summary)} customers, {repeat_buyers} repeat buyers"
        )

    purchases = BgNbdModel().fit(summary)
    spend_params = _fit_spend(summary)
    if spend_params is None:
        spend = _observed_spend(summary)
    else:
        spend = spend_params.expected_spend(summary["frequency"], summary["monetary_value"])
    expected, discounted = _discounted_purchases(
        purchases.params_, summary, horizon_months, float(discount_rate)
    )

    table = summary.copy()
    table["expected_purchases"] = expected
    table["p_alive"] = purchases.p_alive(summary)
    table["expected_spend"] = spend
    table["predicted_value"] = spend * discounted
    numbers = table[CUSTOMER_COLUMNS[2:]].to_numpy(dtype="float64")
    if not np.isfinite(numbers).all() or not _finite(purchases.params_):
        raise InvalidArgumentError(
            "dataset: the lifetime value models gave non-finite predictions on this data"
        )

    names = frames.customers.set_index("customer_id")[["external_id", "name"]]
    table = names.reindex(table.index).join(table)
    table["external_id"] = table["external_id"].astype("object")
    table["name"] = table["name"].astype("object").where(table["name"].notna(), None)
    table = table.sort_values(
        ["predicted_value", "external_id"], ascending=[False, True], kind="stable"
    )
    return ClvResult(
        as_of=as_of,
        horizon_months=horizon_months,
        discount_rate=float(discount_rate),
        bgnbd=purchases.params_,
        gamma_gamma=spend_params,
        average_p_alive=float(table["p_alive"].mean()),
        total_predicted_value=float(table["predicted_value"].sum()),
        customers=table[CUSTOMER_COLUMNS],
        figure=_figure(table["predicted_value"].to_numpy(), horizon_months),
    )


def _fit_spend(summary: pd.DataFrame) -> GammaGammaParams | None:
    spenders = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    if spenders < MIN_SPEND_CUSTOMERS:
        return None
    params = GammaGammaModel().fit(summary).params_
    if not _finite(params) or params.q <= 1:
        return None
    return params


def _observed_spend(summary: pd.DataFrame) -> np.ndarray:
    repeat = summary["frequency"] > 0
    average = float(summary.loc[repeat, "monetary_value"].mean())
    return np.where(repeat, summary["monetary_value"], average)


def _discounted_purchases(
    params: BgNbdParams, summary: pd.DataFrame, horizon_months: int, discount_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases over the horizon, and their monthly increments discounted."""
    # Customers sharing a (frequency, recency, T) history share predictions;
    # computing each history once divides the hypergeometric evaluations.
    rows, inverse = np.unique(
        summary[["frequency", "recency", "T"]].to_numpy(dtype="float64"),
        axis=0,
        return_inverse=True,
    )
    x, t_x, t_cal = rows.T
    previous = np.zeros(len(rows))
    discounted = np.zeros(len(rows))
    for month in range(1, horizon_months + 1):
        current = params.expected_purchases(month * WEEKS_PER_MONTH, x, t_x, t_cal)
        discounted += (current - previous) / (1 + discount_rate) ** month
        previous = current
    inverse = inverse.reshape(-1)
    return previous[inverse], discounted[inverse]


def _figure(values: np.ndarray, horizon_months: int) -> charts.Figure:
    """Histogram of predicted values; the top 1% share the last, open-ended bar."""
    upper = float(np.quantile(values, 0.99)) or float(values.max()) or 1.0
    edges = np.linspace(0.0, upper, _HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, upper), bins=edges)
    labels = [f"{low:,.3g}–{high:,.3g}" for low, high in itertools.pairwise(edges)]
    labels[-1] = f"{edges[-2]:,.3g}+"
    return charts.bar_figure(
        labels,
        [float(count) for count in counts],
        title=f"Predicted {horizon_months}-month customer value",
        x_title="Predicted value",
        y_title="Customers",
    )


def _customer_clv(row: dict[str, Any]) -> CustomerClv:
    name = row["name"]
    return CustomerClv(
        customer_id=str(row["external_id"]),
        name=None if name is None or pd.isna(name) else str(name),
        frequency=int(row["frequency"]),
        recency=float(row["recency"]),
        t=float(row["T"]),
        monetary_value=float(row["monetary_value"]),
        expected_purchases=float(row["expected_purchases"]),
        p_alive=float(row["p_alive"]),
        expected_spend=float(row["expected_spend"]),
        predicted_value=float(row["predicted_value"]),
    )


def _maximize(
    log_likelihood: Callable[[list[float]], float],
    starts: list[list[float]],
    customers: int,
    max_iter: int,
) -> tuple[list[float], float]:
    """Positive parameters maximising ``log_likelihood``, searched on their logarithms.

    The objective is per customer, so the tolerances mean the same at any
    size. Every start is tried and the best optimum kept.
    """

    def objective(log_params: np.ndarray) -> float:
        # Trial parameters far from the optimum may overflow; they score as
        # the penalty instead of warning.
        with np.errstate(all="ignore"):
            value = -log_likelihood([float(v) for v in np.exp(log_params)]) / customers
        return value if np.isfinite(value) else _PENALTY

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(starts[0])
    options = {"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-9}
    best: Any = None
    for start in starts:
        found = minimize(
            objective, np.log(start), method="L-BFGS-B", bounds=bounds, options=options
        )
        if best is None or found.fun < best.fun:
            best = found
    return [float(value) for value in np.exp(best.x)], -float(best.fun) * customers


def _floats(*arrays: ArrayLike) -> tuple[np.ndarray, ...]:
    return tuple(np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, "float64")) for a in arrays)))


def _finite(params: BgNbdParams | GammaGammaParams) -> bool:
    return all(math.isfinite(value) for value in vars(params).values())


def _require_columns(table: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(f"missing column {missing[0]!r}; expected {', '.join(columns)}")
