"""Which webhook events an order's history makes, over any history the domain allows (Hypothesis
drives an order through random steps, each refused step leaving no trace): created first and
once; confirmed exactly when it becomes fulfillable; completed once, when the last shipment is
delivered; one message per shipment shipped or delivered, per return requested or received,
per refund; on hold whenever it is held or its payment declined."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from application.webhook_events import (
    SUBSCRIBABLE,
    message_body,
    order_facts,
    order_webhook_events,
    stock_webhook_events,
    webhook_id,
)
from domain.entities import OrderLine, ReceivedLine, ReturnedLine
from domain.errors import DomainError
from domain.order import Order
from domain.sourcing import SourcingPlan
from domain.stock import StockItem

ADDRESS = {"name": "Ada", "line1": "Am Neuen Garten 1", "city": "Potsdam", "postal_code": "14469", "country": "DE"}

STEPS = ["authorize", "decline", "hold", "release", "pick", "pack", "ship", "deliver", "capture", "cancel",
         "request_return", "receive_return", "refund"]


def _placed(shipments: int, backordered: bool) -> Order:
    lines = [OrderLine(f"SKU-{n}", 1, Decimal("10.00")) for n in range(shipments + backordered)]
    order = Order.place(order_id=uuid.uuid4(), channel="web", external_id=uuid.uuid4().hex, currency="EUR",
                        customer={"name": "Ada"}, shipping_address=ADDRESS, lines=lines,
                        shipping_price=Decimal("4.90"), payment={"provider": "sandbox", "reference": "pay"})
    order.allocate(SourcingPlan([(f"wh-{n}", {f"SKU-{n}": 1}) for n in range(shipments)],
                                {f"SKU-{shipments}": 1} if backordered else {}))
    return order


def _step(order: Order, step: str, pick: int) -> None:
    shipments = list(order.shipments)
    shipment = shipments[pick % len(shipments)] if shipments else "none"
    returns = list(order.returns)
    return_id = returns[pick % len(returns)] if returns else "none"
    now = datetime.now(UTC)
    try:
        match step:
            case "authorize":
                order.authorize_payment("auth", order.total)
            case "decline":
                order.decline_payment("card declined")
            case "hold":
                order.put_on_hold("fraud_check")
            case "release":
                order.release_hold()
            case "pick":
                order.pick(shipment)
            case "pack":
                order.pack(shipment)
            case "ship":
                order.ship(shipment, "fedex", f"TRACK-{pick}", None)
            case "deliver":
                order.deliver(shipment, now)
            case "capture":
                for shipment_id, amount in order.capture_due():
                    order.record_capture(shipment_id, amount, f"cap-{shipment_id}")
            case "cancel":
                order.cancel("customer asked")
            case "request_return":
                returnable = [(sku, units) for sku, units in order.returnable().items() if units > 0]
                if returnable:
                    order.request_return([ReturnedLine(returnable[pick % len(returnable)][0], 1)])
            case "receive_return":
                ret = order.return_(return_id)
                order.receive_return(return_id, "wh-0", [ReceivedLine(ret.lines[0].sku, 1, "resellable")])
            case "refund":
                for due_id, amount in order.refund_due():
                    order.record_refund(due_id, amount, f"ref-{due_id}")
    except (DomainError, KeyError):
        pass  # refused: the order is as it was


@settings(max_examples=300, deadline=None)
@given(shipments=st.integers(1, 3), backordered=st.booleans(),
       steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 5)), max_size=40))
def test_an_orders_history_makes_the_webhook_events_it_should(shipments: int, backordered: bool,
                                                               steps: list[tuple[str, int]]) -> None:
    order = _placed(shipments, backordered)
    for step, pick in steps:
        _step(order, step, pick)
    events = order.collect_events()

    replayed, happened, was_confirmed = None, [], []
    for event in events:
        before = order_facts(replayed)
        replayed = event.mutate(replayed)
        for kind, subject in order_webhook_events(event, before, replayed):
            happened.append((kind, subject, type(event).__name__))
        was_confirmed.append(order_facts(replayed).confirmed)
    kinds = [kind for kind, _, _ in happened]
    names = [type(e).__name__ for e in events]

    assert kinds[0] == "order.created" and kinds.count("order.created") == 1
    # confirmed: once per time the order becomes fulfillable (paid, not held, not cancelled)
    becoming = sum(1 for previous, now in zip([False, *was_confirmed], was_confirmed) if now and not previous)
    assert kinds.count("order.confirmed") == becoming
    assert kinds.count("order.completed") == (1 if replayed.fulfillment_status == "delivered" else 0)
    if "order.completed" in kinds:
        assert happened[kinds.index("order.completed") - 1][0] == "shipment.delivered"
    assert kinds.count("order.on_hold") == names.count("OrderPutOnHold") + names.count("PaymentDeclined")
    assert kinds.count("order.cancelled") == names.count("OrderCancelled")
    for kind, name in (("shipment.shipped", "ShipmentShipped"), ("shipment.delivered", "ShipmentDelivered"),
                       ("return.requested", "ReturnRequested"), ("return.received", "ReturnReceived"),
                       ("refund.issued", "PaymentRefunded")):
        assert kinds.count(kind) == names.count(name)
    for kind, subject, _ in happened:
        if kind.startswith("shipment."):
            assert set(subject) == {"shipment_id"} and subject["shipment_id"] in replayed.shipments
        elif kind == "refund.issued":
            assert set(subject) == {"return_id", "amount"} and Decimal(subject["amount"]) > 0
        elif kind.startswith("return."):
            assert set(subject) == {"return_id"} and subject["return_id"] in replayed.returns
        else:
            assert subject is None
    assert set(kinds) <= set(SUBSCRIBABLE)


@given(on_hand=st.integers(0, 20), reservations=st.lists(st.integers(1, 4), max_size=10), threshold=st.integers(0, 10))
def test_stock_low_is_sent_once_as_available_falls_below_the_threshold(on_hand: int, reservations: list[int],
                                                                        threshold: int) -> None:
    item = StockItem(sku="SKU", location_id="wh")
    if on_hand:
        item.receive(on_hand)
    for quantity in reservations:
        if quantity <= item.available:
            item.reserve(uuid.uuid4(), quantity)
    replayed, lows = None, 0
    for event in item.collect_events():
        before = replayed.available if replayed is not None else None
        replayed = event.mutate(replayed)
        lows += len(stock_webhook_events(event, before, replayed, threshold))
    assert lows == (1 if on_hand >= threshold > item.available else 0)


def test_the_message_id_and_body_are_stable() -> None:
    at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    assert webhook_id(1042, "order.created") == "msg_1042_order_created"
    body = message_body("refund.issued", at, {"id": "o", "amount": Decimal("9.90")})
    assert body == message_body("refund.issued", at, {"id": "o", "amount": Decimal("9.90")})
    assert body == b'{"type":"refund.issued","timestamp":"2026-12-04T09:30:00+00:00","data":{"id":"o","amount":"9.90"}}'
