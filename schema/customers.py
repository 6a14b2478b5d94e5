from __future__ import annotations

import base64
import datetime as dt
import enum
import math
from typing import Annotated, Any

import pandas as pd
import strawberry
from strawberry.types import Info

from analytics.errors import InvalidArgumentError
from analytics.listing import MAX_PAGE_SIZE, CustomerFilterSpec, CustomerSortField
from analytics.records import OrderItemRecord, OrderRecord, ProductRecord, SalesRepRecord
from analytics.segmentation import SegmentationMethod as Method
from resolvers.churn import resolve_customer_churn
from resolvers.clv import resolve_lifetime_value
from resolvers.context import Context
from resolvers.customers import (
    resolve_customer,
    resolve_customer_orders,
    resolve_customers,
    resolve_item_product,
    resolve_order_items,
    resolve_order_sales_rep,
)
from resolvers.rfm import resolve_rfm
from resolvers.segmentation import resolve_customer_segment
from schema._utils import convert
from schema.churn import CustomerChurnRisk
from schema.clv import CustomerClv
from schema.inputs import SortDirection
from schema.rfm import RfmScore
from schema.segmentation import CustomerSegment, SegmentationMethod

_CURSOR_PREFIX = "offset:"
MAX_ORDERS_PAGE = 1000


@strawberry.type
class Product:
    sku: str
    name: str | None
    category: str | None
    unit_price: float | None

    @classmethod
    def from_record(cls, record: ProductRecord) -> Product:
        return cls(
            sku=record.sku, name=record.name, category=record.category, unit_price=record.unit_price
        )


@strawberry.type
class SalesRep:
    id: strawberry.ID
    name: str
    region: str | None

    @classmethod
    def from_record(cls, record: SalesRepRecord) -> SalesRep:
        return cls(id=strawberry.ID(str(record.id)), name=record.name, region=record.region)


@strawberry.type
class OrderItem:
    record: strawberry.Private[OrderItemRecord]
    quantity: float
    unit_price: float | None
    amount: float

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        record = await resolve_item_product(info.context, self.record)
        return None if record is None else Product.from_record(record)


@strawberry.type
class Order:
    record: strawberry.Private[OrderRecord]
    id: strawberry.ID = strawberry.field(description="The order's id in the source data.")
    date: dt.date
    status: str | None
    channel: str | None
    total: float

    @classmethod
    def from_record(cls, record: OrderRecord) -> Order:
        return cls(
            record=record,
            id=strawberry.ID(record.external_id),
            date=record.order_date,
            status=record.status,
            channel=record.channel,
            total=record.total,
        )

    @strawberry.field
    async def items(self, info: Info[Context, None]) -> list[OrderItem]:
        return [
            OrderItem(record=r, quantity=r.quantity, unit_price=r.unit_price, amount=r.amount)
            for r in await resolve_order_items(info.context, self.record)
        ]

    @strawberry.field
    async def sales_rep(self, info: Info[Context, None]) -> SalesRep | None:
        record = await resolve_order_sales_rep(info.context, self.record)
        return None if record is None else SalesRep.from_record(record)


