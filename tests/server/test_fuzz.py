"""Property-based fuzzing of the REST and GraphQL surfaces with schemathesis.

Each operation gets a fixed, derandomized budget so CI sees the same cases
every run. The schemas are built from the same functions the app serves them
from (``openapi_document``, ``schema_for``) and loaded at import, without an
app: schemathesis' fixture-based loader (``from_fixture``) sets
``Function._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.graphql import nodes
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from analytics.db import replace_dataset
from analytics.demo import create_demo_dataset
from server.app import create_app, schema_for
from server.hardening import CSRF_REFUSAL
from server.openapi import openapi_document
from server.settings import Settings
from tests.conftest import tiny_tables

CSRF_HEADER = {"X-Requested-With": "salescope"}
# Lower-cased; none of them belongs in a response, whatever the input.
LEAK_MARKERS = ("traceback (most recent call last)", 'file "/', "sqlalchemy", "psycopg", "sqlite3")
# Serving the admin's own log file is what this route is for.
LOG_ROUTE = "/logs/last/{num_lines}"
KNOWN_IDS = ("demo", "tiny", "C000001", "C1")
FUZZ_SETTINGS = settings(
    deadline=None,
    # The app outlives the generated cases on purpose: state builds up as on a real server.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
SALES_CSV = (
    "InvoiceNo,InvoiceDate,CustomerID,StockCode,Description,Quantity,UnitPrice,Country\n"
    "1001,2024-01-05,C1,A1,Widget,2,10.00,UK\n"
    "1002,2024-02-10,C2,A1,Widget,3,10.00,France\n"
    "1003,2024-03-15,C1,B2,Gadget,4,5.50,UK\n"
)


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    # A runaway operation fails the GraphQL fuzz with TIMEOUT instead of stalling it a minute.
    return Settings(
        data_dir=data_dir,
        default_dataset="demo",
        rate_limit_enabled=False,
        operation_timeout=20,
        **overrides,
    )


def _config(max_examples: int, **sections: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 1,
            "headers": CSRF_HEADER,
            "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
            **sections,
        }
    )


_DOCUMENT_ONLY = Path("unused")  # the documents depend on limits, never on the data directory
REST = schemathesis.openapi.from_dict(
    openapi_document(_settings(_DOCUMENT_ONLY)),
    config=_config(
        30,
        operations=[
            {
                # Only the content tells a readable export from junk; the schema cannot.
                "include-path": "/upload",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", 400, 413, 415, 422]}
                },
            }
        ],
    ),
)
LOCKED_REST = schemathesis.openapi.from_dict(
    openapi_document(_settings(_DOCUMENT_ONLY, require_auth=True)),
    # Authentication runs before routing, so an unknown method is refused with 401 too.
    config=_config(10, checks={"unsupported_method": {"enabled": False}}),
)

# Arguments naming a dataset or customer mostly name a real one, so the fuzz
# reaches the analytics instead of stopping at NOT_FOUND. The registry is
# process-wide; no other module fuzzes GraphQL.
schemathesis.graphql.scalar("ID", (st.sampled_from(KNOWN_IDS) | st.text()).map(nodes.String))
# A document can only put a plain value where a file belongs; it must be refused clearly.
schemathesis.graphql.scalar("Upload", st.text(max_size=20).map(nodes.String))
_graphql_settings = _settings(_DOCUMENT_ONLY)
GRAPHQL = schemathesis.graphql.from_file(
    schema_for(
        _graphql_settings.max_query_cost,
        _graphql_settings.introspection_enabled,
        _graphql_settings.field_suggestions_enabled,
    ).as_str(),
    config=_config(5, **{"base-url": "http://testserver/graphql"}),
)


@pytest.fixture
def app(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Starlette]:
    replace_dataset(sqlite_engine, "tiny", "Tiny shop", tiny_tables())
    create_demo_dataset(sqlite_engine, customers=50)
    yield create_app(_settings(tmp_path), engine=sqlite_engine)
    # Schemathesis starts the lifespan on the first request and keeps it for the process.
    shutdown_lifespans()


@pytest.fixture
def locked_app(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Starlette]:
    yield create_app(_settings(tmp_path, require_auth=True), engine=sqlite_engine)
    shutdown_lifespans()


def assert_no_leak(text: str) -> None:
    lowered = text.lower()
    leaked = [marker for marker in LEAK_MARKERS if marker in lowered]
    assert not leaked, f"the response leaks internals ({leaked}): {text[:1000]}"


@REST.parametrize()
@FUZZ_SETTINGS
def test_rest_operations_keep_their_documented_contract(
    case: schemathesis.Case, app: Starlette
) -> None:
    response = case.call_and_validate(app=app)

    if case.operation.path != LOG_ROUTE:
        assert_no_leak(response.text)


@LOCKED_REST.parametrize()
@FUZZ_SETTINGS
def test_without_valid_credentials_only_health_answers(
    case: schemathesis.Case, locked_app: Starlette
) -> None:
    response = case.call_and_validate(app=locked_app)

    if case.operation.path == "/health":
        assert response.status_code == (200 if case.method == "GET" else 405)
    else:
        # The CSRF guard runs before authentication, so it may refuse first.
        csrf_refused = response.status_code == 403 and response.json() == {"detail": CSRF_REFUSAL}
        assert response.status_code == 401 or csrf_refused, response.text
    assert_no_leak(response.text)


@GRAPHQL.parametrize()
@FUZZ_SETTINGS
def test_graphql_fields_explain_every_refusal(case: schemathesis.Case, app: Starlette) -> None:
    response = case.call(app=app)

    assert response.status_code < 500, response.text
    assert_no_leak(response.text)
    errors = response.json().get("errors") or []
    codes = [(error.get("extensions") or {}).get("code") for error in errors]
    # A masked INTERNAL_SERVER_ERROR means a resolver crashed on this input;
    # TIMEOUT means the input made it run away.
    assert not {"INTERNAL_SERVER_ERROR", "TIMEOUT", None} & set(codes), (
        f"{codes} for {case.body}: {errors}"
    )
    case.validate_response(response, checks=[response_schema_conformance])


# Inputs the fuzz once crashed (or ran away) on, with the argument the error must name.
FOUND_BY_FUZZING = {
    "previous period before year 1": (
        '{ kpis(period: {start: "0001-01-01", end: "0001-01-05"}) { orderCount } }',
        "period",
    ),
    "churn history before year 1": ('{ churnRisk(asOf: "0001-01-01") { mode } }', "asOf"),
    "a daily series over eight millennia": (
        "{ revenueSeries(granularity: DAY,"
        ' period: {start: "0001-01-01", end: "9999-12-31"}) { totalRevenue } }',
        "period",
    ),
}


@pytest.mark.parametrize(("query", "argument"), FOUND_BY_FUZZING.values(), ids=FOUND_BY_FUZZING)
def test_inputs_found_by_fuzzing_get_a_clear_error(
    app: Starlette, query: str, argument: str
) -> None:
    with TestClient(app) as client:
        errors = client.post("/graphql", json={"query": query}).json()["errors"]

    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["message"].startswith(f"{argument}: ")


def test_a_period_ending_on_the_last_calendar_day_counts_all_revenue(app: Starlette) -> None:
    last_day = '{ kpis(period: {start: "9999-12-25", end: "9999-12-31"}) { totalLifetimeValue } }'
    with TestClient(app) as client:
        at_the_end = client.post("/graphql", json={"query": last_day}).json()
        default = client.post("/graphql", json={"query": "{ kpis { totalLifetimeValue } }"}).json()

    assert "errors" not in at_the_end
    # Without a period the value covers every order before asOf: all of them.
    assert at_the_end["data"] == default["data"]
    assert default["data"]["kpis"]["totalLifetimeValue"] > 0


def test_the_fuzzed_document_is_the_served_one(app: Starlette, tmp_path: Path) -> None:
    with TestClient(app) as client:
        served = client.get("/openapi.json").json()

    assert served == openapi_document(_settings(tmp_path))


def test_an_upload_lifecycle_matches_the_document(app: Starlette) -> None:
    upload, analysis = REST["/upload"]["POST"], REST["/analysis/{file_id}"]
    with TestClient(app) as client:
        accepted = client.post(
            "/upload", files={"file": ("sales.csv", SALES_CSV.encode())}, headers=CSRF_HEADER
        )
        upload.Case().validate_response(accepted, checks=CONFORMANCE)
        file_id = accepted.json()["file_id"]
        poll = analysis["GET"].Case(path_parameters={"file_id": file_id})
        deadline = time.monotonic() + 20
        while True:
            polled = client.get(f"/analysis/{file_id}")
            poll.validate_response(polled, checks=CONFORMANCE)
            if polled.json()["analysis"]["status"] != "processing":
                break
            assert time.monotonic() < deadline, "analysis stuck in processing"
            time.sleep(0.05)
        deleted = client.delete(f"/analysis/{file_id}")
        gone = client.get(f"/analysis/{file_id}")
        audit = client.get("/audit/logs")

    assert polled.json()["analysis"]["status"] == "completed"
    assert deleted.status_code == 200
    analysis["DELETE"].Case(path_parameters={"file_id": file_id}).validate_response(
        deleted, checks=CONFORMANCE
    )
    assert gone.status_code == 404
    assert [entry["action"] for entry in audit.json()["entries"]] == ["delete", "upload"]
    REST["/audit/logs"]["GET"].Case().validate_response(audit, checks=CONFORMANCE)


def test_upload_dataset_refuses_a_file_that_is_not_an_upload(app: Starlette) -> None:
    with TestClient(app) as client:
        response = client.post(
            "/graphql", json={"query": 'mutation { uploadDataset(file: "sales.csv") { fileId } }'}
        )

    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "file" in error["message"]
