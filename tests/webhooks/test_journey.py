"""The whole journey of an order, as a subscribed system hears it: every message signed (verified
with the standardwebhooks library by a real receiver), each once, in the order things happened,
each carrying the order as it was at that moment."""
from __future__ import annotations

from tests.api.support import Api, order_body
from tests.webhooks.conftest import STOCK_LOW_THRESHOLD, Endpoints
from tests.webhooks.receiver import Receiver, types_of

JOURNEY = ["order.created", "order.confirmed", "shipment.shipped", "shipment.delivered", "order.completed",
           "return.requested", "return.received", "refund.issued"]


def _journey(integrator: Api, stock: int = 5) -> tuple[dict, str, str]:
    """Places an order for one unit, ships, delivers, returns and refunds it: (the order at the end,
    its SKU, its return's id)."""
    _, sku = integrator.stocked(stock)
    order = integrator.wait_order(integrator.place(order_body(sku))["id"])
    assert order["status"] == "confirmed", order
    shipment = order["shipments"][0]
    integrator.advance(shipment["id"], "pick", "pack", "ship", "deliver")
    r = integrator.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": sku, "quantity": 1, "reason": "too small"}]})
    assert r.status_code == 201, r.text
    return_id = r.json()["id"]
    r = integrator.post(f"/returns/{return_id}/receive", {"location_id": shipment["location_id"], "lines": [
        {"sku": sku, "quantity": 1, "condition": "resellable"}]})
    assert r.status_code == 200, r.text
    order = integrator.wait_order(order["id"], lambda o: o["totals"]["refunded"] == "99.90")
    assert order["payment_status"] == "partially_refunded", order  # (not the shipping)
    return order, sku, return_id


def test_the_journey_arrives_signed_in_order_each_message_once(integrator: Api, endpoints: Endpoints,
                                                               receiver: Receiver) -> None:
    endpoint, path = endpoints.create(["*"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    order, sku, return_id = _journey(integrator)

    arrived = receiver.wait(path, lambda found: len(found) >= len(JOURNEY), order_id=order["id"])
    assert types_of(arrived) == JOURNEY
    assert all(a.verified_with == [endpoint["secret"]] for a in arrived)
    assert len({a.webhook_id for a in arrived}) == len(JOURNEY)
    positions = [int(a.webhook_id.split("_")[1]) for a in arrived]
    assert positions == sorted(positions)
    assert all(a.webhook_id == f"msg_{p}_{a.type.replace('.', '_')}" for a, p in zip(arrived, positions))

    data = {a.type: a.payload["data"] for a in arrived}
    assert data["order.created"]["status"] == "pending" and data["order.created"]["version"] < \
        data["order.confirmed"]["version"]
    assert data["order.confirmed"]["status"] == "confirmed"
    assert data["order.confirmed"]["payment_status"] == "authorized"
    shipment_id = order["shipments"][0]["id"]
    assert data["shipment.shipped"]["subject"] == {"shipment_id": shipment_id}
    assert data["shipment.shipped"]["shipments"][0]["status"] == "shipped"
    assert data["shipment.delivered"]["subject"] == {"shipment_id": shipment_id}
    assert data["order.completed"]["status"] == "completed" and "subject" not in data["order.completed"]
    assert data["return.requested"]["subject"] == {"return_id": return_id}
    assert data["return.received"]["subject"] == {"return_id": return_id}
    assert data["refund.issued"]["subject"] == {"return_id": return_id, "amount": "99.90"}
    # The last message holds the order as GET /orders/{id} shows it now (nothing happened since).
    assert {k: v for k, v in data["refund.issued"].items() if k != "subject"} == integrator.order(order["id"])
    for arrival in arrived:
        assert arrival.payload["timestamp"].endswith("+00:00")
        assert arrival.headers["content-type"] == "application/json"

    # stock.low: 5 on hand, one reserved -> 4 available, below the threshold of 5 (once; the
    # stock coming back does not send it again).
    low = receiver.wait(path, lambda found: any(a.type == "stock.low" and a.payload["data"]["sku"] == sku
                                                 for a in found))
    low = [a for a in low if a.type == "stock.low" and a.payload["data"]["sku"] == sku]
    assert len(low) == 1
    assert low[0].payload["data"] == {"location_id": order["shipments"][0]["location_id"], "sku": sku,
                                      "on_hand": 5, "reserved": 1, "available": STOCK_LOW_THRESHOLD - 1}

    ids = {a.webhook_id for a in arrived}
    deliveries = endpoints.wait_deliveries(endpoint["id"], lambda found: all(
        d["status"] != "pending" for d in found if d["webhook_id"] in ids))
    mine = [d for d in deliveries if d["webhook_id"] in ids]
    assert len(mine) == len(ids), mine
    assert all(d["status"] == "delivered" and d["attempts"] == 1 and d["status_code"] == 200 for d in mine)
    assert all(d["duration_ms"] is not None and d["response_excerpt"] == '{"ok": true}' for d in mine)


def test_an_endpoint_gets_only_the_types_it_subscribes_to(integrator: Api, endpoints: Endpoints,
                                                          receiver: Receiver) -> None:
    endpoint, path = endpoints.create(["shipment.shipped", "refund.issued"])
    order, _, _ = _journey(integrator, stock=50)
    arrived = receiver.wait(path, lambda found: len(found) >= 2, order_id=order["id"])
    assert types_of(arrived) == ["shipment.shipped", "refund.issued"]
