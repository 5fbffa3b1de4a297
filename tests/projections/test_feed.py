"""The feed shared by the runners of one process: what they read from it is exactly the store's
feed, in order, whatever their positions; it reads each notification once for all of them."""
from __future__ import annotations

import random

from application import commands as c
from projections.feed import SharedFeed

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
