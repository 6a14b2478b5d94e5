"""GraphQL features that need HTTP: multipart uploads and graphql-transport-ws."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import Settings

UPLOAD_MUTATION = """
mutation Upload($file: Upload!, $name: String) {
  uploadDataset(file: $file, name: $name) { fileId job { id status } }
}
"""

# Multipart posts need it: the CSRF guard refuses form-like requests without it.
CSRF_HEADER = {"X-Requested-With": "salescope"}
CSV = "customer,date,amount\nC1,2024-01-01,10\nC2,2024-02-01,30\nC1,2024-03-01,20\n"


@pytest.fixture
def client(tiny_dataset: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, default_dataset="tiny")
    with TestClient(create_app(settings, engine=tiny_dataset)) as test_client:
        yield test_client


def _graphql_upload(client: TestClient, content: bytes, filename: str) -> dict:
    operations = {"query": UPLOAD_MUTATION, "variables": {"file": None, "name": "Robots"}}
    response = client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, content, "text/csv")},
        headers=CSRF_HEADER,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_dataset_then_follow_progress_over_websocket(client: TestClient) -> None:
    body = _graphql_upload(client, CSV.encode(), "robot.csv")
    assert "errors" not in body, body
    payload = body["data"]["uploadDataset"]
    job_id = payload["job"]["id"]

    updates = []
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { analysisProgress(jobId: $id) "
                    "{ status progress } }",
                    "variables": {"id": job_id},
                },
            }
        )
        while True:
            message = ws.receive_json()
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            updates.append(message["payload"]["data"]["analysisProgress"])

    assert updates[-1] == {"status": "COMPLETED", "progress": 1.0}
    query = f'{{ kpis(dataset: "{payload["fileId"]}") {{ totalRevenue orderCount }} }}'
    kpis = client.post("/graphql", json={"query": query}).json()["data"]["kpis"]
    assert kpis == {"totalRevenue": 60.0, "orderCount": 3}
    datasets = client.post("/graphql", json={"query": "{ datasets { id name } }"}).json()
    assert {"id": payload["fileId"], "name": "Robots"} in datasets["data"]["datasets"]


def test_upload_dataset_refuses_a_bad_file_with_a_code(client: TestClient) -> None:
    junk = _graphql_upload(client, bytes(range(256)) * 20, "junk.csv")
    bad_rows = _graphql_upload(client, b"customer,date,amount\nC1,someday,3\n", "bad.csv")

    assert junk["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert bad_rows["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "someday" in bad_rows["errors"][0]["message"]


def test_sixty_megabytes_is_refused_with_413(client: TestClient, tmp_path: Path) -> None:
    started = time.monotonic()
    response = client.post(
        "/upload",
        files={"file": ("huge.csv", b"x" * 60_000_000, "text/csv")},
        headers=CSRF_HEADER,
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "file too large: the limit is 50 MB"}
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())
    assert time.monotonic() - started < 30
