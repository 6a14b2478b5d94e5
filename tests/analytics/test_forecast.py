from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from analytics.errors import InvalidArgumentError
from analytics.forecast import (
    ForecastAccuracy,
    ForecastModel,
    ForecastResult,
    forecast_revenue,
    forecast_seasonal_naive,
    measure_accuracy,
    min_seasonal_periods,
    naive_lag,
)
from analytics.frames import DatasetFrames
from analytics.sales import Granularity
from tests.analytics.conftest import make_dataset

T_975_2 = 4.302652729749464  # Student t, 97.5th percentile, 2 degrees of freedom


def _orders(days: list[dt.date], revenues: Sequence[float]) -> DatasetFrames:
    """One single-line order per (day, revenue) for customer C1 and product P1."""
    orders = [
        (i + 1, f"O{i + 1}", 1, day.isoformat(), "completed", "online", None, revenue)
        for i, (day, revenue) in enumerate(zip(days, revenues, strict=True))
    ]
    items = [(order[0], 1, 1.0, order[7], order[7]) for order in orders]
    return make_dataset(
        customers=[(1, "C1", "A", None, "North", "NO", "2021-01-01", None)],
        products=[(1, "P1", "Thing", "Stuff", 1.0)],
        orders=orders,
        items=items,
    )


def _monthly(
    revenues: Sequence[float], last_day: dt.date | None = None, first_day: int = 1
) -> DatasetFrames:
    """One order per month (on ``first_day``) with the given revenue, from January 2021.

    ``last_day`` adds an empty order that ends the history on that day.
    """
    days = [
        start.date().replace(day=first_day)
        for start in pd.date_range("2021-01-01", periods=len(revenues), freq="MS")
    ]
    revenues = list(revenues)
    if last_day is not None:
        days.append(last_day)
        revenues.append(0.0)
    return _orders(days, revenues)


def _daily(revenues: Sequence[float], start: dt.date = dt.date(2021, 1, 4)) -> DatasetFrames:
    days = [start + dt.timedelta(days=i) for i in range(len(revenues))]
    return _orders(days, revenues)


def _json_safe(result: ForecastResult) -> str:
    return json.dumps(dataclasses.asdict(result), default=str, allow_nan=False)


def test_accuracy_metrics_by_hand() -> None:
    # Errors 10, 10, 10. MAPE skips the zero actual: (10/100 + 10/50) / 2 = 15%.
    # sMAPE: (20/190 + 20/10 + 20/110) / 3. Naive lag-1 errors of the training
    # part: 10, 20, 10, so MASE = 10 / (40/3) = 0.75.
    accuracy = measure_accuracy(
        np.array([100.0, 0.0, 50.0]),
        np.array([90.0, 10.0, 60.0]),
        np.array([10.0, 20.0, 40.0, 30.0]),
        lag=1,
    )

    assert accuracy.mae == pytest.approx(10.0)
    assert accuracy.mape == pytest.approx(15.0)
    assert accuracy.smape == pytest.approx(100 * (20 / 190 + 2 + 20 / 110) / 3)
    assert accuracy.mase == pytest.approx(0.75)


def test_accuracy_metrics_without_a_scale_are_none() -> None:
    # All actuals 0: no MAPE; 0 against 0: no sMAPE; a flat training part: no MASE.
    accuracy = measure_accuracy(np.zeros(2), np.zeros(2), np.full(5, 7.0), lag=1)

    assert accuracy == ForecastAccuracy(mae=0.0, mape=None, smape=None, mase=None)


def test_seasonal_naive_repeats_the_last_season() -> None:
    training = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    assert forecast_seasonal_naive(training, 5, lag=4).tolist() == [3, 4, 5, 6, 3]
    assert forecast_seasonal_naive(training, 2, lag=1).tolist() == [6, 6]
    # A season needs at least one in-sample seasonal difference to scale MASE.
    assert naive_lag(13, 12) == 12
    assert naive_lag(12, 12) == 1
    assert naive_lag(50, None) == 1


