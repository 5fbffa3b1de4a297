from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from application import commands as c
from application.documents import order_document
from projections import LOCATIONS, ORDER_HISTORY, ORDERS, STOCK_LEVELS, build_projections
from projections.orders import OrdersView
from projections.queries import InvalidCursor

from .conftest import System, ctx, full_journey, seed_locations

TIMEOUT = 10


def _wait(system: System, names=(ORDERS, STOCK_LEVELS, LOCATIONS, ORDER_HISTORY)) -> None:
    assert system.queries.wait_for(names, system.head(), TIMEOUT)


def _bulk_orders(system: System, count: int, channel: str = "web") -> list:
    seed_locations(system)
    system.service.receive_stock(c.ReceiveStock("berlin-wh", "HOT", 1000), ctx())
    system.service.receive_stock(c.ReceiveStock("munich-wh", "COLD", 1000), ctx())
    ids = []
    for i in range(count):
        sku = "HOT" if i % 2 else "COLD"
        order_id = system.place(channel if i % 3 else "pos", f"B{i}", [(sku, 1 + i % 3, "2.50")], ctx())
        ids.append(order_id)
        if i % 4 == 0:
            system.service.settle_payments(order_id, ctx())
        if i % 5 == 0:
            system.service.cancel_order(c.CancelOrder(str(order_id), "changed mind"), ctx())
    return ids


def test_journey_is_projected(system: System) -> None:
    for runner in system.projections():
        runner.start()
    order_id, requests = full_journey(system)
    _wait(system)

    order = system.app.repository.get(order_id)
    expected = order_document(order)
    assert system.queries.order(order_id) == expected
    assert expected["payment_status"] == "partially_refunded"

    with system.pool.connection() as conn:
        row = conn.execute(
            "SELECT channel, external_id, status, payment_status, fulfillment_status, currency, customer_name, "
            "customer_email, subtotal, shipping, total, captured, refunded, version, created_at, updated_at "
            "FROM orders WHERE id = %s", (order_id,)).fetchone()
        assert row == ("web", "J1", expected["status"], "partially_refunded", expected["fulfillment_status"], "EUR",
                       "Ada Lovelace", "ada@example.com", Decimal("109.90"), Decimal("4.90"), Decimal("114.80"),
                       Decimal("114.80"), Decimal("99.90"), order.version, order.created_on, order.modified_on)
        assert conn.execute("SELECT sku, quantity, unit_price, backordered FROM order_lines WHERE order_id = %s "
                            "ORDER BY sku", (order_id,)).fetchall() == [
            ("SHOE-42", 1, Decimal("99.90"), 0), ("SOCK-1", 2, Decimal("5.00"), 0)]
        (shipment,) = conn.execute("SELECT id, location_id, status, carrier, tracking_number, delivered_at "
                                   "FROM shipments WHERE order_id = %s", (order_id,)).fetchall()
        assert shipment[1:4] == ("munich-wh", "delivered", "fedex") and shipment[4] and shipment[5]
        assert conn.execute("SELECT sku, quantity FROM shipment_lines WHERE shipment_id = %s ORDER BY sku",
                            (shipment[0],)).fetchall() == [("SHOE-42", 1), ("SOCK-1", 2)]
        (ret,) = conn.execute("SELECT status, location_id, refund_amount, lines FROM returns WHERE order_id = %s",
                              (order_id,)).fetchall()
        assert ret == ("refunded", "berlin-wh", Decimal("99.90"),
                       [{"sku": "SHOE-42", "quantity": 1, "reason": "too small"}])

    stock = system.queries.stock("SHOE-42")
    assert stock == {"sku": "SHOE-42", "on_hand": 7, "reserved": 0, "available": 7, "locations": [
        {"location_id": "berlin-wh", "on_hand": 3, "reserved": 0, "available": 3},
        {"location_id": "munich-wh", "on_hand": 4, "reserved": 0, "available": 4}]}
    assert system.queries.stock("SOCK-1")["on_hand"] == 8
    assert system.queries.stock("NOPE") is None
    assert [l["location_id"] for l in system.queries.locations()] == ["berlin-wh", "munich-wh"]

    history = system.queries.history(order_id)
    assert [h["version"] for h in history] == list(range(1, order.version + 1))
    assert [h["position"] for h in history] == sorted(h["position"] for h in history)
    types = [h["type"] for h in history]
    assert types[:3] == ["OrderPlaced", "OrderAllocated", "PaymentAuthorized"]
    assert {"ShipmentShipped", "PaymentCaptured", "ShipmentDelivered", "ReturnRequested", "ReturnReceived",
            "PaymentRefunded"} <= set(types)
    placed = history[0]
    assert placed["actor"] == {"id": "key_1", "name": "Integration Admin"}
    assert placed["request_id"] == requests["place"] and placed["command"] == "PlaceOrder"
    assert placed["data"]["lines"][0] == {"sku": "SHOE-42", "quantity": 1, "unit_price": "99.90"}
    assert not {"originator_id", "originator_version", "timestamp", "__meta__"} & set(placed["data"])
    shipped = next(h for h in history if h["type"] == "ShipmentShipped")
    assert shipped["actor"]["id"] == "key_2" and shipped["request_id"] == requests["ship"]
    assert placed["recorded_at"].endswith("+00:00")

    status = system.queries.projection_status(system.runners)
    assert {s["name"] for s in status} == {ORDERS, STOCK_LEVELS, LOCATIONS, ORDER_HISTORY}
    assert all(s["lag"] == 0 and s["position"] == system.head() for s in status)


