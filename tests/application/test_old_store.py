"""A store written before shipments and returns became typed entities still works: its events
replay and its (version 1) snapshots are upcast, to the same orders, which then go on.

The fixture was recorded by the code of commit 53137fb (tests/fixtures/, how: in its
``recorded_by`` and docs/architecture.md): three orders, one split, shipped, delivered,
returned and refunded, one cancelled, one whose payment was declined, each with a snapshot.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from application import commands
from application.documents import order_document
from domain.entities import Return, Shipment, ShipmentStatus
from domain.order import Order
from tests.application.conftest import Node

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "orders_recorded_by_53137fb.json").read_text())
ORDER_IDS = [UUID(i) for i in FIXTURE["documents"]]


@pytest.fixture
def old_store(url: str) -> Iterator[Node]:
    node = Node(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for row in FIXTURE["rows"]:
            conn.execute(f"INSERT INTO {row['table']} (originator_id, originator_version, topic, state) "
                         "VALUES (%s, %s, %s, %s)", (UUID(row["originator_id"]), row["originator_version"],
                                                   row["topic"], row["state"].encode()))
    try:
        yield node
    finally:
        node.close()


def _expected(order_id: UUID) -> dict:
    """The document as the old code rendered it, and the hold the new one adds (a declined
    payment holds the order, as its status said already)."""
    document = dict(FIXTURE["documents"][str(order_id)])
    declined = document["payment_status"] == "declined"
    document["shipments"] = [{**s, "tracking_events": []} for s in document["shipments"]]  # (added since)
    # What sales channels state (added since): nothing, for an order of our own API.
    document.update(billing_address=None, source=None, taxes_included=False, number=None, notify_customer=True)
    document["payment"] = {**document["payment"], "collected_by": "provider"}
    zero = "0.00"
    document["totals"] = {**document["totals"], "discount": zero, "tax": zero, "fees": zero}
    document["lines"] = [{**l, "name": None, "discount": zero, "tax": zero, "requires_shipping": True}
                         for l in document["lines"]]
    document["returns"] = [{**r, "refund_owed_by": None} for r in document["returns"]]
    document["hold"] = {"reason": "payment_declined",
                        "detail": "the payment provider declined the payment; the order needs a new one"} if declined else None
    return document


@pytest.mark.parametrize("order_id", ORDER_IDS, ids=["split-returned", "cancelled", "declined"])
def test_old_events_replay_to_the_same_order(old_store: Node, order_id: UUID) -> None:
    order = None
    for event in old_store.app.events.get(order_id):
        order = event.mutate(order)
    assert isinstance(order, Order)
    assert order_document(order) == _expected(order_id)
    assert all(isinstance(s, Shipment) for s in order.shipments.values())
    assert all(isinstance(r, Return) for r in order.returns.values())


@pytest.mark.parametrize("order_id", ORDER_IDS, ids=["split-returned", "cancelled", "declined"])
def test_old_snapshots_are_upcast_to_the_same_order(old_store: Node, order_id: UUID) -> None:
    (snapshot,) = old_store.app.snapshots.get(order_id)
    assert "class_version" not in snapshot.state  # written by version 1
    from_snapshot = snapshot.mutate(None)
    from_events = None
    for event in old_store.app.events.get(order_id):
        from_events = event.mutate(from_events)
    assert vars(from_snapshot) == vars(from_events)
    assert isinstance(from_snapshot.shipments[next(iter(from_snapshot.shipments))].status, ShipmentStatus)


def test_an_order_from_the_old_store_goes_on_and_is_snapshotted_in_the_new_shape(old_store: Node, ctx) -> None:
    split_id = ORDER_IDS[0]
    order = old_store.app.repository.get(split_id)  # from the old snapshot
    shipped = next(s for s in order.shipments.values() if s.status == ShipmentStatus.SHIPPED)
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    delivered = old_store.service.handle(commands.DeliverShipment(shipped.id, at), ctx)

    assert delivered.document["fulfillment_status"] == "delivered"
    old_store.app.take_snapshot(split_id)
    latest = old_store.app.snapshots.get(split_id, desc=True, limit=1)
    (snapshot,) = list(latest)
    assert snapshot.state["class_version"] == Order.class_version
    assert vars(snapshot.mutate(None)) == vars(old_store.app.repository.get(split_id))
