"""The feed shared by the runners of one process: what they read from it is exactly the store's
feed, in order, whatever their positions; it reads each notification once for all of them. The
writer process's feed (``CommittedFeed``) takes what its own writer committed from memory and
reads from the store only what other writers recorded."""
from __future__ import annotations

import random
import time
from functools import partial

from application import commands as c
from application import handlers
from application.aggregate_cache import AggregateCache
from application.writer import GroupCommitWriter
from projections.feed import CommittedFeed, SharedFeed

from .conftest import System, ctx, full_journey, seed_locations

EVERYTHING = 2**63 - 1


def _ids_in_store(system: System, after: int = 0) -> list[int]:
    with system.pool.connection() as conn:
        return [r[0] for r in conn.execute(
            "SELECT notification_id FROM oms_events WHERE notification_id > %s ORDER BY 1", (after,)).fetchall()]


def _receive(system: System, n: int) -> None:
    for i in range(n):
        system.service.receive_stock(c.ReceiveStock("berlin-wh", f"SKU-{i % 3}", 1 + i), ctx())


def test_runners_at_the_same_position_share_one_read_and_one_decoded_event(system: System) -> None:
    seed_locations(system)
    _receive(system, 4)
    feed = SharedFeed(system.app)

    first = feed.read(0, 100, EVERYTHING)
    second = feed.read(0, 100, EVERYTHING)

    assert [row.id for row in first] == [row.id for row in second] == _ids_in_store(system)
    assert feed.rows_read == len(first)
    assert first[-1].event(system.app.mapper) is second[-1].event(system.app.mapper)


def test_a_runner_at_the_end_of_the_window_reads_on_for_everyone(system: System) -> None:
    seed_locations(system)
    _receive(system, 2)
    feed = SharedFeed(system.app)
    head = feed.read(0, 100, EVERYTHING)[-1].id
    _receive(system, 3)

    newer = feed.read(head, 100, EVERYTHING)
    assert [row.id for row in newer] == _ids_in_store(system, head)
    assert [row.id for row in feed.read(head, 100, EVERYTHING)] == [row.id for row in newer]
    assert feed.rows_read == len(_ids_in_store(system))
    # Limits and upper bounds are honoured from memory too.
    assert [row.id for row in feed.read(0, 2, EVERYTHING)] == _ids_in_store(system)[:2]
    assert [row.id for row in feed.read(0, 100, head)] == [i for i in _ids_in_store(system) if i <= head]


def test_any_interleaving_of_runners_and_writes_reads_exactly_the_stores_feed(system: System) -> None:
    seed_locations(system)
    feed = SharedFeed(system.app, window=7)  # small, so the window moves and runners fall behind it
    rnd = random.Random(20261125)
    positions = [0, 0, 0]
    seen: list[list[int]] = [[], [], []]
    for _ in range(120):
        if rnd.random() < 0.3:
            _receive(system, 1)
        runner = rnd.choice((0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2))  # the third mostly idle, so it falls behind
        rows = feed.read(positions[runner], rnd.choice((1, 2, 5, 50)), EVERYTHING)
        if rows:
            seen[runner].extend(row.id for row in rows)
            positions[runner] = rows[-1].id
    for runner in range(3):  # and each catches up at the end
        while rows := feed.read(positions[runner], 50, EVERYTHING):
            seen[runner].extend(row.id for row in rows)
            positions[runner] = rows[-1].id
    assert seen[0] == seen[1] == seen[2] == _ids_in_store(system)
    assert feed.rows_read > len(seen[0])  # some runners fell behind the window and read past it


