from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog.testing
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import server.ratelimit
from analytics.access import OPEN_ACCESS, Principal, Role
from analytics.audit import list_audit
from server.app import create_app
from server.ratelimit import (
    REDIS_KEY_PREFIX,
    RateDecision,
    RateLimiter,
    RateLimitMiddleware,
    database_namespace,
)
from server.settings import Settings

REDIS_URL = os.environ.get("SALESCOPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TYPENAME_QUERY = "{ __typename }"


def require_redis() -> str:
    """The test Redis URL; in CI an unreachable Redis fails the test instead of skipping it."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis must be reachable in CI at {REDIS_URL}: {error}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


def delete_namespace(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{REDIS_KEY_PREFIX}:{namespace}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class FakeAuth:
    """Stands in for AuthMiddleware: ``X-Caller: <role>:<name>`` is an API key of that role."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            caller = Headers(scope=scope).get("x-caller")
            principal = OPEN_ACCESS
            if caller:
                role, name = caller.split(":")
                principal = Principal(subject=f"key:{name}", role=Role(role))
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "redis_url": None, **overrides}
    return Settings(**values)


def tiny_app(limiter: RateLimiter, limited: list[RateDecision] | None = None) -> Starlette:
    async def ok(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def on_limited(scope: Scope, decision: RateDecision) -> None:
        assert scope["path"] == "/graphql"
        if limited is not None:
            limited.append(decision)

    return Starlette(
        routes=[Route("/graphql", ok, methods=["POST"]), Route("/health", ok)],
        middleware=[
            Middleware(FakeAuth),
            Middleware(RateLimitMiddleware, limiter=limiter, on_limited=on_limited),
        ],
    )


def allowed_before_refusal(client: TestClient, caller: str | None = None, most: int = 100) -> int:
    """How many requests pass before the first 429."""
    headers = {"X-Caller": caller} if caller else {}
    for count in range(most):
        if client.post("/graphql", headers=headers).status_code == 429:
            return count
    raise AssertionError(f"no refusal within {most} requests")


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    require_redis()
    namespace = f"test-{uuid.uuid4().hex}"
    yield namespace
    delete_namespace(namespace)


def test_the_61st_request_is_refused_with_retry_after(tmp_path: Path) -> None:
    limited: list[RateDecision] = []
    app = tiny_app(RateLimiter.from_settings(settings_for(tmp_path)), limited)

    with TestClient(app) as client:
        passed = [client.post("/graphql") for _ in range(60)]
        refused = client.post("/graphql")

    assert [response.status_code for response in passed] == [200] * 60
    assert [response.headers["x-ratelimit-remaining"] for response in passed] == [
        str(remaining) for remaining in range(59, -1, -1)
    ]
    assert all(response.headers["x-ratelimit-limit"] == "60" for response in passed)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    message = f"rate limit exceeded: 60/minute; retry in {retry_after} s"
    # GraphQL clients read errors; REST clients (below) read detail.
    assert refused.json() == {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "RATE_LIMITED"}}],
    }
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert [(decision.allowed, decision.limit) for decision in limited] == [(False, "60/minute")]


def test_each_key_has_its_own_budget(tmp_path: Path) -> None:
    app = tiny_app(RateLimiter.from_settings(settings_for(tmp_path, rate_limit_viewer="3/minute")))

    with TestClient(app) as client:
        assert allowed_before_refusal(client, "viewer:alice") == 3
        bob = client.post("/graphql", headers={"X-Caller": "viewer:bob"})

    assert bob.status_code == 200
    assert bob.headers["x-ratelimit-remaining"] == "2"


def test_anonymous_callers_are_limited_per_ip(tmp_path: Path) -> None:
    # Open access runs as an admin; the anonymous limit must still apply.
    limiter = RateLimiter.from_settings(
        settings_for(tmp_path, rate_limit_anonymous="3/minute", rate_limit_admin="50/minute")
    )
    app = tiny_app(limiter)

    with TestClient(app, client=("10.0.0.1", 4000)) as first:
        assert allowed_before_refusal(first) == 3
    with TestClient(app, client=("10.0.0.2", 4000)) as second:
        assert second.post("/graphql").status_code == 200


def test_each_role_has_its_limit(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        rate_limit_viewer="2/minute",
        rate_limit_analyst="3/minute",
        rate_limit_admin="5/minute",
    )
    app = tiny_app(RateLimiter.from_settings(settings))

    with TestClient(app) as client:
        counts = [
            allowed_before_refusal(client, caller)
            for caller in ("viewer:v", "analyst:a", "admin:root")
        ]

    assert counts == [2, 3, 5]


