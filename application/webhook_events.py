"""What other systems are told by webhook, and when: the event types integrators subscribe to,
and which domain events make them.

Pure: given a domain event and its aggregate's state just before and just after it, this says
which webhook events happened. The outbox (projections/webhook_outbox.py) and a replay run the
same functions over the same events, so a replay finds the very messages (types, ids, bodies)
that were sent the first time.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from domain.money import to_currency
from domain.order import Order, PaymentState
from domain.stock import StockItem

ORDER_CREATED = "order.created"
ORDER_CONFIRMED = "order.confirmed"
ORDER_ON_HOLD = "order.on_hold"
ORDER_CANCELLED = "order.cancelled"
ORDER_COMPLETED = "order.completed"
SHIPMENT_SHIPPED = "shipment.shipped"
SHIPMENT_DELIVERED = "shipment.delivered"
RETURN_REQUESTED = "return.requested"
RETURN_RECEIVED = "return.received"
REFUND_ISSUED = "refund.issued"
STOCK_LOW = "stock.low"
# Subscribes an endpoint to every type, those added later included.
EVERY_TYPE = "*"

# Each type, and when it is sent (the OpenAPI document's `webhooks` section and the README say it
# in these words).
EVENT_TYPES: dict[str, str] = {
    ORDER_CREATED: "An order was placed (POST /orders or a sales channel). `data` is the order as placed.",
    ORDER_CONFIRMED: "The order may now be fulfilled: its payment was authorised or collected by the sales "
                     "channel, or the hold that stopped a paid order was released, and it is not on hold.",
    ORDER_ON_HOLD: "The order was put on hold (by a person, or an import that could not complete it) or its "
                   "payment was declined; `data.hold` says why.",
    ORDER_CANCELLED: "The order was cancelled; `data.cancel_reason` says why.",
    ORDER_COMPLETED: "The last shipment of the order was delivered: everything ordered has arrived.",
    SHIPMENT_SHIPPED: "A shipment left its location with a carrier; `data.subject.shipment_id` says which.",
    SHIPMENT_DELIVERED: "A shipment was delivered; `data.subject.shipment_id` says which.",
    RETURN_REQUESTED: "A return was requested; `data.subject.return_id` says which.",
    RETURN_RECEIVED: "Returned goods were received at a location; `data.subject.return_id` says which.",
    REFUND_ISSUED: "A return was refunded; `data.subject` says which (`return_id`) and how much (`amount`, in "
                   "the order's currency).",
    STOCK_LOW: "The units available of a SKU at a location fell below the low-stock threshold "
               "(OMS_STOCK_LOW_THRESHOLD). `data` is that stock: location_id, sku, on_hand, reserved, available.",
}
SUBSCRIBABLE = (*EVENT_TYPES, EVERY_TYPE)

# The types each domain event may make; the conditions are in ``order_webhook_events`` and
# ``stock_webhook_events``. An event of any other class makes none.
POSSIBLE: dict[type, tuple[str, ...]] = {
    Order.OrderPlaced: (ORDER_CREATED,),
    Order.PaymentAuthorized: (ORDER_CONFIRMED,),
    Order.PaymentCollectedByChannel: (ORDER_CONFIRMED,),
    Order.OrderHoldReleased: (ORDER_CONFIRMED,),
    Order.OrderPutOnHold: (ORDER_ON_HOLD,),
    Order.PaymentDeclined: (ORDER_ON_HOLD,),
    Order.OrderCancelled: (ORDER_CANCELLED,),
    Order.ShipmentShipped: (SHIPMENT_SHIPPED,),
    Order.ShipmentDelivered: (SHIPMENT_DELIVERED, ORDER_COMPLETED),
    Order.ReturnRequested: (RETURN_REQUESTED,),
    Order.ReturnReceived: (RETURN_RECEIVED,),
    Order.PaymentRefunded: (REFUND_ISSUED,),
    # Only these take units away from what is available (a commit takes them from on hand and
    # reserved alike).
    StockItem.StockReserved: (STOCK_LOW,),
    StockItem.StockAdjusted: (STOCK_LOW,),
}
# Events whose webhook depends on how the order was before them (a transition, not the event).
_TRANSITIONS = frozenset({Order.PaymentAuthorized, Order.PaymentCollectedByChannel, Order.OrderHoldReleased,
                          Order.ShipmentDelivered})


class Happened(NamedTuple):
    """One webhook event a domain event made: its type and what ``data.subject`` says (None:
    the order as a whole)."""

    type: str
    subject: dict[str, Any] | None = None


class OrderFacts(NamedTuple):
    """What an order's webhooks turn on, taken before an event so the event's effect shows."""

    confirmed: bool  # paid for (authorised or collected), not on hold, not cancelled: it may be fulfilled
    completed: bool  # every shipment delivered, nothing backordered


def order_facts(order: Order | None) -> OrderFacts | None:
    if order is None:
        return None
    confirmed = (not order.cancelled and order.effective_hold is None
                 and order.payment_state in (PaymentState.AUTHORIZED, PaymentState.COLLECTED))
    return OrderFacts(confirmed, order.fulfillment_status == "delivered")


def needs_facts(event: Any) -> bool:
    """Whether ``order_webhook_events`` needs the order's facts from before ``event``."""
    return type(event) in _TRANSITIONS


