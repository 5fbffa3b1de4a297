"""Use cases through the service and the group-commit writer, on real Postgres."""
from __future__ import annotations

from uuid import UUID

import pytest

from application import commands
from application.errors import IdempotencyKeyReused, NotFound
from application.event_store import split_metadata
from domain.errors import ForbiddenTransition, InsufficientStock
from domain.order import Order
from domain.order_reference import order_reference_id
from domain.stock import stock_item_id
from tests.application.conftest import Node, order_command, stock_up


def stock_of(node, sku, location_id):
    item = node.cache.get(stock_item_id(sku, location_id))
    return item.on_hand, item.reserved


def test_order_is_placed_sourced_reserved_and_authorised(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2, ("munich-wh", "A"): 5})
    placed = node.service.place_order(order_command("o-1", {"A": 1}), ctx)
    assert placed.created and placed.document["status"] == "pending"
    assert [s["location_id"] for s in placed.document["shipments"]] == ["berlin-wh"]
    assert stock_of(node, "A", "berlin-wh") == (2, 1)
    node.service.settle_payments(UUID(placed.document["id"]), ctx)
    order = node.cache.get(UUID(placed.document["id"]))
    assert (order.status, order.payment_status) == ("confirmed", "authorized")


def test_order_and_reservations_are_one_transaction_with_audit_metadata(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 3, ("berlin-wh", "B"): 3})
    placed = node.service.place_order(order_command("o-meta", {"A": 1, "B": 2}), ctx)
    notes = node.app.recorder.select_notifications(start=placed.position - 4, limit=10)
    topics = [n.topic.rsplit(".", 1)[-1] for n in notes]
    assert sorted(topics) == ["OrderAllocated", "OrderPlaced", "OrderReferenceClaimed", "StockReserved",
                              "StockReserved"]
    assert [n.id for n in notes] == list(range(placed.position - 4, placed.position + 1))
    for note in notes:
        _, meta = split_metadata(node.app.mapper.transcoder.decode(note.state))
        assert meta == {"actor_id": "key-1", "actor_name": "test integrator", "request_id": "req-1", "command": "test"}


