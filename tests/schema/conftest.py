from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.dataloaders import DataLoaders
from schema import schema

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def execute(tiny_dataset: Engine) -> Execute:
    """Run a query against the tiny dataset with a fresh context, as a request would."""
    store = AnalyticsStore(tiny_dataset)

    async def run(query: str, variables: dict[str, Any] | None = None, *, errors: bool = False):
        context = Context(
            store=store, default_dataset="tiny", loaders=DataLoaders.create(tiny_dataset)
        )
        result = await schema.execute(query, variable_values=variables, context_value=context)
        if errors:
            assert result.errors, "expected errors"
            return {"data": result.data, "errors": [e.formatted for e in result.errors]}
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    return run
