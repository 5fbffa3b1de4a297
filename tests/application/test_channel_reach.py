"""A command whose context is limited to channels (an integrator API key's) reaches only their
orders: the writer refuses any other order as one that does not exist. Decided in the writer,
on the aggregates, so it holds with no read model at all (this node has none)."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID

import pytest

from application import commands
from application.context import CommandContext
from application.errors import NotFound
from tests.application.conftest import order_command, stock_up


def limited(ctx: CommandContext, *channels: str) -> CommandContext:
    return dataclasses.replace(ctx, channels=frozenset(channels))


def test_a_context_limited_to_channels_reaches_only_their_orders(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    web = node.service.place_order(order_command("web-1", {"A": 2}), ctx).document
    node.service.settle_payments(UUID(web["id"]), ctx)
    shipment_id = web["shipments"][0]["id"]
    amazon = limited(ctx, "amazon-de")
    head = node.app.recorder.max_notification_id()

    refused = [
        lambda: node.service.cancel_order(commands.CancelOrder(web["id"], "not mine"), amazon),
        lambda: node.service.hold_order(commands.HoldOrder(web["id"], "fraud_check"), amazon),
        lambda: node.service.release_order(commands.ReleaseOrder(web["id"]), amazon),
        lambda: node.service.request_return(commands.RequestReturn(web["id"]), amazon),
        lambda: node.service.pick(commands.PickShipment(shipment_id), amazon),
        lambda: node.service.pack(commands.PackShipment(shipment_id), amazon),
        lambda: node.service.ship(commands.ShipShipment(shipment_id, "fedex"), amazon),  # before any label
        lambda: node.service.deliver(commands.DeliverShipment(shipment_id, datetime.now(UTC)), amazon),
    ]
    for attempt in refused:
        with pytest.raises(NotFound) as refusal:
            attempt()
        assert str(refusal.value) in (f"order {web['id']} not found", f"shipment {shipment_id} not found")
    assert node.app.recorder.max_notification_id() == head

    # The key of both channels reaches it; an unlimited context too.
    both = limited(ctx, "amazon-de", "web")
    assert node.service.pick(commands.PickShipment(shipment_id), both).document["id"] == web["id"]
    assert node.service.pack(commands.PackShipment(shipment_id), ctx).document["id"] == web["id"]


def test_placing_outside_the_channels_is_refused_before_any_replay(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    web = node.service.place_order(order_command("web-2", {"A": 1}, idempotency_key="k-1", key_owner="key-1"), ctx)
    head = node.app.recorder.max_notification_id()
    amazon = limited(ctx, "amazon-de")
    for cmd in (order_command("web-2", {"A": 1}), order_command("web-3", {"A": 1}),
                order_command("web-2", {"A": 1}, idempotency_key="k-1", key_owner="key-1")):
        with pytest.raises(NotFound, match="channel web not found for this API key"):
            node.service.place_order(cmd, amazon)
    assert node.app.recorder.max_notification_id() == head
    again = node.service.place_order(order_command("web-2", {"A": 1}), limited(ctx, "web"))
    assert not again.created and again.document["id"] == web.document["id"]


def test_a_limited_contexts_order_is_paid_by_the_follow_up_as_any_order(node, ctx):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    web = limited(ctx, "web")
    placed = node.service.place_order(order_command("web-4", {"A": 1}), web)
    assert placed.created
    node.service.settle_payments(UUID(placed.document["id"]), web)
    order = node.cache.get(UUID(placed.document["id"]))
    assert (order.status, order.payment_status) == ("confirmed", "authorized")
    assert node.service.cancel_order(commands.CancelOrder(placed.document["id"], "changed mind"), web).document[
        "status"] == "cancelled"
