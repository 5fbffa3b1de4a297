"""The customer notifications' outbox: table ``notifications``, written from the event feed.

For every order event that tells the customer something (``application.notifications.composer``)
the projection renders the messages and inserts them, pending, in the same transaction as its
tracking position: each event's messages are recorded exactly once, and what was sent can be read
back as it was sent. A sender (``infrastructure.notification_sender``) hands them over and marks
them.

The outbox is not a read model. It is never emptied or rebuilt (that would send every message
again): its runner refuses ``rebuild``, ``oms projections rebuild`` leaves it out, and on its
first start it begins at the head of the feed, so a deployment that adds it does not write to
customers about their past orders. A change to its table is an ``ALTER``, never a new version
that drops it. Message ids are derived from the event, and inserted ``ON CONFLICT DO NOTHING``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresFactory
from psycopg import Cursor
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import ConnectionPool

from application.notifications.composer import Composer, Notification
from domain.location import Location
from domain.order import Order
from projections.base import AggregateStateProjection, ReadModelView
from projections.names import tracking_table_name
from projections.runner import ProjectionRunner

NAME = "notifications"
STATUSES = ("pending", "sent", "failed")

_INSERT_COLUMNS = ("id", "order_id", "sales_channel", "position", "order_version", "channel", "template", "locale",
                   "recipient", "subject", "body_text", "body_html", "message_id", "status", "last_error",
                   "created_at")


class NotificationsView(ReadModelView):
    # Nothing for the runner to empty: an outbox is the record of what was (or will be) sent.
    tables = ()
    ddl = (
        """CREATE TABLE IF NOT EXISTS {s}.notifications (
            id uuid PRIMARY KEY,
            order_id uuid NOT NULL,
            sales_channel text NOT NULL,
            position bigint NOT NULL,
            order_version integer NOT NULL,
            channel text NOT NULL CHECK (channel IN ('email', 'sms')),
            template text NOT NULL,
            locale text NOT NULL,
            recipient text NOT NULL,
            subject text,
            body_text text NOT NULL,
            body_html text,
            message_id text,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            unconfirmed integer NOT NULL DEFAULT 0,
            last_error text,
            provider_id text,
            created_at timestamptz NOT NULL,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            claimed_at timestamptz,
            handing_over_at timestamptz,
            sent_at timestamptz
        )""",
        # What a sender claims next: due and not claimed.
        "CREATE INDEX IF NOT EXISTS notifications_due_idx ON {s}.notifications (next_attempt_at, id) "
        "WHERE status = 'pending' AND claimed_at IS NULL",
        "CREATE INDEX IF NOT EXISTS notifications_order_idx ON {s}.notifications (order_id, created_at, id)",
        "CREATE INDEX IF NOT EXISTS notifications_created_idx ON {s}.notifications (created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS notifications_status_idx ON {s}.notifications (status, created_at DESC, id DESC)",
        "COMMENT ON TABLE {s}.notifications IS 'Customer notifications (outbox): one row per message and "
        "recipient, rendered as sent; position = the event that caused it'",
    )

    def _drop_for_rebuild(self, curs: Cursor[Any], recorded: int) -> None:
        raise RuntimeError(f"the notifications outbox is at schema version {recorded}, this code has "
                           f"{self.schema_version}: an outbox is migrated with ALTER TABLE, never dropped")


class CoordinatesOfLocations:
    """Where each location is, from its events (the expected delivery date needs it), kept for a
    minute: locations seldom move, and an order confirmed meanwhile gets a date a day off at worst."""

    def __init__(self, app: Any, ttl: float = 60.0) -> None:
        self.app = app
        self.ttl = ttl
        self._known: dict[str, tuple[float, tuple[float, float] | None]] = {}

    def __call__(self, location_id: str) -> tuple[float, float] | None:
        now = time.monotonic()
        known = self._known.get(location_id)
        if known is not None and now - known[0] < self.ttl:
            return known[1]
        try:
            location = self.app.repository.get(Location.create_id(location_id))
            coordinates: tuple[float, float] | None = (location.latitude, location.longitude)
        except Exception:  # noqa: BLE001 - (AggregateNotFound) then no date is promised
            coordinates = None
        self._known[location_id] = (now, coordinates)
        return coordinates


class NotificationsProjection(AggregateStateProjection[NotificationsView]):
    name = NAME
    aggregate_class = Order

    def __init__(self, view: NotificationsView, app: Any, composer: Composer, *, cache_size: int = 20_000) -> None:
        super().__init__(view, app, cache_size=cache_size)
        self.composer = composer
        self._composed: list[Notification] = []
        self._insert = SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING").format(
            view.table("notifications"), SQL(", ").join(map(Identifier, _INSERT_COLUMNS)),
            SQL(", ").join(SQL("%s") for _ in _INSERT_COLUMNS)).as_bytes(None)

    def applied(self, position: int, event: Any, aggregate: Any) -> None:  # type: ignore[override]
        self._composed.extend(self.composer.compose(position, event, aggregate))

    def to_rows(self, touched: dict[UUID, Any], new: set[UUID]) -> list[Notification]:
        composed, self._composed = self._composed, []
        return composed

    def reset(self) -> None:
        super().reset()
        self._composed = []

    def write(self, curs: Cursor[Any], staged: Sequence[Notification]) -> None:
        if staged:
            curs.executemany(self._insert, [
                (n.id, n.order_id, n.sales_channel, n.position, n.order_version, n.channel, n.template, n.locale,
                 n.recipient, n.subject, n.body_text, n.body_html, n.message_id,
                 "failed" if n.unsendable else "pending", n.unsendable, n.created_at)
                for n in staged])


class OutboxRunner(ProjectionRunner):
    """The projection runner, less what would send messages again."""

    # Called after each batch committed (the sender wakes up to send what it recorded).
    on_committed: Callable[[], None] | None = None

    def _commit(self, start: int, last: int, staged: Any, count: int) -> None:
        super()._commit(start, last, staged, count)
        if staged and self.on_committed is not None:
            self.on_committed()

    def rebuild(self, timeout: float | None = None, *, partitions: int = 1) -> int:
        raise RuntimeError("the notifications outbox is never rebuilt: that would send every message again")

    def start_at_head(self) -> None:
        """On the outbox's first start, its position is the head of the feed: what happened before
        it existed is not told again."""
        recorder = self.app.recorder
        with self.view.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {} (application_name, notification_id) "
                             "SELECT %s, coalesce(max(notification_id), 0) FROM {} "
                             "ON CONFLICT (application_name) DO NOTHING").format(
                self.view.table(self.tracking_table_name),
                Identifier(recorder.datastore.schema, recorder.events_table_name)), (self.app.name,))


def build_outbox_runner(app: Any, composer: Composer, **runner_options: Any) -> OutboxRunner:
    from projections import projection_env

    view = NotificationsView(PostgresFactory(projection_env(app, NAME)).datastore,
                             tracking_table_name=tracking_table_name(NAME))
    runner = OutboxRunner(app, NotificationsProjection(view, app, composer), **{"niceness": 10, **runner_options})
    runner.create_tables()
    runner.start_at_head()
    return runner


# ---------------------------------------------------------------------- reads


LIST_COLUMNS = SQL("id, order_id, channel, template, recipient, status, attempts, last_error, sent_at, created_at")
DETAIL_COLUMNS = SQL("id, order_id, channel, template, recipient, status, attempts, last_error, sent_at, created_at, "
                     "position, locale, subject, body_text, body_html, message_id, next_attempt_at")


def _item(row: dict[str, Any]) -> dict[str, Any]:
    item = {**row, "id": str(row["id"]), "order_id": str(row["order_id"])}
    for key, value in item.items():
        if isinstance(value, datetime):
            item[key] = value.isoformat()
    if "next_attempt_at" in item and item["status"] != "pending":
        item["next_attempt_at"] = None  # (a sent or failed message has no next attempt)
    return item


class NotificationQueries:
    """``GET /notifications`` and the order's history. ``channels`` (of an API key limited to
    sales channels): only their orders' messages; None: every order's."""

    def __init__(self, pool: ConnectionPool, schema: str = "public") -> None:
        self.pool = pool
        self.table = Identifier(schema or "public", "notifications")

    def _fetch(self, query: Composable, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(query, params)
            return curs.fetchall()

    def page(self, *, order_id: UUID | None = None, status: str | None = None,
             channels: Collection[str] | None = None, limit: int = 50,
             after: tuple[datetime, UUID] | None = None) -> tuple[list[dict[str, Any]], tuple[datetime, UUID] | None]:
        """Newest first by (created_at, id); returns the page and the key the next one starts after."""
        where: list[Composable] = []
        params: list[Any] = []
        for column, value in (("order_id", order_id), ("status", status)):
            if value is not None:
                where.append(SQL("{} = %s").format(Identifier(column)))
                params.append(value)
        if channels is not None:
            where.append(SQL("sales_channel = ANY(%s)"))
            params.append(list(channels))
        if after is not None:
            where.append(SQL("(created_at, id) < (%s, %s)"))
            params.extend(after)
        rows = self._fetch(SQL("SELECT {} FROM {} {} ORDER BY created_at DESC, id DESC LIMIT %s").format(
            LIST_COLUMNS, self.table, SQL("WHERE ") + SQL(" AND ").join(where) if where else SQL("")),
            [*params, limit + 1])
        page = rows[:limit]
        following = (page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit else None
        return [_item(row) for row in page], following

    def get(self, notification_id: UUID, channels: Collection[str] | None = None) -> dict[str, Any] | None:
        reach, params = (SQL(""), [notification_id]) if channels is None else (
            SQL(" AND sales_channel = ANY(%s)"), [notification_id, list(channels)])
        rows = self._fetch(SQL("SELECT {} FROM {} WHERE id = %s{}").format(DETAIL_COLUMNS, self.table, reach), params)
        return _item(rows[0]) if rows else None

    def of_order(self, order_id: UUID) -> list[dict[str, Any]]:
        """Every message of the order in the order of the events that caused them (each with its
        position), e-mail before SMS."""
        rows = self._fetch(SQL("SELECT {}, position FROM {} WHERE order_id = %s ORDER BY position, channel, id").format(
            LIST_COLUMNS, self.table), [order_id])
        return [_item(row) for row in rows]
