"""In-memory copies of committed aggregates, so deciding a command reads no database.

Only the writer thread replaces entries, and only ever with whole committed aggregates (never
mutating one in place), so other threads may read an entry at any time and see a consistent,
committed state. A reader that loads a missing entry keeps it only if the writer has not put a
newer one meanwhile. ``ABSENT`` records that an aggregate is known not to exist.
Whether the cache is current is the writer's business (see ``application.writer``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.application import AggregateNotFoundError

ABSENT: Any = object()


class AggregateCache:
    def __init__(self, app: Application, maxsize: int = 200_000) -> None:
        self._app = app
        self._entries: OrderedDict[UUID, Any] = OrderedDict()
        self.maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        """The committed aggregate, loading it (snapshot + newer events) on a miss."""
        entry = self._entries.get(aggregate_id)
        if entry is None:
            entry = self._keep_loaded(aggregate_id, self._load(aggregate_id))
        return None if entry is ABSENT else entry

    def cached(self, aggregate_id: UUID) -> Any:
        """The entry without loading: an aggregate, ``ABSENT``, or None when not cached."""
        return self._entries.get(aggregate_id)

    def put(self, aggregate_id: UUID, aggregate: Any) -> None:
        with self._lock:
            self._entries[aggregate_id] = aggregate
            self._entries.move_to_end(aggregate_id)
            self._trim()

    def _keep_loaded(self, aggregate_id: UUID, loaded: Any) -> Any:
        """Caches what a reader loaded unless the writer put a newer entry meanwhile."""
        with self._lock:
            current = self._entries.get(aggregate_id)
            if current is not None:
                return current
            self._entries[aggregate_id] = loaded
            self._trim()
            return loaded

    def _trim(self) -> None:
        """Drops the entries put longest ago (callers hold the lock)."""
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def evict(self, aggregate_ids: Any) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._entries.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _load(self, aggregate_id: UUID) -> Any:
        try:
            return self._app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return ABSENT
