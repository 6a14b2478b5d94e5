"""Revenue forecasts: trend plus calendar seasonality, fitted by least squares."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import charts
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import line_revenue
from analytics.sales import Granularity, bucket_starts

_SEASON_LENGTH = {Granularity.MONTH: 12, Granularity.QUARTER: 4, Granularity.WEEK: 52}
_OFFSETS = {
    Granularity.DAY: pd.DateOffset(days=1),
    Granularity.WEEK: pd.DateOffset(weeks=1),
    Granularity.MONTH: pd.DateOffset(months=1),
    Granularity.QUARTER: pd.DateOffset(months=3),
    Granularity.YEAR: pd.DateOffset(years=1),
}
_Z_95 = 1.959964


@dataclass(frozen=True)
class ForecastPoint:
    period_start: dt.date
    revenue: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastResult:
    granularity: Granularity
    method: str
    history: tuple[tuple[dt.date, float], ...]
    points: tuple[ForecastPoint, ...]
    residual_std: float
    figure: charts.Figure


def forecast_revenue(
    frames: DatasetFrames, horizon: int = 3, granularity: Granularity = Granularity.MONTH
) -> ForecastResult:
    """Forecast revenue for the next ``horizon`` periods with 95% intervals.

    The model is ordinary least squares on a linear trend, plus one dummy per
    season (month of year, quarter, week of year) when the history covers at
    least two full seasons. The last, possibly partial, period is dropped
    from the fit so an unfinished month does not read as a slump. Intervals
    are ``±1.96`` residual standard deviations, widened by the parameter
    uncertainty of each forecast point.

    Raises
    ------
    InvalidArgumentError
        When ``horizon`` is outside 1..36 or there are fewer than 3 periods of history.
    """
    granularity = Granularity(granularity)
    if not 1 <= horizon <= 36:
        raise InvalidArgumentError(f"horizon: expected 1..36, got {horizon}")
    lines = frames.lines
    revenue = line_revenue(lines).groupby(bucket_starts(lines["order_date"], granularity)).sum()
    offset = _OFFSETS[granularity]
    if not revenue.empty:
        full = pd.date_range(revenue.index.min(), revenue.index.max(), freq=offset)
        revenue = revenue.reindex(full, fill_value=0.0)
        as_of = pd.Timestamp(frames.default_as_of)
        if revenue.index[-1] + offset > as_of:
            revenue = revenue.iloc[:-1]
    if len(revenue) < 3:
        raise InvalidArgumentError(
            f"forecast: needs at least 3 complete {granularity.value.lower()} periods of "
            f"history, the dataset has {len(revenue)}"
        )

    season = _SEASON_LENGTH.get(granularity)
    seasonal = season is not None and len(revenue) >= 2 * season
    steps = np.arange(len(revenue) + horizon, dtype=float)
    starts = [revenue.index[0] + offset * int(i) for i in range(len(steps))]
    design = _design(steps, starts, granularity if seasonal else None)
    fitted_rows = design[: len(revenue)]
    target = revenue.to_numpy(dtype=float)
    coefficients, *_ = np.linalg.lstsq(fitted_rows, target, rcond=None)
    residuals = target - fitted_rows @ coefficients
    dof = max(len(target) - np.linalg.matrix_rank(fitted_rows), 1)
    sigma = float(np.sqrt(residuals @ residuals / dof))
    inverse = np.linalg.pinv(fitted_rows.T @ fitted_rows)

    points = []
    for row, start in zip(design[len(revenue) :], starts[len(revenue) :], strict=True):
        estimate = float(row @ coefficients)
        spread = _Z_95 * sigma * float(np.sqrt(1 + row @ inverse @ row))
        points.append(ForecastPoint(start.date(), estimate, estimate - spread, estimate + spread))
    history = tuple((ts.date(), float(value)) for ts, value in revenue.items())
    method = "linear trend + seasonal dummies" if seasonal else "linear trend"
    return ForecastResult(
        granularity=granularity,
        method=method,
        history=history,
        points=tuple(points),
        residual_std=sigma,
        figure=_figure(history, points),
    )


def _design(
    steps: np.ndarray, starts: list[pd.Timestamp], granularity: Granularity | None
) -> np.ndarray:
    columns = [np.ones_like(steps), steps]
    if granularity is not None:
        season = np.array([_season_of(start, granularity) for start in starts])
        for value in np.unique(season)[1:]:
            columns.append((season == value).astype(float))
    return np.column_stack(columns)


def _season_of(start: pd.Timestamp, granularity: Granularity) -> int:
    if granularity is Granularity.MONTH:
        return int(start.month)
    if granularity is Granularity.QUARTER:
        return int(start.quarter)
    return min(int(start.isocalendar().week), 52)


def _figure(
    history: tuple[tuple[dt.date, float], ...], points: list[ForecastPoint]
) -> charts.Figure:
    import plotly.graph_objects as go

    future = [p.period_start for p in points]
    figure = go.Figure(
        [
            go.Scatter(x=[d for d, _ in history], y=[v for _, v in history], name="Revenue"),
            go.Scatter(
                x=future + future[::-1],
                y=[p.upper for p in points] + [p.lower for p in points][::-1],
                fill="toself",
                line={"width": 0},
                name="95% interval",
                hoverinfo="skip",
            ),
            go.Scatter(
                x=future, y=[p.revenue for p in points], name="Forecast", line={"dash": "dash"}
            ),
        ]
    )
    figure.update_layout(
        title="Revenue forecast",
        xaxis_title="Period",
        yaxis_title="Revenue",
        template="plotly_white",
    )
    return charts.figure_to_dict(figure)