def test_applying_a_shared_event_to_an_aggregate_leaves_the_event_as_it_was(system: System) -> None:
    """Runners hand the same decoded event to different projections: one of them folding it into
    an aggregate must not change what another one reads from it."""
    full_journey(system)
    _receive(system, 2)
    feed = SharedFeed(system.app)
    rows = feed.read(0, 1000, EVERYTHING)
    mapper = system.app.mapper
    before = [dict(row.event(mapper).__dict__) for row in rows]
    frozen = [repr(state) for state in before]

    aggregates: dict = {}
    for row in rows:  # as the state-based projections do: fold every event into its aggregate
        event = row.event(mapper)
        aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))

    assert [repr(dict(row.event(mapper).__dict__)) for row in rows] == frozen


# ---------------------------------------------------------------- the writer's own feed


def _other_writer(system: System) -> GroupCommitWriter:
    """Another process's writer on the same store (its own cache)."""
    other = GroupCommitWriter(system.app, AggregateCache(system.app))
    other.start()
    return other


def _register_elsewhere(other: GroupCommitWriter, n: int) -> None:
    other.execute(partial(handlers.register_location, cmd=c.RegisterLocation(
        f"elsewhere-{n}", "Elsewhere", "store", 50.0, 8.0)), ctx())


def test_the_writers_own_commits_are_read_from_memory_as_the_store_gives_them_back(system: System) -> None:
    feed = CommittedFeed(system.app)
    system.writer.on_committed_events(feed.publish)
    full_journey(system)

    rows = feed.read(0, 1000, EVERYTHING)

    assert [row.id for row in rows] == _ids_in_store(system)
    assert feed.rows_read == 0 and feed.rows_published == len(rows)
    mapper = system.app.mapper
    stored = {n.id: n for n in system.app.recorder.select_notifications(start=1, limit=1000)}
    for row in rows:
        from_memory, from_store = row.event(mapper), mapper.to_domain_event(stored[row.id])
        assert type(from_memory) is type(from_store)
        assert vars(from_memory) == vars(from_store)  # with the recording command's audit metadata


def test_with_other_writers_any_interleaving_reads_exactly_the_stores_feed(system: System) -> None:
    seed_locations(system)
    feed = CommittedFeed(system.app, window=9, quiet_after=3600)  # the store is read only for gaps
    system.writer.on_committed_events(feed.publish)
    other = _other_writer(system)
    try:
        rnd = random.Random(20261202)
        positions, seen = [0, 0], [[], []]
        for step in range(150):
            roll = rnd.random()
            if roll < 0.25:
                _receive(system, 1)
            elif roll < 0.35:
                _register_elsewhere(other, step)
            runner = rnd.choice((0, 0, 0, 1))
            rows = feed.read(positions[runner], rnd.choice((1, 3, 50)), EVERYTHING)
            if rows:
                seen[runner].extend(row.id for row in rows)
                positions[runner] = rows[-1].id
        _receive(system, 1)  # a last commit of this writer: a gap before it holds the others' last
        for runner in range(2):
            while rows := feed.read(positions[runner], 50, EVERYTHING):
                seen[runner].extend(row.id for row in rows)
                positions[runner] = rows[-1].id
    finally:
        other.stop()
    assert seen[0] == seen[1] == _ids_in_store(system)
    # This writer's events came from memory; the others' (and the slow runner's, behind the small
    # window) from the store.
    assert feed.rows_published > 0 and feed.rows_read > 0


def test_other_writers_events_after_the_last_commit_are_read_once_the_writer_is_quiet(system: System) -> None:
    seed_locations(system)
    feed = CommittedFeed(system.app, quiet_after=0.2)
    system.writer.on_committed_events(feed.publish)
    _receive(system, 1)
    head = feed.read(0, 100, EVERYTHING)[-1].id
    other = _other_writer(system)
    try:
        _register_elsewhere(other, 1)
    finally:
        other.stop()

    # Right after a commit of its own the writer's feed has nothing beyond it; once the writer has
    # been quiet, what others recorded is read from the store.
    feed._published_at = time.monotonic()
    assert feed.read(head, 100, EVERYTHING) == []
    time.sleep(0.25)
    assert [row.id for row in feed.read(head, 100, EVERYTHING)] == _ids_in_store(system, head) != []
