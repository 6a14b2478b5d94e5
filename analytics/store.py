"""One entry point from callers (GraphQL, REST, CLI, askAI) to cached analytics."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy.engine import Engine

from analytics.cache import VersionedCache
from analytics.db import get_dataset_version
from analytics.frames import DatasetFrames, load_frames

T = TypeVar("T")

_FRAMES_KEY = "__frames__"


class AnalyticsStore:
    """Computes analytics over a dataset's frames, cached per ``Dataset.version``.

    Every call asks the database for the dataset's current version (one
    indexed lookup), so a change made by any process invalidates the results
    of every process without messaging.

    All methods block: call them off the event loop.
    """

    def __init__(self, engine: Engine, cache: VersionedCache | None = None) -> None:
        self.engine = engine
        self.cache = cache or VersionedCache()

    def version(self, dataset_id: str) -> int:
        return get_dataset_version(self.engine, dataset_id)

    def frames(self, dataset_id: str, version: int | None = None) -> DatasetFrames:
        if version is None:
            version = self.version(dataset_id)
        return self.cache.get_or_compute(
            dataset_id, version, _FRAMES_KEY, lambda: load_frames(self.engine, dataset_id, version)
        )

    def compute(self, dataset_id: str, key: Hashable, analysis: Callable[[DatasetFrames], T]) -> T:
        """Return ``analysis(frames)`` for the dataset's current version, cached under ``key``.

        ``key`` must identify the analysis and all of its arguments.
        """
        version = self.version(dataset_id)
        return self.cache.get_or_compute(
            dataset_id, version, key, lambda: analysis(self.frames(dataset_id, version))
        )
