"""The recent part of the global feed, read once for all the runners of one process.

The runners of a projection worker follow the head side by side and want the same
notifications: each used to query them for itself and decode the events it wanted (the
``orders`` and ``order_history`` read models both decoding every order event). ``SharedFeed``
keeps a window of the latest notifications as plain rows; a runner asking for what the window
holds gets it from memory, the first one asking beyond it reads on for all of them, and each
event is decoded once and handed to every runner that wants it (domain events are immutable).

Correctness rests on one property of the store: an id becomes visible only after every lower
id that will ever exist (the insert takes the event table's lock), so rows read from ``a`` up to
the last id returned cover that whole range, and the next read starts after it.
"""
from __future__ import annotations

import bisect
import threading
import time
from typing import Any

from eventsourcing.persistence import Notification
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from application.event_store import CommittedEvent, as_read_back

# Notifications kept (at least; up to twice as many between trims): about a second and a half
# of the feed at full load on the bench machine, many times the runners' batch interval, so a
# runner that follows the head never misses it.
WINDOW = 5_000


def select_feed(recorder: Any) -> bytes:
    """(from id, to id, limit) -> the notifications in that range, in id order, as tuples."""
    events = SQL("{}.{}").format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    return SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
               "WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
               ).format(events).as_bytes(None)


class FeedRow:
    """One notification as read, and its event once a runner decoded it."""

    __slots__ = ("id", "originator_id", "originator_version", "topic", "state", "_event", "_recorded")

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.id, self.originator_id, self.originator_version, self.topic, self.state = row
        self._event: Any = None
        self._recorded: CommittedEvent | None = None

    @classmethod
    def recorded(cls, committed: CommittedEvent) -> FeedRow:
        """A notification this process's writer recorded: its event needs no decoding."""
        stored = committed.stored
        row = cls((committed.notification_id, stored.originator_id, stored.originator_version, stored.topic,
                   stored.state))
        row._recorded = committed
        return row

    def event(self, mapper: Any) -> Any:
        if self._event is None:  # two runners may both decode it; either object will do
            if self._recorded is not None:
                self._event = as_read_back(self._recorded.event, self._recorded.context)
            else:
                self._event = mapper.to_domain_event(Notification(
                    id=self.id, originator_id=self.originator_id, originator_version=self.originator_version,
                    topic=self.topic, state=self.state))
        return self._event


class SharedFeed:
    def __init__(self, app: Any, window: int = WINDOW) -> None:
        self.app = app
        self._select_feed = select_feed(app.recorder)
        self.window = window
        self._lock = threading.Lock()
        self._rows: list[FeedRow] = []
        self._ids: list[int] = []
        # The window covers every notification with an id in [_covered_from, _covered_to].
        self._covered_from = 1
        self._covered_to = 0
        # Notifications read from the database: each once while the runners keep up (a runner
        # at the end of the window still asks whether there is more, which costs no rows).
        self.rows_read = 0

    def read(self, start: int, limit: int, stop: int) -> list[FeedRow]:
        """Up to ``limit`` notifications after ``start`` (ids up to ``stop``), in id order."""
        with self._lock:
            if not self._covered_from <= start + 1 <= self._covered_to + 1:
                if start + 1 < self._covered_from:  # behind the window: read past it, keep nothing
                    return [FeedRow(r) for r in self._query(start + 1, stop, limit)]
                self._rows, self._ids = [], []  # ahead of it (or nothing kept yet): start afresh
                self._covered_from, self._covered_to = start + 1, start
            first = bisect.bisect_right(self._ids, start)
            found = self._rows[first:first + limit]
            if len(found) < limit and self._covered_to < stop and self._may_read_ahead():
                fetched = [FeedRow(r) for r in self._query(self._covered_to + 1, stop, limit - len(found))]
                if fetched:
                    self._rows.extend(fetched)
                    self._ids.extend(row.id for row in fetched)
                    self._covered_to = fetched[-1].id
                    found.extend(fetched)
                self._trim()
            return [row for row in found if row.id <= stop]

    def _may_read_ahead(self) -> bool:
        """Whether a runner at the end of the window asks the database for what follows."""
        return True

    def _query(self, first: int, stop: int, limit: int) -> list[tuple[Any, ...]]:
        with self.app.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._select_feed, (first, stop, limit), prepare=True)
            rows = curs.fetchall()
        self.rows_read += len(rows)
        return rows

    def _trim(self) -> None:
        """Keeps the latest ``window`` rows once they number twice that: moving the lists up by a
        few rows after every read cost a copy of the whole window each time."""
        if len(self._rows) < 2 * self.window:
            return
        excess = len(self._rows) - self.window
        if excess > 0:
            del self._rows[:excess]
            del self._ids[:excess]
            self._covered_from = self._ids[0] if self._ids else self._covered_to + 1


class CommittedFeed(SharedFeed):
    """The shared feed of the writer's own process, filled by the writer's commits rather than by
    reading them back: a policy that follows the feed there (payments) gets the events its own
    writer just recorded, already decoded, without a query.

    The window holds the writer's commits while their ids follow on from one another. Events of
    other writers show up as a gap before a commit's first id: the window starts again at that
    commit, and a runner behind it reads the gap from the store as from any shared feed. Events
    that other writers recorded after this writer's last commit are read from the store once the
    writer has been quiet for ``quiet_after`` seconds; while it commits, its next commit's gap
    reveals them.
    """

    def __init__(self, app: Any, window: int = WINDOW, *, quiet_after: float = 0.1) -> None:
        super().__init__(app, window)
        self.quiet_after = quiet_after
        self._published_at = float("-inf")
        self.rows_published = 0

    def publish(self, committed: list[CommittedEvent]) -> None:
        """The writer's listener (``GroupCommitWriter.on_committed_events``): a commit's events."""
        rows = [FeedRow.recorded(c) for c in committed]
        with self._lock:
            self._published_at = time.monotonic()
            rows = [row for row in rows if row.id > self._covered_to]  # read from the store meanwhile
            if not rows:
                return
            first, last = rows[0].id, rows[-1].id
            if last - first + 1 != len(rows):  # not one run of ids (never seen): trust the store only
                self._rows, self._ids = [], []
                self._covered_from, self._covered_to = last + 1, last
                return
            if first != self._covered_to + 1:  # a gap: what lies in it is read from the store
                self._rows, self._ids = [], []
                self._covered_from = first
            self._rows.extend(rows)
            self._ids.extend(row.id for row in rows)
            self._covered_to = last
            self.rows_published += len(rows)
            self._trim()

    def _may_read_ahead(self) -> bool:
        return time.monotonic() - self._published_at > self.quiet_after
