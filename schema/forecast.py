from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from analytics import forecast, sales
from resolvers.context import Context
from resolvers.forecast import resolve_sales_forecast, resolve_seasonality, resolve_top_products
from schema._utils import convert
from schema.inputs import DateRangeInput, to_range
from schema.sales import Granularity
from schema.scalars import JSON

ForecastModel = strawberry.enum(
    forecast.ForecastModel,
    description="HOLT_WINTERS (trend + season), HOLT (trend) or LINEAR_TREND (straight line).",
)


@strawberry.type
class ForecastHistoryPoint:
    period_start: dt.date
    revenue: float
    fitted: float | None = strawberry.field(description="The model's in-sample value.")


@strawberry.type
class ForecastPoint:
    period_start: dt.date
    revenue: float
    lower: float = strawberry.field(description="Lower bound of the prediction interval.")
    upper: float = strawberry.field(description="Upper bound of the prediction interval.")


@strawberry.type(description="Errors over held-out periods.")
class ForecastAccuracy:
    mae: float = strawberry.field(description="Mean absolute error.")
    mape: float | None = strawberry.field(
        description="Mean absolute percentage error (%), zero actuals skipped."
    )
    smape: float | None = strawberry.field(description="Symmetric MAPE (%), 0..200.")
    mase: float | None = strawberry.field(
        description="MAE / in-sample MAE of the (seasonal) naive forecast; below 1 beats it."
    )


@strawberry.type
class BacktestPoint:
    period_start: dt.date
    actual: float
    forecast: float
    lower: float
    upper: float
    baseline: float = strawberry.field(description="The seasonal-naive forecast.")


@strawberry.type(
    description="The model refitted without the last periods and scored on them, "
    "next to a seasonal-naive baseline."
)
class Backtest:
    periods: int = strawberry.field(description="Periods held out.")
    train_periods: int
    mae: float
    mape: float | None = strawberry.field(description="Percent; zero actuals skipped.")
    smape: float | None = strawberry.field(description="Percent, 0..200.")
    mase: float | None
    coverage: float = strawberry.field(
        description="Share (0..1) of held-out actuals inside the prediction interval."
    )
    baseline: ForecastAccuracy
    baseline_method: str
    beats_baseline: bool = strawberry.field(description="The model's MAE is below the baseline's.")
    points: list[BacktestPoint]


@strawberry.type(description="Revenue forecast with prediction intervals and a backtest.")
class Forecast:
    granularity: Granularity  # type: ignore[valid-type]
    model: ForecastModel  # type: ignore[valid-type]
    method: str = strawberry.field(description="The fitted model, in words.")
    reason: str = strawberry.field(description="Why this model suits the history.")
    horizon: int
    season_length: int | None = strawberry.field(
        description="Periods per season when the model is seasonal."
    )
    interval_level: float = strawberry.field(description="Coverage of lower..upper, e.g. 0.95.")
    history: list[ForecastHistoryPoint] = strawberry.field(
        description="Complete periods the model was fitted on."
    )
    points: list[ForecastPoint]
    residual_std: float = strawberry.field(description="In-sample residual standard deviation.")
    backtest: Backtest | None = strawberry.field(
        description="Null when the history is too short to hold periods out (see notes)."
    )
    notes: list[str]
    figure: JSON

    @classmethod
    def from_result(cls, result: forecast.ForecastResult) -> Forecast:
        backtest = result.backtest
        return convert(
            cls,
            result,
            history=[convert(ForecastHistoryPoint, p) for p in result.history],
            points=[convert(ForecastPoint, p) for p in result.points],
            notes=list(result.notes),
            backtest=None
            if backtest is None
            else convert(
                Backtest,
                backtest,
                baseline=convert(ForecastAccuracy, backtest.baseline),
                points=[convert(BacktestPoint, p) for p in backtest.points],
            ),
        )


@strawberry.type
class ProductSales:
    sku: str | None
    name: str | None
    category: str | None
    revenue: float
    quantity: float
    orders: int
    revenue_share: float = strawberry.field(description="Share of all revenue, 0..1.")


@strawberry.type
class TopProducts:
    items: list[ProductSales]
    total_revenue: float
    figure: JSON

    @classmethod
    def from_result(cls, result: sales.TopProductsResult) -> TopProducts:
        return convert(cls, result, items=[convert(ProductSales, p) for p in result.items])


@strawberry.type
class MonthOfYearRevenue:
    month: int = strawberry.field(description="1 = January.")
    name: str
    revenue: float
    periods: int = strawberry.field(description="Times this month occurs in the span.")
    average: float | None = strawberry.field(description="Revenue / periods.")
    index: float | None = strawberry.field(
        description="Average / mean of the monthly averages; 1 is a typical month."
    )


@strawberry.type
class WeekdayRevenue:
    weekday: str
    day: int = strawberry.field(description="1 = Monday .. 7 = Sunday.")
    revenue: float
    periods: int = strawberry.field(description="Times this weekday occurs in the span.")
    average: float | None = strawberry.field(description="Revenue / periods.")
    index: float | None = strawberry.field(
        description="Average / mean of the weekday averages; 1 is a typical day."
    )


@strawberry.type(description="Month-of-year and weekday revenue profiles.")
class SalesSeasonality:
    first_day: dt.date | None
    last_day: dt.date | None
    by_month: list[MonthOfYearRevenue]
    by_weekday: list[WeekdayRevenue]
    month_figure: JSON
    weekday_figure: JSON

    @classmethod
    def from_result(cls, result: sales.SeasonalityResult) -> SalesSeasonality:
        return convert(
            cls,
            result,
            by_month=[convert(MonthOfYearRevenue, m) for m in result.by_month],
            by_weekday=[convert(WeekdayRevenue, d) for d in result.by_weekday],
        )


@strawberry.type
class ForecastQuery:
    @strawberry.field(
        description="Revenue forecast for the next `horizon` periods at any granularity: "
        "Holt-Winters once the history covers two seasons (7 days, 52 weeks, 12 months, "
        "4 quarters), Holt's trend from 10 periods, a straight line from 3; fewer complete "
        "periods is a BAD_USER_INPUT error. Days use the last 730 days."
    )
    async def sales_forecast(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        horizon: Annotated[int, strawberry.argument(description="Periods ahead, 1..36.")] = 3,
        granularity: Granularity = sales.Granularity.MONTH,  # type: ignore[valid-type]
    ) -> Forecast:
        result = await resolve_sales_forecast(info.context, dataset, horizon, granularity)
        return Forecast.from_result(result)

    @strawberry.field(description="Products with the highest revenue.")
    async def top_products(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        limit: Annotated[int, strawberry.argument(description="1..1000")] = 10,
        period: DateRangeInput | None = None,
    ) -> TopProducts:
        result = await resolve_top_products(info.context, dataset, limit, to_range(period))
        return TopProducts.from_result(result)

    @strawberry.field(description="Revenue by month of year and by weekday.")
    async def sales_seasonality(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> SalesSeasonality:
        result = await resolve_seasonality(info.context, dataset, to_range(period))
        return SalesSeasonality.from_result(result)
