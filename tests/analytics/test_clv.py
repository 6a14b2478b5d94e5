"""Predicted lifetime value: published CDNOW fits, hand-checked summaries and formulas."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from scipy.integrate import quad
from scipy.special import hyp2f1
from scipy.stats import beta as beta_distribution

from analytics.clv import (
    CUSTOMER_COLUMNS,
    WEEKS_PER_MONTH,
    BgNbdModel,
    BgNbdParams,
    ClvSortField,
    GammaGammaModel,
    GammaGammaParams,
    predict_lifetime_value,
    summarize_btyd,
)
from analytics.demo import generate_demo_tables
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames, frames_from_tables
from tests.analytics.conftest import make_dataset
from tests.cdnow import cdnow_sample

CDNOW_AS_OF = dt.date(1997, 10, 1)  # calibration through 1997-09-30, weeks 1..39

# Fader, Hardie & Lee (2005), section 4; Fader & Hardie (2013), the Gamma-Gamma note.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
PUBLISHED_GAMMA_GAMMA_LL = -4055.92


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    log = pd.read_csv(
        cdnow_sample(),
        sep=r"\s+",
        header=None,
        names=["cohort_id", "customer_id", "date", "cds", "revenue"],
        dtype={"date": str},
    )
    log["order_date"] = pd.to_datetime(log["date"], format="%Y%m%d")
    return summarize_btyd(log, CDNOW_AS_OF)


@pytest.fixture(scope="module")
def demo_frames() -> DatasetFrames:
    return frames_from_tables("demo", 1, generate_demo_tables(300, seed=11))


def _purchases(rows: list[tuple[int, str, float]]) -> DatasetFrames:
    """One single-line order per (customer, day, revenue); customers C1..Cn named after them."""
    customers = sorted({customer for customer, _, _ in rows})
    return make_dataset(
        customers=[(c, f"C{c}", f"Name {c}", None, None, None, None, None) for c in customers],
        products=[(1, "P1", "Thing", "Stuff", 1.0)],
        orders=[
            (i + 1, f"O{i + 1}", customer, day, "completed", "web", None, revenue)
            for i, (customer, day, revenue) in enumerate(rows)
        ],
        items=[(i + 1, 1, 1.0, revenue, revenue) for i, (_, _, revenue) in enumerate(rows)],
    )


def test_summary_collapses_days_and_measures_weeks() -> None:
    # asOf 2024-01-29, so calibration ends on Sunday 2024-01-28.
    log = pd.DataFrame(
        [
            (1, "2024-01-01", 10.0),
            (1, "2024-01-01", 5.0),  # same day: one purchase of 15
            (1, "2024-01-08", 20.0),
            (1, "2024-01-15", 30.0),
            (1, "2024-01-29", 99.0),  # on asOf: after calibration
            (2, "2024-01-14", 40.0),
            (3, "2024-01-07", 50.0),
            (3, "2024-01-21", -10.0),  # a refund day is not a purchase
            (3, "2024-01-22", 12.0),
            (3, "2024-01-22", -2.0),  # nets to 10 that day
            (4, "2024-01-10", 8.0),
            (4, "2024-01-17", 0.0),  # a free purchase still counts
        ],
        columns=["customer_id", "order_date", "revenue"],
    )
    log["order_date"] = pd.to_datetime(log["order_date"])

    summary = summarize_btyd(log, dt.date(2024, 1, 29))

    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 1, 1],
            "recency": [14 / 7, 0.0, 15 / 7, 7 / 7],
            "T": [27 / 7, 14 / 7, 21 / 7, 18 / 7],
            "monetary_value": [(20 + 30) / 2, 0.0, 10.0, 0.0],
        },
        index=pd.Index([1, 2, 3, 4], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)


def test_summary_needs_the_columns() -> None:
    with pytest.raises(ValueError, match="'revenue'"):
        summarize_btyd(pd.DataFrame(columns=["customer_id", "order_date"]), dt.date(2024, 1, 1))


def test_cdnow_summary_matches_the_published_one(cdnow_summary: pd.DataFrame) -> None:
    assert len(cdnow_summary) == 2357
    assert int((cdnow_summary["frequency"] > 0).sum()) == 946
    # Customer 1 bought on 1997-01-01, 01-18 ($29.73) and 08-02 ($14.96) in
    # calibration: x = 2, t_x = 213 / 7 = 30.43, T = 272 / 7 = 38.86 in
    # Hardie's calibration summary.
    first = cdnow_summary.loc[1]
    assert first["frequency"] == 2
    assert first["recency"] == 213 / 7
    assert first["T"] == 272 / 7
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow_summary: pd.DataFrame) -> None:
    model = BgNbdModel().fit(cdnow_summary)

    fitted = model.params_
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(fitted, name) == pytest.approx(published, abs=1e-3), name
        assert round(getattr(fitted, name), 3) == published, name
    assert model.log_likelihood_ == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.05)


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow_summary: pd.DataFrame) -> None:
    model = GammaGammaModel().fit(cdnow_summary)

    assert model.n_customers_ == 946
    fitted = model.params_
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert round(getattr(fitted, name), 2) == published, name
    assert model.log_likelihood_ == pytest.approx(PUBLISHED_GAMMA_GAMMA_LL, abs=0.005)
    # lifetimes' documentation: 35.170981 for customers without repeat purchases
    # (its v rounds to 15.45, ours to 15.44, hence the tolerance).
    assert fitted.population_mean_spend == pytest.approx(35.17, abs=0.002)


def test_bgnbd_predictions_match_lifetimes_documentation(cdnow_summary: pd.DataFrame) -> None:
    params = BgNbdModel().fit(cdnow_summary).params_
    # lifetimes' quickstart: the five customers expected to buy most in the next week.
    frequency = [18, 19, 17, 29, 26]
    recency = [35.14, 34.00, 28.43, 37.71, 30.86]
    T = [35.86, 34.14, 28.86, 38.00, 31.00]

    predicted = params.expected_purchases(1.0, frequency, recency, T)

    documented = [0.424877, 0.474738, 0.486526, 0.662396, 0.710623]
    np.testing.assert_allclose(predicted, documented, atol=1e-5)


def _paper_likelihood(params: BgNbdParams, x: int, t_x: float, T: float) -> float:
    """Equation (6) of Fader, Hardie & Lee (2005), term by term, in plain floats."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b

    def beta(u: float, w: float) -> float:
        return math.exp(math.lgamma(u) + math.lgamma(w) - math.lgamma(u + w))

    rate_part = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha**r
    alive = beta(a, b + x) / beta(a, b) * rate_part / (alpha + T) ** (r + x)
    dropped = 0.0
    if x > 0:
        dropped = beta(a + 1, b + x - 1) / beta(a, b) * rate_part / (alpha + t_x) ** (r + x)
    return alive + dropped


