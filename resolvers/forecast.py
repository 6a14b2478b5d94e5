from __future__ import annotations

from functools import partial

from analytics.forecast import ForecastResult, forecast_revenue
from analytics.periods import DateRange
from analytics.sales import (
    Granularity,
    SeasonalityResult,
    TopProductsResult,
    profile_seasonality,
    rank_top_products,
)
from resolvers._utils import compute
from resolvers.context import Context


async def resolve_sales_forecast(
    context: Context, dataset: str | None, horizon: int, granularity: Granularity
) -> ForecastResult:
    return await compute(
        context,
        dataset,
        ("sales_forecast", horizon, granularity),
        partial(forecast_revenue, horizon=horizon, granularity=granularity),
    )


async def resolve_top_products(
    context: Context, dataset: str | None, limit: int, period: DateRange | None
) -> TopProductsResult:
    return await compute(
        context,
        dataset,
        ("top_products", limit, period),
        partial(rank_top_products, limit=limit, period=period),
    )


async def resolve_seasonality(
    context: Context, dataset: str | None, period: DateRange | None
) -> SeasonalityResult:
    return await compute(
        context,
        dataset,
        ("seasonality", period),
        partial(profile_seasonality, period=period),
    )
