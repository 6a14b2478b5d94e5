"""Attacks on authentication and authorization: each must fail, be audited, change nothing."""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from analytics.access import create_api_key, issue_jwt, revoke_api_key
from analytics.audit import list_audit
from analytics.db import list_datasets, replace_dataset
from server.app import create_app
from server.settings import Settings
from tests.conftest import tiny_tables

SECRET = "s" * 40
CSRF = {"X-Requested-With": "salescope"}
CSV = b"customer,date,amount\nC1,2024-01-01,10\nC2,2024-02-01,30\n"
KPIS = "{ kpis { totalRevenue } }"


@dataclass
class Keys:
    admin: str
    analyst: str
    viewer: str
    tiny_viewer: str
    tiny_analyst: str
    revoked: str


@pytest.fixture
def two_datasets(tiny_dataset: Engine) -> Engine:
    replace_dataset(tiny_dataset, "other", "Other shop", tiny_tables())
    return tiny_dataset


@pytest.fixture
def keys(two_datasets: Engine) -> Keys:
    def make(role: str, datasets: list[str] | None = None) -> str:
        return create_api_key(two_datasets, f"{role} key", role, datasets).secret

    revoked = create_api_key(two_datasets, "old", "admin")
    revoke_api_key(two_datasets, revoked.key.id)
    return Keys(
        admin=make("admin"),
        analyst=make("analyst"),
        viewer=make("viewer"),
        tiny_viewer=make("viewer", ["tiny"]),
        tiny_analyst=make("analyst", ["tiny"]),
        revoked=revoked.secret,
    )


@pytest.fixture
def client(two_datasets: Engine, keys: Keys, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        default_dataset="tiny",
        require_auth=True,
        jwt_secret=SECRET,
        rate_limit_enabled=False,
    )
    with TestClient(create_app(settings, engine=two_datasets)) as test_client:
        yield test_client


def graphql(client: TestClient, query: str, key: str | None = None, **variables: object) -> dict:
    headers = {"X-API-Key": key} if key else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return {"status": response.status_code, **response.json()}


def error_code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


def audit(engine: Engine) -> list[tuple[str, str, int | None]]:
    return [(e.action, e.outcome, e.status) for e in list_audit(engine, 1000)]


# -- authentication -------------------------------------------------------------------------


def test_no_credentials_get_401_everywhere_but_health(client: TestClient, two_datasets: Engine):
    graphql_body = graphql(client, KPIS)
    rest = client.get("/analysis")
    openapi = client.get("/openapi.json")
    graphiql = client.get("/graphql", headers={"Accept": "text/html"})
    health = client.get("/health")

    assert graphql_body["status"] == 401
    assert error_code(graphql_body) == "UNAUTHENTICATED"
    assert "X-API-Key" in graphql_body["errors"][0]["message"]
    assert rest.status_code == 401
    assert rest.json()["detail"].startswith("authentication required")
    assert rest.headers["www-authenticate"].startswith("Bearer")
    assert openapi.status_code == 401
    assert graphiql.status_code == 401
    assert health.status_code == 200
    denied = [entry for entry in audit(two_datasets) if entry[1] == "denied"]
    assert ("POST /graphql", "denied", 401) in denied
    assert ("GET /analysis", "denied", 401) in denied


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "slsc_000000000000_" + "A" * 43,  # well-formed, unknown id
        "",
    ],
)
def test_a_wrong_key_is_refused(client: TestClient, key: str) -> None:
    body = graphql(client, KPIS, key or " ")
    assert body["status"] == 401
    assert body["errors"][0]["message"] == "invalid API key"


def test_a_known_id_with_a_wrong_secret_is_refused(client: TestClient, keys: Keys) -> None:
    prefix, key_id, secret = keys.admin.split("_", 2)
    forged = f"{prefix}_{key_id}_{'B' if secret[0] != 'B' else 'C'}{secret[1:]}"
    assert graphql(client, KPIS, forged)["status"] == 401


