"""The sender: a thread that hands the outbox's due messages over, batch after batch.

One process at a time sends (a session-level advisory lock on a connection of its own, as the
projection runners hold theirs), so that a sender that takes over knows every message still
claimed was left by one that died: it releases them at once (``PostgresOutbox.recover``) rather
than after a lease. It wakes when the outbox runner has committed new messages, and at least
every ``poll_interval`` seconds for retries that have come due.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg

from application.notifications.dispatch import Dispatcher
from infrastructure.notification_outbox import PostgresOutbox
from projections.runner import lower_priority

log = logging.getLogger(__name__)

LOCK_KEY = "oms-notification-sender"
LOCK_CHECK_INTERVAL = 5.0  # seconds between checks that the lock's connection still lives

SENDER_NICENESS = 10


class NotificationSender:
    def __init__(self, dispatcher: Dispatcher, outbox: PostgresOutbox, conninfo: str, *, schema: str = "public",
                 poll_interval: float = 1.0, lock_retry_interval: float = 2.0, max_backoff: float = 30.0) -> None:
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.conninfo = conninfo
        self.lock_key = LOCK_KEY if schema in ("", "public") else f"{LOCK_KEY}.{schema}"
        self.poll_interval = poll_interval
        self.lock_retry_interval = lock_retry_interval
        self.max_backoff = max_backoff
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._lock_checked_at = 0.0
        self.batches = 0  # for tests and status

    @property
    def is_active(self) -> bool:
        return self._lock_conn is not None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="notification-sender", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New messages were recorded: look now."""
        self._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stops after the message in hand and releases the lock."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._release_lock()

    close = stop

    def run_until_stopped(self) -> None:
        """Sends in the calling thread (``oms notifications send``) until ``stop``."""
        self._stopping.clear()
        self._run()

    def _run(self) -> None:
        lower_priority(SENDER_NICENESS)  # messages may wait a little; taking orders comes first
        backoff = 0.1
        while not self._stopping.is_set():
            if self._lock_conn is not None and time.monotonic() - self._lock_checked_at > LOCK_CHECK_INTERVAL:
                self._check_lock()  # a sender that lost its lock must stop before another takes over
            if self._lock_conn is None:
                if not self._try_lock():
                    self._stopping.wait(self.lock_retry_interval)
                    continue
            try:
                self._wakeup.clear()
                claimed = self.dispatcher.dispatch()
                self.batches += 1
                backoff = 0.1
                if claimed < self.dispatcher.batch_size:
                    self._wakeup.wait(self.poll_interval)
            except Exception as error:  # noqa: BLE001 - the database or a bug: logged, and tried again
                log.exception("notification sender: a batch failed (%s); trying again in %.1f s",
                              type(error).__name__, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                self._check_lock()
                if self._lock_conn is not None:
                    try:
                        self.outbox.recover()  # (this sender's own claims: none is in flight now)
                    except Exception:  # noqa: BLE001 - tried again after the next failure, or by the next holder
                        log.warning("notification sender: could not release its claims")
        self._release_lock()

    def _try_lock(self) -> bool:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, application_name="oms-notification-sender")
        except psycopg.Error:
            log.exception("notification sender: cannot reach the database to take its lock")
            return False
        try:
            acquired = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.lock_key,)).fetchone()[0]
            if acquired:
                recovered = self.outbox.recover()
                if recovered:
                    log.warning("notification sender: released %d messages a sender that stopped had claimed",
                                recovered)
        except psycopg.Error:
            log.exception("notification sender: could not take over")
            conn.close()
            return False
        if not acquired:
            conn.close()
            return False
        self._lock_conn = conn
        self._lock_checked_at = time.monotonic()
        log.info("notification sender: running (lock taken)")
        return True

    def _check_lock(self) -> None:
        conn = self._lock_conn
        if conn is None:
            return
        self._lock_checked_at = time.monotonic()
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            log.warning("notification sender: lost the connection holding its lock")
            self._release_lock()

    def _release_lock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.close()  # ends the session: the advisory lock goes with it
            except psycopg.Error:
                pass
