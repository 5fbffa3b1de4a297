"""Runs one projection: follows the application's global feed in batches and applies each batch
to the read-model tables together with the tracking record, in one transaction.

Guarantees
----------
- **Exactly once.** Every batch transaction first locks the projection's tracking row
  (``SELECT ... FOR UPDATE``) and checks that it still holds the position this runner started
  the batch from; the tables and the new position commit together. A runner that finds the
  position moved (another process, a rebuild) drops its in-memory state and starts again from
  the stored position, so nothing is applied twice or skipped, even if the advisory lock below
  is lost for a moment.
- **One process at a time.** A session-level advisory lock
  (``pg_try_advisory_lock(hashtext('oms-projection:' || name))``) is held on a dedicated
  connection while the runner is active; other runners retry every ``lock_retry_interval``
  seconds and take over when the holder goes away.
- **No skipping, no silent stall.** A failing batch is rolled back and its in-memory state
  dropped; the runner then applies the events one per transaction, up to the one that fails,
  and stops there: it records where and why in ``projection_failures`` (projections/failures.py,
  read by ``GET /health``, ``GET /projections`` and reads waiting for their own writes), logs
  one line per attempt and tries that event again after growing delays (0.1 s, doubling, up to
  ``max_backoff``), until it applies; then the record goes and batches resume. The other
  runners, each on a thread of its own over the shared feed, go on meanwhile. A runner that
  takes the lock reads a record left by the previous holder and deletes it once past that
  event; a rebuild deletes it.
- **Partitioned rebuild.** ``rebuild(partitions=N)`` replays N disjoint sets of aggregates (by
  the last byte of their id) in N processes side by side, under the lock the rebuilding runner
  holds, and sets the position only once all of them succeeded. A position of 0 means nothing
  has been applied, so a runner that starts from 0 empties the tables first: an interrupted
  rebuild leaves no half-written read model behind.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from projections import failures
from projections.base import BatchProjection, Positioned
from projections.feed import FeedRow, SharedFeed, select_feed

log = logging.getLogger(__name__)

# The highest notification id there can be (bigserial).
MAX_POSITION = 2**63 - 1
LOCK_KEY_PREFIX = "oms-projection:"


class _PositionMoved(Exception):
    """The stored position is not where this runner thought it was."""


class ProjectionBusy(Exception):
    """Another process runs the projection and did not catch up in time."""


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


class EventUndecodable(Exception):
    """An event of the feed (the last of the notifications read, or one before it) cannot be
    turned into a domain event."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(f"cannot decode the events up to {position}: {type(error).__name__}: {error}")
        self.position = position