def test_a_revoked_key_is_refused(client: TestClient, keys: Keys) -> None:
    body = graphql(client, KPIS, keys.revoked)
    assert body["status"] == 401
    assert "revoked" in body["errors"][0]["message"]


def test_a_key_revoked_while_in_use_stops_working_at_once(
    client: TestClient, two_datasets: Engine
) -> None:
    issued = create_api_key(two_datasets, "soon gone", "viewer")
    assert graphql(client, KPIS, issued.secret)["status"] == 200
    revoke_api_key(two_datasets, issued.key.id)
    assert graphql(client, KPIS, issued.secret)["status"] == 401


def bearer(client: TestClient, token: str, query: str = KPIS) -> dict:
    response = client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    return {"status": response.status_code, **response.json()}


def test_a_valid_jwt_is_accepted_with_its_role_and_scope(client: TestClient) -> None:
    token = issue_jwt(SECRET, "alice", "viewer", ["tiny"])

    assert bearer(client, token)["data"] == {"kpis": {"totalRevenue": 100.0}}
    datasets = bearer(client, token, "{ datasets { id } }")["data"]["datasets"]
    assert datasets == [{"id": "tiny"}]


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "mallory",
        "role": "admin",
        # Built when tests are collected, maybe minutes before they run.
        "exp": dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (
            jwt.encode(
                _claims(exp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)), SECRET, "HS256"
            ),
            "expired",
        ),
        (jwt.encode(_claims(), None, algorithm="none"), "invalid bearer token"),
        (jwt.encode(_claims(), "x" * 40, algorithm="HS256"), "Signature verification failed"),
        (jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"), '"exp"'),
        (jwt.encode(_claims(role="root"), SECRET, algorithm="HS256"), "claim 'role'"),
        (jwt.encode(_claims(datasets="tiny"), SECRET, algorithm="HS256"), "'datasets'"),
        ("not.a.jwt", "invalid bearer token"),
    ],
    ids=["expired", "alg-none", "wrong-secret", "no-exp", "bad-role", "bad-datasets", "garbage"],
)
def test_bad_tokens_are_refused(client: TestClient, token: str, reason: str) -> None:
    body = bearer(client, token)
    assert body["status"] == 401
    assert reason in body["errors"][0]["message"]
    assert body["data"] is None


def test_a_jwt_signed_with_the_secret_but_another_algorithm_is_refused(client: TestClient):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the attacker doesn't care
        token = jwt.encode(_claims(), SECRET, algorithm="HS512")
    assert bearer(client, token)["status"] == 401


def test_a_malformed_authorization_header_is_refused(client: TestClient) -> None:
    response = client.post(
        "/graphql", json={"query": KPIS}, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}
    )
    assert response.status_code == 401
    assert "Bearer" in response.json()["errors"][0]["message"]


def test_open_on_loopback_but_closed_to_the_network(two_datasets: Engine, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, default_dataset="tiny", rate_limit_enabled=False)
    app = create_app(settings, engine=two_datasets)
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.post("/graphql", json={"query": KPIS}).status_code == 200
    with TestClient(app, base_url="http://10.1.2.3:8000") as remote:
        assert remote.post("/graphql", json={"query": KPIS}).status_code == 401
    assert Settings(host="0.0.0.0").auth_required
    assert not Settings(host="127.0.0.1").auth_required
    assert Settings(host="127.0.0.1", require_auth=True).auth_required


# -- roles ----------------------------------------------------------------------------------


def _upload(client: TestClient, key: str) -> object:
    return client.post(
        "/upload", files={"file": ("robot.csv", CSV)}, headers={"X-API-Key": key, **CSRF}
    )


def _graphql_upload(client: TestClient, key: str) -> dict:
    operations = {
        "query": "mutation($file: Upload!) { uploadDataset(file: $file) { fileId } }",
        "variables": {"file": None},
    }
    response = client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("robot.csv", CSV, "text/csv")},
        headers={"X-API-Key": key, **CSRF},
    )
    return response.json()


