"""A tiny hand-built dataset whose every number is checked by hand in the tests.

Customers (pk, external id, name, region, signup, satisfaction):
    1 C1 Alice North 2022-01-01 4.0
    2 C2 Bob   South 2022-06-01 5.0
    3 C3 Carol North 2023-03-01 2.5   (first order 2023-01-02, before signing up)
    4 C4 Dan   -     -          -     (no orders)
    5 C5 Eve   South 2023-11-01 3.0

Products: 1 SKU-A Hardware 10, 2 SKU-B Hardware 25, 3 SKU-C Services 100,
4 SKU-D (no category) 5. Sales reps: 1 Rita North, 2 Sam South, 3 Tom West (no sales).

Orders (id, customer, date, rep) and lines (product x quantity = amount):
    101 C1 2022-03-15 Rita  A x2 = 20, C x1 = 100        -> 120
    102 C2 2022-07-04 Sam   B x4 = 100                   -> 100
    103 C1 2022-12-31 Rita  A x5 = 50   (a Saturday)     -> 50
    104 C3 2023-01-02 -     D x2 = 10, B x1 = 25 (Monday)-> 35
    105 C1 2023-04-01 Rita  C x1 = 100                   -> 100
    106 C1 2023-06-30 Sam   B x-1 = -25 (a return)       -> -25
    107 C5 2023-12-30 Sam   D x7 = 35                    -> 35
Total revenue 120 + 100 + 50 + 35 + 100 - 25 + 35 = 415 over 7 orders.
Default asOf: 2023-12-31 (the day after the latest order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from analytics.frames import DatasetFrames, build_frames

CUSTOMER_COLUMNS = [
    "customer_id", "external_id", "name", "email", "region", "country", "signup_date",
    "satisfaction_score",
]  # fmt: skip
PRODUCT_COLUMNS = ["product_id", "sku", "name", "category", "unit_price"]
SALES_REP_COLUMNS = ["sales_rep_id", "name", "region"]
ORDER_COLUMNS = [
    "order_id", "external_id", "customer_id", "order_date", "status", "channel",
    "sales_rep_id", "total",
]  # fmt: skip
ITEM_COLUMNS = ["order_id", "product_id", "quantity", "unit_price", "amount"]

CUSTOMERS = [
    (1, "C1", "Alice", "alice@example.com", "North", "NO", "2022-01-01", 4.0),
    (2, "C2", "Bob", "bob@example.com", "South", "ZA", "2022-06-01", 5.0),
    (3, "C3", "Carol", "carol@example.com", "North", "NO", "2023-03-01", 2.5),
    (4, "C4", "Dan", None, None, None, None, None),
    (5, "C5", "Eve", "eve@example.com", "South", "ZA", "2023-11-01", 3.0),
]
PRODUCTS = [
    (1, "SKU-A", "Widget", "Hardware", 10.0),
    (2, "SKU-B", "Gadget", "Hardware", 25.0),
    (3, "SKU-C", "Support plan", "Services", 100.0),
    (4, "SKU-D", "Mystery box", None, 5.0),
]
SALES_REPS = [(1, "Rita", "North"), (2, "Sam", "South"), (3, "Tom", "West")]
ORDERS = [
    (101, "O101", 1, "2022-03-15", "completed", "web", 1, 120.0),
    (102, "O102", 2, "2022-07-04", "completed", "store", 2, 100.0),
    (103, "O103", 1, "2022-12-31", "completed", "web", 1, 50.0),
    (104, "O104", 3, "2023-01-02", "completed", "web", None, 35.0),
    (105, "O105", 1, "2023-04-01", "completed", "phone", 1, 100.0),
    (106, "O106", 1, "2023-06-30", "returned", "web", 2, -25.0),
    (107, "O107", 5, "2023-12-30", "completed", "store", 2, 35.0),
]
ITEMS = [
    (101, 1, 2.0, 10.0, 20.0),
    (101, 3, 1.0, 100.0, 100.0),
    (102, 2, 4.0, 25.0, 100.0),
    (103, 1, 5.0, 10.0, 50.0),
    (104, 4, 2.0, 5.0, 10.0),
    (104, 2, 1.0, 25.0, 25.0),
    (105, 3, 1.0, 100.0, 100.0),
    (106, 2, -1.0, 25.0, -25.0),
    (107, 4, 7.0, 5.0, 35.0),
]

FramesFactory = Callable[..., DatasetFrames]


def _frame(rows: Sequence[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=columns)


def make_dataset(
    customers: Sequence[tuple[Any, ...]] = (),
    products: Sequence[tuple[Any, ...]] = (),
    sales_reps: Sequence[tuple[Any, ...]] = (),
    orders: Sequence[tuple[Any, ...]] = (),
    items: Sequence[tuple[Any, ...]] = (),
    dataset_id: str = "test",
) -> DatasetFrames:
    """Frames from rows shaped like the tables (see the *_COLUMNS lists)."""
    return build_frames(
        dataset_id,
        1,
        _frame(customers, CUSTOMER_COLUMNS),
        _frame(products, PRODUCT_COLUMNS),
        _frame(sales_reps, SALES_REP_COLUMNS),
        _frame(orders, ORDER_COLUMNS),
        _frame(items, ITEM_COLUMNS),
    )


@pytest.fixture
def make_frames() -> FramesFactory:
    return make_dataset


@pytest.fixture
def frames() -> DatasetFrames:
    return make_dataset(CUSTOMERS, PRODUCTS, SALES_REPS, ORDERS, ITEMS)


@pytest.fixture
def empty_frames() -> DatasetFrames:
    return make_dataset()
