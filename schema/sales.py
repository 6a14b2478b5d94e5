from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from analytics import sales
from analytics.customers import SatisfactionResult
from analytics.kpis import KpisResult
from resolvers.context import Context
from resolvers.sales import (
    resolve_category_performance,
    resolve_kpis,
    resolve_revenue_series,
    resolve_sales_reps,
    resolve_satisfaction,
    resolve_top_customers,
)
from schema._utils import convert
from schema.inputs import DateRangeInput, to_range
from schema.scalars import JSON

Granularity = strawberry.enum(sales.Granularity, description="Calendar bucket of a series.")
RevenueGroupBy = strawberry.enum(sales.RevenueGroupBy, description="Split of a revenue series.")


@strawberry.type
class Period:
    start: dt.date
    end: dt.date


@strawberry.type(description="Headline numbers; definitions in DESIGN.md.")
class Kpis:
    as_of: dt.date = strawberry.field(description="Day after the analysed window's last day.")
    period: Period = strawberry.field(description="The current window.")
    previous_period: Period = strawberry.field(description="The window retention compares with.")
    total_customers: int
    total_revenue: float
    total_lifetime_value: float
    order_count: int
    average_order_value: float | None = strawberry.field(description="Revenue / orders.")
    retention_rate: float | None = strawberry.field(
        description="Percent of the previous window's customers who ordered again in this one."
    )
    active_customers: int = strawberry.field(description="Customers who ordered in the window.")
    average_lifetime_value: float | None

    @classmethod
    def from_result(cls, result: KpisResult) -> Kpis:
        return convert(
            cls,
            result,
            period=convert(Period, result.period),
            previous_period=convert(Period, result.previous_period),
        )


@strawberry.type
class RevenuePoint:
    period_start: dt.date
    revenue: float
    orders: int
    group: str | None


@strawberry.type
class RevenueSeries:
    granularity: Granularity  # type: ignore[valid-type]
    group_by: RevenueGroupBy | None  # type: ignore[valid-type]
    points: list[RevenuePoint]
    total_revenue: float
    figure: JSON

    @classmethod
    def from_result(cls, result: sales.RevenueSeriesResult) -> RevenueSeries:
        return convert(cls, result, points=[convert(RevenuePoint, p) for p in result.points])


@strawberry.type
class CustomerValue:
    customer_id: strawberry.ID
    name: str | None
    lifetime_value: float
    order_count: int


@strawberry.type
class CategoryPerformance:
    category: str
    revenue: float
    orders: int
    quantity: float
    customers: int
    revenue_share: float = strawberry.field(description="Share of the period's revenue, 0..1.")
    average_order_value: float | None


@strawberry.type
class SalesRepPerformance:
    sales_rep_id: strawberry.ID
    name: str | None
    region: str | None
    orders_closed: int
    revenue: float
    customers: int
    average_order_value: float | None


@strawberry.type
class SatisfactionBucket:
    score: str
    count: int


@strawberry.type
class RegionSatisfaction:
    region: str
    average: float
    count: int


@strawberry.type
class SatisfactionSummary:
    average: float | None
    median: float | None
    respondents: int
    distribution: list[SatisfactionBucket]
    by_region: list[RegionSatisfaction]
    figure: JSON

    @classmethod
    def from_result(cls, result: SatisfactionResult) -> SatisfactionSummary:
        return convert(
            cls,
            result,
            distribution=[convert(SatisfactionBucket, b) for b in result.distribution],
            by_region=[convert(RegionSatisfaction, r) for r in result.by_region],
        )


@strawberry.type
class SalesQuery:
    @strawberry.field
    async def kpis(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> Kpis:
        return Kpis.from_result(await resolve_kpis(info.context, dataset, to_range(period)))

    @strawberry.field
    async def revenue_series(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        granularity: Granularity = sales.Granularity.MONTH,  # type: ignore[valid-type]
        period: DateRangeInput | None = None,
        group_by: RevenueGroupBy | None = None,  # type: ignore[valid-type]
    ) -> RevenueSeries:
        result = await resolve_revenue_series(
            info.context, dataset, granularity, to_range(period), group_by
        )
        return RevenueSeries.from_result(result)

    @strawberry.field(description="Customers with the highest lifetime value.")
    async def top_customers(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        limit: Annotated[int, strawberry.argument(description="1..1000")] = 10,
    ) -> list[CustomerValue]:
        result = await resolve_top_customers(info.context, dataset, limit)
        return [convert(CustomerValue, item) for item in result.items]

    @strawberry.field
    async def category_performance(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> list[CategoryPerformance]:
        result = await resolve_category_performance(info.context, dataset, to_range(period))
        return [convert(CategoryPerformance, item) for item in result.items]

    @strawberry.field
    async def sales_reps(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> list[SalesRepPerformance]:
        result = await resolve_sales_reps(info.context, dataset, to_range(period))
        return [
            convert(SalesRepPerformance, item, sales_rep_id=strawberry.ID(str(item.sales_rep_id)))
            for item in result.items
        ]

    @strawberry.field(description="Plotly figure of topCustomers.")
    async def top_customers_figure(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        limit: int = 10,
    ) -> JSON:
        return (await resolve_top_customers(info.context, dataset, limit)).figure  # type: ignore[return-value]

    @strawberry.field(description="Plotly figure of categoryPerformance.")
    async def category_performance_figure(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> JSON:
        return (await resolve_category_performance(info.context, dataset, to_range(period))).figure  # type: ignore[return-value]

    @strawberry.field(description="Plotly figure of salesReps.")
    async def sales_reps_figure(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        period: DateRangeInput | None = None,
    ) -> JSON:
        return (await resolve_sales_reps(info.context, dataset, to_range(period))).figure  # type: ignore[return-value]

    @strawberry.field
    async def satisfaction(
        self, info: Info[Context, None], dataset: strawberry.ID | None = None
    ) -> SatisfactionSummary:
        return SatisfactionSummary.from_result(await resolve_satisfaction(info.context, dataset))
