"""Hostile documents are refused before any resolver runs."""

from __future__ import annotations

from schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from tests.schema.conftest import Execute

NESTED_CUSTOMERS = """
{ customers(first: 1) { edges { node { orders(first: 1) { items { product { sku } } } } } } }
"""


def _nested(levels: int) -> str:
    return "{ " + "customers { " * levels + "totalCount" + " }" * levels + " }"


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
