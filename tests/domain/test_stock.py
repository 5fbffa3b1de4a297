"""Stock ledger: given events, when a command, then events or a domain error."""
from uuid import uuid4

import pytest

from domain.errors import InsufficientStock, InvalidQuantity
from domain.stock import StockItem


def stock(on_hand: int = 0, reserved: int = 0) -> StockItem:
    item = StockItem("SKU-1", "berlin-wh")
    if on_hand:
        item.receive(on_hand)
    if reserved:
        item.reserve(uuid4(), reserved)
    item.collect_events()
    return item


def test_receiving_adds_to_on_hand():
    item = stock()
    item.receive(5)
    [event] = item.collect_events()
    assert type(event).__name__ == "StockReceived" and event.quantity == 5
    assert (item.on_hand, item.reserved, item.available) == (5, 0, 5)


def test_reserving_more_than_available_is_refused_and_records_nothing():
    item = stock(on_hand=3, reserved=2)
    with pytest.raises(InsufficientStock):
        item.reserve(uuid4(), 2)
    assert item.collect_events() == []
    assert item.available == 1


def test_adjustment_cannot_take_on_hand_below_reserved():
    item = stock(on_hand=5, reserved=4)
    with pytest.raises(InsufficientStock):
        item.adjust(-2, "damaged in warehouse")
    item.adjust(-1, "damaged in warehouse")
    [event] = item.collect_events()
    assert type(event).__name__ == "StockAdjusted" and event.reason == "damaged in warehouse"
    assert (item.on_hand, item.available) == (4, 0)


def test_shipping_commits_reserved_units_and_restock_puts_them_back():
    order_id = uuid4()
    item = stock(on_hand=5)
    item.reserve(order_id, 2)
    item.commit(order_id, 2)
    assert (item.on_hand, item.reserved, item.available) == (3, 0, 3)
    item.restock("ret_1", 1)
    assert [type(e).__name__ for e in item.collect_events()] == ["StockReserved", "StockCommitted", "StockRestocked"]
    assert item.on_hand == 4


@pytest.mark.parametrize("quantity", [0, -1])
def test_quantities_must_be_positive(quantity):
    with pytest.raises(InvalidQuantity):
        stock(on_hand=5).reserve(uuid4(), quantity)


def test_replaying_the_events_rebuilds_the_same_state():
    order_id = uuid4()
    item = StockItem("SKU-1", "berlin-wh")
    item.receive(10)
    item.reserve(order_id, 4)
    item.release(order_id, 1)
    item.adjust(-2, "count")
    events = item.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert (replayed.on_hand, replayed.reserved, replayed.version) == (8, 3, item.version)
