"""HTTP hardening: tiny apps for each middleware, then the real app once wired."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from analytics.audit import list_audit
from analytics.db import list_datasets
from server.app import create_app
from server.hardening import (
    CSRF_REFUSAL,
    UPLOAD_FRAMING,
    BodyLimitMiddleware,
    CsrfMiddleware,
    SecurityHeadersMiddleware,
    _BodyTooLarge,
    hardening_middleware,
)
from server.settings import Settings

CSRF_HEADER = {"X-Requested-With": "salescope"}
KPIS_QUERY = "query { kpis { totalRevenue orderCount } }"
UPLOAD_MUTATION = """
mutation Upload($file: Upload!) { uploadDataset(file: $file) { fileId job { id } } }
"""
CSV = b"customer,date,amount\nC1,2024-01-01,10\nC2,2024-02-01,30\n"
MULTIPART = "multipart/form-data; boundary=B"


def _chunks(total: int, size: int = 1_000_000) -> Iterator[bytes]:
    """``total`` bytes as a chunked body: httpx then sends no Content-Length."""
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


async def _count_body(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


def _limited_client(max_body_bytes: int = 1_000, max_upload_bytes: int = 5_000) -> TestClient:
    app = Starlette(
        routes=[Route("/", _count_body, methods=["POST"])],
        middleware=[
            Middleware(
                BodyLimitMiddleware,
                max_body_bytes=max_body_bytes,
                max_upload_bytes=max_upload_bytes,
            )
        ],
    )
    return TestClient(app)


def test_a_declared_body_over_the_limit_is_refused_before_the_app_runs() -> None:
    reached = []

    async def endpoint(_request: Request) -> Response:
        reached.append(True)
        return Response()

    app = Starlette(
        routes=[Route("/", endpoint, methods=["POST"])],
        middleware=[Middleware(BodyLimitMiddleware, max_body_bytes=1_000, max_upload_bytes=5_000)],
    )

    response = TestClient(app).post("/", content=b"{" * 1_001)

    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large: the limit is 1000 bytes"}
    assert reached == []


def test_a_streamed_body_is_counted_and_cut_off() -> None:
    client = _limited_client()

    within = client.post("/", content=_chunks(1_000, size=300))
    over = client.post("/", content=_chunks(1_001, size=300))

    assert within.json() == {"received": 1_000}
    assert over.status_code == 413
    assert over.json() == {"detail": "request body too large: the limit is 1000 bytes"}


def test_multipart_bodies_get_the_upload_limit_plus_framing() -> None:
    client = _limited_client()
    limit = 5_000 + UPLOAD_FRAMING

    declared = client.post("/", content=b"x" * limit, headers={"Content-Type": MULTIPART})
    streamed = client.post("/", content=_chunks(limit + 1), headers={"Content-Type": MULTIPART})
    too_big = client.post("/", content=b"x" * (limit + 1), headers={"Content-Type": MULTIPART})

    assert declared.json() == {"received": limit}
    assert streamed.status_code == too_big.status_code == 413
    assert too_big.json() == {"detail": "file too large: the limit is 0.005 MB"}


def test_an_upload_within_fifty_megabytes_is_not_cut() -> None:
    client = _limited_client(max_body_bytes=1_000_000, max_upload_bytes=50_000_000)
    size = 50_000_000 + UPLOAD_FRAMING

    response = client.post("/", content=_chunks(size), headers={"Content-Type": MULTIPART})

    assert response.status_code == 200
    assert response.json() == {"received": size}


def test_an_app_that_swallows_the_cut_off_still_answers_413() -> None:
    async def forgiving(request: Request) -> Response:
        try:
            await request.body()
        except Exception:
            return PlainTextResponse("bad body", status_code=400)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", forgiving, methods=["POST"])],
        middleware=[Middleware(BodyLimitMiddleware, max_body_bytes=1_000, max_upload_bytes=5_000)],
    )

    response = TestClient(app).post("/", content=_chunks(2_000, size=500))

    assert response.status_code == 413


async def test_a_response_already_started_is_not_replaced() -> None:
    async def answer_then_read(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive()).get("more_body"):
            pass

    chunks: list[Message] = [
        {"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(3)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(answer_then_read, max_body_bytes=1_000, max_upload_bytes=1)
    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": []}

    with pytest.raises(_BodyTooLarge):
        await middleware(scope, receive, send)

    assert [message["status"] for message in sent] == [200]


def _headers_app(**client_options: str) -> TestClient:
    async def json_route(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def html_route(_request: Request) -> Response:
        return HTMLResponse("<p>hi</p>")

    async def framed_route(_request: Request) -> Response:
        return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(
        routes=[
            Route("/json", json_route),
            Route("/html", html_route),
            Route("/framed", framed_route),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
    return TestClient(app, **client_options)


def test_security_headers_on_json_and_html() -> None:
    client = _headers_app()

    api = client.get("/json").headers
    page = client.get("/html").headers
    missing = client.get("/nowhere").headers

    for headers in (api, page, missing):
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["permissions-policy"] == "camera=(), microphone=(), geolocation=()"
    assert api["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert page["content-security-policy"] == "frame-ancestors 'none'"


def test_a_header_the_app_set_is_kept() -> None:
    response = _headers_app().get("/framed")

    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


def test_hsts_only_over_https() -> None:
    plain = _headers_app().get("/json")
    secure = _headers_app(base_url="https://testserver").get("/json")

    assert "strict-transport-security" not in plain.headers
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def _csrf_client(denials: list[tuple[str, int, str]]) -> TestClient:
    async def on_denied(scope: Scope, status: int, reason: str) -> None:
        denials.append((scope["path"], status, reason))

    async def accept(_request: Request) -> Response:
        return PlainTextResponse("accepted")

    app = Starlette(
        routes=[Route("/", accept, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])],
        middleware=[Middleware(CsrfMiddleware, on_denied=on_denied)],
    )
    return TestClient(app)


@pytest.mark.parametrize(
    "content_type",
    [MULTIPART, "application/x-www-form-urlencoded", "text/plain;charset=UTF-8", "Text/Plain"],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_form_like_bodies_without_the_header_are_refused(content_type: str, method: str) -> None:
    denials: list[tuple[str, int, str]] = []

    response = _csrf_client(denials).request(
        method, "/", content=b"a=b", headers={"Content-Type": content_type}
    )

    assert response.status_code == 403
    assert response.json() == {"detail": CSRF_REFUSAL}
    assert denials == [("/", 403, CSRF_REFUSAL)]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": MULTIPART, "X-Requested-With": "XMLHttpRequest"},
        {"Content-Type": MULTIPART, "Apollo-Require-Preflight": "true"},
        {"Content-Type": "application/json"},
    ],
)
def test_preflighted_requests_pass(headers: dict[str, str]) -> None:
    denials: list[tuple[str, int, str]] = []

    response = _csrf_client(denials).post("/", content=b"{}", headers=headers)

    assert response.text == "accepted"
    assert denials == []


def test_an_empty_header_does_not_count_and_reads_are_not_checked() -> None:
    client = _csrf_client([])

    empty = client.post(
        "/", content=b"a=b", headers={"Content-Type": MULTIPART, "X-Requested-With": " "}
    )
    read = client.get("/", headers={"Content-Type": "text/plain"})

    assert empty.status_code == 403
    assert read.status_code == 200


def test_layers_in_order_and_only_when_configured() -> None:
    default = hardening_middleware(Settings(), None)
    everything = hardening_middleware(
        Settings(cors_origins=["https://app.example"], allowed_hosts=["salescope.example"]), None
    )

    assert [layer.cls for layer in default] == [
        SecurityHeadersMiddleware,
        BodyLimitMiddleware,
        CsrfMiddleware,
    ]
    assert [layer.cls for layer in everything] == [
        TrustedHostMiddleware,
        SecurityHeadersMiddleware,
        CORSMiddleware,
        BodyLimitMiddleware,
        CsrfMiddleware,
    ]


def test_settings_refuse_any_origin_with_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOPE_CORS_ORIGINS", "https://a.example, https://b.example")

    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins=["*"], cors_allow_credentials=True)


# Through the real app.


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def client(sqlite_engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=sqlite_engine)) as test_client:
        yield test_client


@pytest.fixture
def resolver_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    monkeypatch.setattr("resolvers.sales.compute_kpis", lambda *args: calls.append(args))
    return calls


def test_a_ten_megabyte_query_is_refused_before_graphql(
    client: TestClient, resolver_calls: list[object]
) -> None:
    body = {"query": KPIS_QUERY, "variables": {"padding": "x" * 10_000_000}}

    response = client.post("/graphql", json=body)

    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large: the limit is 1000000 bytes"}
    assert resolver_calls == []


def test_a_chunked_query_over_the_limit_is_cut_off(
    client: TestClient, resolver_calls: list[object]
) -> None:
    padding = json.dumps({"query": KPIS_QUERY, "variables": {"padding": "x" * 2_000_000}})

    response = client.post(
        "/graphql",
        content=(padding[i : i + 65_536].encode() for i in range(0, len(padding), 65_536)),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert "content-length" not in response.request.headers
    assert resolver_calls == []


def test_the_app_sends_security_headers(client: TestClient) -> None:
    health = client.get("/health")
    graphiql = client.get("/graphql", headers={"Accept": "text/html"})
    docs = client.get("/docs")
    secure = TestClient(client.app, base_url="https://testserver").get("/health")

    assert health.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert health.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in health.headers
    for page in (graphiql, docs):
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert page.headers["x-content-type-options"] == "nosniff"
    assert "max-age=" in secure.headers["strict-transport-security"]


def _rest_upload(client: TestClient, headers: dict[str, str]) -> Response:
    return client.post("/upload", files={"file": ("sales.csv", CSV)}, headers=headers)


def _graphql_upload(client: TestClient, headers: dict[str, str]) -> Response:
    operations = {"query": UPLOAD_MUTATION, "variables": {"file": None}}
    return client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("sales.csv", CSV, "text/csv")},
        headers=headers,
    )


def _nothing_stored(engine: Engine, settings: Settings) -> bool:
    no_files = not settings.upload_dir.exists() or not any(settings.upload_dir.iterdir())
    return no_files and list_datasets(engine) == []


def test_a_cross_site_rest_upload_is_refused_and_stores_nothing(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    forged = _rest_upload(client, {})

    assert forged.status_code == 403
    assert forged.json() == {"detail": CSRF_REFUSAL}
    assert _nothing_stored(sqlite_engine, settings)
    assert [(entry.status, entry.target) for entry in list_audit(sqlite_engine)] == [
        (403, "/upload")
    ]

    accepted = _rest_upload(client, CSRF_HEADER)

    assert accepted.status_code == 200, accepted.text
    assert (settings.upload_dir / accepted.json()["file_info"]["filename"]).is_file()


def test_a_cross_site_graphql_upload_is_refused_and_stores_nothing(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    forged = _graphql_upload(client, {})

    assert forged.status_code == 403
    assert forged.json() == {"detail": CSRF_REFUSAL}
    assert _nothing_stored(sqlite_engine, settings)

    accepted = _graphql_upload(client, {"Apollo-Require-Preflight": "true"})

    assert accepted.status_code == 200, accepted.text
    assert "errors" not in accepted.json(), accepted.json()
    assert accepted.json()["data"]["uploadDataset"]["fileId"]


@pytest.fixture
def cors_client(sqlite_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, cors_origins=["https://app.example"])
    with TestClient(create_app(settings, engine=sqlite_engine)) as test_client:
        yield test_client


def test_cors_preflight_from_an_allowed_origin(cors_client: TestClient) -> None:
    response = cors_client.options(
        "/graphql",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key, apollo-require-preflight",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"content-type", "x-api-key", "apollo-require-preflight"} <= {
        name.strip() for name in allowed.split(",")
    }
    assert "access-control-allow-credentials" not in response.headers


def test_cors_ignores_other_origins(cors_client: TestClient) -> None:
    allowed = cors_client.get("/health", headers={"Origin": "https://app.example"})
    foreign = cors_client.get("/health", headers={"Origin": "https://evil.example"})
    preflight = cors_client.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_is_off_without_origins(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": "https://app.example"})

    assert "access-control-allow-origin" not in response.headers


def test_a_foreign_host_header_is_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allowed_hosts=["salescope.example"])
    app = create_app(settings, engine=sqlite_engine)
    with TestClient(app, base_url="http://salescope.example") as client:
        served = client.get("/health")
        foreign = client.get("/health", headers={"Host": "evil.example"})

    assert served.status_code == 200
    assert foreign.status_code == 400
