from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from anyio import to_thread
from sqlalchemy.engine import Engine
from strawberry.dataloader import DataLoader

from analytics.records import Key

V = TypeVar("V")


class EngineLoader(DataLoader[Key, V], Generic[V]):
    """A DataLoader whose batch function is a blocking fetch, run off the event loop."""

    fetch: Callable[[Engine, Sequence[Key]], Sequence[V]]

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        super().__init__(load_fn=self._load)

    async def _load(self, keys: list[Key]) -> Sequence[V]:
        return await to_thread.run_sync(type(self).fetch, self._engine, keys)
