"""The order's journey and its forbidden transitions (no database)."""
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.entities import OrderLine, ReceivedLine, ReturnedLine
from domain.errors import ForbiddenTransition, InvalidQuantity
from domain.order import Order, order_id_of
from domain.sourcing import SourcingPlan


ORDER_ID = uuid4()


def place(lines=None, shipping="4.90", currency="EUR", external_id="1") -> Order:
    return Order.place(
        order_id=ORDER_ID, channel="web", external_id=external_id, currency=currency,
        customer={"name": "Ada", "email": "ada@example.com", "phone": None},
        shipping_address={"country": "DE", "postal_code": "14469", "latitude": 52.4, "longitude": 13.0},
        lines=lines or [OrderLine("A", 2, Decimal("10.00")),
                        OrderLine("B", 1, Decimal("5.50"))],
        shipping_price=Decimal(shipping), payment={"provider": "sandbox", "reference": "pay_1"},
    )


def allocated(plan=None, authorize=True) -> Order:
    order = place()
    order.allocate(plan or SourcingPlan([("berlin", {"A": 2, "B": 1})], {}))
    if authorize:
        order.authorize_payment("auth_1", order.total)
    order.collect_events()
    return order


def names(order: Order) -> list[str]:
    return [type(e).__name__ for e in order.collect_events()]


def shipped(order: Order) -> str:
    sid = next(iter(order.shipments))
    order.pick(sid)
    order.pack(sid)
    order.ship(sid, "fedex", "123", "https://t/123")
    return sid


def test_placing_records_order_placed_with_totals_derived():
    order = place()
    assert names(order) == ["OrderPlaced"]
    assert order.id == ORDER_ID
    assert (order.subtotal, order.total) == (Decimal("25.50"), Decimal("30.40"))
    assert (order.status, order.payment_status, order.fulfillment_status) == ("pending", "pending", "unfulfilled")


@pytest.mark.parametrize("lines", [
    [],
    [OrderLine("A", 0, Decimal("1"))],
    [OrderLine("A", 1, Decimal("1.001"))],
    [OrderLine("A", 1, Decimal("1")), OrderLine("A", 1, Decimal("1"))],
])
def test_invalid_orders_are_refused(lines):
    with pytest.raises(InvalidQuantity):
        Order.place(order_id=uuid4(), channel="web", external_id="x", currency="EUR", customer={}, shipping_address={},
                    lines=lines, shipping_price=Decimal("0"), payment={})


def test_yen_has_no_minor_unit():
    with pytest.raises(InvalidQuantity):
        place(lines=[OrderLine("A", 1, Decimal("100.5"))], shipping="0", currency="JPY")


def test_authorised_order_with_everything_allocated_is_confirmed():
    order = allocated()
    assert (order.status, order.payment_status) == ("confirmed", "authorized")


def test_authorised_order_with_a_backorder_is_backordered():
    order = allocated(SourcingPlan([("berlin", {"A": 2})], {"B": 1}))
    assert order.status == "backordered"


def test_declined_payment_puts_the_order_on_hold_and_releases_every_reservation():
    order = place()
    order.allocate(SourcingPlan([("berlin", {"A": 1}), ("munich", {"A": 1, "B": 1})], {}))
    order.collect_events()
    releases = order.decline_payment("card declined")
    assert sorted(releases) == [("berlin", "A", 1), ("munich", "A", 1), ("munich", "B", 1)]
    assert names(order) == ["PaymentDeclined"]
    assert (order.status, order.payment_status) == ("on_hold", "declined")
    assert order.reservations() == []


def test_shipment_goes_ready_picked_packed_shipped_delivered():
    order = allocated()
    sid = shipped(order)
    assert order.fulfillment_status == "shipped"
    order.deliver(sid, datetime(2026, 1, 2, tzinfo=UTC))
    assert names(order) == ["ShipmentPicked", "ShipmentPacked", "ShipmentShipped", "ShipmentDelivered"]
    assert (order.status, order.fulfillment_status) == ("completed", "delivered")