def test_exactly_once_across_restarts_and_rebuild(system: System) -> None:
    ids = _bulk_orders(system, 40)
    for order_id in ids[1:4]:  # late events of early orders: LRU misses for the second runner
        system.service.cancel_order(c.CancelOrder(str(order_id), "late"), ctx())
    head = system.head()
    first = system.projections(batch_size=7)
    for runner in first:
        runner.catch_up(until=head // 2)  # stopped part-way
        assert runner.position() == head // 2
        runner.close()

    second = system.projections(batch_size=11, orders_cache_size=3)  # tiny LRU: misses load from the store
    for runner in second:
        runner.start()
    _wait(system)
    live = system.dump()
    assert second[0].name == ORDERS and second[0].projection.loads > 0  # LRU misses were loaded from the store
    for order_id in ids:
        assert system.queries.order(order_id) == order_document(system.app.repository.get(order_id))
    with system.pool.connection() as conn:
        (events,) = conn.execute("SELECT count(*) FROM oms_events e JOIN orders o ON o.id = e.originator_id"
                                 ).fetchone()
        assert conn.execute("SELECT count(*) FROM order_history").fetchone() == (events,)

    # Rebuild while running in this process (the runner's thread replays) ...
    assert second[0].rebuild(timeout=TIMEOUT) == head
    # ... and when nobody runs it (synchronous replay under the advisory lock).
    for runner in second:
        runner.stop()
    def indexes() -> set[str]:
        with system.pool.connection() as conn:
            return {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}

    before = indexes()
    assert "orders_status_idx" in before
    for runner in second:
        assert runner.rebuild() == head
    assert system.dump() == live
    assert indexes() == before  # the query indexes dropped for the replay are back


def test_aggregates_missing_from_the_lru_are_loaded_at_the_state_before_the_batch(system: System) -> None:
    """A one-entry LRU misses almost every aggregate: short streams are replayed from their events
    in one query per batch, long ones (past the snapshot interval and BULK_LOAD_MAX_VERSION)
    start from a snapshot; either way the read model equals the aggregates' own state."""
    from domain.stock import stock_item_id
    from projections.base import BULK_LOAD_MAX_VERSION

    ids = _bulk_orders(system, 12)
    for n in range(BULK_LOAD_MAX_VERSION + 30):  # a long stock stream, snapshotted on the way
        system.service.receive_stock(c.ReceiveStock("berlin-wh", "HOT", 1), ctx())
    for order_id in [order_id for i, order_id in enumerate(ids) if i % 5 and i % 3 == 1]:  # not yet cancelled
        system.service.cancel_order(c.CancelOrder(str(order_id), "late"), ctx())
    hot = system.app.repository.get(stock_item_id("HOT", "berlin-wh"))
    assert hot.version > BULK_LOAD_MAX_VERSION

    runners = system.projections((ORDERS, STOCK_LEVELS), batch_size=5, orders_cache_size=1, stock_cache_size=1)
    for runner in runners:
        runner.catch_up()
    assert all(runner.projection.loads > 0 for runner in runners)
    for order_id in ids:
        assert system.queries.order(order_id) == order_document(system.app.repository.get(order_id))
    levels = {row["location_id"]: row for row in system.queries.stock("HOT")["locations"]}
    assert (levels["berlin-wh"]["on_hand"], levels["berlin-wh"]["reserved"]) == (hot.on_hand, hot.reserved)


def test_a_later_batch_rewrites_only_the_tables_whose_rows_changed(system: System) -> None:
    """Placed in one batch, authorised in the next: only the order's own row is written again;
    picking the shipment rewrites its shipment row too, never the order lines."""
    seed_locations(system)
    system.service.receive_stock(c.ReceiveStock("berlin-wh", "HOT", 10), ctx())
    order_id = system.place("web", "R1", [("HOT", 2, "2.50")], ctx())
    (runner,) = system.projections((ORDERS,))
    runner.start()  # one runner keeps its in-memory state from batch to batch

    def caught_up() -> None:
        _wait(system, (ORDERS,))

    def row_versions() -> dict[str, list]:  # xmin changes whenever a row is written again
        with system.pool.connection() as conn:
            return {table: [r[0] for r in conn.execute(
                f"SELECT xmin::text FROM {table} WHERE {'id' if table == 'orders' else 'order_id'} = %s", (order_id,))]
                for table in ("orders", "order_lines", "shipments", "shipment_lines")}

    caught_up()
    placed = row_versions()
    system.service.settle_payments(order_id, ctx())
    caught_up()
    authorised = row_versions()
    assert authorised["orders"] != placed["orders"]
    assert {t: authorised[t] for t in ("order_lines", "shipments", "shipment_lines")} == \
        {t: placed[t] for t in ("order_lines", "shipments", "shipment_lines")}

    (shipment_id,) = system.app.repository.get(order_id).shipments
    system.service.pick(c.PickShipment(shipment_id), ctx())
    caught_up()
    picked = row_versions()
    assert picked["shipments"] != authorised["shipments"] and picked["order_lines"] == authorised["order_lines"]
    assert system.queries.order(order_id) == order_document(system.app.repository.get(order_id))
    with system.pool.connection() as conn:
        assert conn.execute("SELECT status FROM shipments WHERE order_id = %s", (order_id,)).fetchone() == ("picked",)


def test_a_partitioned_rebuild_gives_the_same_read_models_as_one_process(system: System) -> None:
    """Each partition of the aggregates is replayed by its own `oms projections replay-partition`
    process; the position moves to the head only once all of them are done."""
    from functools import partial

    from infrastructure.bootstrap import replay_partition_elsewhere

    _bulk_orders(system, 30)
    full_journey(system, external_id="P1")
    head = system.head()
    runners = system.projections(partition_replayer=partial(replay_partition_elsewhere, system.url))
    for runner in runners:
        runner.catch_up()
    live = system.dump()

    for runner in runners:
        assert runner.rebuild(partitions=3) == head
    assert system.dump() == live
    with system.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_status_idx'").fetchone() == (1,)


def test_a_failed_partition_leaves_the_read_model_empty_at_position_zero_and_a_runner_replays_it(
        system: System) -> None:
    _bulk_orders(system, 10)
    head = system.head()

    def replay(name: str, partition: int, partitions: int, until: int) -> None:
        (worker,) = build_projections(system.app, names=(name,), create_tables=False)
        try:
            worker.replay_partition(partition, partitions, until)
        finally:
            worker.close()
        if partition == 1:
            raise RuntimeError("partition process died")

    (runner,) = system.projections((ORDERS,), partition_replayer=replay)
    with pytest.raises(RuntimeError, match="died"):
        runner.rebuild(partitions=2)
    assert runner.position() == 0 and system.dump(("orders", "order_lines")) == {"orders": [], "order_lines": []}

    runner.catch_up()
    assert runner.position() == head and len(system.dump(("orders",))["orders"]) == 10


def test_a_runner_starting_from_position_zero_empties_what_an_interrupted_rebuild_left(system: System) -> None:
    ids = _bulk_orders(system, 6)
    (runner,) = system.projections((ORDERS,))
    runner.catch_up()
    with system.pool.connection() as conn:  # as if a rebuild had written rows and died before its position
        conn.execute("UPDATE tracking_orders SET notification_id = 0 WHERE application_name = %s", (system.app.name,))
    (again,) = system.projections((ORDERS,))
    again.catch_up()
    assert again.position() == system.head()
    for order_id in ids:
        assert system.queries.order(order_id) == order_document(system.app.repository.get(order_id))


def test_a_read_model_at_an_older_schema_version_is_dropped_and_replayed_into_the_new_tables(
        system: System) -> None:
    ids = _bulk_orders(system, 6)
    (runner,) = system.projections((ORDERS,))
    runner.catch_up()
    before = system.dump(("orders", "order_lines", "shipments", "shipment_lines"))
    with system.pool.connection() as conn:  # as a database made by the code before version 2 holds it
        conn.execute("DELETE FROM read_model_schemas WHERE name = 'orders'")
        conn.execute("ALTER TABLE shipments DROP CONSTRAINT shipments_pkey")
        conn.execute("ALTER TABLE shipments ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX shipments_order_id_idx ON shipments (order_id)")
        conn.execute("UPDATE orders SET status = 'stale'")

    (upgraded,) = system.projections((ORDERS,))  # creating its tables finds version 1 and drops them
    assert upgraded.position() == 0
    upgraded.catch_up()

    assert upgraded.position() == system.head()
    assert system.dump(("orders", "order_lines", "shipments", "shipment_lines")) == before
    with system.pool.connection() as conn:
        assert conn.execute("SELECT version FROM read_model_schemas WHERE name = 'orders'").fetchone() == (
            OrdersView.schema_version,)
        key = conn.execute("SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i "
                           "CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                           "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                           "WHERE i.indrelid = 'shipments'::regclass AND i.indisprimary").fetchone()[0]
        assert key == ["order_id", "id"]
        assert conn.execute("SELECT to_regclass('shipments_order_id_idx')").fetchone() == (None,)
    # A second start at the same version keeps what is there.
    (same,) = system.projections((ORDERS,))
    assert same.position() == system.head()
    for order_id in ids:
        assert system.queries.order(order_id) == order_document(system.app.repository.get(order_id))


def test_once_caught_up_a_runner_gathers_the_commits_of_its_batch_interval_into_one_batch(
        system: System) -> None:
    seed_locations(system)
    system.service.receive_stock(c.ReceiveStock("berlin-wh", "HOT", 100), ctx())
    (runner,) = system.projections((ORDER_HISTORY,), min_batch_interval=2.0)
    runner.start()
    system.place("web", "G1", [("HOT", 1, "2.50")], ctx())
    assert runner.wait(system.head(), TIMEOUT)
    batches = runner.batches

    for n in (2, 3, 4):  # three commits, each its own transaction, well inside the interval
        system.place("web", f"G{n}", [("HOT", 1, "2.50")], ctx())
        runner.notify()  # as the writer does after every commit; without the interval, a batch each
        time.sleep(0.05)
    assert runner.wait(system.head(), TIMEOUT)

    assert runner.batches == batches + 1


def test_only_one_runner_per_projection(system: System) -> None:
    seed_locations(system)
    a, = system.projections((LOCATIONS,), lock_retry_interval=0.1)
    b, = system.projections((LOCATIONS,), lock_retry_interval=0.1)
    a.start()
    assert a.wait(system.head(), TIMEOUT)
    b.start()
    time.sleep(0.5)
    assert a.is_active and not b.is_active and b.batches == 0

    system.service.register_location(c.RegisterLocation("hamburg-st", "Hamburg", "store", 53.55, 9.99), ctx())
    a.notify()
    assert a.wait(system.head(), TIMEOUT) and b.batches == 0

    a.stop()  # b takes over
    system.service.register_location(c.RegisterLocation("koeln-st", "Köln", "store", 50.94, 6.96), ctx())
    assert b.wait(system.head(), TIMEOUT)
    assert b.is_active and b.batches > 0
    assert [l["location_id"] for l in system.queries.locations()] == ["berlin-wh", "hamburg-st", "koeln-st",
                                                                      "munich-wh"]


def test_failed_batch_is_retried_not_skipped(system: System) -> None:
    runner, = system.projections((ORDER_HISTORY,))
    projection = runner.projection
    original = projection.write
    calls = {"n": 0}

    def flaky(curs, staged):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("boom")
        original(curs, staged)

    projection.write = flaky
    order_id, _ = full_journey(system)
    runner.start()
    assert runner.wait(system.head(), TIMEOUT)
    assert calls["n"] >= 3
    assert [h["version"] for h in system.queries.history(order_id)] == list(
        range(1, system.app.repository.get(order_id).version + 1))


def test_list_orders_filters_and_pagination(system: System) -> None:
    ids = _bulk_orders(system, 23)
    for runner in system.projections():
        runner.start()
    _wait(system)
    q = system.queries
    everything = [d["id"] for d in q.list_orders(limit=1000)[0]]
    assert sorted(everything) == sorted(str(i) for i in ids)
    created = {d["id"]: d["created_at"] for d in q.list_orders(limit=1000)[0]}
    assert everything == sorted(everything, key=lambda i: (created[i], i), reverse=True)

    pages, cursor = [], None
    while True:
        page, cursor = q.list_orders(limit=5, cursor=cursor)
        pages.append([d["id"] for d in page])
        if cursor is None:
            break
        assert all(ch.isalnum() or ch in "-_" for ch in cursor)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == everything

    web = q.list_orders(channel="web", limit=1000)[0]
    assert web and all(d["channel"] == "web" for d in web)
    hot = q.list_orders(sku="HOT", limit=1000)[0]
    assert len(hot) == 11 and all(d["lines"][0]["sku"] == "HOT" for d in hot)
    cancelled = q.list_orders(status="cancelled", limit=1000)[0]
    assert len(cancelled) == 5 and all(d["status"] == "cancelled" for d in cancelled)
    pending_pos, cur = q.list_orders(channel="pos", payment_status="pending", limit=2)
    assert len(pending_pos) == 2 and cur
    assert q.list_orders(fulfillment_status="unfulfilled", limit=1000)[0].__len__() == 23

    from datetime import datetime
    middle = datetime.fromisoformat(created[everything[10]])
    newer = q.list_orders(created_after=middle, limit=1000)[0]
    older = q.list_orders(created_before=middle, limit=1000)[0]
    assert [d["id"] for d in newer] + [d["id"] for d in older] == everything
    assert q.list_orders(created_after=middle + timedelta(days=1))[0] == []

    for bad in ("not-a-cursor", "", "eyJ4IjogMX0", "W10"):
        with pytest.raises(InvalidCursor):
            q.list_orders(cursor=bad)


def test_wait_for(system: System) -> None:
    seed_locations(system)
    runner, = system.projections((LOCATIONS,))
    head = system.head()
    started = time.monotonic()
    assert system.queries.wait_for([LOCATIONS], head, 0.2) is False
    assert 0.2 <= time.monotonic() - started < 1
    runner.start()
    assert system.queries.wait_for([LOCATIONS], head, TIMEOUT) is True
    outcome = system.service.register_location(c.RegisterLocation("x-st", "X", "store", 1.0, 2.0), ctx())
    runner.notify()
    started = time.monotonic()
    assert system.queries.wait_for([runner], outcome.position, TIMEOUT)
    assert time.monotonic() - started < 0.5
    assert system.queries.wait_for([LOCATIONS], head + 1000, 0.05) is False