def test_the_same_channel_and_external_id_returns_the_existing_order_and_records_nothing(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    first = node.service.place_order(order_command("dup", {"A": 1}), ctx)
    head = node.app.recorder.max_notification_id()
    again = node.service.place_order(order_command("dup", {"A": 2}), ctx)
    assert not again.created and again.document["id"] == first.document["id"]
    assert node.app.recorder.max_notification_id() == head


def test_order_ids_are_time_ordered_and_each_claims_its_channel_reference_with_it(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    ids = [UUID(node.service.place_order(order_command(f"t-{n}", {"A": 1}), ctx).document["id"]) for n in range(3)]
    assert [order_id.version for order_id in ids] == [7, 7, 7] and ids == sorted(ids)
    claims = [node.app.repository.get(order_reference_id("web", f"t-{n}")) for n in range(3)]
    assert [claim.order_id for claim in claims] == ids and {claim.version for claim in claims} == {1}


def test_an_order_placed_before_references_existed_is_its_own_claim(url, ctx):
    # Until order ids were time-ordered, an order's id was its reference's: such an order is
    # found by a retry, and no second order can be placed for the same reference.
    node = Node(url)
    try:
        stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
        cmd = order_command("legacy", {"A": 1})
        old = Order.place(order_id=order_reference_id("web", "legacy"), channel=cmd.channel,
                          external_id=cmd.external_id, currency=cmd.currency, customer=cmd.customer,
                          shipping_address=cmd.shipping_address, lines=cmd.lines,
                          shipping_price=cmd.shipping_price, payment=cmd.payment)
        node.app.save(old)
    finally:
        node.close()
    node = Node(url)  # a cache that has not seen it: the event store's unique key finds it
    try:
        head = node.app.recorder.max_notification_id()
        again = node.service.place_order(order_command("legacy", {"A": 1}), ctx)
        assert not again.created and again.document["id"] == str(old.id)
        assert node.app.recorder.max_notification_id() == head
    finally:
        node.close()


def test_an_idempotency_key_reused_with_another_body_is_refused(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    node.service.place_order(order_command("k-1", {"A": 1}, idempotency_key="k", request_fingerprint="f1",
                                           key_owner="key-1"), ctx)
    replay = node.service.place_order(order_command("k-1", {"A": 1}, idempotency_key="k", request_fingerprint="f1",
                                                    key_owner="key-1"), ctx)
    assert not replay.created
    with pytest.raises(IdempotencyKeyReused):
        node.service.place_order(order_command("k-2", {"A": 1}, idempotency_key="k", request_fingerprint="f2",
                                               key_owner="key-1"), ctx)


def test_declined_payment_releases_everything(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    placed = node.service.place_order(order_command("declined", {"A": 2}, reference="pay_declined_card"), ctx)
    assert stock_of(node, "A", "berlin-wh") == (2, 2)
    node.service.settle_payments(UUID(placed.document["id"]), ctx)
    order = node.cache.get(UUID(placed.document["id"]))
    assert (order.status, order.payment_status) == ("on_hold", "declined")
    assert stock_of(node, "A", "berlin-wh") == (2, 0)


def test_short_stock_is_split_and_the_rest_backordered(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 1, ("munich-wh", "A"): 1})
    placed = node.service.place_order(order_command("split", {"A": 3}), ctx)
    assert sorted(s["location_id"] for s in placed.document["shipments"]) == ["berlin-wh", "munich-wh"]
    assert placed.document["lines"][0]["backordered"] == 1
    node.service.settle_payments(UUID(placed.document["id"]), ctx)
    assert node.cache.get(UUID(placed.document["id"])).status == "backordered"


def test_full_journey_ship_capture_deliver_return_restock_refund(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    placed = node.service.place_order(order_command("journey", {"A": 2}), ctx)
    order_id = UUID(placed.document["id"])
    node.service.settle_payments(order_id, ctx)
    shipment_id = placed.document["shipments"][0]["id"]
    with pytest.raises(ForbiddenTransition):
        node.service.ship(commands.ShipShipment(shipment_id, "fedex"), ctx)
    node.service.pick(commands.PickShipment(shipment_id), ctx)
    node.service.pack(commands.PackShipment(shipment_id), ctx)
    shipped = node.service.ship(commands.ShipShipment(shipment_id, "fedex"), ctx).document
    assert shipped["payment_status"] == "paid" and shipped["totals"]["captured"] == "20.00"
    assert shipped["shipments"][0]["tracking_number"] and "fedex" in shipped["shipments"][0]["tracking_url"]
    assert stock_of(node, "A", "berlin-wh") == (0, 0)
    with pytest.raises(ForbiddenTransition):
        node.service.cancel_order(commands.CancelOrder(str(order_id), "too late"), ctx)
    node.service.deliver(commands.DeliverShipment(shipment_id), ctx)
    with pytest.raises(ForbiddenTransition):
        node.service.request_return(commands.RequestReturn(str(order_id), (commands.ReturnedLine("A", 3, "x"),)), ctx)
    ret = node.service.request_return(commands.RequestReturn(str(order_id), (commands.ReturnedLine("A", 2, "x"),)), ctx)
    done = node.service.receive_return(commands.ReceiveReturn(ret.document["id"], "berlin-wh", (
        commands.ReceivedLine("A", 1, "resellable"), commands.ReceivedLine("A", 1, "damaged"))), ctx)
    assert done.document["payment_status"] == "refunded" and done.document["totals"]["refunded"] == "20.00"
    assert stock_of(node, "A", "berlin-wh") == (1, 0)


def test_cancel_releases_reservations_and_voids_payment(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    placed = node.service.place_order(order_command("cancel", {"A": 2}), ctx)
    node.service.settle_payments(UUID(placed.document["id"]), ctx)
    cancelled = node.service.cancel_order(commands.CancelOrder(placed.document["id"], "customer asked"), ctx)
    assert (cancelled.document["status"], cancelled.document["payment_status"]) == ("cancelled", "voided")
    assert stock_of(node, "A", "berlin-wh") == (2, 0)


def test_adjustment_below_reserved_is_refused(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    node.service.place_order(order_command("adj", {"A": 2}), ctx)
    with pytest.raises(InsufficientStock):
        node.service.adjust_stock(commands.AdjustStock("berlin-wh", "A", -1, "broken"), ctx)


def test_unknown_things_are_not_found(node, ctx):
    with pytest.raises(NotFound):
        node.service.receive_stock(commands.ReceiveStock("nowhere", "A", 1), ctx)
    with pytest.raises(NotFound):
        node.service.pick(commands.PickShipment("shp_" + "0" * 32 + "_1"), ctx)
    with pytest.raises(NotFound):
        node.service.cancel_order(commands.CancelOrder("not-a-uuid", "x"), ctx)


def test_as_of_replays_the_event_store(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    placed = node.service.place_order(order_command("asof", {"A": 1}), ctx)
    order_id = UUID(placed.document["id"])
    before = node.cache.get(order_id).modified_on
    node.service.settle_payments(order_id, ctx)
    assert node.service.order_as_of(order_id, before)["status"] == "pending"
    assert node.service.order_as_of(order_id, node.cache.get(order_id).modified_on)["status"] == "confirmed"


def test_a_stale_expected_version_is_refused_inside_the_writer(node, ctx):
    from application.errors import PreconditionFailed

    stock_up(node.service, ctx, {("berlin-wh", "A"): 2})
    placed = node.service.place_order(order_command("if-match", {"A": 1}), ctx)
    order_id = UUID(placed.document["id"])
    node.service.settle_payments(order_id, ctx)
    version = node.cache.get(order_id).version
    shipment_id = placed.document["shipments"][0]["id"]
    head = node.app.recorder.max_notification_id()
    with pytest.raises(PreconditionFailed):
        node.service.pick(commands.PickShipment(shipment_id, frozenset({version - 1})), ctx)
    assert node.app.recorder.max_notification_id() == head
    node.service.pick(commands.PickShipment(shipment_id, frozenset({version})), ctx)
