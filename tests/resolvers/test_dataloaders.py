"""Loaders against answers computed independently with ``pd.read_sql_query``."""

from __future__ import annotations

import asyncio

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.db import replace_dataset
from resolvers.dataloaders import DataLoaders
from tests.conftest import tiny_tables


async def test_orders_by_customer_batches_and_matches_sql(tiny_dataset: Engine) -> None:
    replace_dataset(tiny_dataset, "other", "Other", tiny_tables())
    loaders = DataLoaders.create(tiny_dataset)
    keys = [("tiny", 1), ("tiny", 2), ("other", 3), ("tiny", 4)]

    results = await asyncio.gather(*(loaders.orders_by_customer.load(key) for key in keys))

    expected = pd.read_sql_query(
        sa.text(
            "SELECT dataset_id, customer_id, external_id FROM orders "
            "ORDER BY order_date DESC, id DESC"
        ),
        tiny_dataset,
    )
    for key, orders in zip(keys, results, strict=True):
        rows = expected[(expected.dataset_id == key[0]) & (expected.customer_id == key[1])]
        assert [o.external_id for o in orders] == rows["external_id"].tolist()
        assert all(o.dataset_id == key[0] for o in orders)
    assert results[3] == []  # C4 never ordered


async def test_items_products_and_reps_match_sql(tiny_dataset: Engine) -> None:
    loaders = DataLoaders.create(tiny_dataset)

    items = await loaders.items_by_order.load(("tiny", 2))
    products = await asyncio.gather(
        *(loaders.product_by_id.load(("tiny", i.product_id)) for i in items if i.product_id)
    )
    rep = await loaders.sales_rep_by_id.load(("tiny", 2))
    missing = await loaders.product_by_id.load(("tiny", 99))

    expected = pd.read_sql_query(
        sa.text(
            "SELECT i.amount, p.sku FROM order_items i JOIN products p "
            "ON p.dataset_id = i.dataset_id AND p.id = i.product_id "
            "WHERE i.dataset_id = 'tiny' AND i.order_id = 2 ORDER BY i.id"
        ),
        tiny_dataset,
    )
    assert [i.amount for i in items] == expected["amount"].tolist()
    assert [p.sku for p in products if p] == expected["sku"].tolist()
    assert rep is not None and rep.name == "Sam"
    assert missing is None