def _paper_expected_purchases(
    params: BgNbdParams, t: float, x: float, t_x: float, T: float
) -> float:
    """Equation (10) of Fader, Hardie & Lee (2005), with the untransformed 2F1."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    hypergeometric = hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1)
    numerator *= 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hypergeometric
    odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return numerator / (1 + odds)


CASES = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 29.43, 35.0), (26, 30.86, 31.0)]


def test_bgnbd_formulas_match_the_paper() -> None:
    params = BgNbdParams(**PUBLISHED_BGNBD)
    x, t_x, T = (np.array(column, dtype=float) for column in zip(*CASES, strict=True))

    log_likelihood = params.log_likelihood(x, t_x, T)
    expected = [math.log(_paper_likelihood(params, *case)) for case in CASES]
    np.testing.assert_allclose(log_likelihood, expected, rtol=1e-12)

    for t in (1.0, 39.0, 520.0):
        predicted = params.expected_purchases(t, x, t_x, T)
        paper = [_paper_expected_purchases(params, t, *case) for case in CASES]
        np.testing.assert_allclose(predicted, paper, rtol=1e-9)
    np.testing.assert_array_equal(params.expected_purchases(0.0, x, t_x, T), 0.0)


def _integrated_expected_purchases(
    params: BgNbdParams, t: float, x: float, t_x: float, T: float
) -> float:
    """P(alive) x E[(1 - ((alpha+T)/(alpha+T+pt))^(r+x)) / p], p ~ Beta(a, b+x), by scipy quad."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    posterior = beta_distribution(a, b + x)

    def integrand(p: float) -> float:
        return -math.expm1(-(r + x) * math.log1p(p * t / (alpha + T))) / p * posterior.pdf(p)

    peak = (a - 1) / (a + b + x - 2) if a > 1 else 0.5
    if_alive, _ = quad(integrand, 0, 1, points=[peak], limit=200, epsabs=0, epsrel=1e-10)
    return if_alive * float(params.p_alive([x], [t_x], [T])[0])