def test_ship_before_pack_is_forbidden_and_records_nothing():
    order = allocated()
    sid = next(iter(order.shipments))
    order.pick(sid)
    order.collect_events()
    with pytest.raises(ForbiddenTransition):
        order.ship(sid, "fedex", "1", None)
    assert order.collect_events() == [] and order.shipments[sid].status == "picked"


def test_nothing_ships_before_payment_is_authorised():
    order = allocated(authorize=False)
    with pytest.raises(ForbiddenTransition):
        order.pick(next(iter(order.shipments)))


def test_capture_is_due_for_what_shipped_plus_shipping_once():
    order = allocated(SourcingPlan([("berlin", {"A": 2}), ("munich", {"B": 1})], {}))
    first, second = order.shipments
    for sid in (first,):
        order.pick(sid), order.pack(sid), order.ship(sid, "ups", "1Z", None)
    assert order.capture_due() == [(first, Decimal("24.90"))]
    order.record_capture(first, Decimal("24.90"), "cap_1")
    assert order.payment_status == "paid" and order.fulfillment_status == "partially_shipped"
    with pytest.raises(ForbiddenTransition):
        order.record_capture(first, Decimal("24.90"), "cap_again")
    order.pick(second), order.pack(second), order.ship(second, "ups", "1Z2", None)
    assert order.capture_due() == [(second, Decimal("5.50"))]


def test_cancel_releases_reservations_until_something_has_shipped():
    order = allocated()
    assert order.cancel("customer changed mind") == [("berlin", "A", 2), ("berlin", "B", 1)]
    assert order.status == "cancelled" and order.void_due()
    order.void_payment("customer changed mind")
    assert order.payment_status == "voided"
    with pytest.raises(ForbiddenTransition):
        order.cancel("again")


def test_cancel_after_shipping_is_forbidden():
    order = allocated()
    shipped(order)
    with pytest.raises(ForbiddenTransition):
        order.cancel("too late")


def test_return_more_than_delivered_is_forbidden():
    order = allocated()
    sid = shipped(order)
    with pytest.raises(ForbiddenTransition):  # shipped, not yet delivered
        order.request_return([ReturnedLine("A", 1, "x")])
    order.deliver(sid, datetime.now(UTC))
    order.request_return([ReturnedLine("A", 2, "too small")])
    with pytest.raises(ForbiddenTransition):
        order.request_return([ReturnedLine("A", 1, "again")])


def test_received_return_is_refunded_but_never_more_than_captured():
    order = allocated()
    sid = shipped(order)
    order.deliver(sid, datetime.now(UTC))
    return_id = order.request_return([ReturnedLine("A", 2, "too small")])
    restock = order.receive_return(return_id, "berlin", [
        ReceivedLine("A", 1, "resellable"), ReceivedLine("A", 1, "damaged")])
    assert restock == [("berlin", "A", 1)]
    assert order.refund_due() == [(return_id, Decimal("20.00"))]
    with pytest.raises(ForbiddenTransition):  # nothing captured yet
        order.record_refund(return_id, Decimal("20.00"), "ref_1")
    order.record_capture(sid, order.capture_due()[0][1], "cap_1")
    order.record_refund(return_id, Decimal("20.00"), "ref_1")
    assert order.payment_status == "partially_refunded" and order.refund_due() == []
    assert order.returns[return_id].status == "refunded"


def test_receiving_more_than_the_return_expects_is_forbidden():
    order = allocated()
    sid = shipped(order)
    order.deliver(sid, datetime.now(UTC))
    return_id = order.request_return([ReturnedLine("A", 1, "x")])
    with pytest.raises(ForbiddenTransition):
        order.receive_return(return_id, "berlin", [ReceivedLine("A", 2, "resellable")])


def test_shipment_and_return_ids_lead_back_to_their_order():
    order = allocated()
    sid = next(iter(order.shipments))
    assert order_id_of(sid) == order.id
    assert order_id_of("shp_nothex_1") is None and order_id_of("whatever") is None


