from __future__ import annotations

from typing import Any

from analytics.customers import summarize_customers
from analytics.listing import CustomerFilterSpec, CustomerPage, CustomerSortField, list_customers
from analytics.records import OrderItemRecord, OrderRecord, ProductRecord, SalesRepRecord
from analytics.reports import CustomerReportResult, build_customer_report
from analytics.store import AnalyticsStore
from resolvers._utils import compute, off_loop
from resolvers.context import Context


def _customer_summary(store: AnalyticsStore, dataset_id: str) -> Any:
    return store.compute(dataset_id, ("customer_summary",), summarize_customers)


async def resolve_customers(
    context: Context,
    dataset: str | None,
    filter_spec: CustomerFilterSpec | None,
    sort_field: CustomerSortField,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[str, CustomerPage]:
    dataset_id = context.dataset_id(dataset)

    def page() -> CustomerPage:
        summary = _customer_summary(context.store, dataset_id)
        return list_customers(summary, filter_spec, sort_field, descending, offset, limit)

    return dataset_id, await off_loop(page)


async def resolve_customer(
    context: Context, dataset: str | None, customer_id: str
) -> tuple[str, dict[str, Any]] | None:
    """One customer's summary row, or ``None`` when the dataset has no such customer."""
    dataset_id = context.dataset_id(dataset)

    def find() -> dict[str, Any] | None:
        summary = _customer_summary(context.store, dataset_id)
        match = summary[summary["external_id"] == customer_id]
        return None if match.empty else match.iloc[0].to_dict()

    row = await off_loop(find)
    return None if row is None else (dataset_id, row)


async def resolve_customer_orders(
    context: Context, dataset_id: str, customer_pk: int
) -> list[OrderRecord]:
    return await context.loaders.orders_by_customer.load((dataset_id, customer_pk))


async def resolve_order_items(context: Context, order: OrderRecord) -> list[OrderItemRecord]:
    return await context.loaders.items_by_order.load((order.dataset_id, order.id))


async def resolve_item_product(context: Context, item: OrderItemRecord) -> ProductRecord | None:
    if item.product_id is None:
        return None
    return await context.loaders.product_by_id.load((item.dataset_id, item.product_id))


async def resolve_order_sales_rep(context: Context, order: OrderRecord) -> SalesRepRecord | None:
    if order.sales_rep_id is None:
        return None
    return await context.loaders.sales_rep_by_id.load((order.dataset_id, order.sales_rep_id))


async def resolve_report(
    context: Context, dataset: str | None, customer_id: str
) -> CustomerReportResult:
    return await compute(
        context,
        dataset,
        ("report", customer_id),
        lambda frames: build_customer_report(frames, customer_id),
    )