def test_the_tightest_of_several_limits_refuses(tmp_path: Path) -> None:
    limiter = RateLimiter.from_settings(
        settings_for(tmp_path, rate_limit_anonymous="10/minute; 2/hour")
    )

    with TestClient(tiny_app(limiter)) as client:
        assert allowed_before_refusal(client) == 2
        refused = client.post("/analysis")

    assert refused.json()["detail"].startswith("rate limit exceeded: 2/hour; retry in ")


def test_health_and_static_files_are_exempt(tmp_path: Path) -> None:
    limiter = RateLimiter.from_settings(settings_for(tmp_path, rate_limit_anonymous="1/minute"))

    with TestClient(tiny_app(limiter)) as client:
        assert allowed_before_refusal(client) == 1
        health = [client.get(path) for path in ("/health", "/dashboard", "/static/x.js")]

    assert all(response.status_code != 429 for response in health)
    assert "x-ratelimit-limit" not in health[0].headers


def test_a_disabled_limiter_changes_nothing(tmp_path: Path) -> None:
    limiter = RateLimiter.from_settings(
        settings_for(tmp_path, rate_limit_enabled=False, rate_limit_anonymous="1/minute")
    )

    with TestClient(tiny_app(limiter)) as client:
        responses = [client.post("/graphql") for _ in range(5)]

    assert [response.status_code for response in responses] == [200] * 5
    assert "x-ratelimit-limit" not in responses[0].headers


def test_a_failing_hook_still_refuses(tmp_path: Path) -> None:
    async def broken(_scope: Scope, _decision: RateDecision) -> None:
        raise RuntimeError("audit database gone")

    limiter = RateLimiter.from_settings(settings_for(tmp_path, rate_limit_anonymous="1/minute"))
    app = Starlette(
        routes=[Route("/graphql", lambda _request: PlainTextResponse("ok"), methods=["POST"])],
        middleware=[Middleware(RateLimitMiddleware, limiter=limiter, on_limited=broken)],
    )

    with TestClient(app) as client:
        statuses = [client.post("/graphql").status_code for _ in range(2)]

    assert statuses == [200, 429]


def test_the_namespace_follows_the_database_not_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://salescope:{}@db:5432/sales"
    first = database_namespace(settings_for(tmp_path, database_url=url.format("old")))
    rotated = database_namespace(settings_for(tmp_path, database_url=url.format("new")))
    elsewhere = database_namespace(settings_for(tmp_path / "other"))

    assert first == rotated
    assert first != elsewhere


def test_workers_sharing_redis_share_one_budget(tmp_path: Path, redis_namespace: str) -> None:
    settings = settings_for(tmp_path, redis_url=REDIS_URL)
    limiters = [RateLimiter.from_settings(settings, namespace=redis_namespace) for _ in range(2)]
    try:
        with TestClient(tiny_app(limiters[0])) as one, TestClient(tiny_app(limiters[1])) as two:
            statuses = [(one, two)[i % 2].post("/graphql").status_code for i in range(61)]
            remaining_elsewhere = two.post("/graphql").headers["x-ratelimit-remaining"]
    finally:
        for limiter in limiters:
            limiter.close()

    assert limiters[0].shared
    assert statuses == [200] * 60 + [429]
    assert remaining_elsewhere == "0"


def test_redis_down_lets_requests_through_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    log = structlog.testing.CapturingLogger()
    monkeypatch.setattr(server.ratelimit, "logger", log)
    settings = settings_for(
        tmp_path, redis_url=f"redis://127.0.0.1:{closed_port}/0", rate_limit_anonymous="1/minute"
    )
    limiter = RateLimiter.from_settings(settings, namespace="unreachable")
    try:
        with TestClient(tiny_app(limiter)) as client:
            statuses = [client.post("/graphql").status_code for _ in range(3)]
    finally:
        limiter.close()

    assert statuses == [200] * 3
    # Once logged, Redis is left alone for a while: one line, not one per request.
    assert [call.method_name for call in log.calls] == ["error"]
    assert "requests pass unlimited" in log.calls[0].args[0]


def test_the_61st_graphql_request_through_the_app_is_refused(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    app = create_app(settings_for(tmp_path), engine=sqlite_engine)

    with TestClient(app) as client:
        statuses = [
            client.post("/graphql", json={"query": TYPENAME_QUERY}).status_code for _ in range(61)
        ]
        health = client.get("/health")

    assert statuses == [200] * 60 + [429]
    assert health.status_code == 200
    refusal = list_audit(sqlite_engine, 1)[0]
    assert (refusal.action, refusal.outcome, refusal.status) == ("POST /graphql", "denied", 429)
    assert refusal.detail == "rate limit exceeded: 60/minute"
