"""The webhook outbox: which endpoint is owed which message, written as the event feed is followed.

A projection like the read models: for every event of an order or stock item it asks which
webhook events it made (application/webhook_events.py), from the aggregate's state at that very
event, renders each message once and owes it to every endpoint subscribed to its type. The
messages and the deliveries are written in the runner's transaction, with the tracking position:
a crash before the commit writes neither, so each event is owed exactly once, however often the
runner is stopped (docs/webhooks.md). Sending is the sender's (infrastructure/webhooks/sender.py).

Cheap when nobody listens: a batch with no event that could make a webhook costs nothing, and
one read of the (small) endpoints table tells a batch that no endpoint wants what it holds.

The tables of every part of the webhooks live here, in one place both the API's store and the
sender (infrastructure/webhooks/) use; none is ever emptied by the runner (``tables`` is empty):
they hold configuration and history, not derived rows.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from application.documents import order_document, stock_document
from application.webhook_events import (
    POSSIBLE,
    message_body,
    needs_facts,
    order_facts,
    order_webhook_events,
    stock_webhook_events,
    subscribed,
    webhook_id,
)
from domain.order import Order
from domain.stock import StockItem
from projections.base import AggregateStateProjection, Positioned, ReadModelView
from projections.names import tracking_table_name

NAME = "webhook_outbox"

DDL = (
    """CREATE TABLE IF NOT EXISTS {s}.webhook_endpoints (
        id uuid PRIMARY KEY,
        url text NOT NULL,
        event_types text[] NOT NULL,
        description text,
        enabled boolean NOT NULL DEFAULT true,
        secret text NOT NULL,
        previous_secret text,
        previous_secret_expires_at timestamptz,
        since_position bigint NOT NULL,
        failing_since timestamptz,
        disabled_reason text,
        disabled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.webhook_messages (
        id text PRIMARY KEY,
        position bigint NOT NULL,
        type text NOT NULL,
        ordering_key uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        body text NOT NULL
    )""",
    # next_attempt_at is set only on the first pending delivery of an (endpoint, order) queue
    # while its endpoint is enabled: the others wait for it (event order per order).
    """CREATE TABLE IF NOT EXISTS {s}.webhook_deliveries (
        id bigserial PRIMARY KEY,
        endpoint_id uuid NOT NULL REFERENCES {s}.webhook_endpoints (id) ON DELETE CASCADE,
        message_id text NOT NULL REFERENCES {s}.webhook_messages (id),
        position bigint NOT NULL,
        type text NOT NULL,
        ordering_key uuid NOT NULL,
        origin text NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        scheduled_attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        in_flight_since timestamptz,
        last_attempt_at timestamptz,
        status_code integer,
        duration_ms integer,
        response_excerpt text,
        error text,
        delivered_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON {s}.webhook_deliveries (endpoint_id, next_attempt_at) "
    "WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND in_flight_since IS NULL",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_queue_idx ON {s}.webhook_deliveries (endpoint_id, ordering_key, id) "
    "WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_in_flight_idx ON {s}.webhook_deliveries (endpoint_id) "
    "WHERE in_flight_since IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_idx ON {s}.webhook_deliveries (endpoint_id, id)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_message_idx ON {s}.webhook_deliveries (message_id)",
    """CREATE TABLE IF NOT EXISTS {s}.webhook_attempts (
        id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL REFERENCES {s}.webhook_deliveries (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL,
        duration_ms integer,
        status_code integer,
        response_excerpt text,
        error text,
        outcome text NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_delivery_idx ON {s}.webhook_attempts (delivery_id, id)",
    """CREATE TABLE IF NOT EXISTS {s}.webhook_replays (
        id bigserial PRIMARY KEY,
        endpoint_id uuid NOT NULL REFERENCES {s}.webhook_endpoints (id) ON DELETE CASCADE,
        since_position bigint NOT NULL,
        until_position bigint NOT NULL,
        next_position bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
    )""",
    "COMMENT ON TABLE {s}.webhook_endpoints IS 'Where webhooks go (POST /webhooks/endpoints); secret signs them'",
    "COMMENT ON TABLE {s}.webhook_messages IS 'Every webhook message, once: id = webhook-id, body = exactly what is sent'",
    "COMMENT ON TABLE {s}.webhook_deliveries IS 'A message owed to an endpoint (the outbox) and what became of it'",
    "COMMENT ON TABLE {s}.webhook_attempts IS 'Every attempt to deliver, with its answer'",
)


class WebhookTablesView(ReadModelView):
    """The webhook tables and the outbox's tracking position. ``tables`` stays empty: a runner
    starting from position 0 must never empty them."""

    tables = ()
    ddl = DDL


class Message(NamedTuple):
    id: str  # the webhook-id
    position: int
    type: str
    ordering_key: UUID  # the order (or stock item) whose events it reports: kept in order per endpoint
    occurred_at: datetime
    body: str


class Subscription(NamedTuple):
    endpoint_id: UUID
    event_types: frozenset[str]
    since_position: int  # it is owed what happened after this position

    def wants(self, position: int, webhook_type: str) -> bool:
        return position > self.since_position and subscribed(self.event_types, webhook_type)


class OutboxRows(NamedTuple):
    messages: list[Message]
    deliveries: list[tuple[UUID, Message]]  # (endpoint, message), in feed order


class WebhookOutboxProjection(AggregateStateProjection[WebhookTablesView]):
    name = NAME
    aggregate_class = Order

    def __init__(self, view: WebhookTablesView, app: Any, *, stock_low_threshold: int, cache_size: int = 20_000) -> None:
        super().__init__(view, app, cache_size=cache_size)
        self.stock_low_threshold = stock_low_threshold
        self._prefixes = (get_topic(Order) + ".", get_topic(StockItem) + ".")

    def interested(self, topic: str) -> bool:
        return topic.startswith(self._prefixes)

    # ------------------------------------------------------------------ the outbox

    def stage(self, events: Sequence[Positioned]) -> OutboxRows | None:
        if not any(type(event) in POSSIBLE for _, event in events):
            return None
        # Read after the batch was: an endpoint created later has a since_position at or past
        # every event of the batch, so none of them is owed to it.
        subscriptions = self.subscriptions()
        if not subscriptions:
            self._cache.clear()  # nobody listens: keep nothing current
            return None
        messages = self.derive(events, lambda position, kind: any(s.wants(position, kind) for s in subscriptions))
        deliveries = [(s.endpoint_id, m) for m in messages for s in subscriptions if s.wants(m.position, m.type)]
        return OutboxRows(messages, deliveries)

    def write(self, curs: Cursor[Any], staged: OutboxRows | None) -> None:
        if staged is not None and staged.deliveries:
            write_deliveries(curs, self.view, staged.deliveries, origin="event")

    def subscriptions(self) -> list[Subscription]:
        with self.view.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_subscriptions, prepare=True)
            return [Subscription(row["id"], frozenset(row["event_types"]), row["since_position"])
                    for row in curs.fetchall()]

    @functools.cached_property
    def _select_subscriptions(self) -> bytes:
        return self.view.sql("SELECT id, event_types, since_position FROM {s}.webhook_endpoints WHERE enabled"
                             ).as_bytes(None)

    # ------------------------------------------------------------------ messages from events

    def derive(self, events: Sequence[Positioned], wanted: Callable[[int, str], bool]) -> list[Message]:
        """The messages ``events`` made that ``wanted(position, type)``, each rendered from its
        aggregate as it was just after its event. Aggregates with a wanted event are loaded
        (short streams all in one query); others are kept current only while cached."""
        needed = {event.originator_id for position, event in events
                  if any(wanted(position, kind) for kind in POSSIBLE.get(type(event), ()))}
        if not needed:
            return []
        cache = self._cache
        preloaded = self._preload([(p, e) for p, e in events if e.originator_id in needed])
        touched: dict[UUID, Any] = {}
        messages: list[Message] = []
        for position, event in events:
            aggregate_id = event.originator_id
            aggregate = touched.get(aggregate_id)
            if aggregate is None:
                aggregate = preloaded.get(aggregate_id) or cache.get(aggregate_id)
            if aggregate is None or aggregate.version != event.originator_version - 1:
                if aggregate_id not in needed:
                    cache.pop(aggregate_id, None)  # behind: loaded again when it is needed
                    touched.pop(aggregate_id, None)
                    continue
                aggregate = self._load(aggregate_id, event.originator_version - 1)
            kinds = POSSIBLE.get(type(event), ())
            wanted_here = any(wanted(position, kind) for kind in kinds)
            before: Any = None
            if wanted_here:
                if isinstance(aggregate, StockItem):
                    before = aggregate.available
                elif needs_facts(event):
                    before = order_facts(aggregate)
            aggregate = event.mutate(aggregate)
            touched[aggregate_id] = aggregate
            if wanted_here:
                messages.extend(self._messages(position, event, before, aggregate, wanted))
        for aggregate_id, aggregate in touched.items():
            cache[aggregate_id] = aggregate
            cache.move_to_end(aggregate_id)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        return messages

    def _messages(self, position: int, event: Any, before: Any, aggregate: Any,
                  wanted: Callable[[int, str], bool]) -> list[Message]:
        if isinstance(aggregate, StockItem):
            happened = stock_webhook_events(event, before, aggregate, self.stock_low_threshold)
            render: Callable[[Any], dict[str, Any]] = stock_document
        else:
            happened = order_webhook_events(event, before, aggregate)
            render = order_document
        messages = []
        document: dict[str, Any] | None = None
        for kind, subject in happened:
            if not wanted(position, kind):
                continue
            if document is None:
                document = render(aggregate)  # once per event, however many types it made
            data = document if subject is None else {**document, "subject": subject}
            body = message_body(kind, event.timestamp, data).decode()
            messages.append(Message(webhook_id(position, kind), position, kind, event.originator_id,
                                    event.timestamp, body))
        return messages


def write_deliveries(curs: Cursor[Any], view: ReadModelView, deliveries: list[tuple[UUID, Message]],
                     origin: str) -> None:
    """Records each message (once, whoever owes it) and each (endpoint, message) delivery, in
    their order. A delivery is first in its (endpoint, order) queue, and due at once, when no
    earlier one of that queue is pending; the sender moves the queue on as each one ends.

    The endpoints' rows are locked (shared) first: the sender locks an endpoint's row before it
    ends a delivery and looks for the next one of its queue, so one of the two always sees the
    other's delivery and no queue is left without a due first delivery."""
    endpoint_ids = sorted({endpoint_id for endpoint_id, _ in deliveries})
    curs.execute(view.sql("SELECT id FROM {s}.webhook_endpoints WHERE id = ANY(%s) ORDER BY id FOR SHARE"),
                 (endpoint_ids,))
    messages = list({m.id: m for _, m in deliveries}.values())
    curs.execute(view.sql(
        "INSERT INTO {s}.webhook_messages (id, position, type, ordering_key, occurred_at, body) "
        "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::uuid[], %s::timestamptz[], %s::text[]) "
        "ON CONFLICT (id) DO NOTHING"),
        ([m.id for m in messages], [m.position for m in messages], [m.type for m in messages],
         [m.ordering_key for m in messages], [m.occurred_at for m in messages], [m.body for m in messages]))
    seen: set[tuple[UUID, UUID]] = set()
    first = []
    for endpoint_id, message in deliveries:
        queue = (endpoint_id, message.ordering_key)
        first.append(queue not in seen)
        seen.add(queue)
    curs.execute(view.sql(
        "INSERT INTO {s}.webhook_deliveries (endpoint_id, message_id, position, type, ordering_key, origin, "
        "next_attempt_at) "
        "SELECT u.endpoint_id, u.message_id, u.position, u.type, u.ordering_key, %s, "
        "CASE WHEN e.enabled AND u.first AND NOT EXISTS (SELECT 1 FROM {s}.webhook_deliveries p "
        "WHERE p.endpoint_id = u.endpoint_id AND p.ordering_key = u.ordering_key AND p.status = 'pending') "
        "THEN now() END "
        "FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::text[], %s::uuid[], %s::boolean[]) WITH ORDINALITY "
        "AS u(endpoint_id, message_id, position, type, ordering_key, first, n) "
        "JOIN {s}.webhook_endpoints e ON e.id = u.endpoint_id ORDER BY u.n"),
        (origin, [e for e, _ in deliveries], [m.id for _, m in deliveries], [m.position for _, m in deliveries],
         [m.type for _, m in deliveries], [m.ordering_key for _, m in deliveries], first))


def webhook_tables_view(app: Any) -> WebhookTablesView:
    from projections import projection_env

    return WebhookTablesView(PostgresFactory(projection_env(app, NAME)).datastore,
                             tracking_table_name=tracking_table_name(NAME))


# Messages may wait: on a busy machine taking orders and the read models come first.
OUTBOX_NICENESS = 10


def build_outbox_runner(app: Any, view: WebhookTablesView, *, stock_low_threshold: int, **runner_options: Any) -> Any:
    """The outbox's runner (not started); creates the webhook tables."""
    from projections.runner import ProjectionRunner

    runner = ProjectionRunner(app, WebhookOutboxProjection(view, app, stock_low_threshold=stock_low_threshold),
                              batch_size=1000, rebuild_batch_size=1000, niceness=OUTBOX_NICENESS, **runner_options)
    runner.create_tables()
    _first_position_at_the_head(view, app)
    return runner


def _first_position_at_the_head(view: WebhookTablesView, app: Any) -> None:
    """The outbox's first position is the feed's head when its tables were made: no endpoint can
    exist before them, and each is owed only what follows its creation, so a store with a long
    history is not read through for nothing (a replay reaches back when asked)."""
    recorder = app.recorder
    with view.datastore.transaction(commit=True) as curs:
        curs.execute(SQL("INSERT INTO {} (application_name, notification_id) "
                         "SELECT %s, coalesce(max(notification_id), 0) FROM {} "
                         "ON CONFLICT (application_name) DO NOTHING").format(
            view.table(view.tracking_table_name), Identifier(recorder.datastore.schema, recorder.events_table_name)),
            (app.name,))
