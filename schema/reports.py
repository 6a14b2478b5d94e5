from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from analytics.reports import CustomerReportResult
from resolvers.context import Context
from resolvers.customers import resolve_report
from schema._utils import convert
from schema.scalars import JSON


@strawberry.type
class MonthlySpend:
    month: dt.date
    revenue: float


@strawberry.type
class FavouriteProduct:
    sku: str | None
    name: str | None
    quantity: float
    revenue: float


@strawberry.type
class FavouriteCategory:
    category: str
    revenue: float
    share: float


@strawberry.type(description="Everything about one customer, ready for a report page.")
class CustomerReport:
    customer_id: strawberry.ID
    name: str | None
    email: str | None
    region: str | None
    country: str | None
    signup_date: dt.date | None
    satisfaction_score: float | None
    lifetime_value: float
    order_count: int
    average_order_value: float | None
    first_order_date: dt.date | None
    last_order_date: dt.date | None
    days_since_last_order: int | None
    monthly_spend: list[MonthlySpend]
    favourite_products: list[FavouriteProduct]
    favourite_categories: list[FavouriteCategory]
    as_of: dt.date | None
    figure: JSON

    @classmethod
    def from_result(cls, result: CustomerReportResult) -> CustomerReport:
        return convert(
            cls,
            result,
            monthly_spend=[convert(MonthlySpend, m) for m in result.monthly_spend],
            favourite_products=[convert(FavouriteProduct, p) for p in result.favourite_products],
            favourite_categories=[
                convert(FavouriteCategory, c) for c in result.favourite_categories
            ],
        )


async def _report(
    info: Info[Context, None], dataset: strawberry.ID | None, customer_id: strawberry.ID
) -> CustomerReport:
    return CustomerReport.from_result(await resolve_report(info.context, dataset, str(customer_id)))


@strawberry.type
class ReportQuery:
    @strawberry.field(description="A per-customer report.")
    async def report(
        self,
        info: Info[Context, None],
        customer_id: strawberry.ID,
        dataset: strawberry.ID | None = None,
    ) -> CustomerReport:
        return await _report(info, dataset, customer_id)


@strawberry.type
class ReportMutation:
    @strawberry.mutation(description="Build (or rebuild) a per-customer report.")
    async def generate_report(
        self,
        info: Info[Context, None],
        customer_id: strawberry.ID,
        dataset: strawberry.ID | None = None,
    ) -> CustomerReport:
        return await _report(info, dataset, customer_id)