@strawberry.type
class Customer:
    dataset_id: strawberry.Private[str]
    pk: strawberry.Private[int]
    id: strawberry.ID = strawberry.field(description="The customer's id in the source data.")
    name: str | None
    email: str | None
    region: str | None
    country: str | None
    signup_date: dt.date | None
    satisfaction_score: float | None
    lifetime_value: float = strawberry.field(description="Revenue from this customer to date.")
    order_count: int
    first_order_date: dt.date | None
    last_order_date: dt.date | None

    @classmethod
    def from_summary(cls, dataset_id: str, row: dict[str, Any]) -> Customer:
        return cls(
            dataset_id=dataset_id,
            pk=int(row["customer_id"]),
            id=strawberry.ID(str(row["external_id"])),
            name=_optional(row["name"]),
            email=_optional(row["email"]),
            region=_optional(row["region"]),
            country=_optional(row["country"]),
            signup_date=_date(row["signup_date"]),
            satisfaction_score=_optional(row["satisfaction_score"]),
            lifetime_value=float(row["lifetime_value"]),
            order_count=int(row["order_count"]),
            first_order_date=_date(row["first_order_date"]),
            last_order_date=_date(row["last_order_date"]),
        )

    @strawberry.field(description="RFM scores at asOf; null when they had not ordered by then.")
    async def rfm(self, info: Info[Context, None], as_of: dt.date | None = None) -> RfmScore | None:
        scores = (await resolve_rfm(info.context, self.dataset_id, as_of)).customers
        if self.pk not in scores.index:
            return None
        return RfmScore.from_row(next(scores.loc[[self.pk]].itertuples()))

    @strawberry.field(description="Predicted lifetime value (BG/NBD + Gamma-Gamma).")
    async def clv(
        self,
        info: Info[Context, None],
        horizon_months: int = 12,
        discount_rate: float = 0.01,
    ) -> CustomerClv | None:
        result = await resolve_lifetime_value(
            info.context, self.dataset_id, horizon_months, discount_rate
        )
        prediction = result.for_customer(self.pk)
        return None if prediction is None else convert(CustomerClv, prediction)

    @strawberry.field(
        description="Churn risk at the default asOf over 90 days; null when not scored "
        "(no order in the last 365 days, or none at all)."
    )
    async def churn(self, info: Info[Context, None]) -> CustomerChurnRisk | None:
        risk = await resolve_customer_churn(info.context, self.dataset_id, str(self.id))
        return None if risk is None else CustomerChurnRisk.from_result(risk)

    @strawberry.field(
        description="The customer's segment (K-means unless asked); null when they never ordered."
    )
    async def segment(
        self,
        info: Info[Context, None],
        method: SegmentationMethod = Method.KMEANS,  # type: ignore[valid-type]
    ) -> CustomerSegment | None:
        result = await resolve_customer_segment(info.context, self.dataset_id, str(self.id), method)
        return None if result is None else CustomerSegment.from_result(result)

    @strawberry.field(description="The customer's orders, newest first.")
    async def orders(self, info: Info[Context, None], first: int | None = None) -> list[Order]:
        if first is not None and not 1 <= first <= MAX_ORDERS_PAGE:
            raise InvalidArgumentError(f"first: expected 1..{MAX_ORDERS_PAGE}, got {first}")
        records = await resolve_customer_orders(info.context, self.dataset_id, self.pk)
        if first is not None:
            records = records[:first]
        return [Order.from_record(record) for record in records]


@strawberry.enum
class CustomerOrderField(enum.Enum):
    ID = CustomerSortField.ID
    NAME = CustomerSortField.NAME
    LIFETIME_VALUE = CustomerSortField.LIFETIME_VALUE
    ORDER_COUNT = CustomerSortField.ORDER_COUNT
    LAST_ORDER_DATE = CustomerSortField.LAST_ORDER_DATE
    SIGNUP_DATE = CustomerSortField.SIGNUP_DATE
    SATISFACTION = CustomerSortField.SATISFACTION


@strawberry.input
class CustomerOrder:
    field: CustomerOrderField = CustomerOrderField.ID
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class CustomerFilter:
    search: str | None = strawberry.field(
        default=None, description="Substring of the id, name or email (case-insensitive)."
    )
    region: str | None = None
    country: str | None = None
    min_lifetime_value: float | None = None
    max_lifetime_value: float | None = None
    min_orders: int | None = None
    signed_up_after: dt.date | None = None
    signed_up_before: dt.date | None = None

    def to_spec(self) -> CustomerFilterSpec:
        return CustomerFilterSpec(**{name: getattr(self, name) for name in _FILTER_FIELDS})


_FILTER_FIELDS = tuple(CustomerFilterSpec.__dataclass_fields__)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[Customer]:
        return [edge.node for edge in self.edges]


@strawberry.type
class CustomerQuery:
    @strawberry.field(description="Customers, filtered and sorted, as a Relay-style connection.")
    async def customers(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrder | None = None,
        first: Annotated[
            int, strawberry.argument(description=f"Page size, 1..{MAX_PAGE_SIZE}.")
        ] = 50,
        after: str | None = None,
    ) -> CustomerConnection:
        order_by = order_by or CustomerOrder()
        offset = 0 if after is None else decode_cursor(after) + 1
        dataset_id, page = await resolve_customers(
            info.context,
            dataset,
            filter.to_spec() if filter else None,
            order_by.field.value,
            order_by.direction is SortDirection.DESC,
            offset,
            first,
        )
        edges = [
            CustomerEdge(
                cursor=encode_cursor(offset + index), node=Customer.from_summary(dataset_id, row)
            )
            for index, row in enumerate(page.rows.to_dict("records"))
        ]
        return CustomerConnection(
            edges=edges,
            total_count=page.total_count,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(description="One customer by its id in the source data.")
    async def customer(
        self, info: Info[Context, None], id: strawberry.ID, dataset: strawberry.ID | None = None
    ) -> Customer | None:
        found = await resolve_customer(info.context, dataset, str(id))
        return None if found is None else Customer.from_summary(*found)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        offset = int(text.removeprefix(_CURSOR_PREFIX))
    except ValueError as error:
        raise InvalidArgumentError(
            f"after: {cursor!r} is not a cursor from this listing"
        ) from error
    if offset < 0:
        raise InvalidArgumentError(f"after: {cursor!r} is not a cursor from this listing")
    return offset


def _optional(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _date(value: Any) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()
