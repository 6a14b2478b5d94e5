"""Row lookups in batches: one statement for many keys (what DataLoaders call)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from analytics.db import Order, OrderItem, Product, SalesRep


@dataclass(frozen=True)
class OrderRecord:
    dataset_id: str
    id: int
    external_id: str
    customer_id: int
    order_date: dt.date
    status: str | None
    channel: str | None
    sales_rep_id: int | None
    total: float


@dataclass(frozen=True)
class OrderItemRecord:
    dataset_id: str
    id: int
    order_id: int
    product_id: int | None
    quantity: float
    unit_price: float | None
    amount: float


@dataclass(frozen=True)
class ProductRecord:
    dataset_id: str
    id: int
    sku: str
    name: str | None
    category: str | None
    unit_price: float | None


@dataclass(frozen=True)
class SalesRepRecord:
    dataset_id: str
    id: int
    name: str
    region: str | None


Key = tuple[str, int]
R = TypeVar("R")


def _by_dataset(keys: Sequence[Key]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for dataset_id, row_id in keys:
        grouped[dataset_id].append(row_id)
    return grouped


def _select_rows(
    engine: Engine,
    model: type[SQLModel],
    record_type: type[R],
    column: str,
    keys: Sequence[Key],
    order_by: Sequence[Any] = (),
) -> Iterator[R]:
    """Rows of ``model`` whose ``column`` is in the keys: one statement per dataset."""
    columns = [getattr(model, field.name) for field in dataclasses.fields(record_type)]  # type: ignore[arg-type]
    with engine.connect() as conn:
        for dataset_id, ids in _by_dataset(keys).items():
            statement = (
                sa.select(*columns)
                .where(model.dataset_id == dataset_id, getattr(model, column).in_(ids))  # type: ignore[attr-defined]
                .order_by(*order_by)
            )
            for row in conn.execute(statement):
                yield record_type(*row)


def fetch_orders_by_customer(engine: Engine, keys: Sequence[Key]) -> list[list[OrderRecord]]:
    """Each customer's orders, newest first, in the order of ``keys``."""
    found: dict[Key, list[OrderRecord]] = defaultdict(list)
    newest_first = (sa.desc(Order.order_date), sa.desc(Order.id))  # type: ignore[call-overload]
    for record in _select_rows(engine, Order, OrderRecord, "customer_id", keys, newest_first):
        found[(record.dataset_id, record.customer_id)].append(record)
    return [found.get(key, []) for key in keys]


def fetch_items_by_order(engine: Engine, keys: Sequence[Key]) -> list[list[OrderItemRecord]]:
    """Each order's lines, in file order, in the order of ``keys``."""
    found: dict[Key, list[OrderItemRecord]] = defaultdict(list)
    for record in _select_rows(
        engine,
        OrderItem,
        OrderItemRecord,
        "order_id",
        keys,
        (sa.asc(OrderItem.id),),  # type: ignore[call-overload]
    ):
        found[(record.dataset_id, record.order_id)].append(record)
    return [found.get(key, []) for key in keys]


def fetch_products(engine: Engine, keys: Sequence[Key]) -> list[ProductRecord | None]:
    found = {
        (r.dataset_id, r.id): r for r in _select_rows(engine, Product, ProductRecord, "id", keys)
    }
    return [found.get(key) for key in keys]


def fetch_sales_reps(engine: Engine, keys: Sequence[Key]) -> list[SalesRepRecord | None]:
    found = {
        (r.dataset_id, r.id): r for r in _select_rows(engine, SalesRep, SalesRepRecord, "id", keys)
    }
    return [found.get(key) for key in keys]
