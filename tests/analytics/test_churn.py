"""Churn risk: hand-checked labels, trend and features; models on known outcomes; real exports.

The hand dataset (one line per order, amount = revenue):

    C1 2023-05-01 100, 2024-01-15 50, 2024-03-01 30, 2024-05-01 20
    C2 2024-01-10 40
    C3 2023-03-01 10, 2024-04-15 10
    C4 2024-03-31 25, 2024-06-30 25
    C5 2024-04-01 60
    C6 2023-04-02 70, 2024-06-29 15

At the cutoff 2024-04-01 with a 90-day horizon the active customers are
those who ordered in [2023-04-02, 2024-04-01): C1, C2, C4, C6 (C3's order is
a month too old, C5's falls on the cutoff). The horizon is [2024-04-01,
2024-06-30): C1 and C6 order in it; C2 never orders again and C4 orders on
2024-06-30, the first day after it. So C2 and C4 churned: 2 of 4, 50%.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from analytics.churn import (
    ChurnMode,
    FactorDirection,
    RiskLevel,
    analyze_churn,
    build_churn_features,
    churn_labels,
    churn_rate_trend,
    churn_report_data,
    churn_upload_report,
    contribution_effects,
    risk_level,
)
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames, build_frames, frames_from_tables
from analytics.ingest import read_upload
from analytics.worker import TrainingTimeoutError
from tests.analytics.conftest import CUSTOMER_COLUMNS, ITEM_COLUMNS, make_dataset
from tests.cdnow import cdnow_sample

HAND_ORDERS = [
    ("C1", "2023-05-01", 100.0),
    ("C1", "2024-01-15", 50.0),
    ("C1", "2024-03-01", 30.0),
    ("C1", "2024-05-01", 20.0),
    ("C2", "2024-01-10", 40.0),
    ("C3", "2023-03-01", 10.0),
    ("C3", "2024-04-15", 10.0),
    ("C4", "2024-03-31", 25.0),
    ("C4", "2024-06-30", 25.0),
    ("C5", "2024-04-01", 60.0),
    ("C6", "2023-04-02", 70.0),
    ("C6", "2024-06-29", 15.0),
]


def frames_from_orders(
    orders: list[tuple[str, str, float]],
    satisfaction: dict[str, float] | None = None,
    region: str | None = "North",
) -> DatasetFrames:
    """A dataset with one single-line order per ``(customer, date, amount)``."""
    names = sorted({customer for customer, _, _ in orders}, key=lambda c: (len(c), c))
    pk = {name: index for index, name in enumerate(names, start=1)}
    customers = [
        (pk[name], name, f"Customer {name}", None, region, None, "2023-01-01",
         (satisfaction or {}).get(name))
        for name in names
    ]  # fmt: skip
    order_rows = [
        (index, f"O{index}", pk[customer], day, "completed", "web", None, amount)
        for index, (customer, day, amount) in enumerate(orders, start=1)
    ]
    items = [
        (index, 1, 1.0, amount, amount) for index, (_, _, amount) in enumerate(orders, start=1)
    ]
    return make_dataset(customers, [(1, "SKU", "Thing", "Stuff", 1.0)], [], order_rows, items)


def by_external_id(frames: DatasetFrames, values: pd.Series) -> dict[str, Any]:
    external = frames.customers.set_index("customer_id")["external_id"]
    return {external[customer_id]: value for customer_id, value in values.items()}


@pytest.fixture
def hand_frames() -> DatasetFrames:
    return frames_from_orders(HAND_ORDERS)


def test_churn_labels_at_a_cutoff(hand_frames: DatasetFrames) -> None:
    labels = churn_labels(hand_frames, dt.date(2024, 4, 1), horizon_days=90)

    assert by_external_id(hand_frames, labels) == {
        "C1": False,
        "C2": True,
        "C4": True,
        "C6": False,
    }


def test_monthly_trend_counts_only_months_whose_horizon_has_passed(
    hand_frames: DatasetFrames,
) -> None:
    trend = churn_rate_trend(hand_frames, dt.date(2024, 7, 1), horizon_days=90)

    # 2024-04-01 + 90 days = 2024-06-30 <= asOf, 2024-05-01 + 90 is too late;
    # twelve months back from April 2024 starts in May 2023.
    assert [p.month for p in trend] == list(
        pd.date_range("2023-05-01", "2024-04-01", freq="MS").date
    )
    # May 2023: C3 and C6 were active and neither ordered before 2023-07-30.
    assert (trend[0].customers, trend[0].churners, trend[0].churn_rate) == (2, 2, 100.0)
    # Feb 2024: C1, C2, C3, C6 active; C1 (2024-03-01) and C3 (2024-04-15) came back.
    # Mar 2024: C3's only old order is from 2023-03-01, outside [2023-03-02, 2024-03-01);
    # C1 orders on the cutoff day itself, which is inside the horizon.
    assert [(p.customers, p.churners) for p in trend[-3:]] == [(4, 2), (3, 2), (4, 2)]
    assert trend[-2].churn_rate == pytest.approx(200 / 3)
    assert trend[-1].churn_rate == 50.0


def test_churn_features_add_trend_and_interpurchase_features(hand_frames: DatasetFrames) -> None:
    features = build_churn_features(hand_frames, dt.date(2024, 4, 1))
    external_ids = hand_frames.customers.set_index("customer_id")["external_id"]
    rows = dict(zip(external_ids[features.index], features.to_dict("records"), strict=True))

    assert sorted(rows) == ["C1", "C2", "C4", "C6"]
    c1 = rows["C1"]
    # Orders 2023-05-01, 2024-01-15, 2024-03-01 before the cutoff; 305 days first to last.
    assert (c1["recency"], c1["frequency"], c1["monetary"], c1["tenure"]) == (31, 3, 180, 336)
    assert c1["average_order_value"] == 60.0
    # Last 90 days [2024-01-02, 2024-04-01): two orders for 80; the 90 before: none.
    assert (c1["recent_orders"], c1["order_trend"], c1["revenue_trend"]) == (2, 2, 80)
    assert c1["mean_days_between_orders"] == 152.5
    assert c1["overdue_ratio"] == pytest.approx(31 / 152.5)
    c2 = rows["C2"]
    assert (c2["recency"], c2["recent_orders"], c2["revenue_trend"]) == (82, 1, 40)
    assert math.isnan(c2["mean_days_between_orders"]) and math.isnan(c2["overdue_ratio"])
    # C6's only order is exactly 365 days old: still active, nothing recent.
    assert (rows["C6"]["recency"], rows["C6"]["recent_orders"]) == (365, 0)
    assert list(features.columns[:4]) == ["recency", "frequency", "monetary", "tenure"]


def test_too_few_customers_is_a_clear_error(hand_frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        analyze_churn(hand_frames, dt.date(2024, 7, 1))

    message = str(caught.value)
    assert "needs at least 20 customers" in message
    assert "cutoff 2024-04-02" in message
    assert message.endswith("the dataset has 4")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"horizon_days": 0}, "horizonDays"),
        ({"horizon_days": 731}, "horizonDays"),
        ({"horizon_days": True}, "horizonDays"),
        ({"active_days": 0}, "activeDays"),
        ({"as_of": "2024-01-01"}, "asOf"),
    ],
)
def test_bad_arguments_name_the_argument(
    hand_frames: DatasetFrames, arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        analyze_churn(hand_frames, **arguments)


def test_no_orders_and_no_label_is_a_clear_error(empty_frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match=r"no orders .* and no churn label"):
        analyze_churn(empty_frames)


def loyal_and_lapsed_orders() -> list[tuple[str, str, float]]:
    """24 customers who order every 20-40 days through June 2024 and 16 who stop in winter."""
    orders = []
    for number in range(1, 41):
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=number % 9)
        every = pd.Timedelta(days=20 + 5 * (number % 5))
        last = (
            pd.Timestamp("2024-06-30")
            if number <= 24
            else pd.Timestamp("2023-12-15") + pd.Timedelta(days=10 * (number % 6))
        )
        while day <= last:
            orders.append((f"C{number}", day.date().isoformat(), 10.0 + number % 7))
            day += every
    return orders


@pytest.fixture(scope="module")
def lapsed() -> tuple[DatasetFrames, Any]:
    frames = frames_from_orders(loyal_and_lapsed_orders())
    return frames, analyze_churn(frames, dt.date(2024, 7, 1))


def test_time_split_on_known_outcomes(lapsed: tuple[DatasetFrames, Any]) -> None:
    frames, result = lapsed

    assert result.mode is ChurnMode.TIME_SPLIT
    assert result.cutoff == dt.date(2024, 4, 2)
    # Everyone ordered in the year before the cutoff; C25..C40 never after it.
    assert (result.observed_customers, result.total_churners) == (40, 16)
    assert result.current_churn_rate == 40.0
    assert result.scored_customers == 40
    model = result.model
    assert model.auc == 1.0
    assert (model.train_size, model.test_size) == (30, 10)
    assert model.base_rate == 0.4
    probability = by_external_id(frames, result.scores["probability"])
    lapsed_customers = [probability[f"C{n}"] for n in range(25, 41)]
    loyal_customers = [probability[f"C{n}"] for n in range(1, 25)]
    assert min(lapsed_customers) > max(loyal_customers)
    assert result.average_churn_probability == pytest.approx(np.mean(list(probability.values())))
    top = result.top_at_risk(16)
    assert {risk.customer_id for risk in top} == {f"C{n}" for n in range(25, 41)}
    assert [risk.probability for risk in top] == sorted((r.probability for r in top), reverse=True)
    assert top[0].risk_level is risk_level(top[0].probability)
    counts = {bucket.level: bucket.customers for bucket in result.risk_distribution}
    assert sum(counts.values()) == 40
    assert sum(bucket.share for bucket in result.risk_distribution) == pytest.approx(1.0)


def test_factors_and_figures_are_complete_and_finite(lapsed: tuple[DatasetFrames, Any]) -> None:
    _, result = lapsed

    importances = [factor.importance for factor in result.factors]
    assert importances == sorted(importances, reverse=True)
    assert {factor.feature for factor in result.factors} == set(result.features.columns)
    recency = next(f for f in result.factors if f.feature == "recency")
    assert recency.label == "Days since last order"
    assert recency.direction is FactorDirection.INCREASES_RISK
    for factor in result.top_at_risk(3)[0].top_factors:
        assert factor.effect >= 0.001
    report = churn_report_data(result, top=5)
    json.dumps(report, allow_nan=False)
    assert report["metrics"] == {
        "current_churn_rate": 40.0,
        "average_churn_prob": result.average_churn_probability,
        "total_churners": 16,
        "observed_customers": 40,
        "scored_customers": 40,
    }
    assert len(report["top_churn_customers"]) == 5
    for figure in (result.distribution_figure, result.factors_figure, result.trend_figure):
        loaded = pio.from_json(json.dumps(figure))
        assert loaded.data
    pie = result.distribution_figure["data"][0]
    assert pie["labels"] == ["Low", "Medium", "High"]
    assert pie["values"] == [bucket.customers for bucket in result.risk_distribution]


def test_too_few_churners_names_the_counts() -> None:
    loyal_only = [order for order in loyal_and_lapsed_orders() if int(order[0][1:]) <= 24]
    frames = frames_from_orders([*loyal_only, ("C99", "2023-06-01", 5.0)])

    expected = r"at least 5 churners .* among the 25 customers .*; 1 churned"
    with pytest.raises(InvalidArgumentError, match=expected):
        analyze_churn(frames, dt.date(2024, 7, 1))


def test_training_in_a_child_process_matches_and_times_out(
    lapsed: tuple[DatasetFrames, Any],
) -> None:
    frames, in_process = lapsed

    in_child = analyze_churn(frames, dt.date(2024, 7, 1), timeout=120)
    pd.testing.assert_frame_equal(in_child.scores, in_process.scores)
    with pytest.raises(TrainingTimeoutError, match="stopped"):
        analyze_churn(frames, dt.date(2024, 7, 1), timeout=0.001)


class AdditiveModel:
    """P(churn) = 0.1 + 0.01 a + 0.3 [b == "x"]: every effect is known."""

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        churn = 0.1 + 0.01 * rows["a"].to_numpy(dtype=float) + np.where(rows["b"] == "x", 0.3, 0)
        return np.column_stack([1 - churn, churn])


def test_contributions_replace_one_value_by_the_typical_one() -> None:
    rows = pd.DataFrame({"a": [10.0, 2.0], "b": ["x", "y"]}, dtype=object).astype({"a": float})

    effects = contribution_effects(AdditiveModel(), rows, {"a": 5.0, "b": "y"})  # type: ignore[arg-type]

    np.testing.assert_allclose(effects, [[0.05, 0.3], [-0.03, 0.0]], atol=1e-12)


@pytest.mark.parametrize(
    ("probability", "level"),
    [(0.0, RiskLevel.LOW), (0.2999, RiskLevel.LOW), (0.3, RiskLevel.MEDIUM),
     (0.6999, RiskLevel.MEDIUM), (0.7, RiskLevel.HIGH), (1.0, RiskLevel.HIGH)],
)  # fmt: skip
def test_risk_levels(probability: float, level: RiskLevel) -> None:
    assert risk_level(probability) is level


CONTRACTS = ("Month-to-month", "One year", "Two year")


def telco_rows() -> list[list[str]]:
    """A Telco-style export: month-to-month customers of under 40 months churn, and every 11th."""
    rows = [["customerID", "gender", "SeniorCitizen", "tenure", "Contract", "MonthlyCharges",
             "Churn"]]  # fmt: skip
    for number in range(60):
        contract = CONTRACTS[number % 3]
        tenure = (number * 7) % 72 + 1
        churned = (contract == CONTRACTS[0] and tenure < 40) or number % 11 == 0
        rows.append(
            [f"{number:04d}-TEL", "Female" if number % 2 else "Male", str(number % 4 == 0),
             str(tenure), contract, f"{20 + (number * 13) % 90}.5", "Yes" if churned else "No"]
        )  # fmt: skip
    # Two customers without a label: scored, but not counted in the churn rate.
    rows.append(["9998-NEW", "Male", "0", "2", CONTRACTS[0], "99.5", ""])
    rows.append(["9999-NEW", "Female", "0", "70", CONTRACTS[2], "25.5", ""])
    return rows


def test_label_mode_on_an_uploaded_customer_table(tmp_path: Path) -> None:
    path = tmp_path / "telco.csv"
    path.write_text("\n".join(",".join(row) for row in telco_rows()) + "\n")
    parsed = read_upload(path)
    assert parsed.kind == "customers"
    frames = frames_from_tables("telco", 1, parsed.tables)

    result = analyze_churn(frames)

    labels = [row[-1] for row in telco_rows()[1:61]]
    assert result.mode is ChurnMode.LABEL
    assert (result.cutoff, result.trend) == (None, ())
    assert result.observed_customers == 60
    assert result.total_churners == labels.count("Yes")
    assert result.current_churn_rate == pytest.approx(100 * labels.count("Yes") / 60)
    assert result.scored_customers == 62
    contract = next(f for f in result.factors if f.feature == "contract")
    assert (contract.direction, contract.riskiest_value) == (
        FactorDirection.BY_CATEGORY,
        "Month-to-month",
    )
    tenure = next(f for f in result.factors if f.feature == "tenure")
    assert (tenure.label, tenure.direction) == ("Tenure", FactorDirection.DECREASES_RISK)
    # Labelled customers get out-of-fold probabilities, not the refitted model's own.
    in_sample = result.estimator.predict_proba(result.features)[:, 1]
    assert not np.allclose(result.scores["probability"].to_numpy(), in_sample)
    new = result.customer_risk("9998-NEW")
    assert new is not None and new.recency is None and new.monetary is None
    assert new.probability > result.customer_risk("9999-NEW").probability  # type: ignore[union-attr]
    assert result.customer_risk("ghost") is None
    report = churn_report_data(result)
    json.dumps(report, allow_nan=False)
    assert report["churn_rate_trends"] == []
    for figure in (result.distribution_figure, result.factors_figure, result.trend_figure):
        pio.from_json(json.dumps(figure))


def test_a_label_with_nothing_to_learn_from_is_a_clear_error() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": range(1, 31),
            "external_id": [f"K{n}" for n in range(1, 31)],
            "attributes": [{"churn": n % 3 == 0} for n in range(1, 31)],
        }
    ).reindex(columns=[*CUSTOMER_COLUMNS, "attributes"])
    empty = make_dataset()
    frames = build_frames(
        "labels",
        1,
        customers,
        empty.products,
        empty.sales_reps,
        empty.orders,
        empty.lines[ITEM_COLUMNS],
    )

    with pytest.raises(InvalidArgumentError, match="no columns to learn from"):
        analyze_churn(frames)


@pytest.fixture(scope="module")
def cdnow_frames(tmp_path_factory: pytest.TempPathFactory) -> DatasetFrames:
    """The CDNOW sample imported as a CSV upload (customer, date, CDs, dollars)."""
    log = pd.read_csv(cdnow_sample(), sep=r"\s+", header=None, dtype={2: str},
                      names=["cohort", "customer_id", "date", "quantity", "amount"])  # fmt: skip
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    log[["customer_id", "date", "quantity", "amount"]].to_csv(path, index=False)
    return frames_from_tables("cdnow", 1, read_upload(path).tables)


def test_time_split_on_the_cdnow_export(cdnow_frames: DatasetFrames) -> None:
    report = churn_upload_report(cdnow_frames, top=10)

    log = pd.read_csv(cdnow_sample(), sep=r"\s+", header=None, dtype={2: str},
                      names=["cohort", "customer", "date", "cds", "dollars"])  # fmt: skip
    day = pd.to_datetime(log["date"], format="%Y%m%d")
    # Latest purchase 1998-06-30: asOf 1998-07-01, cutoff 1998-04-02.
    active = set(log.loc[(day >= "1997-04-02") & (day < "1998-04-02"), "customer"])
    returned = set(log.loc[(day >= "1998-04-02") & (day < "1998-07-01"), "customer"])
    churners = len(active - returned)
    assert (report["as_of"], report["cutoff"]) == ("1998-07-01", "1998-04-02")
    assert report["metrics"]["total_churners"] == churners
    assert report["metrics"]["observed_customers"] == len(active)
    assert report["metrics"]["current_churn_rate"] == pytest.approx(100 * churners / len(active))
    scored = set(log.loc[(day >= "1997-07-01") & (day < "1998-07-01"), "customer"])
    assert report["metrics"]["scored_customers"] == len(scored)
    assert report["model"]["auc"] > 0.7
    assert len(report["top_churn_customers"]) == 10
    assert len(report["churn_rate_trends"]) == 12
    assert report["churn_rate_trends"][-1]["month"] == "1998-04-01"
    json.dumps(report, allow_nan=False)
