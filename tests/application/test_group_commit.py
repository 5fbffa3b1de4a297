"""The group-commit writer: batching, isolation of failing commands, other writers, no oversell."""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from application import commands
from application.writer import GroupCommitWriter, WriterUnavailable
from domain.errors import ForbiddenTransition, InsufficientStock
from domain.stock import stock_item_id
from tests.application.conftest import Node, order_command, stock_up


def test_concurrent_commands_share_transactions(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 1000})
    batches_before = node.writer.batches
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda i: node.service.place_order(order_command(f"g-{i}", {"A": 1}), ctx), range(300)))
    assert all(r.created for r in results)
    batches = node.writer.batches - batches_before
    assert batches < 300, "every command committed alone: no group commit happened"
    positions = [r.position for r in results]
    assert len(set(positions)) == 300


def test_a_command_that_breaks_a_rule_fails_alone_and_leaves_no_trace(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    item_id = stock_item_id("A", "berlin-wh")
    gate = threading.Event()

    def blocker(uow):  # holds the writer so the next three commands land in one batch
        gate.wait(5)

    def reserve(quantity):
        def handler(uow):
            uow.get(item_id).reserve(UUID(int=quantity), quantity)
        return handler

    def half_done(uow):  # changes one aggregate, then breaks a rule on another
        uow.get(item_id).receive(100)
        uow.get(item_id).adjust(-1000, "too much")

    first = node.writer.submit(blocker, ctx)
    futures = [node.writer.submit(h, ctx) for h in (reserve(2), half_done, reserve(3))]
    gate.set()
    first.result(5)
    assert futures[0].result(5).position and futures[2].result(5).position
    with pytest.raises(InsufficientStock):
        futures[1].result(5)
    item = node.cache.get(item_id)
    assert (item.on_hand, item.reserved) == (5, 5)
    stored = node.app.repository.get(item_id)
    assert (stored.on_hand, stored.reserved) == (5, 5)


def test_writes_from_another_process_are_seen_and_conflicts_retried(url, ctx):
    one, two = Node(url), Node(url)
    try:
        stock_up(one.service, ctx, {("berlin-wh", "A"): 10})
        one.service.place_order(order_command("p-1", {"A": 3}), ctx)
        # The second process never saw these events; its first decision must still be right.
        two.service.place_order(order_command("p-2", {"A": 3}), ctx)
        one.service.place_order(order_command("p-3", {"A": 3}), ctx)
        two.service.adjust_stock(commands.AdjustStock("berlin-wh", "A", -1, "count"), ctx)
        stored = one.app.repository.get(stock_item_id("A", "berlin-wh"))
        assert (stored.on_hand, stored.reserved) == (9, 9)
        # A duplicate placed on the other process is recognised, not recorded twice.
        again = two.service.place_order(order_command("p-1", {"A": 3}), ctx)
        assert not again.created
    finally:
        one.close()
        two.close()


def test_a_writer_applies_other_processes_events_to_its_cache_instead_of_reloading(url, ctx):
    one, two = Node(url), Node(url)
    try:
        stock_up(one.service, ctx, {("berlin-wh", "A"): 10})
        item_id = stock_item_id("A", "berlin-wh")
        two.service.adjust_stock(commands.AdjustStock("berlin-wh", "A", 5, "count"), ctx)  # two now caches A
        placed = one.service.place_order(order_command("f-1", {"A": 3}), ctx)
        order_id = UUID(placed.document["id"])
        loads = []
        original_load = two.cache._load
        two.cache._load = lambda aggregate_id: loads.append(aggregate_id) or original_load(aggregate_id)
        # The order placed by the first process is cancelled through the second: it must decide
        # from the followed state (the order created elsewhere, the stock item advanced) alone.
        two.service.cancel_order(commands.CancelOrder(str(order_id), "customer asked"), ctx)
        assert loads == []
        assert two.writer.followed > 0
        item = two.cache.get(item_id)
        assert (item.on_hand, item.reserved) == (15, 0)
        stored = one.app.repository.get(item_id)
        assert (stored.on_hand, stored.reserved, stored.version) == (item.on_hand, item.reserved, item.version)
    finally:
        one.close()
        two.close()


def test_conflicting_writers_never_oversell_a_scarce_sku(url, ctx):
    """Two service processes, 64 threads, 400 orders for 1 unit each of a SKU with 50 in stock."""
    nodes = [Node(url), Node(url)]
    try:
        stock_up(nodes[0].service, ctx, {("berlin-wh", "HOT"): 30, ("munich-wh", "HOT"): 20})

        def place(i):
            return nodes[i % 2].service.place_order(order_command(f"hot-{i}", {"HOT": 1}), ctx)

        with ThreadPoolExecutor(64) as pool:
            results = list(pool.map(place, range(400)))
        allocated = sum(1 for r in results if r.document["shipments"])
        backordered = sum(r.document["lines"][0]["backordered"] for r in results)
        assert (allocated, backordered) == (50, 350)
        reserved = 0
        for location_id in ("berlin-wh", "munich-wh"):
            item = nodes[0].app.repository.get(stock_item_id("HOT", location_id))
            assert 0 <= item.reserved <= item.on_hand
            reserved += item.reserved
        assert reserved == 50
        # Every reservation event belongs to an order that shows the shipment.
        orders = [nodes[0].app.repository.get(UUID(r.document["id"])) for r in results]
        assert sum(q for o in orders for s in o.shipments.values() for q in s.lines.values()) == 50
    finally:
        for n in nodes:
            n.close()


def test_long_streams_are_snapshotted_and_load_the_same(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "S"): 1})
    for _ in range(450):
        node.service.receive_stock(commands.ReceiveStock("berlin-wh", "S", 1), ctx)
    item_id = stock_item_id("S", "berlin-wh")
    snapshots = list(node.app.snapshots.get(item_id))
    assert [s.originator_version for s in snapshots] == [200, 400]
    node.cache.clear()
    assert node.cache.get(item_id).on_hand == 451
    replayed = None
    for event in node.app.events.get(item_id):
        replayed = event.mutate(replayed)
    assert replayed.on_hand == 451


