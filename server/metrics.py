"""Prometheus metrics at ``GET /metrics``: HTTP, GraphQL, jobs, cache, askAI, rate limits.

Every app builds its own :class:`Metrics` in its own registry, so apps built
side by side in one process (tests) neither collide nor share counts. Labels
stay few: route templates (``/analysis/{file_id}``), never raw paths;
operation names capped in length and number; never dataset or customer ids.

Worker processes: each uvicorn worker is a process of its own, with its own
numbers, and a scrape reaches whichever worker accepts it. Set
``PROMETHEUS_MULTIPROC_DIR`` to a directory, emptied before every start and
writable by every worker, in the environment that starts the server (it must
be set before ``prometheus_client`` is imported): then every worker writes its
values there and any worker's ``/metrics`` reports the sum over all of them.
Process metrics (CPU, memory) are left out in that mode, as they describe one
process. Jobs and cache lookups are counted by the process that runs them.

``/metrics`` is for admins when the server requires authentication; on an
open loopback server everyone is.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence

from anyio import to_thread
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics.access import AccessDeniedError, Role
from analytics.ask.service import AskAttempt
from analytics.db import COMPLETED, FAILED, AnalysisJob
from server.auditing import Auditor
from server.auth import principal_of
from server.ratelimit import LimitedHook, RateDecision

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
ANONYMOUS = "anonymous"
MAX_OPERATION_NAME = 64
MAX_OPERATION_NAMES = 200
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OPERATION_TYPES = frozenset({"query", "mutation", "subscription"})
ROLES = (ANONYMOUS, *(role.value for role in Role))

_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Analyses take seconds to minutes; HTTP and GraphQL use the default buckets.
_JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_ASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The metrics of one app, in a registry of their own.

    ``multiprocess_dir`` switches to prometheus_client's multiprocess mode:
    :meth:`render` then reports the values every process wrote there.
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        if multiprocess_dir is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        registry = self.registry
        http_labels = ["route", "method", "status_class"]
        self.http_requests = Counter(
            "salescope_http_requests",
            "HTTP requests by route template, method and status class.",
            http_labels,
            registry=registry,
        )
        self.http_duration = Histogram(
            "salescope_http_request_duration_seconds",
            "Time from request to the end of the response.",
            http_labels,
            registry=registry,
        )
        self.http_errors = Counter(
            "salescope_http_error_responses",
            "HTTP responses with a status of 400 or more, by route template and status.",
            ["route", "status"],
            registry=registry,
        )
        self.graphql_operations = Counter(
            "salescope_graphql_operations",
            "GraphQL operations by operation name (capped) and type.",
            ["operation", "type"],
            registry=registry,
        )
        self.graphql_duration = Histogram(
            "salescope_graphql_operation_duration_seconds",
            "Time to parse, validate and execute one GraphQL operation.",
            ["operation", "type"],
            registry=registry,
        )
        self.graphql_errors = Counter(
            "salescope_graphql_errors",
            "GraphQL errors returned to clients, by extensions.code.",
            ["code"],
            registry=registry,
        )
        self.jobs = Counter(
            "salescope_analysis_jobs",
            "Analysis jobs finished by this process, by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "salescope_analysis_job_duration_seconds",
            "Run time of the analysis jobs this process finished.",
            ["kind", "outcome"],
            buckets=_JOB_BUCKETS,
            registry=registry,
        )
        self.cache_lookups = Counter(
            "salescope_cache_lookups",
            "Lookups in the per-dataset-version results cache, by result (hit or miss).",
            ["result"],
            registry=registry,
        )
        self.ask_questions = Counter(
            "salescope_askai_questions",
            "askAI questions by provider asked and outcome (answered, fallback, error code).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.ask_tokens = Counter(
            "salescope_askai_tokens",
            "Model tokens spent by askAI, by provider and type (prompt or completion).",
            ["provider", "type"],
            registry=registry,
        )
        self.ask_cost = Counter(
            "salescope_askai_cost_usd",
            "askAI model cost in USD from the configured price table.",
            ["provider"],
            registry=registry,
        )
        self.ask_duration = Histogram(
            "salescope_askai_duration_seconds",
            "Time to answer one askAI question.",
            ["provider"],
            buckets=_ASK_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "salescope_rate_limited_requests",
            "Requests refused with 429 by the rate limiter, by the caller's role.",
            ["role"],
            registry=registry,
        )
        # Series that exist from the start read 0 instead of missing.
        self._cache_hits = self.cache_lookups.labels("hit")
        self._cache_misses = self.cache_lookups.labels("miss")
        for role in ROLES:
            self.rate_limited.labels(role)
        self._operation_names: set[str] = set()
        self._names_lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> Metrics:
        """Multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
        return cls(os.environ.get(MULTIPROCESS_ENV) or None)

    def render(self) -> bytes:
        """The Prometheus text exposition; reads files in multiprocess mode (blocks)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER
        status_class = f"{status // 100}xx"
        self.http_requests.labels(route, method, status_class).inc()
        self.http_duration.labels(route, method, status_class).observe(seconds)
        if status >= 400:
            self.http_errors.labels(route, str(status)).inc()

    def graphql_operation(
        self, name: str | None, kind: str, seconds: float, error_codes: Sequence[str]
    ) -> None:
        operation = self._operation_label(name)
        kind = kind if kind in OPERATION_TYPES else "unknown"
        self.graphql_operations.labels(operation, kind).inc()
        self.graphql_duration.labels(operation, kind).observe(seconds)
        self.graphql_error(*error_codes)

    def graphql_error(self, *codes: str) -> None:
        for code in codes:
            self.graphql_errors.labels(code if _ERROR_CODE.match(code) else "OTHER").inc()

    def cache_lookup(self, hit: bool) -> None:
        (self._cache_hits if hit else self._cache_misses).inc()

    def job_changed(self, job: AnalysisJob) -> None:
        """A JobRunner listener: counts each job this process finishes."""
        if job.status not in (COMPLETED, FAILED):
            return
        self.jobs.labels(job.kind, job.status).inc()
        if job.started_at is not None and job.completed_at is not None:
            seconds = (job.completed_at - job.started_at).total_seconds()
            self.job_duration.labels(job.kind, job.status).observe(max(seconds, 0.0))

    def ask_attempt(self, attempt: AskAttempt) -> None:
        """An AskService listener."""
        provider = attempt.provider
        self.ask_questions.labels(provider, attempt.outcome).inc()
        self.ask_duration.labels(provider).observe(attempt.seconds)
        if attempt.usage is not None:
            if attempt.usage.prompt_tokens:
                self.ask_tokens.labels(provider, "prompt").inc(attempt.usage.prompt_tokens)
            if attempt.usage.completion_tokens:
                self.ask_tokens.labels(provider, "completion").inc(attempt.usage.completion_tokens)
        if attempt.cost_usd:
            self.ask_cost.labels(provider).inc(attempt.cost_usd)

    def rate_limit_hook(self, then: LimitedHook | None = None) -> LimitedHook:
        """A RateLimitMiddleware hook that counts the refusal, then awaits ``then``."""

        async def on_limited(scope: Scope, decision: RateDecision) -> None:
            principal = principal_of(scope)
            self.rate_limited.labels(
                principal.role.value if principal.authenticated else ANONYMOUS
            ).inc()
            if then is not None:
                await then(scope, decision)

        return on_limited

    def _operation_label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if len(name) > MAX_OPERATION_NAME or not _GRAPHQL_NAME.match(name):
            return OTHER
        with self._names_lock:
            if name not in self._operation_names:
                if len(self._operation_names) >= MAX_OPERATION_NAMES:
                    return OTHER
                self._operation_names.add(name)
        return name


class MetricsMiddleware:
    """Counts and times every HTTP request, refusals by later middleware included.

    Outermost but for the request id, so 401, 413 and 429 responses count too.
    WebSocket connections are not counted here; their GraphQL operations are.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Matched before the app runs: routing rewrites the scope (a Mount's root_path).
        route = route_template(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.http_request(
                route, scope.get("method", "GET"), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The path template of the route the app's router will pick; ``other`` for none."""
    router = getattr(scope.get("app"), "router", None)
    partial = None
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return _template(route)
        if match is Match.PARTIAL and partial is None:
            partial = route
    return OTHER if partial is None else _template(partial)


def _template(route: object) -> str:
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    if isinstance(route, Route):
        return route.path
    return OTHER


def metrics_route(metrics: Metrics, auditor: Auditor) -> Route:
    """``GET /metrics``: admins only when authentication is on; refusals are audited."""

    async def scrape(request: Request) -> Response:
        try:
            principal_of(request.scope).require_role(Role.ADMIN, "reading metrics")
        except AccessDeniedError as error:
            await auditor.denied(request.scope, 403, str(error))
            return JSONResponse({"detail": str(error)}, status_code=403)
        body = await to_thread.run_sync(metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", scrape, methods=["GET"])
