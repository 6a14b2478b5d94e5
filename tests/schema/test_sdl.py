from __future__ import annotations

from pathlib import Path

from schema import schema

SDL_PATH = Path(__file__).parents[2] / "schema.graphql"


def test_checked_in_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text() == schema.as_str() + "\n", (
        "schema.graphql is stale: run 'make schema' and commit it"
    )


def test_contract_names_exist() -> None:
    graphql_schema = schema._schema
    query_fields = set(graphql_schema.query_type.fields)  # type: ignore[union-attr]
    mutation_fields = set(graphql_schema.mutation_type.fields)  # type: ignore[union-attr]
    assert {
        "datasets", "customers", "customer", "kpis", "revenueSeries", "topCustomers",
        "categoryPerformance", "salesReps", "satisfaction", "report",
    } <= query_fields  # fmt: skip
    assert "generateReport" in mutation_fields
