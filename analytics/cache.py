"""Results cached per dataset version, computed once even under concurrency."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import structlog

T = TypeVar("T")

logger = structlog.get_logger("salescope.cache")


class VersionedCache:
    """An LRU of results keyed by ``(dataset_id, version, key)``.

    A new dataset version simply misses: stale entries age out of the LRU, so
    invalidation needs no coordination between writers and readers. A
    per-entry lock makes concurrent callers of a cold key wait for one
    computation instead of each running it. ``hits`` and ``misses`` count
    lookups; listeners hear of each one as it happens (metrics).
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._listeners: list[Callable[[bool], None]] = []

    def subscribe(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``listener`` with ``True`` on every hit, ``False`` on every miss.

        It runs under the cache's lock, so it must be quick and must not use
        the cache. Returns the function that unsubscribes it.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def get_or_compute(
        self, dataset_id: str, version: int, key: Hashable, compute: Callable[[], T]
    ) -> T:
        full_key = (dataset_id, version, key)
        with self._guard:
            if full_key in self._entries:
                self._entries.move_to_end(full_key)
                self._count(hit=True)
                return self._entries[full_key]
            lock = self._locks.setdefault(full_key, threading.Lock())
        with lock:
            with self._guard:
                if full_key in self._entries:
                    self._count(hit=True)
                    return self._entries[full_key]
                self._count(hit=False)
            value = compute()
            with self._guard:
                self._entries[full_key] = value
                self._locks.pop(full_key, None)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def _count(self, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        for listener in self._listeners:
            try:
                listener(hit)
            except Exception:
                # A listener observes; its failure must not fail the lookup.
                logger.exception("cache listener failed")

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