def test_a_viewer_cannot_upload_and_nothing_is_stored(
    client: TestClient, keys: Keys, two_datasets: Engine, tmp_path: Path
) -> None:
    rest = _upload(client, keys.viewer)
    over_graphql = _graphql_upload(client, keys.viewer)

    assert rest.status_code == 403
    assert (
        rest.json()["detail"] == "uploading a file needs the analyst role; this caller is a viewer"
    )
    assert error_code(over_graphql) == "FORBIDDEN"
    assert over_graphql["data"] is None
    assert [d.id for d in list_datasets(two_datasets)] == ["tiny", "other"]
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    entries = audit(two_datasets)
    assert ("POST /upload", "denied", 403) in entries
    assert ("graphql.uploadDataset", "denied", 403) in entries


def test_an_analyst_uploads_and_the_upload_is_audited(
    client: TestClient, keys: Keys, two_datasets: Engine
) -> None:
    response = _upload(client, keys.analyst)
    assert response.status_code == 200
    file_id = response.json()["file_id"]
    entry = list_audit(two_datasets, 1)[0]
    assert (entry.action, entry.outcome, entry.target) == ("upload", "success", file_id)
    assert entry.actor.startswith("key:") and entry.role == "analyst"
    assert entry.ip == "testclient" and entry.request_id == response.headers["x-request-id"]


def test_a_scoped_analyst_cannot_create_datasets_it_could_not_see(
    client: TestClient, keys: Keys
) -> None:
    response = _upload(client, keys.tiny_analyst)
    assert response.status_code == 403
    assert "every dataset" in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "mutation", "allowed"),
    [
        ("viewer", 'runAnalysis(dataset: "tiny") { id }', False),
        ("analyst", 'runAnalysis(dataset: "tiny") { id }', True),
        ("viewer", 'askAI(question: "total revenue") { answer }', False),
        ("analyst", 'askAI(question: "total revenue") { answer }', True),
        ("viewer", "trainSegmentationModel(method: KMEANS) { id }", False),
        ("analyst", 'deleteDataset(id: "other")', False),
        ("admin", 'deleteDataset(id: "other")', True),
        ("analyst", 'createApiKey(name: "x", role: ADMIN) { secret }', False),
        ("viewer", 'generateReport(customerId: "C1") { customerId }', True),
    ],
)
def test_roles_decide_what_a_caller_may_change(
    client: TestClient, keys: Keys, two_datasets: Engine, role: str, mutation: str, allowed: bool
) -> None:
    body = graphql(client, f"mutation {{ {mutation} }}", getattr(keys, role))
    if allowed:
        assert "errors" not in body, body
    else:
        assert error_code(body) == "FORBIDDEN"
        assert body["data"] is None
        assert list_audit(two_datasets, 1)[0].outcome == "denied"
        assert {d.id for d in list_datasets(two_datasets)} == {"tiny", "other"}


def test_admin_only_reads(client: TestClient, keys: Keys) -> None:
    for key in (keys.viewer, keys.analyst):
        headers = {"X-API-Key": key}
        assert client.get("/logs/last/5", headers=headers).status_code == 403
        assert client.get("/audit/logs", headers=headers).status_code == 403
        assert error_code(graphql(client, "{ auditLog { id } }", key)) == "FORBIDDEN"
        assert error_code(graphql(client, "{ apiKeys { id } }", key)) == "FORBIDDEN"
    admin = {"X-API-Key": keys.admin}
    assert client.get("/logs/last/5", headers=admin).status_code == 200
    assert client.get("/audit/logs?limit=5", headers=admin).json()["count"] == 5