def test_a_conflict_is_decided_again_under_the_table_lock_and_succeeds(url, ctx):
    one, two = Node(url), Node(url)
    try:
        stock_up(one.service, ctx, {("berlin-wh", "A"): 10})
        item_id = stock_item_id("A", "berlin-wh")
        stale = two.cache.get(item_id)
        one.service.adjust_stock(commands.AdjustStock("berlin-wh", "A", -4, "count"), ctx)
        # Make the second writer believe its stale copy is current, as if the first writer's
        # commit landed between its catch-up and its insert.
        two.writer._position = two.app.recorder.max_notification_id()
        two.cache.put(item_id, stale)
        result = two.service.adjust_stock(commands.AdjustStock("berlin-wh", "A", -1, "count"), ctx)
        assert result.document["on_hand"] == 5
        stored = one.app.repository.get(item_id)
        assert (stored.on_hand, stored.version) == (5, stale.version + 2)
    finally:
        one.close()
        two.close()


@pytest.fixture
def two_nodes(url):
    """Two service processes' write sides on one store."""
    one, two = Node(url), Node(url)
    yield one, two
    one.close()
    two.close()


def _one_unit_placed_by(node, ctx, external_id):
    """Stock of one unit at Berlin, and an order for it: the order's id and its shipment's."""
    stock_up(node.service, ctx, {("berlin-wh", "A"): 1})
    placed = node.service.place_order(order_command(external_id, {"A": 1}), ctx)
    return UUID(placed.document["id"]), placed.document["shipments"][0]["id"]


def test_a_process_with_a_stale_copy_still_ships_what_another_process_packed(two_nodes, ctx):
    one, two = two_nodes
    order_id, shipment_id = _one_unit_placed_by(one, ctx, "stale-ship")
    one.service.settle_payments(order_id, ctx)
    one.service.pick(commands.PickShipment(shipment_id), ctx)
    assert two.cache.get(order_id).shipments[shipment_id].status == "picked"  # two caches it
    one.service.pack(commands.PackShipment(shipment_id), ctx)
    shipped = two.service.ship(commands.ShipShipment(shipment_id, "fedex"), ctx)
    assert shipped.document["shipments"][0]["status"] == "shipped"


