"""``order_history`` read model: every event of every order, oldest first, with who did it.

One row per event, keyed by its position in the global feed (notification id), so the table is
append-only and an auditor can join it to the event store.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from psycopg import Cursor

from application.event_store import META_KEY
from domain.order import Order
from projections.base import BatchProjection, JsonbText, Positioned, ReadModelView, copy_rows

# The columns as the projection copies them, with their types (COPY's binary format).
COLUMNS = {
    "position": "int8", "order_id": "uuid", "version": "int4", "type": "text", "recorded_at": "timestamptz",
    "actor_id": "text", "actor_name": "text", "request_id": "text", "command": "text", "data": "jsonb",
}
# Library bookkeeping, not the event's own data.
_NOT_DATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic", META_KEY})


class OrderHistoryView(ReadModelView):
    tables = ("order_history",)
    query_indexes = ("order_history_order_id_position_idx", "order_history_request_id_idx")
    ddl = (
        """CREATE TABLE IF NOT EXISTS {s}.order_history (
            position bigint PRIMARY KEY,
            order_id uuid NOT NULL,
            version integer NOT NULL,
            type text NOT NULL,
            recorded_at timestamptz NOT NULL,
            actor_id text,
            actor_name text,
            request_id text,
            command text,
            data jsonb NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS order_history_order_id_position_idx ON {s}.order_history (order_id, position)",
        "CREATE INDEX IF NOT EXISTS order_history_request_id_idx ON {s}.order_history (request_id)",
        "COMMENT ON TABLE {s}.order_history IS "
        "'Every event of every order (read model): position = notification id in the event store'",
    )


def history_row(position: int, event: Any) -> tuple[Any, ...]:
    state = event.__dict__
    meta = state.get(META_KEY) or {}
    data = {k: v for k, v in state.items() if k not in _NOT_DATA}
    return (
        position, event.originator_id, event.originator_version, type(event).__name__, event.timestamp,
        meta.get("actor_id"), meta.get("actor_name"), meta.get("request_id"), meta.get("command"),
        JsonbText(data),  # orjson writes ids, times and tuples as JSON text; Decimals as strings
    )


class OrderHistoryProjection(BatchProjection[OrderHistoryView]):
    name = "order_history"

    def __init__(self, view: OrderHistoryView) -> None:
        super().__init__(view)
        self.topic_prefix = get_topic(Order) + "."

    def stage(self, events: Sequence[Positioned]) -> list[tuple[Any, ...]]:
        return [history_row(position, event) for position, event in events]

    def write(self, curs: Cursor[Any], staged: list[tuple[Any, ...]]) -> None:
        if staged:
            copy_rows(curs, self.view, "order_history", COLUMNS, staged)
