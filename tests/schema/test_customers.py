from __future__ import annotations

import pytest
import sqlalchemy as sa

from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.dataloaders import DataLoaders
from schema import schema
from tests.schema.conftest import Execute

CUSTOMERS_QUERY = """
query Customers($first: Int, $after: String, $orderBy: CustomerOrder, $filter: CustomerFilter) {
  customers(first: $first, after: $after, orderBy: $orderBy, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name lifetimeValue orderCount lastOrderDate } }
  }
}
"""

CUSTOMER_WITH_ORDERS_QUERY = """
query Customer($id: ID!) {
  customer(id: $id) {
    id name region lifetimeValue orderCount firstOrderDate
    orders { id date total salesRep { name } items { quantity amount product { sku category } } }
  }
}
"""

NESTED_PAGE_QUERY = """
query {
  customers(first: 100) {
    edges { node { id orders { id items { amount product { sku } } } } }
  }
}
"""


async def test_customers_page_through_with_cursors(execute: Execute) -> None:
    first = await execute(CUSTOMERS_QUERY, {"first": 2})
    page = first["customers"]
    assert page["totalCount"] == 4
    assert [e["node"]["id"] for e in page["edges"]] == ["C1", "C2"]
    assert page["pageInfo"]["hasNextPage"] is True

    second = await execute(CUSTOMERS_QUERY, {"first": 2, "after": page["pageInfo"]["endCursor"]})
    rest = second["customers"]
    assert [e["node"]["id"] for e in rest["edges"]] == ["C3", "C4"]
    assert rest["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": rest["edges"][-1]["cursor"],
    }


async def test_customers_sort_by_lifetime_value_and_filter(execute: Execute) -> None:
    data = await execute(
        CUSTOMERS_QUERY,
        {
            "orderBy": {"field": "LIFETIME_VALUE", "direction": "DESC"},
            "filter": {"region": "north"},
        },
    )
    nodes = [e["node"] for e in data["customers"]["edges"]]
    assert [(n["id"], n["lifetimeValue"], n["orderCount"]) for n in nodes] == [
        ("C1", 35.0, 2),
        ("C3", 25.0, 1),
    ]


async def test_customers_reject_bad_cursor_and_page_size(execute: Execute) -> None:
    bad_cursor = await execute(CUSTOMERS_QUERY, {"after": "nonsense"}, errors=True)
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "after" in bad_cursor["errors"][0]["message"]

    too_big = await execute(CUSTOMERS_QUERY, {"first": 100_000}, errors=True)
    assert "first" in too_big["errors"][0]["message"]


async def test_customer_with_nested_orders_items_and_products(execute: Execute) -> None:
    data = await execute(CUSTOMER_WITH_ORDERS_QUERY, {"id": "C1"})
    customer = data["customer"]
    assert customer["lifetimeValue"] == 35.0
    assert customer["firstOrderDate"] == "2023-02-01"
    assert [o["id"] for o in customer["orders"]] == ["O2", "O1"]  # newest first
    newest = customer["orders"][0]
    assert newest["salesRep"] == {"name": "Rita"}
    assert [(i["amount"], i["product"]["sku"]) for i in newest["items"]] == [
        (5.0, "BK-2"),
        (10.0, "BK-2"),
    ]


async def test_unknown_customer_is_null(execute: Execute) -> None:
    assert (await execute(CUSTOMER_WITH_ORDERS_QUERY, {"id": "nobody"}))["customer"] is None


async def test_unknown_dataset_is_not_found(execute: Execute) -> None:
    result = await execute('{ customers(dataset: "nope") { totalCount } }', errors=True)
    assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "'nope'" in result["errors"][0]["message"]


@pytest.mark.parametrize("customers", [4, 100])
async def test_nested_page_costs_a_constant_number_of_statements(
    tiny_dataset: sa.engine.Engine, customers: int
) -> None:
    from analytics.db import replace_dataset
    from tests.schema.test_customers_data import many_customers_tables

    replace_dataset(tiny_dataset, "tiny", "Many", many_customers_tables(customers))
    store = AnalyticsStore(tiny_dataset)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(tiny_dataset, "before_cursor_execute", count)
    try:
        # Warm the frame cache so only the per-request statements are counted.
        store.frames("tiny")
        statements.clear()
        context = Context(
            store=store, default_dataset="tiny", loaders=DataLoaders.create(tiny_dataset)
        )
        result = await schema.execute(NESTED_PAGE_QUERY, context_value=context)
    finally:
        sa.event.remove(tiny_dataset, "before_cursor_execute", count)

    assert result.errors is None
    assert result.data is not None
    assert len(result.data["customers"]["edges"]) == customers
    # version lookup + orders + items + products, whatever the page size
    assert len(statements) == 4, statements