def test_seasonal_model_needs_two_seasons_and_enough_to_initialise() -> None:
    assert min_seasonal_periods(12) == 24
    assert min_seasonal_periods(52) == 104
    assert min_seasonal_periods(4) == 14  # 10 + 2 * 2
    assert min_seasonal_periods(7) == 16  # 10 + 2 * 3


def test_short_history_gets_a_straight_line_with_t_intervals_and_a_backtest() -> None:
    # Months 1, 3, 2, 4 (April complete). Least squares: slope 0.8, intercept 1.3,
    # residuals -0.3, 0.9, -0.9, 0.3, so s^2 = 1.8 / 2 = 0.9. At t = 4 the forecast
    # is 4.5 and the leverage 1/4 + 2.5^2 / 5 = 1.5, so the interval is
    # 4.5 ± t(0.975, 2) * sqrt(0.9 * 2.5) = 4.5 ± 1.5 t; its lower end is below 0
    # and is raised to 0 because no month was negative.
    frames = _monthly([1, 3, 2, 4], last_day=dt.date(2021, 4, 30))

    result = forecast_revenue(frames, horizon=1)

    assert result.model is ForecastModel.LINEAR_TREND
    assert result.method == "least-squares linear trend"
    assert "only 4 complete months" in result.reason
    assert result.residual_std == pytest.approx(np.sqrt(0.9))
    [point] = result.points
    assert point.period_start == dt.date(2021, 5, 1)
    assert point.revenue == pytest.approx(4.5)
    assert point.upper == pytest.approx(4.5 + 1.5 * T_975_2)
    assert point.lower == 0.0
    assert any("raised to 0" in note for note in result.notes)
    assert [h.fitted for h in result.history] == pytest.approx([1.3, 2.1, 2.9, 3.7])

    # Backtest: hold out April; the line through 1, 3, 2 (slope 0.5, intercept
    # 1.5) says 3 against an actual 4. Naive (lag 1: three months are less than
    # a season) says 2. MASE scale: mean(|3 - 1|, |2 - 3|) = 1.5.
    backtest = result.backtest
    assert backtest is not None
    assert (backtest.periods, backtest.train_periods) == (1, 3)
    assert backtest.mae == pytest.approx(1.0)
    assert backtest.mape == pytest.approx(25.0)
    assert backtest.smape == pytest.approx(100 * 2 / 7)
    assert backtest.mase == pytest.approx(1 / 1.5)
    assert backtest.baseline.mae == pytest.approx(2.0)
    assert backtest.baseline.mape == pytest.approx(50.0)
    assert backtest.baseline.smape == pytest.approx(100 * 4 / 6)
    assert backtest.baseline.mase == pytest.approx(2 / 1.5)
    assert backtest.baseline_method == "naive (the last value)"
    assert backtest.beats_baseline is True
    assert backtest.coverage == 1.0
    assert backtest.points[0].baseline == 2.0


def test_exact_trend_drops_the_unfinished_period() -> None:
    # Months: 10, 20, 30, 40 and a May that is still running on the 10th (as of the 11th).
    frames = _monthly([10, 20, 30, 40, 5], last_day=dt.date(2021, 5, 10))

    result = forecast_revenue(frames, horizon=2, granularity=Granularity.MONTH)

    assert result.model is ForecastModel.LINEAR_TREND
    assert [h.revenue for h in result.history] == [10, 20, 30, 40]
    assert [p.revenue for p in result.points] == pytest.approx([50, 60])
    assert [p.period_start for p in result.points] == [dt.date(2021, 5, 1), dt.date(2021, 6, 1)]
    assert any("2021-05-01 is still running" in note for note in result.notes)


def test_a_first_period_mostly_before_the_data_is_left_out() -> None:
    # Orders on the 20th: January 2021 is only a third covered, so it is dropped.
    frames = _monthly([99, 10, 20, 30, 40], last_day=dt.date(2021, 5, 31), first_day=20)

    result = forecast_revenue(frames, horizon=1)

    assert result.history[0].period_start == dt.date(2021, 2, 1)
    assert [h.revenue for h in result.history] == [10, 20, 30, 40]
    assert any("partial period is left out" in note for note in result.notes)


