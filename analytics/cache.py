"""Results cached per dataset version, computed once even under concurrency."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class VersionedCache:
    """An LRU of results keyed by ``(dataset_id, version, key)``.

    A new dataset version simply misses: stale entries age out of the LRU, so
    invalidation needs no coordination between writers and readers. A
    per-entry lock makes concurrent callers of a cold key wait for one
    computation instead of each running it.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self, dataset_id: str, version: int, key: Hashable, compute: Callable[[], T]
    ) -> T:
        full_key = (dataset_id, version, key)
        with self._guard:
            if full_key in self._entries:
                self._entries.move_to_end(full_key)
                self.hits += 1
                return self._entries[full_key]
            lock = self._locks.setdefault(full_key, threading.Lock())
        with lock:
            with self._guard:
                if full_key in self._entries:
                    self.hits += 1
                    return self._entries[full_key]
                self.misses += 1
            value = compute()
            with self._guard:
                self._entries[full_key] = value
                self._locks.pop(full_key, None)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
