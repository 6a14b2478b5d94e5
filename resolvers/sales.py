from __future__ import annotations

from functools import partial

from analytics.customers import SatisfactionResult, summarize_satisfaction
from analytics.kpis import KpisResult, compute_kpis
from analytics.periods import DateRange
from analytics.sales import (
    CategoryPerformanceResult,
    Granularity,
    RevenueGroupBy,
    RevenueSeriesResult,
    SalesRepPerformanceResult,
    TopCustomersResult,
    compute_revenue_series,
    rank_top_customers,
    summarize_categories,
    summarize_sales_reps,
)
from resolvers._utils import compute
from resolvers.context import Context


async def resolve_kpis(
    context: Context, dataset: str | None, period: DateRange | None
) -> KpisResult:
    return await compute(
        context,
        dataset,
        ("kpis", period),
        partial(compute_kpis, period=period),
    )


async def resolve_revenue_series(
    context: Context,
    dataset: str | None,
    granularity: Granularity,
    period: DateRange | None,
    group_by: RevenueGroupBy | None,
) -> RevenueSeriesResult:
    return await compute(
        context,
        dataset,
        ("revenue_series", granularity, period, group_by),
        partial(compute_revenue_series, granularity=granularity, period=period, group_by=group_by),
    )


async def resolve_top_customers(
    context: Context, dataset: str | None, limit: int
) -> TopCustomersResult:
    return await compute(
        context,
        dataset,
        ("top_customers", limit),
        partial(rank_top_customers, limit=limit),
    )


async def resolve_category_performance(
    context: Context, dataset: str | None, period: DateRange | None
) -> CategoryPerformanceResult:
    return await compute(
        context,
        dataset,
        ("categories", period),
        partial(summarize_categories, period=period),
    )


async def resolve_sales_reps(
    context: Context, dataset: str | None, period: DateRange | None
) -> SalesRepPerformanceResult:
    return await compute(
        context,
        dataset,
        ("sales_reps", period),
        partial(summarize_sales_reps, period=period),
    )


async def resolve_satisfaction(context: Context, dataset: str | None) -> SatisfactionResult:
    return await compute(
        context,
        dataset,
        ("satisfaction",),
        summarize_satisfaction,
    )
