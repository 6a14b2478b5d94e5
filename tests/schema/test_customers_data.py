from __future__ import annotations

import pandas as pd

from analytics.db import DatasetTables


def many_customers_tables(customers: int) -> DatasetTables:
    """``customers`` customers with two orders of two lines each."""
    ids = list(range(1, customers + 1))
    orders = 2 * customers
    return DatasetTables(
        customers=pd.DataFrame(
            {"id": ids, "external_id": [f"C{i:04d}" for i in ids], "region": "North"}
        ),
        products=pd.DataFrame({"id": [1, 2], "sku": ["A", "B"], "category": ["X", "Y"]}),
        sales_reps=pd.DataFrame({"id": [1], "name": ["Rita"]}),
        orders=pd.DataFrame(
            {
                "id": range(1, orders + 1),
                "external_id": [f"O{i}" for i in range(1, orders + 1)],
                "customer_id": [i for i in ids for _ in range(2)],
                "order_date": pd.Timestamp("2024-01-01"),
                "total": 3.0,
            }
        ),
        order_items=pd.DataFrame(
            {
                "id": range(1, 2 * orders + 1),
                "order_id": [o for o in range(1, orders + 1) for _ in range(2)],
                "product_id": [1, 2] * orders,
                "quantity": 1.0,
                "amount": [1.0, 2.0] * orders,
            }
        ),
    )
