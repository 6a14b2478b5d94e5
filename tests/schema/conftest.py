from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from analytics.jobs import JobRunner
from analytics.pipeline import make_job_work
from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.dataloaders import DataLoaders
from schema import schema

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def store(tiny_dataset: Engine, tmp_path: Path) -> AnalyticsStore:
    return AnalyticsStore(tiny_dataset, snapshot_dir=tmp_path / "frames")


@pytest.fixture
def runner(store: AnalyticsStore, tmp_path: Path) -> Iterator[JobRunner]:
    work = make_job_work(store, tmp_path / "uploads", model_dir=tmp_path / "models", timeout=120)
    job_runner = JobRunner(store.engine, work)
    yield job_runner
    job_runner.shutdown()


@pytest.fixture
def make_context(store: AnalyticsStore, runner: JobRunner, tmp_path: Path) -> Callable[[], Context]:
    def build() -> Context:
        return Context(
            store=store,
            default_dataset="tiny",
            loaders=DataLoaders.create(store.engine),
            runner=runner,
            upload_dir=tmp_path / "uploads",
            model_dir=tmp_path / "models",
            training_timeout=120.0,
        )

    return build


@pytest.fixture
def execute(make_context: Callable[[], Context]) -> Execute:
    """Run a query against the tiny dataset with a fresh context, as a request would."""

    async def run(query: str, variables: dict[str, Any] | None = None, *, errors: bool = False):
        context = make_context()
        result = await schema.execute(query, variable_values=variables, context_value=context)
        if errors:
            assert result.errors, "expected errors"
            return {"data": result.data, "errors": [e.formatted for e in result.errors]}
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    return run
