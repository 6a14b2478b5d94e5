"""Hostile documents are refused before any resolver runs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import get_introspection_query, parse
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from resolvers.context import Context
from schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, build_schema, schema
from schema.limits import DEFAULT_MAX_QUERY_COST, PAGE_SIZE_ARGUMENTS, query_cost
from server.app import create_app
from server.settings import Settings
from tests.schema.conftest import Execute

NESTED_CUSTOMERS = """
{ customers(first: 1) { edges { node { orders(first: 1) { items { product { sku } } } } } } }
"""

# A page of customers with their orders and order lines: it must stay allowed.
CUSTOMER_PAGE = """
{ customers(first: 100) { edges { node { orders { items { product { name } } } } } } }
"""

CUSTOMER_PAGE_BY_VARIABLE = """
query Page($first: Int!) {
  customers(first: $first) { edges { node { orders { items { product { name } } } } } }
}
"""

EXPLOSION = """
{ customers(first: 500) { edges { node {
  orders(first: 1000) { items { product { name sku category unitPrice } } }
} } } }
"""

DASHBOARD = """
query Dashboard {
  datasets { id name }
  kpis { totalRevenue orderCount averageOrderValue retentionRate }
  revenueSeries(granularity: MONTH) { points { periodStart revenue orders } }
  topCustomers(limit: 10) { customerId name lifetimeValue }
  topProducts(limit: 10) { items { sku name revenue } }
  categoryPerformance { category revenue }
  salesReps { name revenue }
  customers(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name lifetimeValue orders(first: 5) { id total items { amount } } } }
  }
}
"""

INLINED = """
{ customers(first: 2) { edges { cursor node { id orders { id } } } } }
"""

WITH_FRAGMENTS = """
query { customers(first: 2) { edges { ...Edge } } }
fragment Edge on CustomerEdge { cursor node { ...CustomerOrders } }
fragment CustomerOrders on Customer { id ... on Customer { orders { id } } }
"""

INTROSPECT_TYPES = "{ __schema { types { name } } }"

Run = Callable[..., Awaitable[dict[str, Any]]]


def _nested(levels: int) -> str:
    return "{ " + "customers { " * levels + "totalCount" + " }" * levels + " }"


def _cost(query: str, variables: dict[str, Any] | None = None) -> int | None:
    return query_cost(schema._schema, parse(query), variables)


@pytest.fixture
def run(make_context: Callable[[], Context]) -> Run:
    """Like ``execute``, on any schema, returning data and errors as a client sees them."""

    async def run_on(
        on: strawberry.Schema, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = await on.execute(query, variable_values=variables, context_value=make_context())
        return {"data": result.data, "errors": [e.formatted for e in result.errors or ()]}

    return run_on


async def test_the_deepest_real_query_is_allowed(execute: Execute) -> None:
    data = await execute(NESTED_CUSTOMERS)

    assert data["customers"]["edges"][0]["node"]["orders"][0]["items"]


async def test_a_depth_20_query_is_refused(execute: Execute) -> None:
    result = await execute(_nested(20), errors=True)

    assert result["data"] is None
    messages = [error["message"] for error in result["errors"]]
    assert any(f"exceeds maximum operation depth of {MAX_DEPTH}" in m for m in messages)


async def test_too_many_aliases_are_refused(execute: Execute) -> None:
    query = (
        "{ " + " ".join(f"k{i}: kpis {{ totalRevenue }}" for i in range(MAX_ALIASES + 10)) + " }"
    )

    result = await execute(query, errors=True)

    assert result["data"] is None
    assert f"{MAX_ALIASES}" in result["errors"][0]["message"]
    assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_huge_document_is_refused(execute: Execute) -> None:
    query = "{ " + "__typename " * (MAX_TOKENS + 1) + "}"

    result = await execute(query, errors=True)

    assert result["data"] is None
    assert "token" in result["errors"][0]["message"].lower()


def _doubling_fragments(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels fields from a few tokens each."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"


async def test_doubling_fragments_are_refused_at_once(execute: Execute) -> None:
    started = time.monotonic()
    result = await execute(_doubling_fragments(40), errors=True)

    # Counting each spread anew, as Strawberry's depth and alias limiters do,
    # would take days; each fragment is counted once.
    assert time.monotonic() - started < 2
    assert result["errors"][0]["message"].startswith(f"Query cost {2**40} exceeds")


async def test_aliases_count_at_every_spread(execute: Execute) -> None:
    half = MAX_ALIASES // 2 + 1
    aliases = " ".join(f"k{i}: kpis {{ orderCount }}" for i in range(half))

    result = await execute(f"{{ ...K ...K }} fragment K on Query {{ {aliases} }}", errors=True)

    assert result["errors"][0]["message"] == f"{2 * half} aliases found. Allowed: {MAX_ALIASES}"


async def test_depth_counts_through_fragments(execute: Execute) -> None:
    query = "{ ...A } fragment A on Query " + _nested(MAX_DEPTH + 1)

    result = await execute(query, errors=True)

    assert result["errors"][0]["message"] == (
        f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}"
    )


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        # kpis 1 + two scalars
        ("{ kpis { totalRevenue orderCount } }", 3),
        # topCustomers 1 + limit 3 x two scalars
        ("{ topCustomers(limit: 3) { customerId name } }", 7),
        # customers 1 + nodes (1 + default first 50 x id)
        ("{ customers { nodes { id } } }", 52),
        # product 2; items 1 + 5 x 2 = 11; orders 1 + 10 x 11 = 111; node 112;
        # edges 1 + 100 x 112 = 11201; customers 1 + totalCount 1 + edges
        (
            "{ customers(first: 100) { totalCount edges { node { orders "
            "{ items { product { name } } } } } } }",
            11203,
        ),
        # orders(first: 3) 1 + 3 x id; node 5; edges 1 + 2 x 5; customers 12
        ("{ customers(first: 2) { edges { node { orders(first: 3) { id } } } } }", 12),
        # pageInfo is not a list: the page size multiplies edges only
        ("{ customers(first: 2) { pageInfo { hasNextPage } edges { cursor } } }", 6),
        # __schema 1 + types (1 + 10 x name)
        (INTROSPECT_TYPES, 12),
        # args 1 + 2 x name = 3; fields 1 + 10 x (name + args) = 41; __type 42
        ('{ __type(name: "Customer") { fields { name args { name } } } }', 42),
        # a size the field refuses returns nothing
        ("{ topCustomers(limit: 5000) { customerId name } }", 1),
        ("{ customers(first: 0) { edges { node { id } } } }", 2),
    ],
)
def test_cost_of_hand_counted_queries(query: str, cost: int) -> None:
    assert _cost(query) == cost


def test_fragments_cost_what_the_inlined_selections_cost() -> None:
    # id 1 + orders (1 + 10 x id) = 12; node 13; cursor 1; edges 1 + 2 x 14 = 29; customers 30
    assert _cost(INLINED) == 30
    assert _cost(WITH_FRAGMENTS) == 30


def test_variables_and_their_defaults_set_the_page_size() -> None:
    assert _cost(CUSTOMER_PAGE_BY_VARIABLE, {"first": 100}) == 11202
    assert _cost(CUSTOMER_PAGE_BY_VARIABLE, {"first": 500}) == 56002
    assert _cost("query T($n: Int! = 4) { topCustomers(limit: $n) { customerId } }") == 5
    assert _cost("query T($n: Int!) { topCustomers(limit: $n) { customerId } }", {"n": 7}) == 8


def test_only_the_operation_that_runs_is_counted() -> None:
    document = "query Small { kpis { orderCount } } query Big { customers { nodes { id } } }"

    assert _cost(document) is None
    assert query_cost(schema._schema, parse(document), operation_name="Small") == 2
    assert query_cost(schema._schema, parse(document), operation_name="Big") == 52


async def test_a_customer_page_with_orders_and_items_is_allowed(execute: Execute) -> None:
    data = await execute(CUSTOMER_PAGE)

    assert len(data["customers"]["edges"]) == 4


async def test_a_dashboard_is_allowed(execute: Execute) -> None:
    data = await execute(DASHBOARD)

    assert data["customers"]["totalCount"] == 4
    assert data["topCustomers"][0]["customerId"] == "C2"


async def test_the_introspection_query_of_graphiql_is_allowed(execute: Execute) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )

    data = await execute(query)

    assert any(t["name"] == "Customer" for t in data["__schema"]["types"])


async def test_an_explosion_through_nested_lists_is_refused_before_it_runs(
    execute: Execute, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    async def record(*args: object) -> None:
        calls.append(args)

    monkeypatch.setattr("schema.customers.resolve_customers", record)
    # product 5; items 1 + 5 x 5 = 26; orders 1 + 1000 x 26 = 26001; node 26002;
    # edges 1 + 500 x 26002 = 13001001; customers 13001002
    result = await execute(EXPLOSION, errors=True)

    assert result["data"] is None
    assert calls == []
    [error] = result["errors"]
    assert error["message"].startswith(
        f"Query cost 13001002 exceeds the limit of {DEFAULT_MAX_QUERY_COST}"
    )
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["extensions"]["cost"] == 13001002


async def test_the_same_document_is_judged_by_its_variables(execute: Execute) -> None:
    allowed = await execute(CUSTOMER_PAGE_BY_VARIABLE, {"first": 100})
    refused = await execute(CUSTOMER_PAGE_BY_VARIABLE, {"first": 500}, errors=True)

    assert len(allowed["customers"]["edges"]) == 4
    assert refused["errors"][0]["message"].startswith("Query cost 56002 exceeds")


async def test_the_limit_is_a_parameter(run: Run) -> None:
    strict = build_schema(max_query_cost=100)

    allowed = await run(strict, "{ customers(first: 98) { nodes { id } } }")
    refused = await run(strict, "{ customers(first: 99) { nodes { id } } }")

    assert allowed["errors"] == []
    assert refused["data"] is None
    assert refused["errors"][0]["message"].startswith("Query cost 101 exceeds the limit of 100")


async def test_without_introspection_the_schema_cannot_be_read(run: Run) -> None:
    closed = build_schema(introspection=False)

    refused = await run(closed, INTROSPECT_TYPES)
    by_name = await run(closed, '{ __type(name: "Customer") { name } }')
    normal = await run(closed, "{ __typename kpis { orderCount } }")

    assert refused["data"] is None
    assert "introspection has been disabled" in refused["errors"][0]["message"]
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert by_name["data"] is None
    assert normal == {"data": {"__typename": "Query", "kpis": {"orderCount": 5}}, "errors": []}


MISSPELT = [
    "{ kpis { totalRevenu } }",
    "{ topCustomers(limt: 2) { customerId } }",
    "{ segments(method: KMEAN) { customerCount } }",
    "query Q($p: DateRang) { kpis(period: $p) { orderCount } }",
    '{ kpis(period: {strat: "2024-01-01", end: "2024-02-01"}) { orderCount } }',
]


@pytest.mark.parametrize("query", MISSPELT)
async def test_suggestions_name_the_field_only_when_enabled(run: Run, query: str) -> None:
    hinted = [error["message"] for error in (await run(schema, query))["errors"]]
    hidden = (await run(build_schema(field_suggestions=False), query))["errors"]

    assert any("Did you mean" in message for message in hinted)
    assert [error["message"] for error in hidden] == [
        message.split(" Did you mean ")[0] for message in hinted
    ]
    assert {error["extensions"]["code"] for error in hidden} == {"GRAPHQL_VALIDATION_FAILED"}


# Every field with a page size argument; each refuses values outside 1..1000,
# which the cost limiter relies on (it counts them as returning nothing).
PAGED_FIELDS = {
    "Query.customers": "first",
    "Query.topCustomers": "limit",
    "Query.topCustomersFigure": "limit",
    "Query.topProducts": "limit",
    "Query.churnRisk": "top",
    "Query.auditLog": "limit",
    "Customer.orders": "first",
    "RfmAnalysis.customers": "first",
    "Segmentation.customers": "first",
    "ClvAnalysis.customers": "first",
}

# On the tiny dataset; ClvAnalysis.customers is checked in test_clv.py (the fit
# needs more customers than tiny has).
BOUND_CHECKS = [
    ("{ customers(first: %d) { totalCount } }", "first"),
    ('{ customer(id: "C1") { orders(first: %d) { id } } }', "first"),
    ("{ topCustomers(limit: %d) { customerId } }", "limit"),
    ("{ topCustomersFigure(limit: %d) }", "limit"),
    ("{ topProducts(limit: %d) { totalRevenue } }", "limit"),
    ("{ churnRisk(top: %d) { asOf } }", "top"),
    ("{ rfm { customers(first: %d) { totalCount } } }", "first"),
    ("{ segments(method: RFM) { customers(first: %d) { totalCount } } }", "first"),
    ("{ salesForecast(horizon: %d) { horizon } }", "horizon"),
    ("{ lifetimeValue(horizonMonths: %d) { asOf } }", "horizonMonths"),
    ('{ customer(id: "C1") { clv(horizonMonths: %d) { pAlive } } }', "horizonMonths"),
    ("{ churnRisk(horizonDays: %d) { asOf } }", "horizonDays"),
    ("{ auditLog(limit: %d) { id } }", "limit"),
]


def test_every_page_size_argument_is_known() -> None:
    found = {
        f"{type_.name}.{name}": argument
        for type_ in schema._schema.type_map.values()
        if not type_.name.startswith("__")
        for name, field in getattr(type_, "fields", {}).items()
        for argument in PAGE_SIZE_ARGUMENTS
        if argument in getattr(field, "args", {})
    }

    assert found == PAGED_FIELDS


@pytest.mark.parametrize("value", [0, 1001, 2**31 - 1])
@pytest.mark.parametrize(("query", "argument"), BOUND_CHECKS)
async def test_paging_and_horizon_arguments_are_bounded(
    execute: Execute, query: str, argument: str, value: int
) -> None:
    result = await execute(query % value, errors=True)

    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith(f"{argument}: expected ")


@pytest.fixture
def client(tiny_dataset: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, default_dataset="tiny")
    with TestClient(create_app(settings, engine=tiny_dataset)) as test_client:
        yield test_client


def test_batched_operations_are_refused(client: TestClient) -> None:
    single = client.post("/graphql", json={"query": "{ kpis { orderCount } }"})
    batch = client.post("/graphql", json=[{"query": "{ kpis { orderCount } }"}] * 2)

    assert single.json() == {"data": {"kpis": {"orderCount": 5}}}
    assert batch.status_code == 400
    assert "Batching is not enabled" in batch.text