def lower_priority(niceness: int) -> None:
    """Runs the calling thread at ``niceness`` (Linux sets it per thread; elsewhere, or where it
    is not allowed, the thread keeps its priority)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class ProjectionRunner:
    def __init__(
        self,
        app: Any,
        projection: BatchProjection[Any],
        *,
        batch_size: int = 1000,
        rebuild_batch_size: int = 5000,
        poll_interval: float = 0.1,
        lock_retry_interval: float = 2.0,
        max_backoff: float = 60.0,
        lock_check_interval: float = 5.0,
        min_batch_interval: float = 0.0,
        feed: SharedFeed | None = None,
        partition_replayer: Callable[[str, int, int, int], None] | None = None,
        niceness: int = 0,
    ) -> None:
        self.app = app
        # Above 0 for work that may wait (an outbox of messages): its thread yields the CPU to
        # taking orders and to the read models on a busy machine, and catches up when it is not.
        self.niceness = niceness
        self.projection = projection
        self.view = projection.view
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.poll_interval = poll_interval
        self.lock_retry_interval = lock_retry_interval
        self.max_backoff = max_backoff
        self.lock_check_interval = lock_check_interval
        # Once caught up, the next batch starts no sooner than this after the last one started:
        # under load the read models then commit a few larger batches a second instead of one
        # per writer commit, and an order placed and authorised within the interval is written
        # once. Read-your-writes waits at most this much longer. A backlog is read at once.
        self.min_batch_interval = min_batch_interval
        # Shared with the other runners of this process while following the head (not in
        # rebuilds and catch-ups, which read ahead in large batches of their own).
        self.feed = feed
        # Runs one partition of a rebuild in another process: (projection, partition, partitions,
        # until) -> None, raising if it failed. Without it, rebuilds replay in this process only.
        self.partition_replayer = partition_replayer
        self._partition: tuple[int, int] | None = None  # (this one, of how many) in a partition replay

        schema = self.view.datastore.schema
        self.lock_key = LOCK_KEY_PREFIX + (self.name if schema == "public" else f"{schema}.{self.name}")
        # Statements rendered once: psycopg would otherwise escape their identifiers on every call.
        tracking = self.view.table(self.view.tracking_table_name)
        self._select_position_for_update = SQL(
            "SELECT notification_id FROM {} WHERE application_name = %s FOR UPDATE").format(tracking).as_bytes(None)
        self._ensure_position_row = SQL(
            "INSERT INTO {} (application_name, notification_id) VALUES (%s, 0) "
            "ON CONFLICT (application_name) DO NOTHING").format(tracking).as_bytes(None)
        self._zero_position = SQL(
            "UPDATE {} SET notification_id = 0 WHERE application_name = %s").format(tracking).as_bytes(None)
        self._set_position = SQL(
            "UPDATE {} SET notification_id = %s WHERE application_name = %s").format(tracking).as_bytes(None)
        # A batch's first statement: moves the position from where the batch started to its last
        # notification, locking the row until the batch commits; no row updated: it had moved.
        self._advance_position = SQL(
            "UPDATE {} SET notification_id = %s WHERE application_name = %s AND notification_id = %s"
        ).format(tracking).as_bytes(None)
        recorder = app.recorder
        events = SQL("{}.{}").format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        self._select_feed = select_feed(recorder)
        self._select_partition_feed = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id >= %s AND notification_id <= %s "
            "AND get_byte(uuid_send(originator_id), 15) %% %s = %s AND starts_with(topic, %s) "
            "ORDER BY notification_id LIMIT %s"
        ).format(events).as_bytes(None)

        self._position: int | None = None  # None: read it from the database before the next batch
        self._processing = threading.RLock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._lock_checked_at = 0.0
        self._waiting_logged = False
        self._reader: ThreadPoolExecutor | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None
        self._prefetched: tuple[tuple[int, int, int | None], Future[Any]] | None = None
        # Counters, for status pages and tests.
        self.batches = 0
        self.events = 0
        # The last notification the batch in hand was read up to (None until it is read): in
        # one-event batches, the event itself.
        self._attempted: int | None = None
        # The position last committed (or loaded), when known.
        self._applied: int | None = None
        # After a failed batch, its events are applied one per transaction up to this one (the
        # last the failed batch held), so that those before the failing event are not held back.
        self._careful_until: int | None = None
        # The event this runner is stopped at, as recorded in projection_failures.
        self._stalled_at: int | None = None

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def tracking_table_name(self) -> str:
        return self.view.tracking_table_name

    @property
    def is_active(self) -> bool:
        """Whether this runner holds the projection's advisory lock."""
        return self._lock_conn is not None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ lifecycle

    def create_tables(self) -> None:
        """Creates the read-model and tracking tables and indexes (idempotent)."""
        self.view.create_table()
        with self.view.datastore.transaction(commit=True) as curs:
            failures.create(curs, self.view.schema)

    def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"projection-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stops the thread (after the batch in hand) and releases the advisory lock."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._processing:
            self._release_lock()

    def close(self) -> None:
        """Stops and closes the projection's connection pool (the runner cannot be started again)."""
        self.stop()
        for executor in (self._reader, self._committer):
            if executor is not None:
                executor.shutdown(wait=True)
        self.view.datastore.close()

    def notify(self) -> None:
        """New events were committed: look now rather than at the next poll."""
        self._wakeup.set()

    # ------------------------------------------------------------------ positions

    def position(self) -> int:
        """The last notification id applied, as stored in the database."""
        return self.view.max_tracking_id(self.app.name) or 0

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def wait(self, position: int, timeout: float | None = None, interval: float = 0.01) -> bool:
        """Blocks until the stored position reaches ``position``; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.position() < position:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    # ------------------------------------------------------------------ rebuild

    def rebuild(self, timeout: float | None = None, *, partitions: int = 1) -> int:
        """Empties the projection's tables, sets its position to zero and replays the feed to
        the current head; returns the position reached.

        - Not running here and nobody else runs it: replays synchronously under the advisory lock,
          without the indexes that serve only queries, which are built again at the end; with
          ``partitions`` > 1 (and a ``partition_replayer``), in that many processes at once.
        - Running in this process: the runner's thread replays; waits for it.
        - Run by another process: resets (that process notices and replays); waits for it, raising
          ``ProjectionBusy`` after ``timeout`` seconds.
        """
        head = self.head()
        if self.is_running:
            self._reset()
            self.notify()
            if not self.wait(head, timeout):
                raise ProjectionBusy(f"projection {self.name} did not reach {head} within {timeout} s")
            return self.position()
        if self._try_lock():
            try:
                self._reset(drop_query_indexes=True)
                try:
                    if partitions > 1 and self.partition_replayer is not None:
                        self._replay_partitioned(partitions, head)
                    else:
                        while self._process_batch(self.rebuild_batch_size) != 0:
                            pass
                finally:  # also after a failure: the read model stays queryable
                    self.view.create_query_indexes()
            finally:
                with self._processing:
                    self._release_lock()
            return self.position()
        log.info("projection %s is run by another process; resetting it there", self.name)
        self._reset()
        if not self.wait(head, timeout):
            raise ProjectionBusy(f"projection {self.name} is run by another process that did not reach "
                                 f"{head} within {timeout} s")
        return self.position()

    def _replay_partitioned(self, partitions: int, head: int) -> None:
        """Runs every partition in its own process; the position moves to ``head`` only when all
        of them succeeded. On a failure the tables are emptied again (position 0)."""
        replay = self.partition_replayer
        assert replay is not None
        try:
            with ThreadPoolExecutor(max_workers=partitions, thread_name_prefix=f"partition-{self.name}") as pool:
                for done in [pool.submit(replay, self.name, k, partitions, head) for k in range(partitions)]:
                    done.result()
        except BaseException:
            self._reset()
            raise
        with self._processing, self.view.datastore.transaction(commit=True) as curs:
            curs.execute(self._select_position_for_update, (self.app.name,))
            curs.execute(self._set_position, (head, self.app.name))
        self._forget_state()

    def replay_partition(self, partition: int, partitions: int, until: int) -> int:
        """Applies the events of one partition of the aggregates (the last byte of their id modulo
        ``partitions``) up to notification id ``until``, writing rows without moving the position:
        one of the processes of ``rebuild(partitions=...)``, whose runner holds the lock and has
        emptied the tables. Returns the number of events applied; raises on any failure."""
        with self._processing:
            self._partition = (partition, partitions)
            self._position = 0
            self.projection.reset()
        total = 0
        try:
            while (count := self._process_batch(self.rebuild_batch_size, until)) != 0:
                if count < 0:  # cannot happen without a position check; never resynchronise here
                    raise RuntimeError(f"partition {partition} of {self.name} lost its place")
                total += count
        finally:
            with self._processing:
                self._settle()
                self._partition = None
                self._forget_state()
        return total

    def catch_up(self, until: int | None = None) -> int:
        """Applies everything up to the head (or up to notification id ``until``) synchronously;
        returns the number of notifications applied. The runner must not be started; takes the
        advisory lock for the duration (``ProjectionBusy`` if another process holds it)."""
        if self.is_running:
            raise RuntimeError("the runner is started; use wait() instead")
        if not self._try_lock():
            raise ProjectionBusy(f"projection {self.name} is run by another process")
        try:
            total = 0
            while (count := self._process_batch(self.batch_size, until)) != 0:
                total += max(count, 0)
            return total
        finally:
            with self._processing:
                self._release_lock()

    def _reset(self, *, drop_query_indexes: bool = False) -> None:
        with self._processing:
            self._settle_quietly()
            with self.view.datastore.transaction(commit=True) as curs:
                curs.execute(self._ensure_position_row, (self.app.name,))
                curs.execute(self._select_position_for_update, (self.app.name,))  # same lock order as batches
                self.view.truncate(curs)
                if drop_query_indexes:
                    self.view.drop_query_indexes(curs)
                curs.execute(self._zero_position, (self.app.name,))
                failures.clear(curs, self.view.schema, self.name)  # (a replay finds it again, if it fails again)
            self.projection.reset()
            self._position = None
            self._applied = self._careful_until = self._stalled_at = None

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        if self.niceness:
            lower_priority(self.niceness)
        backoff, attempts = 0.1, 0
        while not self._stopping.is_set():
            if not self._holds_lock():
                if not self._try_lock():
                    self._stopping.wait(self.lock_retry_interval)
                    continue
                self._stalled_at = self._recorded_stall()  # left by an earlier holder, perhaps
            try:
                self._wakeup.clear()
                started = time.monotonic()
                careful = self._careful_until is not None
                count = self._process_batch(1 if careful else self.batch_size, synchronous=careful)
                applied = self._applied
                if self._stalled_at is not None and applied is not None and applied >= self._stalled_at:
                    log.warning("projection %s: event %d applied after %d failed attempts; going on",
                                self.name, self._stalled_at, attempts)
                    self._clear_stall()
                    backoff, attempts = 0.1, 0
                if careful and (count == 0 or (applied is not None and applied >= (self._careful_until or 0))):
                    self._careful_until = None  # past the failed batch: batches again
                if count == 0:
                    self._wakeup.wait(self.poll_interval)
                elif 0 < count < self.batch_size and self.min_batch_interval > 0 and not careful:
                    self._stopping.wait(self.min_batch_interval - (time.monotonic() - started))
            except Exception as error:
                if self._careful_until is None:  # which event? apply the batch's one at a time to find it
                    self._careful_until = self._failed_at(error)
                    log.warning("projection %s: a batch up to event %d failed (%s: %s); applying its events one "
                                "by one", self.name, self._careful_until, type(error).__name__, _one_line(error))
                    continue
                attempts += 1
                self._stalled_at = self._failed_at(error)
                unrecorded = self._record_stall(self._stalled_at, error)
                # One line per attempt (the first with its traceback), however long the stall.
                log.error("projection %s: stopped at event %d, attempt %d failed (%s: %s); next attempt in %.1f s%s",
                          self.name, self._stalled_at, attempts, type(error).__name__, _one_line(error), backoff,
                          unrecorded, exc_info=attempts == 1)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        with self._processing:
            self._release_lock()

    def _failed_at(self, error: BaseException) -> int:
        """The notification a failure happened at: in one-event batches, the event that failed."""
        if isinstance(error, EventUndecodable):
            return error.position
        if self._attempted is not None:
            return self._attempted
        return (self._applied or 0) + 1  # (before any event was read: the database, most likely)

    def _recorded_stall(self) -> int | None:
        try:
            with self.view.datastore.transaction(commit=False) as curs:
                return failures.recorded(curs, self.view.schema, self.name)
        except Exception:  # noqa: BLE001 - then it is recorded again, or cleared, by what follows
            log.warning("projection %s: could not read its failure record", self.name)
            return None

    def _record_stall(self, position: int, error: BaseException) -> str:
        """Records the stall in a transaction of its own; returns "" or why it could not."""
        try:
            with self.view.datastore.transaction(commit=True) as curs:
                failures.record(curs, self.view.schema, self.name, position, f"{type(error).__name__}: {error}")
            return ""
        except Exception as unrecorded:  # noqa: BLE001 - the database may be what failed; the log says it
            return f" (not recorded in {failures.TABLE}: {type(unrecorded).__name__}: {_one_line(unrecorded)})"

    def _clear_stall(self) -> None:
        try:
            with self.view.datastore.transaction(commit=True) as curs:
                failures.clear(curs, self.view.schema, self.name)
            self._stalled_at = None
        except Exception:  # noqa: BLE001 - tried again after the next batch
            log.warning("projection %s: could not clear its failure record", self.name)

    def _process_batch(self, limit: int, until: int | None = None, *, synchronous: bool = False) -> int:
        """Stages the next batch and hands it to the committer, after the previous batch's commit
        has succeeded; so the database writes one batch while Python stages the next.

        Returns the number of notifications staged, 0 at the head (nothing left in flight), -1
        when the stored position had moved or a commit failed over a moved position (state
        reset; call again). ``synchronous``: the batch has committed (or raised) on return."""
        with self._processing:
            if self._position is None:
                self._position = self._load_position()
            start = self._position
            if until is not None and start >= until:
                return self._settle()
            self._attempted = None
            count, last, events = self._take_prefetched(start, limit, until) or self._read(start, limit, until)
            if not count:
                return self._settle()
            self._attempted = last
            if count == limit and not synchronous:  # more is likely waiting: read it while this batch is staged
                self._prefetch_next(last, limit, until)
            try:
                staged = self.projection.stage(events)
            except BaseException:
                try:
                    self._settle()
                finally:
                    self._forget_state()
                raise
            if self._settle() < 0:
                return -1
            if self._committer is None:
                self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commit-{self.name}")
            self._in_flight = self._committer.submit(self._commit, start, last, staged, count)
            self._position = last
            if synchronous and self._settle() < 0:
                return -1
            return count

    def _commit(self, start: int, last: int, staged: Any, count: int) -> None:
        """Rows and tracking in one transaction, if the stored position is still ``start``."""
        with self.view.datastore.transaction(commit=True) as curs:
            if self._partition is None:  # (one process of a partitioned rebuild writes rows only)
                curs.execute(self._advance_position, (last, self.app.name, start), prepare=True)
                if curs.rowcount != 1:
                    curs.execute(self._select_position_for_update, (self.app.name,))
                    row = curs.fetchone()
                    raise _PositionMoved(row["notification_id"] if row else None)
            self.projection.write(curs, staged)
        if self._partition is None:
            self._applied = last
        self.batches += 1
        self.events += count

    def _settle(self) -> int:
        """Waits for the batch being committed: 0 once it committed (or none was in flight), -1
        if the position had moved elsewhere; re-raises a failed commit. After a failure the
        in-memory state (which already includes the next batch) is dropped."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return 0
        try:
            in_flight.result()
        except _PositionMoved as moved:
            log.warning("projection %s: position moved to %s elsewhere; resynchronising", self.name, moved.args[0])
            self._forget_state()
            return -1
        except BaseException:
            self._forget_state()
            raise
        return 0

    def _settle_quietly(self) -> None:
        try:
            self._settle()
        except Exception:  # noqa: BLE001 - the next holder replays from the stored position
            log.exception("projection %s: the last batch failed to commit", self.name)

    def _forget_state(self) -> None:
        self.projection.reset()
        self._position = None
        self._prefetched = None

    def _read(self, start: int, limit: int, until: int | None) -> tuple[int, int, list[Positioned]]:
        """(notifications read, the last one's id, the decoded events this projection wants).

        The feed is read as plain tuples and only the wanted events become objects: most
        projections want a fraction of the feed, and the rest only moves the position."""
        if self.feed is not None and until is None and self._partition is None and limit <= self.feed.window // 2:
            rows = self.feed.read(start, limit, MAX_POSITION)
        else:
            rows = self._query_feed(start, limit, until)
        if not rows:
            return 0, start, []
        interested, mapper = self.projection.interested, self.app.mapper
        try:
            return len(rows), rows[-1].id, [(row.id, row.event(mapper)) for row in rows if interested(row.topic)]
        except Exception as error:
            raise EventUndecodable(rows[-1].id, error) from error

    def _query_feed(self, start: int, limit: int, until: int | None) -> list[FeedRow]:
        """This runner's own read: a rebuild, a catch-up to a position, a partition, or a runner
        behind the shared window."""
        with self.app.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            stop = until if until is not None else MAX_POSITION
            if self._partition is None:
                curs.execute(self._select_feed, (start + 1, stop, limit), prepare=True)
            else:
                # Rows only, no position to move: so only the events it applies.
                curs.execute(self._select_partition_feed, (start + 1, stop, self._partition[1], self._partition[0],
                                                           self.projection.topic_prefix, limit), prepare=True)
            return [FeedRow(row) for row in curs.fetchall()]

    def _prefetch_next(self, start: int, limit: int, until: int | None) -> None:
        """Reads and decodes the next batch in the background (reading the feed is independent
        of this projection's state; a prefetch for any other start is simply discarded)."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{self.name}")
        self._prefetched = ((start, limit, until), self._reader.submit(self._read, start, limit, until))

    def _take_prefetched(self, start: int, limit: int, until: int | None) -> tuple[int, int, list[Positioned]] | None:
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is None or prefetched[0] != (start, limit, until):
            return None
        try:
            return prefetched[1].result()
        except Exception:  # noqa: BLE001 - read it again in this thread, where errors are handled
            return None

    def _load_position(self) -> int:
        self.projection.reset()
        with self.view.datastore.transaction(commit=True) as curs:
            curs.execute(self._ensure_position_row, (self.app.name,))
            curs.execute(self._select_position_for_update, (self.app.name,))
            row = curs.fetchone()
            position = row["notification_id"] if row else 0
            if position == 0:  # nothing applied yet: whatever an interrupted rebuild left goes
                self.view.truncate(curs)
        self._applied = position
        return position

    # ------------------------------------------------------------------ advisory lock

    def _try_lock(self) -> bool:
        if self._lock_conn is not None:
            return True
        conn: psycopg.Connection[Any] | None = None
        try:
            kwargs = dict(self.view.datastore.pool.kwargs or {})
            kwargs.pop("row_factory", None)
            conn = psycopg.connect(autocommit=True, application_name=f"oms-projection-{self.name}", **kwargs)
            acquired = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.lock_key,)).fetchone()[0]
        except psycopg.Error:
            log.exception("projection %s: cannot reach the database to take its lock", self.name)
            if conn is not None:
                conn.close()
            return False
        if not acquired:
            conn.close()
            if not self._waiting_logged:
                log.info("projection %s is run by another process; retrying every %.0f s",
                         self.name, self.lock_retry_interval)
                self._waiting_logged = True
            return False
        self._lock_conn = conn
        self._lock_checked_at = time.monotonic()
        self._waiting_logged = False
        self._position = None  # whatever happened before, start from the stored position
        log.info("projection %s: running (lock taken)", self.name)
        return True

    def _holds_lock(self) -> bool:
        conn = self._lock_conn
        if conn is None:
            return False
        now = time.monotonic()
        if now - self._lock_checked_at < self.lock_check_interval:
            return True
        self._lock_checked_at = now
        try:
            conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            log.warning("projection %s: lost the connection holding its lock", self.name)
            with self._processing:
                self._release_lock()
            return False

    def _release_lock(self) -> None:
        self._settle_quietly()
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.close()  # ends the session: the advisory lock goes with it
            except psycopg.Error:
                pass
        self._position = None