def test_holt_winters_recovers_additive_trend_and_season() -> None:
    # 36 months of 100 + 10 t with December 50 higher: no noise to hide behind.
    revenue = [100 + 10 * t + (50 if t % 12 == 11 else 0) for t in range(36)]
    frames = _monthly(revenue, last_day=dt.date(2023, 12, 31))

    result = forecast_revenue(frames, horizon=12)

    assert result.model is ForecastModel.HOLT_WINTERS
    assert result.method.startswith("Holt-Winters")
    assert "additive seasonality of 12 periods" in result.method
    assert result.season_length == 12
    expected = [100 + 10 * t + (50 if t % 12 == 11 else 0) for t in range(36, 48)]
    assert [p.revenue for p in result.points] == pytest.approx(expected, rel=1e-3)
    assert all(p.lower <= p.revenue <= p.upper for p in result.points)
    # Held out: the last 12 months (24 remain, the least Holt-Winters needs).
    # Seasonal naive repeats 2022, so it is 120 short every month; its scale
    # (the same in-sample differences) is also 120.
    backtest = result.backtest
    assert backtest is not None
    assert (backtest.periods, backtest.train_periods) == (12, 24)
    assert backtest.baseline.mae == pytest.approx(120.0)
    assert backtest.baseline.mase == pytest.approx(1.0)
    assert backtest.mae == pytest.approx(0.0, abs=1e-3)
    assert backtest.beats_baseline is True
    assert backtest.baseline_method == "seasonal naive (the value 12 periods earlier)"


def test_holt_winters_picks_multiplicative_season_when_it_grows_with_the_level() -> None:
    factors = [0.8, 0.7, 0.9, 1.0, 1.0, 0.9, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4]
    revenue = [(200 + 10 * t) * factors[t % 12] for t in range(36)]
    frames = _monthly(revenue, last_day=dt.date(2023, 12, 31))

    result = forecast_revenue(frames, horizon=12)

    assert "multiplicative seasonality" in result.method
    expected = [(200 + 10 * t) * factors[t % 12] for t in range(36, 48)]
    assert [p.revenue for p in result.points] == pytest.approx(expected, rel=0.05)
    assert result.backtest is not None
    assert result.backtest.mase is not None and result.backtest.mase < 0.2


def test_between_ten_periods_and_two_seasons_holt_trends() -> None:
    revenue = [50 + 5 * t + (3 if t % 2 else -3) for t in range(15)]
    frames = _monthly(revenue, last_day=dt.date(2022, 3, 31))

    result = forecast_revenue(frames, horizon=3)

    assert result.model is ForecastModel.HOLT
    assert result.method.startswith("Holt's linear trend")
    assert "Holt-Winters needs 24" in result.reason
    assert result.season_length is None
    assert [p.revenue for p in result.points] == pytest.approx([125, 130, 135], rel=0.02)
    assert result.backtest is not None
    assert result.backtest.train_periods == 12


def test_no_backtest_when_holding_out_would_starve_the_model() -> None:
    revenue = [100 + 10 * t + (50 if t % 12 == 11 else 0) for t in range(24)]
    frames = _monthly(revenue, last_day=dt.date(2022, 12, 31))

    result = forecast_revenue(frames, horizon=3)

    assert result.model is ForecastModel.HOLT_WINTERS
    assert result.backtest is None
    assert any(note.startswith("no backtest") for note in result.notes)


@pytest.mark.parametrize(
    "revenue",
    [[0.0] * 30, [5.0] * 30, [10.0, -5.0] * 15],
    ids=["all zero", "flat", "alternating returns"],
)
def test_degenerate_histories_give_finite_json(revenue: list[float]) -> None:
    frames = _monthly(revenue, last_day=dt.date(2023, 6, 30))

    result = forecast_revenue(frames, horizon=3)

    _json_safe(result)
    assert pio.from_json(json.dumps(result.figure)).data
    assert [p.revenue for p in result.points] == pytest.approx(revenue[:3], abs=1e-6)


