from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import Settings

KPIS_QUERY = "query { kpis { totalRevenue orderCount averageOrderValue asOf } }"


@pytest.fixture
def client(tiny_dataset: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, default_dataset="tiny")
    with TestClient(create_app(settings, engine=tiny_dataset)) as test_client:
        yield test_client


def test_graphql_over_http(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": KPIS_QUERY})

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "kpis": {
                "totalRevenue": 100.0,
                "orderCount": 5,
                "averageOrderValue": 20.0,
                "asOf": "2024-07-01",
            }
        }
    }


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/health")
    echoed = client.get("/health", headers={"X-Request-ID": "robot-42"})
    hostile = client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})

    assert len(generated.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "robot-42"
    assert hostile.headers["x-request-id"] != "bad id\nwith newline"


def test_health_reports_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["database"] == "ok"


def test_graphiql_is_served(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_user_errors_explain_and_internal_errors_are_masked(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_period = client.post(
        "/graphql",
        json={"query": '{ kpis(period: {start: "2024-02-01", end: "2024-01-01"}) { orderCount } }'},
    ).json()
    assert bad_period["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "period" in bad_period["errors"][0]["message"]

    import analytics.kpis

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(analytics.kpis, "compute_kpis", explode)
    monkeypatch.setattr("resolvers.sales.compute_kpis", explode)
    response = client.post(
        "/graphql",
        json={"query": '{ kpis(period: {start: "2024-01-01", end: "2024-01-31"}) { orderCount } }'},
        headers={"X-Request-ID": "trace-1"},
    )
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "trace-1"}
    assert "secret" not in response.text