def test_expected_purchases_where_the_closed_form_breaks_down() -> None:
    # The integral the fallback computes equals the paper's closed form...
    published = BgNbdParams(**PUBLISHED_BGNBD)
    for case in CASES[1:]:
        closed = published.expected_purchases(39.0, *([value] for value in case))[0]
        assert closed == pytest.approx(
            _integrated_expected_purchases(published, 39.0, *case), rel=1e-8
        )
    # ...and takes over where hyp2f1 cannot evaluate it: a dropout probability
    # the same for everyone (a and b in the thousands) over ten years.
    homogeneous = BgNbdParams(r=0.51, alpha=1.12, a=1045.6, b=3941.2)
    x, t_x, T = (np.array(column, dtype=float) for column in zip(*CASES, strict=True))
    with np.errstate(all="ignore"):
        assert not np.isfinite(
            hyp2f1(
                homogeneous.a + homogeneous.b - 1 - homogeneous.r,
                homogeneous.a - 1,
                homogeneous.a + homogeneous.b + x - 1,
                522 / (homogeneous.alpha + T + 522),
            )
        ).all()
    predicted = homogeneous.expected_purchases(522.0, x, t_x, T)
    integrated = [_integrated_expected_purchases(homogeneous, 522.0, *case) for case in CASES]
    np.testing.assert_allclose(predicted, integrated, rtol=1e-5)


def test_p_alive_by_hand() -> None:
    params = BgNbdParams(r=1.0, alpha=1.0, a=1.0, b=2.0)
    # 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    #   = 1 / (1 + 1/2 * (4 / 2) ** 2) = 1/3
    assert params.p_alive([1], [1.0], [3.0]) == pytest.approx([1 / 3])
    # Without repeat purchases nobody can have dropped out (even at published values).
    published = BgNbdParams(**PUBLISHED_BGNBD)
    assert published.p_alive([0, 0], [0.0, 0.0], [0.5, 80.0]).tolist() == [1.0, 1.0]
    # The longer the silence since the last purchase, the less likely alive.
    silent = published.p_alive([3, 3, 3], [30.0, 20.0, 10.0], [30.0, 30.0, 30.0])
    assert silent[0] > silent[1] > silent[2]


def test_gamma_gamma_formulas_by_hand() -> None:
    params = GammaGammaParams(p=2.0, q=3.0, v=10.0)
    # Population mean p v / (q - 1) = 10. A customer with x = 2, m = 30 gets
    # p (v + x m) / (p x + q - 1) = 2 * 70 / 6, the mean weighted 2:4 with their own.
    assert params.population_mean_spend == 10.0
    spend = params.expected_spend([0, 2], [0.0, 30.0])
    assert spend == pytest.approx([10.0, 140 / 6])
    assert spend[1] == pytest.approx(2 / 6 * 10.0 + 4 / 6 * 30.0)
    # The likelihood is the density of a mean spend over x purchases: it integrates to 1.
    for x in (1, 4):

        def density(m: float, x: int = x) -> float:
            return math.exp(params.log_likelihood([x], [m])[0])

        total, _ = quad(density, 0, np.inf)
        assert total == pytest.approx(1.0, abs=1e-8)
    assert GammaGammaParams(p=1.0, q=0.5, v=1.0).population_mean_spend == math.inf


def test_predict_lifetime_value(demo_frames: DatasetFrames) -> None:
    result = predict_lifetime_value(demo_frames, horizon_months=6, discount_rate=0.0)

    assert result.as_of == demo_frames.default_as_of
    customers = result.customers
    assert list(customers.columns) == CUSTOMER_COLUMNS
    assert len(customers) == demo_frames.lines["customer_id"].nunique()
    assert np.isfinite(customers[CUSTOMER_COLUMNS[2:]].to_numpy(dtype=float)).all()
    assert all(math.isfinite(value) for value in vars(result.bgnbd).values())
    assert customers["p_alive"].between(0, 1).all()
    assert (customers["predicted_value"] >= 0).all()
    assert customers["predicted_value"].is_monotonic_decreasing
    assert result.total_predicted_value == pytest.approx(customers["predicted_value"].sum())
    assert result.average_p_alive == pytest.approx(customers["p_alive"].mean())
    # Undiscounted, the monthly increments add up to the horizon's expected purchases.
    np.testing.assert_allclose(
        customers["predicted_value"],
        customers["expected_purchases"] * customers["expected_spend"],
        rtol=1e-9,
    )
    top = customers.iloc[0]
    horizon = result.bgnbd.expected_purchases(
        6 * WEEKS_PER_MONTH, [top["frequency"]], [top["recency"]], [top["T"]]
    )
    assert top["expected_purchases"] == pytest.approx(horizon[0])
    figure = pio.from_json(json.dumps(result.figure))
    assert sum(figure.data[0].y) == len(customers)


def test_discounting_by_hand(demo_frames: DatasetFrames) -> None:
    result = predict_lifetime_value(demo_frames, horizon_months=2, discount_rate=0.1)

    row = result.customers.iloc[0]
    history = ([row["frequency"]], [row["recency"]], [row["T"]])
    one = result.bgnbd.expected_purchases(WEEKS_PER_MONTH, *history)[0]
    two = result.bgnbd.expected_purchases(2 * WEEKS_PER_MONTH, *history)[0]
    by_hand = row["expected_spend"] * (one / 1.1 + (two - one) / 1.1**2)
    assert row["predicted_value"] == pytest.approx(by_hand, rel=1e-12)