def test_replay_reaches_the_same_state_as_the_live_aggregate():
    order = place()
    events = list(order.collect_events())
    order.allocate(SourcingPlan([("berlin", {"A": 2, "B": 1})], {}))
    order.authorize_payment("auth", order.total)
    sid = shipped(order)
    events += order.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed.__dict__ == order.__dict__
    assert replayed.shipments[sid].status == "shipped"


# ---------------------------------------------------------------- holds


def test_a_held_order_is_not_picked_until_its_hold_is_released():
    order = allocated()
    sid = next(iter(order.shipments))
    order.put_on_hold("fraud_check", "billing and shipping countries differ")
    assert order.status == "on_hold" and order.hold.reason == "fraud_check"
    assert not order.can_ship(sid)
    with pytest.raises(ForbiddenTransition, match="on hold"):
        order.pick(sid)
    order.release_hold()
    order.pick(sid)
    assert order.status == "confirmed" and order.shipments[sid].status == "picked"
    assert [type(e).__name__ for e in order.collect_events()][-3:] == ["OrderPutOnHold", "OrderHoldReleased",
                                                                       "ShipmentPicked"]


def test_an_order_is_held_once_and_released_only_when_held():
    order = allocated()
    order.put_on_hold("address_check")
    with pytest.raises(ForbiddenTransition, match="already on hold"):
        order.put_on_hold("fraud_check")
    order.release_hold()
    with pytest.raises(ForbiddenTransition, match="not on hold"):
        order.release_hold()


def test_a_cancelled_or_fully_shipped_order_cannot_be_held():
    cancelled = allocated()
    cancelled.cancel("changed mind")
    with pytest.raises(ForbiddenTransition, match="cancelled"):
        cancelled.put_on_hold("fraud_check")
    shipped_order = allocated()
    shipped(shipped_order)
    with pytest.raises(ForbiddenTransition, match="nothing of the order is left"):
        shipped_order.put_on_hold("fraud_check")


def test_a_declined_payment_holds_the_order_and_is_not_released_by_hand():
    order = allocated(authorize=False)
    order.decline_payment("card declined")
    assert order.status == "on_hold" and order.hold.reason == "payment_declined"
    with pytest.raises(ForbiddenTransition, match="new payment"):
        order.release_hold()


# ---------------------------------------------------------------- carrier tracking


def _tracked(status: str, hour: int) -> "TrackingEvent":
    from domain.entities import TrackingEvent

    return TrackingEvent(status, status.replace("_", " "), datetime(2026, 12, 1, hour, tzinfo=UTC), "Berlin, DE")


def test_tracking_keeps_each_event_once_in_time_order_and_delivered_completes_the_shipment():
    order = allocated()
    sid = shipped(order)
    order.collect_events()
    order.track(sid, [_tracked("in_transit", 9), _tracked("pre_transit", 8)])
    order.track(sid, [_tracked("in_transit", 9)])  # a retry: nothing new, nothing recorded
    assert [type(e).__name__ for e in order.collect_events()] == ["ShipmentTracked"]
    order.track(sid, [_tracked("delivered", 12), _tracked("out_for_delivery", 10)])
    assert [type(e).__name__ for e in order.collect_events()] == ["ShipmentTracked", "ShipmentDelivered"]
    shipment = order.shipments[sid]
    assert [e.status for e in shipment.tracking_events] == ["pre_transit", "in_transit", "out_for_delivery", "delivered"]
    assert shipment.status == "delivered" and shipment.delivered_at == datetime(2026, 12, 1, 12, tzinfo=UTC)
    order.track(sid, [_tracked("in_transit", 11)])  # late: kept, but never reopens the delivery
    assert order.shipments[sid].status == "delivered"


def test_a_cancelled_shipment_is_not_tracked():
    order = allocated()
    sid = next(iter(order.shipments))
    order.cancel("changed mind")
    with pytest.raises(ForbiddenTransition, match="cancelled"):
        order.track(sid, [_tracked("in_transit", 9)])