def order_webhook_events(event: Any, before: OrderFacts | None, order: Order) -> list[Happened]:
    """The webhook events ``event`` made, ``order`` being its order just after it and ``before``
    its facts just before (needed where ``needs_facts``)."""
    kind = type(event)
    if kind is Order.OrderPlaced:
        return [Happened(ORDER_CREATED)]
    if kind in (Order.PaymentAuthorized, Order.PaymentCollectedByChannel, Order.OrderHoldReleased):
        after = order_facts(order)
        return [Happened(ORDER_CONFIRMED)] if after and after.confirmed and not (before and before.confirmed) else []
    if kind in (Order.OrderPutOnHold, Order.PaymentDeclined):
        return [Happened(ORDER_ON_HOLD)]
    if kind is Order.OrderCancelled:
        return [Happened(ORDER_CANCELLED)]
    if kind is Order.ShipmentShipped:
        return [Happened(SHIPMENT_SHIPPED, {"shipment_id": event.shipment_id})]
    if kind is Order.ShipmentDelivered:
        happened = [Happened(SHIPMENT_DELIVERED, {"shipment_id": event.shipment_id})]
        after = order_facts(order)
        if after and after.completed and not (before and before.completed):
            happened.append(Happened(ORDER_COMPLETED))
        return happened
    if kind is Order.ReturnRequested:
        return [Happened(RETURN_REQUESTED, {"return_id": event.return_id})]
    if kind is Order.ReturnReceived:
        return [Happened(RETURN_RECEIVED, {"return_id": event.return_id})]
    if kind is Order.PaymentRefunded:
        return [Happened(REFUND_ISSUED, {"return_id": event.return_id,
                                         "amount": money_text(event.amount, order.currency)})]
    return []


def stock_webhook_events(event: Any, available_before: int | None, item: StockItem, threshold: int) -> list[Happened]:
    """stock.low when ``event`` took the units available from at least ``threshold`` to below it:
    once as the stock runs low, not again at every reservation while it stays low."""
    if type(event) in POSSIBLE and available_before is not None \
            and available_before >= threshold > item.available:
        return [Happened(STOCK_LOW)]
    return []


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as the order document writes amounts (the currency's minor units)."""
    return str(to_currency(amount, currency))


def subscribed(event_types: Collection[str], webhook_type: str) -> bool:
    return webhook_type in event_types or EVERY_TYPE in event_types


def webhook_id(position: int, webhook_type: str) -> str:
    """The ``webhook-id`` of the message ``webhook_type`` made by the event at ``position`` of the
    feed: the same in every retry and replay, and for every endpoint, so receivers can drop a
    message they have seen."""
    return f"msg_{position}_{webhook_type.replace('.', '_')}"


def message_body(webhook_type: str, occurred_at: datetime, data: dict[str, Any]) -> bytes:
    """The body every endpoint gets, byte for byte the same in retries and replays (the event's
    own time, not the time of sending)."""
    return orjson.dumps({"type": webhook_type, "timestamp": occurred_at.isoformat(), "data": data},
                        default=_decimal_text)


def _decimal_text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
