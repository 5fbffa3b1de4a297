"""Replays: an endpoint owed again everything the feed recorded after a position.

``POST /webhooks/endpoints/{id}/replay`` records a replay (the endpoint, the position after which
to start, the feed's head at that moment); this worker reads those events from the event store
a chunk at a time, derives their messages exactly as the outbox did (the same code, the same
aggregate states: so the same webhook-ids and bodies) and owes the ones the endpoint subscribes
to again, as new deliveries. Each chunk's deliveries and the replay's progress commit together,
and only if the progress is still where the chunk started: a replay is done once, even with
workers in several processes.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from psycopg.rows import tuple_row

from application.webhook_events import subscribed
from projections.feed import FeedRow, select_feed
from projections.webhook_outbox import WebhookOutboxProjection, WebhookTablesView, write_deliveries

log = logging.getLogger(__name__)


class WebhookReplayer:
    def __init__(self, app: Any, view: WebhookTablesView, *, stock_low_threshold: int, chunk: int = 1000,
                 poll_interval: float = 1.0) -> None:
        self.app = app
        self.view = view
        self.chunk = chunk
        self.poll_interval = poll_interval
        # Its own aggregate states: a replay reads old events, the outbox the newest.
        self.projection = WebhookOutboxProjection(view, app, stock_low_threshold=stock_low_threshold)
        self._select_feed = select_feed(app.recorder)
        self._stopping = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-replayer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self) -> None:
        self._wakeup.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.step():
                    continue
            except Exception:  # noqa: BLE001 - the replay stays where it was and is tried again
                log.exception("webhook replay: a chunk failed; trying again")
                self.projection.reset()
                self._stopping.wait(self.poll_interval)
            self._wakeup.wait(self.poll_interval)
            self._wakeup.clear()

    def step(self) -> bool:
        """Replays the next chunk of the oldest unfinished replay; False when there is none."""
        with self.view.datastore.transaction(commit=False) as curs:
            curs.execute(self.view.sql(
                "SELECT r.id, r.endpoint_id, r.next_position, r.until_position, e.event_types "
                "FROM {s}.webhook_replays r JOIN {s}.webhook_endpoints e ON e.id = r.endpoint_id "
                "WHERE r.finished_at IS NULL ORDER BY r.id LIMIT 1"))
            replay = curs.fetchone()
        if replay is None:
            return False
        start, until = replay["next_position"], replay["until_position"]
        rows = self._read(start, until)
        last = rows[-1].id if len(rows) == self.chunk else until
        interested, mapper = self.projection.interested, self.app.mapper
        events = [(row.id, row.event(mapper)) for row in rows if interested(row.topic)]
        event_types = frozenset(replay["event_types"])
        messages = self.projection.derive(events, lambda _, kind: subscribed(event_types, kind))
        with self.view.datastore.transaction(commit=True) as curs:
            curs.execute(self.view.sql(
                "UPDATE {s}.webhook_replays SET next_position = %s, "
                "finished_at = CASE WHEN %s >= until_position THEN now() END "
                "WHERE id = %s AND next_position = %s AND finished_at IS NULL"), (last, last, replay["id"], start))
            if curs.rowcount != 1:
                self.projection.reset()  # another worker did this chunk
                return True
            if messages:
                write_deliveries(curs, self.view, [(replay["endpoint_id"], m) for m in messages], origin="replay")
        if last >= until:
            log.info("webhook replay %s for endpoint %s is done (positions %s to %s)", replay["id"],
                     replay["endpoint_id"], start, until)
        return True

    def _read(self, start: int, until: int) -> list[FeedRow]:
        recorder = self.app.recorder
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_feed, (start + 1, until, self.chunk), prepare=True)
            return [FeedRow(row) for row in curs.fetchall()]
