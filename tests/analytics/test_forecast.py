from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics.errors import InvalidArgumentError
from analytics.forecast import forecast_revenue
from analytics.frames import DatasetFrames
from analytics.pipeline import analyse_dataset
from analytics.sales import Granularity
from tests.analytics.conftest import make_dataset


def _monthly(revenues: list[float], last_day: dt.date | None = None) -> DatasetFrames:
    """One order per month (on the 1st) with the given revenue, from January 2021."""
    starts = pd.date_range("2021-01-01", periods=len(revenues), freq="MS")
    orders = [
        (i + 1, f"O{i + 1}", 1, start.date().isoformat(), "completed", "online", None, revenue)
        for i, (start, revenue) in enumerate(zip(starts, revenues, strict=True))
    ]
    if last_day is not None:  # an order that ends the history on this day
        orders.append((len(orders) + 1, "LAST", 1, last_day.isoformat(), None, None, None, 0.0))
    items = [(order[0], 1, 1.0, order[7], order[7]) for order in orders]
    return make_dataset(
        customers=[(1, "C1", "A", None, "North", "NO", "2021-01-01", None)],
        products=[(1, "P1", "Thing", "Stuff", 1.0)],
        orders=orders,
        items=items,
    )


def test_trend_and_seasonality_are_recovered_exactly() -> None:
    # 36 months of 100 + 10 t, with December 50 higher: a model without noise.
    # The history ends on 2023-12-31, so December 2023 is complete and kept.
    revenue = [100 + 10 * t + (50 if t % 12 == 11 else 0) for t in range(36)]
    frames = _monthly(revenue, last_day=dt.date(2023, 12, 31))

    result = forecast_revenue(frames, horizon=12)

    assert result.method == "linear trend + seasonal dummies"
    assert result.residual_std == pytest.approx(0, abs=1e-6)
    assert result.points[0].period_start == dt.date(2024, 1, 1)
    assert result.points[0].revenue == pytest.approx(100 + 10 * 36)
    assert result.points[11].revenue == pytest.approx(100 + 10 * 47 + 50)
    assert result.points[0].lower == pytest.approx(result.points[0].upper)
    assert result.figure["data"]


def test_short_history_uses_a_trend_and_drops_the_unfinished_period() -> None:
    # Months: 10, 20, 30, 40 and a May that is still running on the 10th (as of the 11th).
    frames = _monthly([10, 20, 30, 40, 5], last_day=dt.date(2021, 5, 10))

    result = forecast_revenue(frames, horizon=2, granularity=Granularity.MONTH)

    assert result.method == "linear trend"
    assert [v for _, v in result.history] == [10, 20, 30, 40]
    assert [p.revenue for p in result.points] == pytest.approx([50, 60])


def test_forecast_refuses_bad_horizon_and_tiny_history() -> None:
    with pytest.raises(InvalidArgumentError, match="horizon"):
        forecast_revenue(_monthly([1, 2, 3, 4]), horizon=0)
    with pytest.raises(InvalidArgumentError, match="at least 3"):
        forecast_revenue(_monthly([1, 2]))


def test_upload_report_parts_succeed_or_fail_independently() -> None:
    report = analyse_dataset(_monthly([1.0, 2.0]))

    assert report["kpis"]["success"] is True
    assert report["kpis"]["data"]["total_revenue"] == 3.0
    sales = report["sales"]
    assert sales["success"] is True
    assert sales["data"]["top10_products"][0]["sku"] == "P1"
    assert "at least 3" in sales["data"]["forecast"]["error"]
    assert report["churn"]["success"] is False
    assert "not available" in report["churn"]["error"]