def test_forecast_refuses_bad_arguments_and_tiny_history() -> None:
    frames = _monthly([1, 2, 3, 4])
    for horizon in (0, 37, True, 2.5):
        with pytest.raises(InvalidArgumentError, match=r"^horizon: expected an integer from 1"):
            forecast_revenue(frames, horizon=horizon)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^granularity"):
        forecast_revenue(frames, granularity="FORTNIGHT")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="at least 3 complete months"):
        forecast_revenue(_monthly([1, 2]))
    with pytest.raises(InvalidArgumentError, match="the dataset has 0"):
        forecast_revenue(make_dataset())
    # The only month is still running, so no complete month is left at all.
    with pytest.raises(InvalidArgumentError, match="the dataset has 0"):
        forecast_revenue(_orders([dt.date(2024, 5, 2), dt.date(2024, 5, 20)], [5.0, 6.0]))
    with pytest.raises(
        InvalidArgumentError, match=r"3 complete days of history, the dataset has 2$"
    ):
        forecast_revenue(_daily([1.0, 2.0]), granularity=Granularity.DAY)


def test_weekly_forecast_is_seasonal_from_two_years_of_weeks() -> None:
    # 110 weeks of days; weeks start on Monday 2021-01-04. Revenue: 10 a day,
    # 20 on Saturdays, plus 1 per week, so every week total is 80 + 7 w.
    days = 110 * 7
    revenue = [10.0 + (10 if d % 7 == 5 else 0) + d // 7 for d in range(days)]
    frames = _daily(revenue)

    result = forecast_revenue(frames, horizon=4, granularity=Granularity.WEEK)

    assert result.model is ForecastModel.HOLT_WINTERS
    assert result.season_length == 52
    assert len(result.history) == 110
    assert result.history[1].revenue == 87.0
    assert all(p.period_start.weekday() == 0 for p in result.points)
    assert result.points[0].period_start == dt.date(2021, 1, 4) + dt.timedelta(weeks=110)
    expected = [80 + 7 * w for w in range(110, 114)]
    assert [p.revenue for p in result.points] == pytest.approx(expected, rel=0.01)


def test_daily_forecast_uses_a_weekly_cycle_and_the_last_two_years() -> None:
    revenue = [10.0 + (10 if d % 7 == 5 else 0) for d in range(800)]
    frames = _daily(revenue)

    result = forecast_revenue(frames, horizon=7, granularity=Granularity.DAY)

    assert result.season_length == 7
    assert len(result.history) == 730
    assert any("last 730 of 800" in note for note in result.notes)
    saturday = [p.revenue for p in result.points if p.period_start.weekday() == 5]
    assert saturday == pytest.approx([20.0], abs=0.5)


def test_yearly_forecast_has_no_season() -> None:
    frames = _orders(
        [dt.date(2019, 1, 1), dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2021, 12, 31)],
        [100.0, 200.0, 300.0, 0.0],
    )

    result = forecast_revenue(frames, horizon=2, granularity=Granularity.YEAR)

    assert result.model is ForecastModel.LINEAR_TREND
    assert "no seasonal cycle" in result.reason
    assert [p.revenue for p in result.points] == pytest.approx([400, 500])
    assert [p.period_start for p in result.points] == [dt.date(2022, 1, 1), dt.date(2023, 1, 1)]


def test_forecast_is_reproducible_and_its_figure_renders() -> None:
    revenue = [100 + 10 * t + 30 * np.sin(t) for t in range(30)]
    frames = _monthly(revenue, last_day=dt.date(2023, 6, 30))

    first = forecast_revenue(frames, horizon=6)
    again = forecast_revenue(frames, horizon=6)
    other_seed = forecast_revenue(frames, horizon=6, random_state=1)

    assert first.points == again.points
    assert [p.revenue for p in first.points] == [p.revenue for p in other_seed.points]
    figure = pio.from_json(json.dumps(first.figure))
    assert [trace.name for trace in figure.data] == [
        "Revenue",
        "95% interval",
        "Forecast",
        "Backtest forecast",
    ]