def test_pages_and_lookup(demo_frames: DatasetFrames) -> None:
    result = predict_lifetime_value(demo_frames)
    customers = result.customers

    top = result.page(first=3)
    assert [c.customer_id for c in top] == list(customers["external_id"][:3])
    assert result.page(first=2, offset=1) == top[1:]
    least_alive = result.page(first=5, sort=ClvSortField.P_ALIVE, descending=False)
    assert [c.p_alive for c in least_alive] == sorted(customers["p_alive"])[:5]

    pk = int(customers.index[0])
    assert result.for_customer(pk) == top[0]
    assert result.for_customer(-1) is None
    with pytest.raises(InvalidArgumentError, match="first"):
        result.page(first=1001)
    with pytest.raises(InvalidArgumentError, match="offset"):
        result.page(offset=-1)


def test_as_of_limits_calibration(demo_frames: DatasetFrames) -> None:
    as_of = dt.date(2024, 1, 1)
    result = predict_lifetime_value(demo_frames, as_of=as_of)

    earlier = demo_frames.lines[demo_frames.lines["order_date"] < pd.Timestamp(as_of)]
    assert result.as_of == as_of
    assert result.customer_count == earlier["customer_id"].nunique()
    assert result.customers["T"].max() <= (as_of - dt.date(2022, 1, 1)).days / 7


def test_too_few_customers_is_a_clear_error(frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="at least 10 customers") as raised:
        predict_lifetime_value(frames)
    assert "found 4 customers" in str(raised.value)

    one_time_buyers = _purchases([(c, "2024-01-01", 10.0) for c in range(1, 13)])
    with pytest.raises(InvalidArgumentError, match="0 repeat buyers"):
        predict_lifetime_value(one_time_buyers)


def test_spend_falls_back_to_observed_means_with_few_repeat_buyers() -> None:
    rows = [(c, "2024-01-01", 10.0 * c) for c in range(1, 13)]
    rows += [(1, "2024-02-01", 30.0), (2, "2024-03-01", 50.0), (2, "2024-03-15", 70.0)]
    result = predict_lifetime_value(_purchases(rows))

    assert result.gamma_gamma is None
    spend = result.customers.set_index("external_id")["expected_spend"]
    assert spend["C1"] == 30.0
    assert spend["C2"] == 60.0
    assert spend["C3"] == 45.0  # one-time buyers: the mean of the repeat buyers' means
    assert np.isfinite(result.customers[CUSTOMER_COLUMNS[2:]].to_numpy(dtype=float)).all()


def _clockwork_buyers() -> list[tuple[int, str, float]]:
    """Everyone buys every Monday of 2023 for 10: no heterogeneity, nobody drops out."""
    mondays = pd.date_range("2023-01-02", "2023-12-25", freq="7D").strftime("%Y-%m-%d")
    return [(c, day, 10.0) for c in range(1, 13) for day in mondays]


def _identical_dropouts() -> list[tuple[int, str, float]]:
    """Simulated BG/NBD customers sharing one purchase rate and one dropout probability."""
    rng = np.random.default_rng(0)
    rows = []
    for customer in range(1, 301):
        day = float(rng.integers(0, 300))
        while day < 1000:
            rows.append(
                (customer, (dt.date(2021, 1, 1) + dt.timedelta(days=int(day))).isoformat(), 20.0)
            )
            if rng.random() < 0.2:
                break
            day += rng.exponential(14)
    return rows


@pytest.mark.parametrize("rows", [_clockwork_buyers(), _identical_dropouts()])
def test_data_without_heterogeneity_still_predicts(rows: list[tuple[int, str, float]]) -> None:
    # Such likelihoods are flat: estimates run to their bounds, not to NaN.
    result = predict_lifetime_value(_purchases(rows), horizon_months=120)

    assert all(math.isfinite(value) for value in vars(result.bgnbd).values())
    assert np.isfinite(result.customers[CUSTOMER_COLUMNS[2:]].to_numpy(dtype=float)).all()
    assert result.total_predicted_value > 0


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"horizon_months": 0}, "horizonMonths"),
        ({"horizon_months": 121}, "horizonMonths"),
        ({"horizon_months": True}, "horizonMonths"),
        ({"horizon_months": 1.5}, "horizonMonths"),
        ({"discount_rate": -0.01}, "discountRate"),
        ({"discount_rate": 1.5}, "discountRate"),
        ({"discount_rate": math.nan}, "discountRate"),
        ({"as_of": "2024-01-01"}, "asOf"),
    ],
)
def test_bad_arguments_name_the_argument(
    frames: DatasetFrames, arguments: dict[str, object], name: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        predict_lifetime_value(frames, **arguments)  # type: ignore[arg-type]
