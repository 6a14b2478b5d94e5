"""The Starlette application: GraphQL, health, middleware, shared state."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from anyio import to_thread
from graphql import GraphQLError
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from analytics.access import AuthenticationError
from analytics.ask.service import AskService
from analytics.cache import VersionedCache
from analytics.db import create_db_engine, create_tables
from analytics.errors import DatasetNotFoundError
from analytics.jobs import JobRunner
from analytics.pipeline import make_job_work
from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.dataloaders import DataLoaders
from schema import build_schema
from server.auditing import Auditor, client_ip
from server.auth import AuthMiddleware, authenticate, principal_of
from server.dashboard import dashboard_routes
from server.graphiql import ASSET_DIR, ASSET_URL, offline_page
from server.hardening import hardening_middleware
from server.logging import configure_logging
from server.metrics import Metrics, MetricsMiddleware, metrics_route
from server.middleware import RequestIdMiddleware
from server.ratelimit import RateLimiter, RateLimitMiddleware
from server.rest import RestContext, http_error, rest_routes
from server.settings import Settings

logger = structlog.get_logger("salescope.server")

SERVICE_NAME = "salescope"
SERVICE_VERSION = "0.1.0"


@functools.lru_cache(maxsize=8)
def schema_for(max_query_cost: int, introspection: bool, field_suggestions: bool) -> Schema:
    """One schema per configuration, shared by the apps of a process (tests build many)."""
    return build_schema(
        max_query_cost=max_query_cost,
        introspection=introspection,
        field_suggestions=field_suggestions,
    )


class SalescopeGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        store: AnalyticsStore,
        settings: Settings,
        runner: JobRunner,
        ask: AskService,
        auditor: Auditor,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            schema_for(
                settings.max_query_cost,
                settings.introspection_enabled,
                settings.field_suggestions_enabled,
            ),
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
        )
        self._store = store
        self._settings = settings
        self._runner = runner
        self._ask = ask
        self._auditor = auditor
        self._metrics = metrics

    async def execute_operation(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        """Run the operation within the per-operation timeout, then close uploaded files."""
        timeout = self._settings.operation_timeout
        try:
            with anyio.fail_after(timeout):
                return await super().execute_operation(request, *args, **kwargs)
        except TimeoutError:
            # Work already running in threads finishes unobserved; the caller is told now.
            logger.warning("operation timed out", timeout=timeout)
            extensions: dict[str, object] = {"code": "TIMEOUT"}
            if self._metrics is not None:
                self._metrics.graphql_error("TIMEOUT")
            request_id = request.scope.get("state", {}).get("request_id")
            if request_id:
                extensions["requestId"] = request_id
            message = f"the operation ran longer than {timeout:g} s and was stopped"
            return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])
        finally:
            # A refused upload never reaches the resolver that would close its file.
            await request.close()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket from its connection_init payload when its handshake had none.

        The payload may hold ``{"apiKey": "..."}`` or ``{"authorization": "Bearer ..."}``.
        """
        scope = context.request.scope
        if not scope.get("state", {}).get("credentials_pending"):
            return UNSET
        params = context.connection_params or {}
        api_key, authorization = params.get("apiKey"), params.get("authorization")
        try:
            if not isinstance(api_key, str | None) or not isinstance(authorization, str | None):
                raise AuthenticationError("apiKey and authorization must be strings")
            principal = await authenticate(
                self._store.engine, self._settings.jwt_secret_value, api_key, authorization
            )
            if principal is None:
                raise AuthenticationError(
                    "authentication required: send apiKey (or authorization) in connection_init"
                )
        except AuthenticationError as error:
            await self._auditor.denied(scope, 401, str(error))
            raise ConnectionRejectionError() from error
        scope["state"]["principal"] = context.principal = principal
        return UNSET

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(offline_page(self.graphql_ide_html))

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            store=self._store,
            default_dataset=self._settings.default_dataset,
            loaders=DataLoaders.create(self._store.engine),
            runner=self._runner,
            upload_dir=self._settings.upload_dir,
            model_dir=self._settings.model_dir,
            training_timeout=self._settings.training_timeout,
            request=request,
            response=response,
            request_id=request.scope.get("state", {}).get("request_id"),
            alert_mail=self._settings.alert_mail,
            ask=self._ask,
            principal=principal_of(request.scope),
            client_ip=client_ip(request.scope),
            metrics=self._metrics,
        )


