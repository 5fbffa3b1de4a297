"""Every command decides on a private copy of the aggregates it changes (so that a refused
command leaves no trace). ``private_copy`` copies only the containers of an aggregate's
state: that is a deep copy because no aggregate changes its state deeper down. These tests hold
every state-changing method of every aggregate to that, step by step through their lives."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from application.unit_of_work import private_copy
from domain.entities import OrderLine, ReceivedLine, ReturnedLine
from domain.location import Location
from domain.order import Order
from domain.sourcing import SourcingPlan
from domain.stock import StockItem


def _place() -> Order:
    return Order.place(
        order_id=uuid4(), channel="web", external_id="1", currency="EUR",
        customer={"name": "Ada", "email": "ada@example.com", "phone": None},
        shipping_address={"country": "DE", "postal_code": "14469", "latitude": 52.4, "longitude": 13.0},
        lines=[OrderLine("A", 2, Decimal("10.00")), OrderLine("B", 1, Decimal("5.50"))],
        shipping_price=Decimal("4.90"), payment={"provider": "sandbox", "reference": "pay_1"})


def _shipment(order: Order, n: int = 0) -> str:
    return list(order.shipments)[n]


def _return(order: Order) -> str:
    return list(order.returns)[0]


FULFIL_AND_RETURN: list[Callable[[Order], Any]] = [
    lambda o: o.allocate(SourcingPlan([("berlin", {"A": 2}), ("munich", {"B": 1})], {})),
    lambda o: o.put_on_hold("fraud_check", "looks odd"),
    lambda o: o.release_hold(),
    lambda o: o.authorize_payment("auth-1", o.total),
    lambda o: o.pick(_shipment(o)),
    lambda o: o.pack(_shipment(o)),
    lambda o: o.ship(_shipment(o), "dhl", "T-1", None),
    lambda o: o.record_capture(_shipment(o), o.capture_due()[0][1], "cap-1"),
    lambda o: o.deliver(_shipment(o), datetime(2026, 12, 1, tzinfo=UTC)),
    lambda o: o.request_return([ReturnedLine("A", 1, "too small")]),
    lambda o: o.receive_return(_return(o), "berlin", [ReceivedLine("A", 1, "resellable")]),
    lambda o: o.record_refund(_return(o), o.refund_due()[0][1], "ref-1"),
    lambda o: o.pick(_shipment(o, 1)),
    lambda o: o.collect_events(),
]
CANCEL: list[Callable[[Order], Any]] = [
    lambda o: o.allocate(SourcingPlan([("berlin", {"A": 2})], {"B": 1})),
    lambda o: o.authorize_payment("auth-1", o.total),
    lambda o: o.cancel("changed mind"),
    lambda o: o.void_payment("cancelled"),
]
DECLINE: list[Callable[[Order], Any]] = [
    lambda o: o.allocate(SourcingPlan([("berlin", {"A": 2, "B": 1})], {})),
    lambda o: o.decline_payment("card declined"),
]
STOCK: list[Callable[[StockItem], Any]] = [
    lambda s: s.receive(10), lambda s: s.reserve(uuid4(), 4), lambda s: s.release(uuid4(), 1),
    lambda s: s.commit(uuid4(), 2), lambda s: s.adjust(-3, "count"), lambda s: s.restock("ret_1", 1),
]
LOCATION: list[Callable[[Location], Any]] = [lambda l: l.update("Berlin Mitte", "store", 52.5, 13.4)]


@pytest.mark.parametrize(("start", "steps"), [
    (_place, FULFIL_AND_RETURN), (_place, CANCEL), (_place, DECLINE),
    (lambda: StockItem("A", "berlin"), STOCK), (lambda: Location("berlin", "Berlin", "warehouse", 52.5, 13.4), LOCATION),
], ids=["order-fulfilled-and-returned", "order-cancelled", "order-declined", "stock-item", "location"])
def test_changing_a_private_copy_leaves_the_original_as_it_was(start, steps):
    aggregate = start()
    for step in steps:
        before = copy.deepcopy(vars(aggregate))
        changed = private_copy(aggregate)
        step(changed)
        assert vars(aggregate) == before  # the original, to its last nested value
        assert type(changed) is type(aggregate)
        aggregate = changed