def test_a_refusal_decided_on_a_copy_another_process_moved_on_is_decided_again(two_nodes, ctx):
    one, two = two_nodes
    order_id, shipment_id = _one_unit_placed_by(one, ctx, "stale-refusal")
    two.service.settle_payments(order_id, ctx)  # authorised by the other process
    # One's copy still says "payment pending", which forbids picking; it wrote a moment ago,
    # so it has no reason to look for others' events before deciding.
    assert one.cache.get(order_id).payment_state == "pending"
    picked = one.service.pick(commands.PickShipment(shipment_id), ctx)
    assert picked.document["shipments"][0]["status"] == "picked"
    # A refusal that still holds once the writer is current is answered as before.
    with pytest.raises(ForbiddenTransition):
        one.service.deliver(commands.DeliverShipment(shipment_id, None), ctx)


# ---------------------------------------------------------------- callers that give up


def _reserve(item_id: UUID, order: int, quantity: int):
    def handler(uow):
        uow.get(item_id).reserve(UUID(int=order), quantity)
    return handler


def test_a_caller_that_cancels_before_its_command_is_taken_is_never_recorded(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    item_id = stock_item_id("A", "berlin-wh")
    gate = threading.Event()
    blocker = node.writer.submit(lambda uow: gate.wait(5), ctx)
    cancelled = node.writer.submit(_reserve(item_id, 1, 1), ctx)
    kept = node.writer.submit(_reserve(item_id, 2, 2), ctx)
    assert cancelled.cancel()
    gate.set()
    blocker.result(5)
    assert kept.result(5).position
    assert node.app.repository.get(item_id).reserved == 2


def test_a_caller_that_cancels_once_its_command_is_being_decided_changes_nothing_for_the_others(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    item_id = stock_item_id("A", "berlin-wh")
    gate = threading.Event()
    blocker = node.writer.submit(lambda uow: gate.wait(5), ctx)
    futures: list = []
    cancelled: list[bool] = []

    def cancelling(uow):  # the caller gives up while its command is being decided
        cancelled.append(futures[0].cancel())
        uow.get(item_id).reserve(UUID(int=1), 1)

    futures.append(node.writer.submit(cancelling, ctx))
    futures.append(node.writer.submit(_reserve(item_id, 2, 2), ctx))
    gate.set()
    blocker.result(5)
    # Too late to cancel: the command is recorded and answered, and so is the rest of its batch.
    assert cancelled == [False]
    assert futures[0].result(5).position < futures[1].result(5).position
    assert node.app.repository.get(item_id).reserved == 3


def test_stopping_answers_the_commands_still_queued_and_skips_those_given_up(node, ctx):
    writer = GroupCommitWriter(node.app, node.cache)  # never started: whatever is submitted stays queued
    given_up = writer.submit(lambda uow: None, ctx)
    waiting = writer.submit(lambda uow: None, ctx)
    assert given_up.cancel()
    writer.stop()
    assert given_up.cancelled()
    with pytest.raises(WriterUnavailable):
        waiting.result(1)


# ---------------------------------------------------------------- pipelining


def _pipelined(node, ctx, insert_outcomes):
    """Five units in stock; a batch reserving 2 whose insert is held (and fails with the next of
    ``insert_outcomes``, if any), and a batch reserving 3 queued while it is in flight. Returns
    the stock item's id, both futures, and for each time the second was decided whether the
    first's insert had been let go by then."""
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    item_id = stock_item_id("A", "berlin-wh")
    inserting, release = threading.Event(), threading.Event()
    original = node.writer._insert
    outcomes = list(insert_outcomes)

    def held_insert(stored):
        inserting.set()
        release.wait(5)
        if outcomes:
            raise outcomes.pop(0)
        return original(stored)

    node.writer._insert = held_insert
    second: list = []
    decisions: list[bool] = []

    def reserve_three(uow):
        decisions.append(release.is_set())
        uow.get(item_id).reserve(UUID(int=3), 3)

    def reserve_two_and_queue_the_next(uow):
        uow.get(item_id).reserve(UUID(int=2), 2)
        if not second:  # queued while this batch is decided: the writer takes it next
            second.append(node.writer.submit(reserve_three, ctx))

    first = node.writer.submit(reserve_two_and_queue_the_next, ctx)
    assert inserting.wait(5)
    assert _eventually(lambda: decisions)  # decided while the first insert is still held
    release.set()
    return item_id, first, second[0], decisions


def _eventually(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_the_next_batch_is_decided_while_one_is_being_inserted_and_committed_after_it(node, ctx):
    item_id, first, second, decisions = _pipelined(node, ctx, [])
    # The second batch saw the first's reservation although it was not yet committed.
    assert decisions == [False]
    assert first.result(5).position < second.result(5).position
    stored = node.app.repository.get(item_id)
    assert (stored.reserved, node.cache.get(item_id).reserved) == (5, 5)


def test_when_the_batch_in_flight_fails_the_one_decided_on_it_is_decided_again(node, ctx):
    item_id, first, second, decisions = _pipelined(node, ctx, [OSError("connection lost")])
    with pytest.raises(WriterUnavailable):
        first.result(5)
    assert second.result(5).position
    assert decisions == [False, True]  # decided again once the first had failed
    stored = node.app.repository.get(item_id)
    assert (stored.reserved, node.cache.get(item_id).reserved) == (3, 3)


def test_when_the_batch_in_flight_conflicts_both_are_recorded_in_order(node, ctx):
    item_id, first, second, decisions = _pipelined(node, ctx, [IntegrityError("duplicate key")])
    assert first.result(5).position < second.result(5).position
    assert decisions == [False, True]
    assert node.app.repository.get(item_id).reserved == 5


def test_under_random_insert_failures_what_was_answered_is_exactly_what_was_recorded(node, ctx):
    """Many callers at once, every third insert lost: each caller's answer says whether its
    reservation stands, and the store, the cache and the answers agree; nothing is oversold."""
    stock_up(node.service, ctx, {("berlin-wh", "A"): 450})
    item_id = stock_item_id("A", "berlin-wh")
    chance = random.Random(11)
    original = node.writer._insert

    def flaky_insert(stored):
        time.sleep(0.005)  # long enough for callers to queue the next batch behind this one
        if chance.random() < 0.33:
            raise OSError("connection lost")
        return original(stored)

    decided_ahead = 0
    decide_ahead = node.writer._decide_ahead

    def counting_decide_ahead(batch, in_flight):
        nonlocal decided_ahead
        ahead = decide_ahead(batch, in_flight)
        decided_ahead += ahead is not None
        return ahead

    node.writer._insert = flaky_insert
    node.writer._decide_ahead = counting_decide_ahead
    quantities = [chance.randint(1, 4) for _ in range(240)]

    def reserve(n: int):
        try:
            return node.writer.submit(_reserve(item_id, n, quantities[n]), ctx).result(30)
        except (WriterUnavailable, InsufficientStock) as refused:
            return refused

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(reserve, range(len(quantities))))
    node.writer._insert = original
    recorded = [n for n, answer in enumerate(answers) if not isinstance(answer, Exception)]
    assert decided_ahead > 0, "no batch was decided while another was in flight"
    assert any(isinstance(a, WriterUnavailable) for a in answers) and recorded
    stored = node.app.repository.get(item_id)
    assert stored.reserved == sum(quantities[n] for n in recorded) <= stored.on_hand == 450
    assert node.cache.get(item_id).reserved == stored.reserved
    events = list(node.app.events.get(item_id))
    assert [event.originator_version for event in events] == list(range(1, len(events) + 1))  # no gap
    reserved_by = {event.order_id for event in events if type(event).__name__ == "StockReserved"}
    assert reserved_by == {UUID(int=n) for n in recorded}


def test_a_conflict_retries_only_the_commands_of_its_batch_that_were_not_refused(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    item_id = stock_item_id("A", "berlin-wh")
    gate = threading.Event()
    original = node.writer._insert
    conflicts = [IntegrityError("duplicate key")]

    def conflicting_once(stored):
        if conflicts:
            raise conflicts.pop()
        return original(stored)

    node.writer._insert = conflicting_once
    blocker = node.writer.submit(lambda uow: gate.wait(5), ctx)  # the next two queue up behind it
    kept = node.writer.submit(_reserve(item_id, 1, 2), ctx)
    refused = node.writer.submit(_reserve(item_id, 2, 100), ctx)
    gate.set()
    blocker.result(5)
    with pytest.raises(InsufficientStock):
        refused.result(5)
    assert kept.result(5).position
    assert not conflicts and node.writer.conflicts == 1
    assert node.app.repository.get(item_id).reserved == 2
