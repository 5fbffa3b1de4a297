"""Which locations exist and which of them hold each SKU, kept in memory by the writer.

Sourcing asks "where could this SKU come from?" for every order. Without this index the answer
would be a read of every (SKU, location) pair, most of them for stock items that do not exist.
The directory is loaded once from the feed (the creation events of locations and stock items)
and kept current by the writer: from its own commits, and from other processes' events when it
catches up.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.location import Location
from domain.stock import StockItem, stock_item_id

LOCATION_REGISTERED = get_topic(Location.LocationRegistered)
STOCK_ITEM_OPENED = get_topic(StockItem.StockItemOpened)
TOPICS = (LOCATION_REGISTERED, STOCK_ITEM_OPENED)
_NONE: Mapping[str, UUID] = MappingProxyType({})


class Directory:
    def __init__(self) -> None:
        self._locations: set[UUID] = set()
        # SKU -> {location id: stock item id}. Each SKU's mapping is replaced, never changed in
        # place, so a reader may keep the one it got; the ids are at hand for every order's sourcing.
        self._holders: dict[str, Mapping[str, UUID]] = {}
        self._lock = threading.Lock()

    def load(self, recorder: Any, mapper: Any, page: int = 5_000) -> None:
        start = 1
        while True:
            notes = recorder.select_notifications(start=start, limit=page, topics=list(TOPICS))
            self.learn(notes, mapper)
            if len(notes) < page:
                return
            start = notes[-1].id + 1

    def learn(self, notes: Iterable[Notification], mapper: Any) -> None:
        """Takes in creation events (others are ignored) from the feed."""
        for note in notes:
            if note.topic == LOCATION_REGISTERED:
                with self._lock:
                    self._locations.add(note.originator_id)
            elif note.topic == STOCK_ITEM_OPENED:
                event = mapper.to_domain_event(note)
                self._add_holder(event.sku, event.location_id)

    def note(self, aggregates: Iterable[Any]) -> None:
        """Takes in aggregates the writer just committed."""
        for aggregate in aggregates:
            if isinstance(aggregate, Location):
                with self._lock:
                    self._locations.add(aggregate.id)
            elif isinstance(aggregate, StockItem):
                self._add_holder(aggregate.sku, aggregate.location_id)

    def _add_holder(self, sku: str, location_id: str) -> None:
        if location_id not in self._holders.get(sku, _NONE):
            with self._lock:  # read again under the lock: another thread may have added one
                self._holders[sku] = {**self._holders.get(sku, _NONE), location_id: stock_item_id(sku, location_id)}

    def stock_item_ids(self) -> list[UUID]:
        return [item_id for holders in list(self._holders.values()) for item_id in holders.values()]

    def location_ids(self) -> set[UUID]:
        return set(self._locations)

    def holders(self, sku: str) -> Mapping[str, UUID]:
        """The locations that have a stock item of ``sku`` (possibly with nothing left): location
        id -> the stock item's id. Not to be changed."""
        return self._holders.get(sku, _NONE)
