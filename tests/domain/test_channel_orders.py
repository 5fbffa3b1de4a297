"""Orders a sales channel charged: totals as the channel adds them up, payment collected by the
channel (never authorised by our provider), refunds owed by it, holds until it is paid."""
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.entities import OrderLine, ReceivedLine, ReturnedLine
from domain.errors import ForbiddenTransition
from domain.order import AWAITING_PAYMENT, Order
from domain.sourcing import SourcingPlan

D = Decimal


def channel_order(taxes_included: bool = False, **amounts: Decimal) -> Order:
    order = Order.place(
        order_id=uuid4(), channel="shop-eu", external_id="820982911946154508", currency="EUR",
        customer={"name": "Ada", "email": None, "phone": None},
        shipping_address={"country": "DE", "latitude": 52.4, "longitude": 13.0},
        lines=[OrderLine("A", 2, D("10.00"), name="Shoe", discount=D("2.00"), tax=D("3.42")),
               OrderLine("GIFT", 1, D("25.00"), requires_shipping=False)],
        shipping_price=D("4.90"), payment={"provider": "shopify", "reference": "1", "collected_by": "channel"},
        billing_address={"country": "DE"}, taxes_included=taxes_included,
        discount=amounts.get("discount", D("5.00")), tax=amounts.get("tax", D("4.20")),
        fees=amounts.get("fees", D("1.00")), source={"platform": "shopify", "name": "#1001"})
    order.allocate(SourcingPlan([("berlin", {"A": 2})], {}))
    return order


def names(order: Order) -> list[str]:
    return [type(e).__name__ for e in order.collect_events()]


def test_the_total_is_the_channels_tax_exclusive_or_inclusive():
    assert channel_order().total == D("45.00") - D("5.00") + D("4.90") + D("1.00") + D("4.20")
    assert channel_order(taxes_included=True).total == D("45.00") - D("5.00") + D("4.90") + D("1.00")


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(0, 99_999)), min_size=1, max_size=5),
       st.integers(0, 5_000), st.integers(0, 5_000), st.integers(0, 5_000), st.booleans())
def test_the_total_adds_up_whatever_the_amounts(lines, shipping, discount, tax, included):
    cents = D("0.01")
    order = Order.place(
        order_id=uuid4(), channel="c", external_id="1", currency="EUR", customer={}, shipping_address={},
        lines=[OrderLine(f"S{n}", q, p * cents) for n, (q, p) in enumerate(lines)],
        shipping_price=shipping * cents, payment={}, discount=discount * cents, tax=tax * cents,
        taxes_included=included)
    subtotal = sum((q * p * cents for q, p in lines), D(0))
    assert order.total == subtotal - discount * cents + shipping * cents + (0 if included else tax * cents)
    # A replay gives the same order: the amounts are in the event.
    replayed = None
    for event in order.collect_events():
        replayed = event.mutate(replayed)
    assert replayed.total == order.total and replayed.discount == order.discount


def test_an_order_the_channel_has_not_charged_waits_and_our_provider_never_authorises_it():
    order = channel_order()
    assert not order.authorization_due()
    assert order.status == "on_hold" and order.effective_hold.reason == AWAITING_PAYMENT
    with pytest.raises(ForbiddenTransition, match=AWAITING_PAYMENT):
        order.pick(next(iter(order.shipments)))
    order.record_channel_payment("1", order.total)
    assert names(order)[-1] == "PaymentCollectedByChannel"
    assert (order.status, order.payment_status, order.captured) == ("confirmed", "paid", order.total)
    assert order.effective_hold is None
    with pytest.raises(ForbiddenTransition):
        order.record_channel_payment("1", order.total)  # once


def test_the_channel_owes_the_refunds_of_what_it_charged():
    order = channel_order()
    order.record_channel_payment("1", order.total)
    sid = next(iter(order.shipments))
    order.pick(sid)
    order.pack(sid)
    order.ship(sid, "ups", "1Z", None)
    assert order.capture_due() == []  # nothing for our provider to capture
    from datetime import UTC, datetime
    order.deliver(sid, datetime.now(UTC))
    return_id = order.request_return([ReturnedLine("A", 1)])
    order.receive_return(return_id, "berlin", [ReceivedLine("A", 1, "resellable")])
    assert order.refund_due() == [] and order.refund_owed_by == "shopify"


def test_the_shipping_address_changes_until_a_parcel_has_left():
    order = channel_order()
    order.record_channel_payment("1", order.total)
    order.change_shipping_address({"country": "AT", "city": "Wien"})
    assert names(order)[-1] == "ShippingAddressChanged" and order.shipping_address["city"] == "Wien"
    order.change_shipping_address({"country": "AT", "city": "Wien"})
    assert names(order) == []  # the same address changes nothing
    sid = next(iter(order.shipments))
    order.pick(sid)
    order.pack(sid)
    order.ship(sid, "ups", "1Z", None)
    with pytest.raises(ForbiddenTransition, match="shipped"):
        order.change_shipping_address({"country": "DE"})


def test_a_cancelled_order_waits_for_no_payment():
    order = channel_order()
    order.cancel("cancelled on Shopify")
    assert order.status == "cancelled" and order.effective_hold is None
    with pytest.raises(ForbiddenTransition):
        order.record_channel_payment("1", order.total)


def test_a_stale_address_change_changes_nothing():
    from datetime import UTC, datetime, timedelta
    order = channel_order()
    now = datetime(2026, 12, 4, 9, tzinfo=UTC)
    order.change_shipping_address({"country": "AT", "city": "Wien"}, now)
    order.collect_events()
    order.change_shipping_address({"country": "AT", "city": "Graz"}, now - timedelta(minutes=5))
    assert names(order) == [] and order.shipping_address["city"] == "Wien"
    order.change_shipping_address({"country": "AT", "city": "Linz"}, now + timedelta(minutes=5))
    assert order.shipping_address["city"] == "Linz" and order.address_as_of == now + timedelta(minutes=5)