async def _preload(store: AnalyticsStore, dataset_id: str) -> None:
    """Load the default dataset's frames while the server waits for its first query.

    A query arriving meanwhile waits on the same load instead of starting another.
    """
    try:
        await to_thread.run_sync(store.frames, dataset_id)
    except DatasetNotFoundError:
        return
    except Exception:
        logger.exception("preloading the default dataset failed", dataset=dataset_id)


def serve_app() -> Starlette:
    """The app as `salescope serve` runs it, in every worker process: logging first."""
    settings = Settings()
    configure_logging(settings)
    return create_app(settings)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    """Build the ASGI app; ``engine`` lets tests share a database with the app."""
    settings = settings or Settings()
    engine = engine or create_db_engine(settings.resolved_database_url)
    store = AnalyticsStore(
        engine,
        VersionedCache(max_entries=settings.cache_entries),
        snapshot_dir=settings.snapshot_dir,
    )
    runner = JobRunner(
        engine,
        make_job_work(
            store,
            settings.upload_dir,
            model_dir=settings.model_dir,
            timeout=settings.training_timeout,
        ),
        max_workers=settings.max_concurrent_jobs,
        stale_after=settings.job_stale_after,
    )
    # Built once: the OpenAI client keeps its connection pool across requests.
    ask = AskService.from_config(settings.ask_config)
    auditor = Auditor(engine)
    metrics = Metrics.from_environment()
    store.cache.subscribe(metrics.cache_lookup)
    runner.subscribe(metrics.job_changed)
    ask.subscribe(metrics.ask_attempt)
    graphql_app = SalescopeGraphQL(store, settings, runner, ask, auditor, metrics)
    limiter = RateLimiter.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await to_thread.run_sync(create_tables, engine)
        await to_thread.run_sync(runner.start)
        logger.info("started", database=engine.url.render_as_string(hide_password=True))
        if not settings.auth_required:
            logger.warning(
                "authentication is off: anyone who can reach this loopback address has full "
                "access; set SALESCOPE_REQUIRE_AUTH=true and create keys with "
                "`salescope keys create` before exposing the server",
                host=settings.host,
            )
        # Shutdown waits for a preload still running: it is bounded, and
        # abandoning its thread would leave a database connection open.
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_preload, store, settings.default_dataset)
            yield
        await to_thread.run_sync(runner.shutdown)
        ask.close()
        limiter.close()
        engine.dispose()

    async def health(_request: Request) -> JSONResponse:
        def ping() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await to_thread.run_sync(ping)
        except Exception:
            logger.exception("health check failed")
            return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {
                "status": "healthy",
                "service": SERVICE_NAME,
                "version": SERVICE_VERSION,
                "database": "ok",
            }
        )

    app = Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/health", health, methods=["GET"]),
            metrics_route(metrics, auditor),
            Mount(ASSET_URL, StaticFiles(directory=ASSET_DIR, check_dir=False)),
            *rest_routes(RestContext(settings, store, runner, auditor)),
            *dashboard_routes(),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(MetricsMiddleware, metrics=metrics),
            *hardening_middleware(settings, auditor.denied),
            Middleware(
                AuthMiddleware,
                engine=engine,
                require_auth=settings.auth_required,
                jwt_secret=settings.jwt_secret_value,
                on_denied=auditor.denied,
            ),
            Middleware(
                RateLimitMiddleware,
                limiter=limiter,
                on_limited=metrics.rate_limit_hook(auditor.rate_limited),
            ),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.runner = runner
    app.state.ask = ask
    app.state.metrics = metrics
    return app
