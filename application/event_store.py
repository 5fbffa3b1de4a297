"""The event-sourced application: one event store, one global, gap-free feed of every event.

Events are written by the group-commit writer (``application.writer``) through the library's
Postgres recorder and its default insert path: ``LOCK TABLE ... IN EXCLUSIVE MODE``, so the
notification order equals commit order and no follower ever skips an event.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from application.context import CommandContext, current_context
from domain.location import Location
from domain.order import Order
from domain.stock import StockItem

META_KEY = "__meta__"


@dataclass(frozen=True)
class CommittedEvent:
    """An event as a writer recorded it: its position in the feed, the stored event and the
    domain event it was mapped from, and who recorded it (the stored state's audit metadata)."""

    notification_id: int
    stored: StoredEvent
    event: Any
    context: CommandContext


class AuditMapper(Mapper):
    """Adds who/when/why (the current command context) to every stored event.

    The domain stays free of audit concerns; the metadata sits beside the event's own data in
    the stored state and is handed back on the way out under ``__meta__``.
    """

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        state = dict(vars(domain_event))
        state[META_KEY] = current_context.get().metadata  # the transcoder copies what it encodes
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=_topic_of(type(domain_event)),
            state=self.transcoder.encode(state),
        )


def as_read_back(domain_event: Any, context: Any) -> Any:
    """The event as the mapper gives it back from the store: the same class and attributes, with
    the audit metadata of the command that recorded it under ``__meta__``. It shares its values
    with ``domain_event`` (domain events are not changed once recorded)."""
    read_back = object.__new__(type(domain_event))
    object.__setattr__(read_back, "__dict__", {**vars(domain_event), META_KEY: context.as_metadata()})
    return read_back


_topics: dict[type, str] = {}


def _topic_of(cls: type) -> str:
    try:
        return _topics[cls]
    except KeyError:
        from eventsourcing.utils import get_topic

        _topics[cls] = topic = get_topic(cls)
        return topic


def split_metadata(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(event data, audit metadata) of a decoded stored state."""
    data = dict(state)
    meta = data.pop(META_KEY, {}) or {}
    data.pop("originator_id", None)
    data.pop("originator_version", None)
    return data, meta


class OrderManagement(Application):
    """Event store of orders, stock items and locations."""

    name = "oms"
    # Snapshots keep loading a long stream cheap (hot SKUs gather 100,000s of events).
    snapshotting_intervals = {StockItem: 200, Order: 50, Location: 50}
    # The writer keeps its own cache of aggregates (application.aggregate_cache).
    aggregate_cache_maxsize = 0

    def __init__(self, env: dict[str, str] | None = None, *, transcoder: Transcoder | None = None) -> None:
        self._transcoder = transcoder
        super().__init__(env)

    def construct_transcoder(self) -> Transcoder:
        return self._transcoder if self._transcoder is not None else super().construct_transcoder()

    def construct_mapper(self) -> Mapper:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=AuditMapper)

    def latest_position(self, aggregate_id: UUID) -> int | None:
        """Where the aggregate's latest event stands in the feed: what a client that did not
        record it (a replayed request) waits for to read its own writes."""
        return self.recorder.latest_position(aggregate_id)  # type: ignore[attr-defined]
