"""Point-in-time state for auditors, with the clock frozen so the instants are exact."""
from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from freezegun import freeze_time

from application import commands
from application.errors import NotFound
from tests.application.conftest import order_command, stock_up


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def test_as_of_rebuilds_each_state_the_order_passed_through(node, ctx):
    with freeze_time(at(9)):
        stock_up(node.service, ctx, {("berlin-wh", "A"): 3})
    with freeze_time(at(10)):
        placed = node.service.place_order(order_command("pit-1", {"A": 1}), ctx)
    order_id = UUID(placed.document["id"])
    with freeze_time(at(10, 5)):
        node.service.settle_payments(order_id, ctx)
    shipment_id = placed.document["shipments"][0]["id"]
    with freeze_time(at(11)):
        node.service.pick(commands.PickShipment(shipment_id), ctx)
        node.service.pack(commands.PackShipment(shipment_id), ctx)
    with freeze_time(at(12)):
        node.service.ship(commands.ShipShipment(shipment_id, "ups"), ctx)

    assert node.service.order_as_of(order_id, at(10, 1))["status"] == "pending"
    assert node.service.order_as_of(order_id, at(10, 5))["payment_status"] == "authorized"
    eleven = node.service.order_as_of(order_id, at(11, 30))
    assert eleven["shipments"][0]["status"] == "packed" and eleven["payment_status"] == "authorized"
    noon = node.service.order_as_of(order_id, at(12))
    assert noon["fulfillment_status"] == "shipped" and noon["payment_status"] == "paid"
    assert noon["created_at"] == at(10).isoformat()
    with pytest.raises(NotFound):
        node.service.order_as_of(order_id, at(9, 59))