def test_admin_manages_keys_over_graphql(client: TestClient, keys: Keys, two_datasets) -> None:
    created = graphql(
        client,
        'mutation { createApiKey(name: "robot", role: ANALYST, datasets: ["tiny"]) '
        "{ secret key { id role datasets revokedAt } } }",
        keys.admin,
    )["data"]["createApiKey"]
    secret, key = created["secret"], created["key"]
    assert key["role"] == "ANALYST" and key["datasets"] == ["tiny"]
    assert graphql(client, KPIS, secret)["status"] == 200

    listed = graphql(client, "{ apiKeys { id name } }", keys.admin)["data"]["apiKeys"]
    assert {"id": key["id"], "name": "robot"} in listed
    assert "secret" not in json.dumps(listed)

    revoked = graphql(
        client,
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        keys.admin,
        id=key["id"],
    )
    assert revoked["data"]["revokeApiKey"]["revokedAt"] is not None
    assert graphql(client, KPIS, secret)["status"] == 401
    actions = [(e.action, e.outcome, e.target) for e in list_audit(two_datasets, 50)]
    assert ("graphql.revokeApiKey", "success", f"id={key['id']}") in actions
    assert ("graphql.createApiKey", "success", "name=robot, role=ANALYST, datasets=['tiny']") in (
        actions
    )


def test_bad_key_arguments_are_explained(client: TestClient, keys: Keys) -> None:
    unknown = graphql(
        client,
        'mutation { createApiKey(name: "x", role: VIEWER, datasets: ["nope"]) { secret } }',
        keys.admin,
    )
    blank = graphql(
        client, 'mutation { createApiKey(name: "", role: VIEWER) { secret } }', keys.admin
    )
    missing = graphql(client, 'mutation { revokeApiKey(id: "nope") { id } }', keys.admin)

    assert unknown["errors"][0]["message"] == "datasets: no dataset 'nope'"
    assert blank["errors"][0]["message"] == "name: expected 1-100 printable characters"
    assert error_code(missing) == "NOT_FOUND"


# -- dataset scopes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        '{ customers(dataset: "other") { totalCount } }',
        '{ customer(dataset: "other", id: "C1") { id } }',
        '{ kpis(dataset: "other") { totalRevenue } }',
        '{ rfm(dataset: "other") { customerCount } }',
        '{ models(dataset: "other") { id } }',
        '{ drift(dataset: "tiny", reference: "other") { drifted } }',
        '{ drift(dataset: "other", reference: "tiny") { drifted } }',
        '{ kpis(dataset: "does-not-exist") { totalRevenue } }',
    ],
)
def test_a_key_for_one_dataset_cannot_read_another(
    client: TestClient, keys: Keys, two_datasets: Engine, query: str
) -> None:
    body = graphql(client, query, keys.tiny_viewer)
    assert error_code(body) == "FORBIDDEN"
    assert "outside this caller's scope" in body["errors"][0]["message"]
    assert body["data"] is None or set(body["data"].values()) == {None}
    assert list_audit(two_datasets, 1)[0].outcome == "denied"


def test_a_scoped_key_never_sees_other_datasets(client: TestClient, keys: Keys) -> None:
    datasets = graphql(client, "{ datasets { id } }", keys.tiny_viewer)["data"]["datasets"]
    own = graphql(client, '{ kpis(dataset: "tiny") { totalRevenue } }', keys.tiny_viewer)

    assert datasets == [{"id": "tiny"}]
    assert own["data"] == {"kpis": {"totalRevenue": 100.0}}


def test_askai_stays_inside_the_scope(client: TestClient, keys: Keys) -> None:
    denied = graphql(
        client,
        'mutation { askAI(question: "total revenue", dataset: "other") { answer } }',
        keys.tiny_analyst,
    )
    answered = graphql(
        client,
        'mutation { askAI(question: "total revenue of dataset other") { dataset answer } }',
        keys.tiny_analyst,
    )

    assert error_code(denied) == "FORBIDDEN"
    assert answered["data"]["askAI"]["dataset"] == "tiny"


