"""Revenue forecasts: Holt-Winters on long histories, simpler trends on short ones.

Every forecast is judged the way a forecaster would judge it: the last periods
are held out, the same kind of model is refitted without them, and its errors
are set against a seasonal-naive forecast over the same periods.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from analytics import charts
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import line_revenue
from analytics.sales import Granularity, bucket_starts

MAX_HORIZON = 36
INTERVAL_LEVEL = 0.95
SEASON_LENGTH = {
    Granularity.DAY: 7,
    Granularity.WEEK: 52,
    Granularity.MONTH: 12,
    Granularity.QUARTER: 4,
}
MIN_PERIODS = 3
# Two years of days show the weekly cycle; fitting ten costs seconds and adds nothing.
MAX_PERIODS = {Granularity.DAY: 730}
MIN_HOLT_PERIODS = 10
SIMULATIONS = 2000
_BRUTE_FORCE_PERIODS = 300

_OFFSETS = {
    Granularity.DAY: pd.DateOffset(days=1),
    Granularity.WEEK: pd.DateOffset(weeks=1),
    Granularity.MONTH: pd.DateOffset(months=1),
    Granularity.QUARTER: pd.DateOffset(months=3),
    Granularity.YEAR: pd.DateOffset(years=1),
}
_UNIT = {
    Granularity.DAY: ("day", "days"),
    Granularity.WEEK: ("week", "weeks"),
    Granularity.MONTH: ("month", "months"),
    Granularity.QUARTER: ("quarter", "quarters"),
    Granularity.YEAR: ("year", "years"),
}
# warnings.catch_warnings swaps process-wide state; two threads interleaving
# it can leave warnings silenced for everyone, so fits take turns.
_WARNINGS_LOCK = threading.Lock()


class ForecastModel(StrEnum):
    HOLT_WINTERS = "HOLT_WINTERS"
    HOLT = "HOLT"
    LINEAR_TREND = "LINEAR_TREND"


@dataclass(frozen=True)
class HistoryPoint:
    period_start: dt.date
    revenue: float
    fitted: float | None


@dataclass(frozen=True)
class ForecastPoint:
    period_start: dt.date
    revenue: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastAccuracy:
    """Errors of a forecast over held-out periods.

    ``mape`` and ``smape`` are percentages; ``mase`` is the MAE divided by the
    in-sample MAE of the naive forecast on the training part (below 1 beats it).
    """

    mae: float
    mape: float | None
    smape: float | None
    mase: float | None


@dataclass(frozen=True)
class BacktestPoint:
    period_start: dt.date
    actual: float
    forecast: float
    lower: float
    upper: float
    baseline: float


@dataclass(frozen=True)
class BacktestResult:
    """The model refitted without the last ``periods`` periods, scored on them."""

    periods: int
    train_periods: int
    mae: float
    mape: float | None
    smape: float | None
    mase: float | None
    coverage: float
    baseline: ForecastAccuracy
    baseline_method: str
    beats_baseline: bool
    points: tuple[BacktestPoint, ...]


@dataclass(frozen=True)
class ForecastResult:
    granularity: Granularity
    model: ForecastModel
    method: str
    reason: str
    horizon: int
    season_length: int | None
    interval_level: float
    history: tuple[HistoryPoint, ...]
    points: tuple[ForecastPoint, ...]
    residual_std: float
    backtest: BacktestResult | None
    notes: tuple[str, ...]
    figure: charts.Figure


# An exponential-smoothing candidate: seasonality ("add", "mul" or None) and damping.
_Spec = tuple[str | None, bool]


@dataclass(frozen=True)
class _Fit:
    method: str
    spec: _Spec | None
    fitted: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    residual_std: float
    notes: tuple[str, ...]


def forecast_revenue(
    frames: DatasetFrames,
    horizon: int = 3,
    granularity: Granularity = Granularity.MONTH,
    *,
    random_state: int = 0,
) -> ForecastResult:
    """Forecast revenue for the next ``horizon`` periods with 95% intervals.

    Revenue is ``line_revenue`` summed per period (empty periods count 0).
    The last period is left out when it is still running at the dataset's
    ``default_as_of``, so an unfinished month does not read as a slump, and
    so is the first when the data starts in its second half. Daily series
    keep their last 730 days.

    The model depends on how much history there is (``n`` complete periods,
    ``m`` the season length: 7 days, 52 weeks, 12 months, 4 quarters; years
    have none):

    - Holt-Winters when ``n >= max(2m, 10 + 2 * (m // 2))``, the least that
      lets the seasonal states be initialised from the data: additive trend
      (damped or not) and additive or, for strictly positive series,
      multiplicative seasonality, the candidate with the lowest AICc wins.
    - Holt's linear trend (damped or not, by AICc) when ``n >= 10``.
    - A least-squares straight line when ``3 <= n < 10``.

    Intervals of the exponential-smoothing models are the 2.5 and 97.5
    percentiles of 2000 paths simulated from the fitted state-space model with
    Gaussian errors of the residual variance (``random_state`` seeds them, so
    results are reproducible); those of the straight line are the classical
    t-based prediction intervals. A series with no negative period never gets
    a negative forecast or bound: they are clipped to 0.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    horizon : int, default 3
        Periods to forecast, 1 to 36. Also the number of periods the backtest
        holds out, when the rest of the history still fits the same model.
    granularity : Granularity, default MONTH
        Period length; every granularity is supported.
    random_state : int, default 0
        Seed of the simulated intervals.

    Returns
    -------
    ForecastResult
        ``method`` names the model and ``reason`` says why it was chosen;
        ``notes`` lists anything the caller should know (a dropped running
        period, a skipped backtest, clipping, optimiser warnings).

    Raises
    ------
    InvalidArgumentError
        When ``horizon`` or ``granularity`` is invalid, or there are fewer
        than 3 complete periods of history.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
        raise InvalidArgumentError(
            f"horizon: expected an integer from 1 to {MAX_HORIZON}, got {horizon!r}"
        )
    try:
        granularity = Granularity(granularity)
    except ValueError:
        raise InvalidArgumentError(f"granularity: unknown value {granularity!r}") from None
    many = _UNIT[granularity][1]
    revenue, notes = _complete_periods(frames, granularity)
    if len(revenue) < MIN_PERIODS:
        hint = "" if granularity is Granularity.DAY else "; try a shorter granularity"
        raise InvalidArgumentError(
            f"forecast: needs at least {MIN_PERIODS} complete {many} of history, "
            f"the dataset has {len(revenue)}{hint}"
        )

    limit = MAX_PERIODS.get(granularity)
    if limit is not None and len(revenue) > limit:
        notes.append(f"only the last {limit} of {len(revenue)} complete {many} are modelled")
        revenue = revenue.iloc[-limit:]
    values = revenue.to_numpy(dtype="float64")
    season = SEASON_LENGTH.get(granularity)
    model, reason = _choose_model(len(values), season, many)
    fit = _fit(values, model, season, horizon, random_state)
    if not _finite(fit) and model is not ForecastModel.LINEAR_TREND:
        notes.append(f"{fit.method} gave non-finite values; fell back to a straight line")
        model, reason = ForecastModel.LINEAR_TREND, f"{fit.method} failed on this history"
        fit = _fit(values, model, season, horizon, random_state)
    notes.extend(fit.notes)
    clip = bool(values.min() >= 0)
    mean, lower, upper = _bounded(fit.mean, fit.lower, fit.upper, clip)
    if clip and (fit.lower < 0).any():
        notes.append("forecasts and bounds below 0 were raised to 0 (the history has none)")

    offset = _OFFSETS[granularity]
    last = revenue.index[-1]
    starts = [(last + offset * (step + 1)).date() for step in range(horizon)]
    points = tuple(
        ForecastPoint(start, float(m), float(lo), float(hi))
        for start, m, lo, hi in zip(starts, mean, lower, upper, strict=True)
    )
    history = tuple(
        HistoryPoint(start.date(), float(value), _finite_or_none(fitted))
        for start, value, fitted in zip(revenue.index, values, fit.fitted, strict=True)
    )
    backtest = _backtest(revenue, model, fit.spec, season, horizon, random_state, clip, notes)
    return ForecastResult(
        granularity=granularity,
        model=model,
        method=fit.method,
        reason=reason,
        horizon=horizon,
        season_length=season if model is ForecastModel.HOLT_WINTERS else None,
        interval_level=INTERVAL_LEVEL,
        history=history,
        points=points,
        residual_std=fit.residual_std,
        backtest=backtest,
        notes=tuple(notes),
        figure=_figure(history, points, backtest, granularity),
    )


def _complete_periods(
    frames: DatasetFrames, granularity: Granularity
) -> tuple[pd.Series, list[str]]:
    lines = frames.lines
    # Summing per day first buckets a few thousand days instead of every line.
    daily = line_revenue(lines).groupby(lines["order_date"].to_numpy()).sum()
    notes: list[str] = []
    if daily.empty:
        return daily, notes
    days = pd.Series(pd.DatetimeIndex(daily.index))
    revenue = daily.groupby(bucket_starts(days, granularity).to_numpy()).sum()
    offset = _OFFSETS[granularity]
    full = pd.date_range(revenue.index.min(), revenue.index.max(), freq=offset)
    revenue = revenue.reindex(full, fill_value=0.0)
    one, _ = _UNIT[granularity]
    if revenue.index[-1] + offset > pd.Timestamp(frames.default_as_of):
        notes.append(
            f"the {one} starting {revenue.index[-1].date()} is still running "
            f"(data up to {frames.latest_order_date}), so it is left out"
        )
        revenue = revenue.iloc[:-1]
    if len(revenue) <= MIN_PERIODS:
        return revenue, notes
    first, start = days.iloc[0], revenue.index[0]
    if (start + offset - first) / (start + offset - start) < 0.5:
        notes.append(
            f"the data starts on {first.date()}, late in the {one} starting {start.date()}, "
            "so that partial period is left out"
        )
        revenue = revenue.iloc[1:]
    return revenue, notes


def min_seasonal_periods(season: int) -> int:
    """Fewest periods for Holt-Winters: two full seasons, and enough to initialise them.

    statsmodels' heuristic initialisation needs ``10 + 2 * (season // 2)``
    observations besides two full seasons.
    """
    return max(2 * season, 10 + 2 * (season // 2))


def _min_periods(model: ForecastModel, season: int | None) -> int:
    if model is ForecastModel.HOLT_WINTERS:
        assert season is not None
        return min_seasonal_periods(season)
    return MIN_HOLT_PERIODS if model is ForecastModel.HOLT else MIN_PERIODS


def _choose_model(periods: int, season: int | None, many: str) -> tuple[ForecastModel, str]:
    if season is not None and periods >= min_seasonal_periods(season):
        return ForecastModel.HOLT_WINTERS, (
            f"{periods} complete {many} cover at least two {season}-{many[:-1]} seasons"
        )
    lacking = (
        "no seasonal cycle at this granularity"
        if season is None
        else f"Holt-Winters needs {min_seasonal_periods(season)} for {season}-{many[:-1]} seasons"
    )
    if periods >= MIN_HOLT_PERIODS:
        return ForecastModel.HOLT, f"{periods} complete {many}: enough for a trend ({lacking})"
    return ForecastModel.LINEAR_TREND, (
        f"only {periods} complete {many}: too few to smooth, so a straight line ({lacking})"
    )


def _fit(
    values: np.ndarray,
    model: ForecastModel,
    season: int | None,
    horizon: int,
    random_state: int,
    spec: _Spec | None = None,
) -> _Fit:
    """Fit ``model``; exponential smoothing tries every candidate unless ``spec`` picks one."""
    if model is ForecastModel.LINEAR_TREND:
        return _fit_line(values, horizon)
    if spec is not None:
        candidates = [spec]
    elif model is ForecastModel.HOLT:
        candidates = [(None, True), (None, False)]
    else:
        kinds = ["add", "mul"] if values.min() > 0 else ["add"]
        candidates = [(kind, damped) for kind in kinds for damped in (True, False)]
    return _fit_smoothing(values, season, candidates, horizon, random_state)


def _fit_line(values: np.ndarray, horizon: int) -> _Fit:
    n = len(values)
    steps = np.arange(n, dtype="float64")
    design = np.column_stack([np.ones(n), steps])
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    fitted = design @ coefficients
    residuals = values - fitted
    dof = n - 2
    sigma = float(np.sqrt(residuals @ residuals / dof))
    future = np.column_stack([np.ones(horizon), np.arange(n, n + horizon, dtype="float64")])
    mean = future @ coefficients
    inverse = np.linalg.inv(design.T @ design)
    leverage = np.einsum("ij,jk,ik->i", future, inverse, future)
    spread = stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, dof) * sigma * np.sqrt(1 + leverage)
    return _Fit(
        "least-squares linear trend", None, fitted, mean, mean - spread, mean + spread, sigma, ()
    )


def _fit_smoothing(
    values: np.ndarray,
    season: int | None,
    candidates: list[_Spec],
    horizon: int,
    random_state: int,
) -> _Fit:
    best = None
    for seasonal, damped in candidates:
        with _captured_warnings() as caught:
            model = ExponentialSmoothing(
                values,
                trend="add",
                damped_trend=damped,
                seasonal=seasonal,
                seasonal_periods=season if seasonal else None,
                initialization_method="heuristic" if seasonal else "estimated",
            )
            # The brute-force search for starting values avoids poor local optima
            # on short series; on long ones it costs more than it finds.
            result = model.fit(use_brute=len(values) <= _BRUTE_FORCE_PERIODS)
        aicc = _information_criterion(result.sse, result.aicc)
        if best is None or aicc < best[0]:
            best = (aicc, seasonal, damped, result, caught)
    assert best is not None
    _, seasonal, damped, result, caught = best
    with _captured_warnings() as simulating:
        mean = np.asarray(result.forecast(horizon), dtype="float64")
        paths = np.asarray(
            result.simulate(
                horizon,
                anchor="end",
                repetitions=SIMULATIONS,
                rng=np.random.default_rng(random_state),
            ),
            dtype="float64",
        ).reshape(horizon, SIMULATIONS)
        tail = (1 - INTERVAL_LEVEL) / 2 * 100
        lower, upper = np.percentile(paths, [tail, 100 - tail], axis=1)
    fitted = np.asarray(result.fittedvalues, dtype="float64")
    residuals = values - fitted
    trend = "damped additive trend" if damped else "additive trend"
    if seasonal is None:
        method = f"Holt's linear trend ({trend})"
    else:
        kind = "multiplicative" if seasonal == "mul" else "additive"
        method = f"Holt-Winters ({trend}, {kind} seasonality of {season} periods)"
    notes = tuple(f"{method}: {message}" for message in dict.fromkeys(caught + simulating))
    return _Fit(
        method,
        (seasonal, damped),
        fitted,
        mean,
        np.minimum(lower, mean),
        np.maximum(upper, mean),
        float(np.sqrt(residuals @ residuals / len(values))),
        notes,
    )


def _information_criterion(sse: float, aicc: float) -> float:
    """AICc, with a perfect fit ranked first and a failed one last."""
    if not np.isfinite(sse):
        return float("inf")
    if sse == 0:
        return float("-inf")
    return float(aicc) if np.isfinite(aicc) else float("inf")


@contextmanager
def _captured_warnings() -> Iterator[list[str]]:
    """Collect the warnings raised inside as messages instead of letting them escape."""
    messages: list[str] = []
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    messages.extend(f"{w.category.__name__}: {w.message}" for w in caught)


def _finite(fit: _Fit) -> bool:
    parts = (fit.fitted, fit.mean, fit.lower, fit.upper)
    return all(np.isfinite(part).all() for part in parts) and np.isfinite(fit.residual_std)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _bounded(
    mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, clip: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not clip:
        return mean, lower, upper
    return np.maximum(mean, 0.0), np.maximum(lower, 0.0), np.maximum(upper, 0.0)


def naive_lag(train_periods: int, season: int | None) -> int:
    """The seasonal-naive lag: one season when the training part is longer than it, else 1."""
    return season if season is not None and train_periods > season else 1


def forecast_seasonal_naive(training: np.ndarray, horizon: int, lag: int) -> np.ndarray:
    """Repeat the last ``lag`` values: ``y[T + h] = y[T + h - lag * ceil(h / lag)]``."""
    training = np.asarray(training, dtype="float64")
    last_season = training[len(training) - lag :]
    return np.array([last_season[h % lag] for h in range(horizon)], dtype="float64")


def measure_accuracy(
    actual: np.ndarray, forecast: np.ndarray, training: np.ndarray, lag: int
) -> ForecastAccuracy:
    """MAE, MAPE, sMAPE and MASE of ``forecast`` against ``actual``.

    MAPE skips zero actuals and sMAPE the pairs where both values are 0 (both
    are ``None`` when nothing is left); MASE divides the MAE by the mean
    absolute ``lag``-difference of ``training`` and is ``None`` when that is 0.
    """
    actual = np.asarray(actual, dtype="float64")
    forecast = np.asarray(forecast, dtype="float64")
    training = np.asarray(training, dtype="float64")
    errors = np.abs(actual - forecast)
    mae = float(errors.mean())
    nonzero = actual != 0
    mape = (
        float(100 * (errors[nonzero] / np.abs(actual[nonzero])).mean()) if nonzero.any() else None
    )
    scale = np.abs(actual) + np.abs(forecast)
    defined = scale > 0
    smape = float(100 * (2 * errors[defined] / scale[defined]).mean()) if defined.any() else None
    naive_errors = np.abs(training[lag:] - training[:-lag])
    naive_mae = float(naive_errors.mean()) if len(naive_errors) else 0.0
    mase = mae / naive_mae if naive_mae > 0 else None
    return ForecastAccuracy(mae=mae, mape=mape, smape=smape, mase=mase)


def _backtest(
    revenue: pd.Series,
    model: ForecastModel,
    spec: _Spec | None,
    season: int | None,
    horizon: int,
    random_state: int,
    clip: bool,
    notes: list[str],
) -> BacktestResult | None:
    needed = _min_periods(model, season)
    held_out = min(horizon, len(revenue) - needed)
    if held_out < 1:
        notes.append(
            f"no backtest: holding out a period would leave fewer than the {needed} "
            "periods the model needs"
        )
        return None
    values = revenue.to_numpy(dtype="float64")
    training, actual = values[:-held_out], values[-held_out:]
    fit = _fit(training, model, season, held_out, random_state, spec)
    if not _finite(fit):
        notes.append("no backtest: the refitted model gave non-finite values")
        return None
    mean, lower, upper = _bounded(fit.mean, fit.lower, fit.upper, clip)
    lag = naive_lag(len(training), season)
    baseline = forecast_seasonal_naive(training, held_out, lag)
    scores = measure_accuracy(actual, mean, training, lag)
    baseline_scores = measure_accuracy(actual, baseline, training, lag)
    starts = revenue.index[-held_out:]
    return BacktestResult(
        periods=held_out,
        train_periods=len(training),
        mae=scores.mae,
        mape=scores.mape,
        smape=scores.smape,
        mase=scores.mase,
        coverage=float(((actual >= lower) & (actual <= upper)).mean()),
        baseline=baseline_scores,
        baseline_method=(
            f"seasonal naive (the value {lag} periods earlier)"
            if lag > 1
            else "naive (the last value)"
        ),
        beats_baseline=scores.mae < baseline_scores.mae,
        points=tuple(
            BacktestPoint(start.date(), float(a), float(f), float(lo), float(hi), float(b))
            for start, a, f, lo, hi, b in zip(
                starts, actual, mean, lower, upper, baseline, strict=True
            )
        ),
    )


def _figure(
    history: tuple[HistoryPoint, ...],
    points: tuple[ForecastPoint, ...],
    backtest: BacktestResult | None,
    granularity: Granularity,
) -> charts.Figure:
    import plotly.graph_objects as go

    future = [p.period_start for p in points]
    traces = [
        go.Scatter(
            x=[h.period_start for h in history],
            y=[h.revenue for h in history],
            name="Revenue",
            mode="lines+markers",
        ),
        go.Scatter(
            x=future + future[::-1],
            y=[p.upper for p in points] + [p.lower for p in points][::-1],
            fill="toself",
            mode="lines",
            line={"width": 0},
            name=f"{INTERVAL_LEVEL:.0%} interval",
            hoverinfo="skip",
        ),
        go.Scatter(x=future, y=[p.revenue for p in points], name="Forecast", line={"dash": "dash"}),
    ]
    if backtest is not None:
        traces.append(
            go.Scatter(
                x=[p.period_start for p in backtest.points],
                y=[p.forecast for p in backtest.points],
                name="Backtest forecast",
                line={"dash": "dot"},
            )
        )
    figure = go.Figure(traces)
    figure.update_layout(
        title=f"Revenue forecast by {_UNIT[granularity][0]}",
        xaxis_title="Period",
        yaxis_title="Revenue",
        template="plotly_white",
    )
    return charts.figure_to_dict(figure)
