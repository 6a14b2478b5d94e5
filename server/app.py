"""The Starlette application: GraphQL, health, middleware, shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from anyio import to_thread
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from analytics.ask.service import AskService
from analytics.cache import VersionedCache
from analytics.db import create_db_engine, create_tables
from analytics.errors import DatasetNotFoundError
from analytics.jobs import JobRunner
from analytics.pipeline import make_job_work
from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.dataloaders import DataLoaders
from schema import schema as default_schema
from server.middleware import RequestIdMiddleware
from server.rest import RestContext, http_error, rest_routes
from server.settings import Settings

logger = structlog.get_logger("salescope.server")

SERVICE_NAME = "salescope"
SERVICE_VERSION = "0.1.0"


class SalescopeGraphQL(GraphQL[Context, None]):
    def __init__(
        self, store: AnalyticsStore, settings: Settings, runner: JobRunner, ask: AskService
    ) -> None:
        super().__init__(
            default_schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            multipart_uploads_enabled=True,
        )
        self._store = store
        self._settings = settings
        self._runner = runner
        self._ask = ask

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
    graphql_app = SalescopeGraphQL(store, settings, runner, ask)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await to_thread.run_sync(create_tables, engine)
        await to_thread.run_sync(runner.start)
        logger.info("started", database=engine.url.render_as_string(hide_password=True))
        # Shutdown waits for a preload still running: it is bounded, and
        # abandoning its thread would leave a database connection open.
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_preload, store, settings.default_dataset)
            yield
        await to_thread.run_sync(runner.shutdown)
        ask.close()
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
            *rest_routes(RestContext(settings, store, runner)),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.runner = runner
    app.state.ask = ask
    return app