def test_rest_analysis_of_another_dataset_is_forbidden(
    client: TestClient, keys: Keys, two_datasets: Engine
) -> None:
    file_id = _upload(client, keys.analyst).json()["file_id"]
    admin = {"X-API-Key": keys.admin}
    while client.get(f"/analysis/{file_id}", headers=admin).json()["analysis"]["status"] == (
        "processing"
    ):
        time.sleep(0.05)
    headers = {"X-API-Key": keys.tiny_viewer}

    read = client.get(f"/analysis/{file_id}", headers=headers)
    listed = client.get("/analysis", headers=headers).json()
    deleted = client.delete(f"/analysis/{file_id}", headers={"X-API-Key": keys.tiny_analyst})

    assert read.status_code == 403
    assert read.json()["detail"] == f"dataset {file_id!r} is outside this caller's scope"
    assert listed["count"] == 0
    assert deleted.status_code == 403
    assert file_id in {d.id for d in list_datasets(two_datasets)}
    assert client.get(f"/analysis/{file_id}", headers={"X-API-Key": keys.viewer}).status_code == 200


def test_a_subscription_to_another_datasets_job_is_forbidden(
    client: TestClient, keys: Keys
) -> None:
    job = graphql(client, 'mutation { runAnalysis(dataset: "other") { id } }', keys.analyst)
    job_id = job["data"]["runAnalysis"]["id"]

    with client.websocket_connect(
        "/graphql",
        subprotocols=["graphql-transport-ws"],
        headers={"X-API-Key": keys.tiny_viewer},
    ) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { analysisProgress(jobId: $id) { status } }",
                    "variables": {"id": job_id},
                },
            }
        )
        message = ws.receive_json()

    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (
        graphql(client, f'{{ analysisJob(id: "{job_id}") {{ id }} }}', keys.tiny_viewer)["errors"][
            0
        ]["extensions"]["code"]
        == "FORBIDDEN"
    )


def test_a_websocket_without_credentials_is_refused(
    client: TestClient, two_datasets: Engine
) -> None:
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"apiKey": "slsc_wrong"}})
        with pytest.raises(WebSocketDisconnect) as refused:
            ws.receive_json()
    assert refused.value.code == 4403
    assert ("WEBSOCKET /graphql", "denied", 401) in audit(two_datasets)


def test_a_browser_websocket_authenticates_in_connection_init(
    client: TestClient, keys: Keys
) -> None:
    job = graphql(client, 'mutation { runAnalysis(dataset: "tiny") { id } }', keys.analyst)
    other = graphql(client, 'mutation { runAnalysis(dataset: "other") { id } }', keys.analyst)
    query = "subscription($id: ID!) { analysisProgress(jobId: $id) { status } }"

    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"apiKey": keys.tiny_viewer}})
        assert ws.receive_json()["type"] == "connection_ack"
        for number, job_id in enumerate(
            (other["data"]["runAnalysis"]["id"], job["data"]["runAnalysis"]["id"])
        ):
            variables = {"id": job_id}
            ws.send_json(
                {
                    "id": str(number),
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
            first = ws.receive_json()
            while first["id"] != str(number) or first["type"] == "complete":
                first = ws.receive_json()
            if number == 0:
                errors = (
                    first["payload"] if first["type"] == "error" else first["payload"]["errors"]
                )
                assert errors[0]["extensions"]["code"] == "FORBIDDEN"
            else:
                assert first["type"] == "next", first
                assert "errors" not in first["payload"]


# -- hostile documents ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ datasets" + " { id" * 19 + " }" * 20, "exceeds maximum operation depth"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(500)) + " }", "aliases found"),
        ("{ " + "__typename " * 2100 + "}", "Document contains more than 2000 tokens"),
        (
            "{ customers(first: 500) { edges { node { orders(first: 1000) { items { product "
            "{ name } } } } } } }",
            "Query cost",
        ),
    ],
    ids=["depth-20", "500-aliases", "tokens", "cost"],
)
def test_hostile_documents_are_refused_and_audited(
    client: TestClient, keys: Keys, two_datasets: Engine, query: str, message: str
) -> None:
    body = graphql(client, query, keys.viewer)

    assert any(message in error["message"] for error in body["errors"])
    assert body.get("data") is None
    entry = list_audit(two_datasets, 1)[0]
    assert (entry.action, entry.outcome, entry.status) == ("graphql.refused", "denied", 400)
    assert message in (entry.detail or "")
    assert entry.actor.startswith("key:")
