"""One entry point from callers (GraphQL, REST, CLI, askAI) to cached analytics."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import structlog
from sqlalchemy.engine import Engine

from analytics.cache import VersionedCache
from analytics.db import Dataset, DatasetTables, get_dataset_version
from analytics.frames import (
    DatasetFrames,
    frames_from_tables,
    load_frames,
    load_snapshot,
    save_snapshot,
)

logger = structlog.get_logger("salescope.store")

T = TypeVar("T")

_FRAMES_KEY = "__frames__"


class AnalyticsStore:
    """Computes analytics over a dataset's frames, cached per ``Dataset.version``.

    Every call asks the database for the dataset's current version (one
    indexed lookup), so a change made by any process invalidates the results
    of every process without messaging.

    All methods block: call them off the event loop.
    """

    def __init__(
        self,
        engine: Engine,
        cache: VersionedCache | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache or VersionedCache()
        self.snapshot_dir = snapshot_dir

    def version(self, dataset_id: str) -> int:
        return get_dataset_version(self.engine, dataset_id)

    def frames(self, dataset_id: str, version: int | None = None) -> DatasetFrames:
        if version is None:
            version = self.version(dataset_id)
        return self.cache.get_or_compute(
            dataset_id, version, _FRAMES_KEY, lambda: self._load(dataset_id, version)
        )

    def publish(self, dataset: Dataset, tables: DatasetTables) -> DatasetFrames:
        """Snapshot and cache the tables just written as ``dataset``'s current version.

        Spares the next cold start from reading a million rows back through SQL.
        """
        frames = frames_from_tables(dataset.id, dataset.version, tables)
        self._save(frames)
        return self.cache.get_or_compute(dataset.id, dataset.version, _FRAMES_KEY, lambda: frames)

    def _load(self, dataset_id: str, version: int) -> DatasetFrames:
        if self.snapshot_dir is not None:
            snapshot = load_snapshot(self.snapshot_dir, dataset_id, version)
            if snapshot is not None:
                return snapshot
        frames = load_frames(self.engine, dataset_id, version)
        self._save(frames)
        return frames

    def _save(self, frames: DatasetFrames) -> None:
        if self.snapshot_dir is None:
            return
        try:
            save_snapshot(frames, self.snapshot_dir)
        except OSError:
            # The database stays the source of truth; a missing snapshot only costs speed.
            logger.warning("frame snapshot not written", dataset=frames.dataset_id, exc_info=True)

    def compute(self, dataset_id: str, key: Hashable, analysis: Callable[[DatasetFrames], T]) -> T:
        """Return ``analysis(frames)`` for the dataset's current version, cached under ``key``.

        ``key`` must identify the analysis and all of its arguments.
        """
        version = self.version(dataset_id)
        return self.cache.get_or_compute(
            dataset_id, version, key, lambda: analysis(self.frames(dataset_id, version))
        )
