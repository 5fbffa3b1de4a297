"""Signed outbound webhooks (Standard Webhooks 1.0): the parts and how they are put together.

- the **store** (store.py): endpoints, deliveries and replays as the API manages and shows them;
- the **outbox** (projections/webhook_outbox.py): a projection of the event feed that owes each
  message to each subscribed endpoint, in the transaction that moves its tracking position;
- the **replayer** (projections/webhook_replay.py): owes an endpoint a stretch of the feed again;
- the **sender** (sender.py): sends what is owed, retries, and records every attempt.

The outbox, the replayer and the sender run where the read models do (``System.start`` with
projections, the projection worker of ``oms serve``, or ``oms webhooks run``); docs/webhooks.md
says what they guarantee.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from infrastructure.settings import Settings
from infrastructure.webhooks.sender import WebhookSender
from infrastructure.webhooks.store import WebhookStore
from projections.webhook_outbox import build_outbox_runner, webhook_tables_view
from projections.webhook_replay import WebhookReplayer


@dataclass
class Webhooks:
    store: WebhookStore
    outbox: Any  # projections.runner.ProjectionRunner
    replayer: WebhookReplayer
    settings: Settings
    database_url: str
    sender: WebhookSender | None = None

    def start(self, *, send: bool | None = None) -> None:
        """Runs the outbox and the replayer, and the sender unless ``send`` (by default
        OMS_WEBHOOKS_SENDER) says another process sends."""
        self.outbox.start()
        self.replayer.start()
        if self.settings.webhooks_sender if send is None else send:
            self.sender_for_this_process().start()

    def sender_for_this_process(self) -> WebhookSender:
        if self.sender is None:
            self.sender = WebhookSender(
                self.database_url, schema=self.store.schema,
                allow_private=self.settings.webhooks_allow_private, retry_delays=self.settings.webhooks_retry_delays,
                disable_after=self.settings.webhooks_disable_after, anyone_listens=self.store.any_enabled)
        return self.sender

    def notify_sender(self) -> None:
        """Something is owed or due now (an endpoint created or enabled, a retry): a sender in
        this process looks at once instead of at its next round."""
        if self.sender is not None:
            self.sender.notify()

    def close(self) -> None:
        self.replayer.stop()
        self.outbox.close()
        if self.sender is not None:
            self.sender.close()


def build_webhooks(app: Any, settings: Settings, database_url: str, read_pool: ConnectionPool,
                   feed: Any = None) -> Webhooks:
    """The webhook parts (none started); makes their tables. ``feed``: the read models' shared
    feed (projections/feed.py), so the outbox decodes no event they have decoded."""
    view = webhook_tables_view(app)
    outbox = build_outbox_runner(app, view, stock_low_threshold=settings.stock_low_threshold, feed=feed,
                                 min_batch_interval=settings.projection_batch_interval)
    replayer = WebhookReplayer(app, view, stock_low_threshold=settings.stock_low_threshold)
    store = WebhookStore(read_pool, schema=app.recorder.datastore.schema, events_table=app.recorder.events_table_name)
    return Webhooks(store, outbox, replayer, settings, database_url)


def run_webhooks(settings: Settings) -> None:
    """``oms webhooks run``: the outbox, the replayer and the sender in a process of their own,
    until SIGTERM/SIGINT."""
    from application.event_store import OrderManagement
    from infrastructure.bootstrap import _wait_for_stop_signal
    from infrastructure.database import create_pool, eventsourcing_env, resolve_database_url, schema_lock
    from infrastructure.runtime import tune_for_long_lived_state
    from infrastructure.transcoder import OrjsonTranscoder

    url = resolve_database_url(settings)
    env = eventsourcing_env(url, pool_size=2, max_overflow=2)
    env["CREATE_TABLE"] = "y"
    with schema_lock(url):
        app = OrderManagement(env, transcoder=OrjsonTranscoder())
        read_pool = create_pool(url, min_size=1, max_size=2)
        webhooks = build_webhooks(app, settings, url, read_pool)
    tune_for_long_lived_state()
    webhooks.start(send=True)
    try:
        _wait_for_stop_signal()
    finally:
        webhooks.close()
        read_pool.close()
        app.close()


__all__ = ["Webhooks", "build_webhooks", "run_webhooks"]
