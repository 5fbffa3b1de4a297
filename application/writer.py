"""Group commit: many commands, one transaction, one table lock, one WAL flush.

Commands are decided one after another in memory by a single writer thread, against cached
aggregates and the not-yet-committed results of earlier commands in the same batch. All their
events are then inserted in one call to the recorder's default insert path (exclusive table lock,
so the feed's order is commit order) and every command is answered only after that commit. The
insert runs on a thread of its own, so while one batch waits for its commit the next is decided
on top of its changes (pipelined; see ``_step``).

- A command that breaks its own rules fails alone: its changes were made on private copies.
- Another writer process is noticed when its events show up between this writer's own (a gap
  in the notification ids of a commit) or when the feed's head, checked before a batch, is
  beyond what this writer knows; its events are then applied to the cached aggregates. While
  other writers are active, and after a pause, the head is checked before every batch; while
  this writer is alone, that round trip is skipped.
- Whatever slipped in between is caught by the expected versions every event carries: an
  interleaved write makes the insert fail on the event store's unique key, and the batch is
  decided again while holding the event table's lock, so the retry cannot conflict (optimistic
  first, pessimistic once).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent

from application.aggregate_cache import ABSENT, AggregateCache
from application.context import CommandContext, current_context
from application.directory import Directory
from application.event_store import CommittedEvent, OrderManagement
from application.errors import ConcurrencyConflict, OutcomeUnknown, WriterUnavailable  # noqa: F401 - re-exported
from application.unit_of_work import UnitOfWork, private_copy

log = logging.getLogger(__name__)

R = TypeVar("R")
# After seeing another writer's events, look for more before every batch for this long; while no
# other writer shows up, skip that round trip (the event store's unique key still catches any
# write that slipped in between, and the batch is then decided again under the table lock).
OTHERS_ACTIVE_SECONDS = 10.0
# ... and after a pause, whose length bounds how stale a writer that was idle may start from.
IDLE_SECONDS = 1.0
Handler = Callable[[UnitOfWork], R]


@dataclass(frozen=True)
class CommandResult:
    value: Any
    # Notification id of the command's last event: wait for it to read your own write.
    position: int | None


@dataclass
class _Submission:
    handler: Handler[Any]
    context: CommandContext
    future: Future[CommandResult]


@dataclass
class _Decided:
    submission: _Submission
    value: Any
    events: list[Any]  # the domain events, in the order of ``stored``
    stored: list[StoredEvent]


@dataclass
class _Batch:
    submissions: list[_Submission]
    # This batch's changes: what the next batch is decided on besides the cache while this one is
    # in flight, and what goes into the cache once it has committed.
    changed: dict[UUID, Any]
    decided: list[_Decided]
    stored: list[StoredEvent]
    insert: Future[list[int]] | None  # the ids of ``stored`` once committed


class GroupCommitWriter:
    def __init__(self, app: OrderManagement, cache: AggregateCache, *, max_batch: int = 500) -> None:
        self.app = app
        self.cache = cache
        self.max_batch = max_batch
        self._queue: deque[_Submission] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._position = 0
        self.directory = Directory()
        self._commit_listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[list[CommittedEvent]], None]] = []
        self._batch_listeners: list[Callable[[], None]] = []
        self.warm = threading.Event()
        self.batches = 0
        self.commands = 0
        self.conflicts = 0
        self.followed = 0
        # Seconds the writer thread spent per phase since start: deciding (the handlers, in
        # memory), storing (insert and commit, the database's share) and settling (answering the
        # callers, the cache, listeners, snapshots). Their sum against wall time is its load.
        self.seconds = {"deciding": 0.0, "storing": 0.0, "settling": 0.0}
        self._others_active_until = 0.0
        self._last_commit_at = 0.0
        # Inserts run here, so that the next batch is decided while one waits for its commit.
        self._inserter = ThreadPoolExecutor(1, thread_name_prefix="event-store-insert")

    def on_commit(self, listener: Callable[[], None]) -> None:
        """``listener`` is called after every commit (e.g. to wake a projection at once)."""
        self._commit_listeners.append(listener)

    def on_batch_answered(self, listener: Callable[[], None]) -> None:
        """``listener`` is called on the writer thread once every command of a batch has been
        answered, committed, refused or failed (e.g. to send a batch's answers together)."""
        self._batch_listeners.append(listener)

    def in_writer_thread(self) -> bool:
        """Whether the caller runs on the writer thread (a command's done-callback usually does)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def on_committed_events(self, listener: Callable[[list[CommittedEvent]], None]) -> None:
        """``listener`` gets every commit's events, in feed order, before the ``on_commit``
        listeners are called (e.g. a feed of this process that need not read them back)."""
        self._event_listeners.append(listener)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._position = self.app.recorder.max_notification_id() or 0
        self.directory.load(self.app.recorder, self.app.mapper)
        self._thread = threading.Thread(target=self._run, name="group-commit-writer", daemon=True)
        self._thread.start()
        threading.Thread(target=self._warm_cache, name="cache-warmer", daemon=True).start()

    def _warm_cache(self, loaders: int = 4) -> None:
        """Loads locations and stock items in the background, so the first orders after a start
        do not each wait for their loads (a cache miss is only slower, never wrong). Loading is
        I/O-bound, so a few threads do it side by side."""
        ids = list(self.directory.location_ids()) + self.directory.stock_item_ids()

        def load(aggregate_id: UUID) -> None:
            if not self._stopping and self.cache.cached(aggregate_id) is None:
                self.cache.get(aggregate_id)

        try:
            with ThreadPoolExecutor(max_workers=loaders, thread_name_prefix="cache-warmer") as pool:
                list(pool.map(load, ids[: self.cache.maxsize // 2]))
        except Exception:  # noqa: BLE001 - warming is best effort
            log.warning("cache warm-up stopped early", exc_info=True)
        finally:
            self.warm.set()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._inserter.shutdown(wait=False)
        while self._queue:
            future = self._queue.popleft().future
            if future.set_running_or_notify_cancel():  # not for a caller that gave up already
                future.set_exception(WriterUnavailable("the service is shutting down"))

    # ---------------------------------------------------------------- submitting

    def submit(self, handler: Handler[Any], context: CommandContext) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        with self._wakeup:
            if self._stopping:
                raise WriterUnavailable("the service is shutting down")
            self._queue.append(_Submission(handler, context, future))
            self._wakeup.notify()
        return future

    def execute(self, handler: Handler[Any], context: CommandContext, timeout: float = 60) -> CommandResult:
        return self.submit(handler, context).result(timeout)

    # ---------------------------------------------------------------- the loop

    def _run(self) -> None:
        in_flight: _Batch | None = None
        while True:
            with self._wakeup:
                while not self._queue and not self._stopping and in_flight is None:
                    self._wakeup.wait()
                if self._stopping and not self._queue and in_flight is None:
                    return
                taken = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            # From here on a caller can no longer cancel: its command may be recorded.
            batch = [s for s in taken if s.future.set_running_or_notify_cancel()]
            try:
                in_flight = self._step(in_flight, batch)
            except BaseException as error:  # never let the writer thread die with callers waiting
                log.exception("group commit failed")
                for submission in (in_flight.submissions if in_flight else []) + batch:
                    if not submission.future.done():
                        submission.future.set_exception(WriterUnavailable(str(error)))
                in_flight = None
            finally:
                for listener in self._batch_listeners:
                    listener()

    def _step(self, in_flight: _Batch | None, batch: list[_Submission]) -> _Batch | None:
        """Pipelined group commit: while one batch's insert is in flight, the next is decided on
        top of its (not yet committed) changes, and sent as soon as the first has committed; only
        then is the first answered. If the first fails, the next is decided again from scratch:
        nothing of it was recorded or answered. Returns the batch now in flight."""
        if in_flight is None:
            return self._begin(batch) if batch else None
        ahead = self._decide_ahead(batch, in_flight) if batch and not self._needs_catching_up() else None
        started = time.perf_counter()
        try:
            try:
                ids = in_flight.insert.result()
            finally:
                self.seconds["storing"] += time.perf_counter() - started
        except IntegrityError:
            self.conflicts += 1
            log.info("group commit conflict (%d commands); deciding again under the table lock",
                     len(in_flight.decided))
            self.cache.evict(in_flight.changed)
            # Not the commands refused already: they were answered.
            self._commit_exclusively([d.submission for d in in_flight.decided])
            return self._begin(batch) if batch else None
        except Exception as error:
            self._failed(in_flight.changed, in_flight.decided, error)
            return self._begin(batch) if batch else None
        if ahead is not None:
            ahead.insert = self._send(ahead.stored)
        self._committed(in_flight.changed, in_flight.decided, ids)
        if ahead is None and batch:
            return self._begin(batch)
        return ahead

    def _needs_catching_up(self) -> bool:
        """Whether to look for other writers' events first: while they are active, and after a pause."""
        now = time.monotonic()
        return now < self._others_active_until or now - self._last_commit_at > IDLE_SECONDS

    def _begin(self, batch: list[_Submission]) -> _Batch | None:
        """Decides a batch with nothing in flight and sends its insert. Optimistically: decide
        without any lock, insert with expected versions. If another writer got in between, the
        batch is decided again while holding the event table's lock, which no other writer can
        pass, so the second attempt cannot conflict."""
        current = self._needs_catching_up()
        if current:
            self._catch_up()
        staged: dict[UUID, Any] = {}
        refused: list[tuple[_Submission, Exception]] = []
        started = time.perf_counter()
        decided = self._decide(batch, staged, presume_unknown_is_new=True, refused=refused)
        self.seconds["deciding"] += time.perf_counter() - started
        # A refusal records nothing, so no unique key would catch one decided on a copy that
        # another process has moved on (e.g. "payment is pending" just after it was authorised):
        # before it is answered, the feed's head confirms that nothing else was recorded.
        if refused and not current and (self.app.recorder.max_notification_id() or 0) > self._position:
            self.cache.evict(staged)
            self._commit_exclusively(batch)
            return None
        for submission, error in refused:
            submission.future.set_exception(error)
        stored = [event for d in decided for event in d.stored]
        if not stored:
            self._committed(staged, decided, [])
            return None
        return _Batch(batch, staged, decided, stored, self._send(stored))

    def _decide_ahead(self, batch: list[_Submission], in_flight: _Batch) -> _Batch | None:
        """The next batch decided on top of the one in flight, its insert not yet sent; None when
        a command of it was refused (a refusal is answered at once, so it must not rest on
        changes that may yet fail: such a batch is decided again once the one in flight is done).
        Every batch before the one in flight has committed and is in the cache, so its changes
        are all the decisions need besides the cache."""
        staged = dict(in_flight.changed)
        changed: dict[UUID, Any] = {}
        refused: list[tuple[_Submission, Exception]] = []
        started = time.perf_counter()
        decided = self._decide(batch, staged, presume_unknown_is_new=True, refused=refused, changed=changed)
        self.seconds["deciding"] += time.perf_counter() - started
        if refused:
            return None
        return _Batch(batch, changed, decided, [event for d in decided for event in d.stored], None)

    def _send(self, stored: list[StoredEvent]) -> Future[list[int]]:
        """The insert of a batch's events, on the inserting thread (its own transaction)."""
        if not stored:
            done: Future[list[int]] = Future()
            done.set_result([])
            return done
        return self._inserter.submit(self._insert, stored)

    def _insert(self, stored: list[StoredEvent]) -> list[int]:
        return list(self.app.recorder.insert_events(stored) or [])

    def _commit_exclusively(self, batch: list[_Submission]) -> None:
        recorder = self.app.recorder
        staged: dict[UUID, Any] = {}
        decided: list[_Decided] = []
        started = time.perf_counter()
        deciding = 0.0
        try:
            with recorder.datastore.transaction(commit=True) as curs:
                # The same lock the recorder's insert takes; held from before we look until commit.
                for statement in recorder.lock_table_statements:
                    curs.execute(statement)
                self._catch_up()
                decide_started = time.perf_counter()
                decided = self._decide(batch, staged, presume_unknown_is_new=False)
                stored = [event for d in decided for event in d.stored]
                deciding = time.perf_counter() - decide_started
                ids: list[int] = []
                if stored:
                    # The recorder's own insert path (lock, NOTIFY, INSERT ... RETURNING), in our transaction.
                    recorder._insert_stored_events(curs, stored)
                    ids = [row["notification_id"] for row in curs.fetchall()]
        except Exception as error:
            self._failed(staged, decided, error)
            return
        finally:
            self.seconds["deciding"] += deciding
            self.seconds["storing"] += time.perf_counter() - started - deciding
        self._committed(staged, decided, ids)

    def _failed(self, staged: dict[UUID, Any], decided: list[_Decided], error: Exception) -> None:
        self.cache.evict(staged)
        failure = (ConcurrencyConflict(f"the command conflicted with a concurrent change: {error}")
                   if isinstance(error, IntegrityError)
                   else WriterUnavailable(f"event store write failed: {error}"))
        for d in decided:
            d.submission.future.set_exception(failure)

    def _decide(self, batch: Iterable[_Submission], staged: dict[UUID, Any], *,
                presume_unknown_is_new: bool,
                refused: list[tuple[_Submission, Exception]] | None = None,
                changed: dict[UUID, Any] | None = None) -> list[_Decided]:
        """Decides each command on top of the ones before it. A command that breaks a rule is
        answered with its error at once, or added to ``refused`` for the caller to answer."""
        decided: list[_Decided] = []
        for submission in batch:
            uow = UnitOfWork(self.cache, staged, presume_unknown_is_new)
            token = current_context.set(submission.context)
            try:
                value = submission.handler(uow)
                events = []
                for aggregate in uow.changed().values():
                    events.extend(aggregate.collect_events())
                stored = [self.app.mapper.to_stored_event(event) for event in events]
            except Exception as error:
                if refused is None:
                    submission.future.set_exception(error)
                else:
                    refused.append((submission, error))
                continue
            finally:
                current_context.reset(token)
            staged.update(uow.changed())
            if changed is not None:
                changed.update(uow.changed())
            decided.append(_Decided(submission, value, events, stored))
        return decided

    def _committed(self, staged: dict[UUID, Any], decided: list[_Decided], ids: list[int]) -> None:
        started = time.perf_counter()
        for aggregate_id, aggregate in staged.items():
            self.cache.put(aggregate_id, aggregate)
        self.directory.note(staged.values())
        self._last_commit_at = time.monotonic()
        if ids:
            if ids[0] == self._position + 1:
                self._position = ids[-1]
            else:  # another process wrote since this writer last looked
                self._others_active()
        offset = 0
        for d in decided:
            count = len(d.stored)
            position = ids[offset + count - 1] if count and len(ids) >= offset + count else None
            offset += count
            d.submission.future.set_result(CommandResult(d.value, position))
        self.batches += 1
        self.commands += len(decided)
        if ids and self._event_listeners:
            committed = self._committed_events(decided, ids)
            for event_listener in self._event_listeners:
                event_listener(committed)
        for listener in self._commit_listeners:
            listener()
        self._take_snapshots(staged.values(), decided)
        self.seconds["settling"] += time.perf_counter() - started

    @staticmethod
    def _committed_events(decided: list[_Decided], ids: list[int]) -> list[CommittedEvent]:
        positions = iter(ids)
        return [CommittedEvent(next(positions), stored, event, d.submission.context)
                for d in decided for event, stored in zip(d.events, d.stored)]

    def _take_snapshots(self, aggregates: Iterable[Any], decided: list[_Decided]) -> None:
        intervals = self.app.snapshotting_intervals or {}
        written = Counter(event.originator_id for d in decided for event in d.stored)
        snapshots = []
        for aggregate in aggregates:
            interval = intervals.get(type(aggregate))
            # Snapshot when this batch took the aggregate across a multiple of its interval.
            if interval and aggregate.version // interval > (aggregate.version - written[aggregate.id]) // interval:
                snapshots.append(Snapshot.take(aggregate))
        if snapshots and self.app.snapshots is not None:
            try:
                self.app.snapshots.put(snapshots)
            except Exception:  # a snapshot is an optimisation; the events are what count
                log.exception("could not write snapshots")

    # ---------------------------------------------------------------- staying current

    def _catch_up(self) -> None:
        """Brings the cache up to what other processes recorded since this writer's last commit.

        Their events are applied to copies of the cached aggregates (an aggregate created
        elsewhere is cached from its first event), so a process that shares the store with
        others keeps deciding from memory instead of reloading everything they touched. An entry
        that cannot be brought forward event by event is evicted and loaded again when needed.
        """
        head = self.app.recorder.max_notification_id() or 0
        if head <= self._position:
            return
        self._others_active()
        start = self._position + 1
        while start <= head:
            notes = self.app.recorder.select_notifications(start=start, limit=1000, stop=head)
            if not notes:
                break
            self._follow(notes)
            self.directory.learn(notes, self.app.mapper)
            start = notes[-1].id + 1
        self._position = head

    def _others_active(self) -> None:
        self._others_active_until = time.monotonic() + OTHERS_ACTIVE_SECONDS

    def _follow(self, notes: list[Notification]) -> None:
        advanced: dict[UUID, Any] = {}
        stale: set[UUID] = set()
        to_domain_event = self.app.mapper.to_domain_event
        for note in notes:
            aggregate_id, version = note.originator_id, note.originator_version
            if aggregate_id in stale:
                continue
            current = advanced.get(aggregate_id)
            copied = current is not None
            if current is None:
                current = self.cache.cached(aggregate_id)
            if current is None or current is ABSENT:
                if version == 1:
                    advanced[aggregate_id] = to_domain_event(note).mutate(None)
                    self.followed += 1
                elif current is ABSENT:
                    stale.add(aggregate_id)
                continue
            if current.version >= version:  # this writer's own event, already applied
                continue
            if current.version + 1 != version:
                stale.add(aggregate_id)
                continue
            try:
                advanced[aggregate_id] = to_domain_event(note).mutate(
                    current if copied else private_copy(current))
                self.followed += 1
            except Exception:  # noqa: BLE001 - never decide from a state we could not reproduce
                log.warning("could not apply %s v%d; reloading it when needed", aggregate_id, version,
                            exc_info=True)
                stale.add(aggregate_id)
        for aggregate_id, aggregate in advanced.items():
            if aggregate_id not in stale:
                self.cache.put(aggregate_id, aggregate)
        self.cache.evict(stale)
