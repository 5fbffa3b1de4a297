"""Shopify's order webhooks as Shopify sends them (the sample of its docs, in tests/fixtures/
payloads/shopify): signed with the channel's secret, mapped exactly, deduplicated, reordered,
and never dropped."""
from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.api.channel_support import after, channel, deliver_shopify, payload, shopify_id, stock_skus
from tests.api.support import Api, assert_problem, unique

SAMPLE = "shopify/orders_create.shopify_docs_2026-07.json"
SAMPLE_SKUS = ["SKU2006-001", "LENS-PROTECT-2YR", "CASE-LEATHER-PREM", "SKU2006-020", "SKU2006-035"]


@pytest.fixture(scope="module")
def stocked(admin: Api) -> str:
    return stock_skus(admin, SAMPLE_SKUS, quantity=200)


@pytest.fixture
def shop(admin: Api, stocked: str) -> str:
    return channel(admin, "shopify")


def sample(**changes: Any) -> dict[str, Any]:
    body = payload(SAMPLE)
    body["id"] = shopify_id()
    body.update(changes)
    return body


def test_the_sample_order_is_mapped_exactly_and_waits_for_its_payment(admin: Api, shop: str) -> None:
    body = sample()
    r = deliver_shopify(admin, shop, body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert r.headers["Location"] == f"/orders/{order['id']}"
    assert order["channel"] == shop and order["external_id"] == str(body["id"])  # exact, above 2**53
    assert order["currency"] == "USD"
    assert order["totals"] | {} == {"subtotal": "414.95", "discount": "20.00", "shipping": "10.00", "tax": "0.00",
                                    "fees": "0.00", "total": "404.95", "captured": "0.00", "refunded": "0.00"}
    assert order["totals"]["total"] == body["total_price"]
    assert [(l["sku"], l["quantity"], l["unit_price"], l["name"]) for l in order["lines"]] == [
        (i["sku"], i["quantity"], i["price"], i["name"]) for i in body["line_items"]]
    assert order["customer"] == {"name": "John Smith", "email": "jon@example.com", "phone": "555-555-SHIP"}
    address = order["shipping_address"]
    assert (address["name"], address["line1"], address["city"], address["postal_code"], address["region"],
            address["country"]) == ("Steve Shipper", "123 Shipping Street", "Shippington", "40003", "KY", "US")
    assert address["coordinates_precision"] in ("city", "country")
    assert order["billing_address"]["company"] == "Shipping Company"
    assert order["source"] == {"platform": "shopify", "name": "#9999", "number": 1234,
                               "placed_at": "2021-12-31T19:00:00-05:00", "test": True}
    assert order["number"].startswith("OMS-") and order["notify_customer"] is True  # Shopify's #9999 kept beside it
    # financial_status "voided": Shopify has not charged it; it waits, never authorised by us.
    assert order["status"] == "on_hold" and order["payment_status"] == "pending"
    assert order["hold"]["reason"] == "awaiting_payment"
    assert order["payment"] == {"provider": "shopify", "reference": str(body["id"]), "collected_by": "channel"}
    assert all(s["status"] == "ready" for s in order["shipments"])
    held = admin.get(f"/orders?status=on_hold&channel={shop}", headers=after(r)).json()["data"]
    assert [o["id"] for o in held] == [order["id"]]


def test_the_sample_goes_through_paid_shipped_and_tracked_to_delivered(admin: Api, shop: str) -> None:
    body = sample()
    created = deliver_shopify(admin, shop, body).json()
    paid = deliver_shopify(admin, shop, {**body, "financial_status": "paid"}, "orders/paid")
    assert paid.status_code == 200, paid.text
    order = paid.json()
    assert order["id"] == created["id"]
    assert (order["status"], order["payment_status"], order["hold"]) == ("confirmed", "paid", None)
    assert order["totals"]["captured"] == "404.95"
    secret = "easypost_webhook_secret_for_channels"
    assert admin.put("/carriers/easypost", {"webhook_secret": secret}).status_code == 200
    for shipment in order["shipments"]:
        tracking = unique("1Z")
        admin.advance(shipment["id"], "pick", "pack")
        r = admin.post(f"/shipments/{shipment['id']}/ship", {"carrier": "ups", "tracking_number": tracking})
        assert r.status_code == 200, r.text
        admin.wait_order(order["id"], lambda o: tracking in [s["tracking_number"] for s in o["shipments"]])
        _tracked_to_delivered(admin, tracking, secret)
    order = admin.wait_order(order["id"], lambda o: o["status"] == "completed")
    assert (order["status"], order["fulfillment_status"], order["payment_status"]) == ("completed", "delivered", "paid")
    # Shopify charged the order: nothing was authorised or captured by our provider.
    types = [e["type"] for e in admin.get(f"/orders/{order['id']}/history").json()["data"]]
    assert "PaymentCollectedByChannel" in types
    assert not {"PaymentAuthorized", "PaymentCaptured"} & set(types)


def _tracked_to_delivered(admin: Api, tracking: str, secret: str) -> None:
    event = payload("easypost.event.tracker_updated.fedex_in_transit.json")
    event["id"] = unique("evt")
    event["result"]["tracking_code"] = tracking
    event["result"]["tracking_details"].append(
        {"status": "delivered", "message": "Delivered", "datetime": "2024-08-02T10:15:00Z"})
    raw = json.dumps(event).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    r = admin.client.post("/carriers/easypost/events", content=raw, headers={
        "X-Hmac-Signature": f"hmac-sha256-hex={digest}", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text


def test_a_wrong_or_missing_signature_is_401_and_records_nothing(admin: Api, shop: str) -> None:
    body = sample()
    assert_problem(deliver_shopify(admin, shop, body, secret="not the channel's secret"), 401)
    raw = json.dumps(body).encode()
    r = admin.client.post(f"/channels/{shop}/orders", content=raw,
                          headers={"Content-Type": "application/json", "X-Shopify-Topic": "orders/create"})
    assert_problem(r, 401)
    assert admin.get(f"/channels/{shop}/deliveries").json()["data"] == []
    assert admin.get(f"/orders?channel={shop}").json()["data"] == []


def test_the_same_webhook_delivered_20_times_from_8_threads_makes_one_order(admin: Api, shop: str) -> None:
    body = sample()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: deliver_shopify(admin, shop, body, webhook_id="same-delivery"), range(20)))
    assert sorted(r.status_code for r in answers) == [200] * 19 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    position = max(int(r.headers.get("X-OMS-Position", 0)) for r in answers)
    orders = admin.get(f"/orders?channel={shop}", headers={"X-OMS-Min-Position": str(position)}).json()["data"]
    assert len(orders) == 1
    deliveries = admin.get(f"/channels/{shop}/deliveries").json()["data"]
    assert len(deliveries) == 20 and sorted(d["outcome"] for d in deliveries).count("placed") == 1


def test_a_cancellation_that_arrives_before_its_creation_leaves_no_live_order(admin: Api, shop: str) -> None:
    body = sample()
    stock_before = admin.get("/stock/SKU2006-020").json()["available"]
    cancelled = deliver_shopify(admin, shop, {**body, "cancelled_at": "2026-12-04T10:00:00+01:00",
                                              "cancel_reason": "customer"}, "orders/cancelled")
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "cancelled on Shopify (customer)"
    late = deliver_shopify(admin, shop, body, "orders/create")
    assert late.status_code == 200 and late.json()["id"] == cancelled.json()["id"]
    assert late.json()["status"] == "cancelled"
    paid_late = deliver_shopify(admin, shop, {**body, "financial_status": "paid"}, "orders/paid")
    assert paid_late.json()["status"] == "cancelled"
    stock = admin.get("/stock/SKU2006-020", headers=after(cancelled)).json()
    assert stock["available"] == stock_before  # nothing stays reserved


def test_an_order_cancelled_on_shopify_releases_its_stock(admin: Api, shop: str) -> None:
    body = sample(financial_status="paid")
    before = admin.get("/stock/SKU2006-035").json()["available"]
    r = deliver_shopify(admin, shop, body)
    placed = r.json()
    assert admin.get("/stock/SKU2006-035", headers=after(r)).json()["available"] == before - 1
    r = deliver_shopify(admin, shop, {**body, "cancelled_at": "2026-12-04T10:00:00Z", "cancel_reason": "fraud"},
                        "orders/cancelled")
    assert r.status_code == 200 and r.json()["id"] == placed["id"] and r.json()["status"] == "cancelled"
    assert admin.get("/stock/SKU2006-035", headers=after(r)).json()["available"] == before


def test_an_update_changes_the_address_until_a_parcel_has_left(admin: Api, shop: str) -> None:
    body = sample(financial_status="paid", cancelled_at=None, cancel_reason=None)  # (the sample's are placeholders)
    deliver_shopify(admin, shop, body)
    moved = {**body["shipping_address"], "address1": "9 New Road", "city": "Louisville", "zip": "40202"}
    r = deliver_shopify(admin, shop, {**body, "shipping_address": moved}, "orders/updated")
    assert r.status_code == 200, r.text
    order = r.json()
    assert (order["shipping_address"]["line1"], order["shipping_address"]["city"]) == ("9 New Road", "Louisville")
    assert order["status"] == "confirmed"
    shipment = order["shipments"][0]["id"]
    admin.advance(shipment, "pick", "pack", "ship")
    again = {**moved, "address1": "1 Too Late Lane"}
    r = deliver_shopify(admin, shop, {**body, "shipping_address": again}, "orders/updated")
    assert r.status_code == 200 and r.json()["shipping_address"]["line1"] == "9 New Road"


@pytest.mark.parametrize("change, reason", [
    (lambda b: b["line_items"][0].update(sku="NEVER-STOCKED-" + unique("x")), "unknown_sku"),
    (lambda b: b.update(shipping_address=None), "no_shipping_address"),
    (lambda b: b["shipping_address"].update(country_code="XK"), "unknown_country"),
    (lambda b: b["line_items"][1].update(sku=None), "missing_sku"),
    (lambda b: b.update(total_price="999.99"), "totals_mismatch"),
])
def test_a_payload_that_cannot_be_mapped_completely_is_held_with_a_readable_reason(
        admin: Api, shop: str, change, reason: str) -> None:
    body = sample(financial_status="paid")
    change(body)
    r = deliver_shopify(admin, shop, body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "on_hold" and order["hold"]["reason"] == reason, order["hold"]
    assert order["hold"]["detail"]
    held = admin.get(f"/orders?status=on_hold&channel={shop}", headers=after(r)).json()["data"]
    assert order["id"] in [o["id"] for o in held]
    (delivery,) = admin.get(f"/channels/{shop}/deliveries").json()["data"]
    raw = admin.get(f"/channels/{shop}/deliveries/{delivery['id']}").json()["body"]
    assert json.loads(raw) == body  # kept as it came, for audit and processing again


@pytest.mark.parametrize("body, pointer", [
    ({"hello": "world"}, "/id"),
    ({"id": 1, "currency": "USD"}, "/line_items"),
    ({"id": 1, "line_items": [{"sku": "A", "quantity": 1, "price": "1.00"}]}, "/currency"),
    ({"id": 1, "currency": "USD", "line_items": [{"sku": "A", "quantity": 1, "price": "free"}]}, "/line_items/0/price"),
])
def test_a_body_that_is_not_a_shopify_order_is_422_with_a_pointer_and_is_kept(
        admin: Api, shop: str, body: dict[str, Any], pointer: str) -> None:
    problem = assert_problem(deliver_shopify(admin, shop, body), 422)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    (delivery,) = admin.get(f"/channels/{shop}/deliveries?outcome=rejected").json()["data"]
    assert delivery["detail"].startswith(pointer)


def test_a_topic_that_is_not_about_orders_is_acknowledged_and_recorded(admin: Api, shop: str) -> None:
    r = deliver_shopify(admin, shop, {"id": 1, "order_id": 2, "status": "success"}, "fulfillments/create")
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    (delivery,) = admin.get(f"/channels/{shop}/deliveries").json()["data"]
    assert (delivery["outcome"], delivery["topic"]) == ("ignored", "fulfillments/create")


def test_an_unknown_channel_is_404(admin: Api) -> None:
    assert_problem(deliver_shopify(admin, unique("nowhere"), sample()), 404)


def test_channels_are_configured_by_admins_and_never_show_their_secret(admin: Api, integrator: Api) -> None:
    shop = unique("shop")
    r = admin.put(f"/channels/{shop}", {"platform": "shopify", "name": "EU shop", "webhook_secret": "s3cret-s3cret"})
    assert r.status_code == 201
    assert r.json() | {} == {**r.json(), "channel_id": shop, "platform": "shopify", "webhook_secret_set": True,
                             "orders_url": f"/channels/{shop}/orders"}
    assert "s3cret" not in r.text
    r = admin.put(f"/channels/{shop}", {"platform": "shopify", "name": "EU shop (renamed)"})
    assert r.status_code == 200 and r.json()["webhook_secret_set"] and r.json()["name"] == "EU shop (renamed)"
    assert_problem(admin.put(f"/channels/{shop}", {"platform": "amazon", "name": "x"}), 409)
    assert_problem(admin.put(f"/channels/{unique('w')}", {"platform": "woocommerce", "name": "no secret"}), 422)
    assert shop in [c["channel_id"] for c in admin.get("/channels").json()["data"]]
    assert "s3cret" not in admin.get("/channels").text
    assert_problem(integrator.put(f"/channels/{shop}", {"platform": "shopify", "name": "x"}), 403)
    assert_problem(admin.get(f"/channels/{unique('none')}"), 404)


def test_a_retried_old_update_does_not_undo_a_newer_one(admin: Api, shop: str) -> None:
    body = sample(financial_status="paid", cancelled_at=None, cancel_reason=None)
    deliver_shopify(admin, shop, body)
    first = {**body, "updated_at": "2026-12-04T10:00:00Z",
             "shipping_address": {**body["shipping_address"], "address1": "1 First Street"}}
    second = {**body, "updated_at": "2026-12-04T10:01:00Z",
              "shipping_address": {**body["shipping_address"], "address1": "2 Second Street"}}
    assert deliver_shopify(admin, shop, first, "orders/updated", webhook_id="update-1").status_code == 200
    assert deliver_shopify(admin, shop, second, "orders/updated", webhook_id="update-2").status_code == 200
    retried = deliver_shopify(admin, shop, first, "orders/updated", webhook_id="update-1")  # Shopify's retry
    assert retried.status_code == 200 and retried.json()["shipping_address"]["line1"] == "2 Second Street"
    latest = admin.get(f"/channels/{shop}/deliveries").json()["data"][0]
    assert (latest["delivery_id"], latest["outcome"]) == ("update-1", "duplicate")


def test_an_older_update_delivered_after_a_newer_one_changes_nothing(admin: Api, shop: str) -> None:
    """Shopify does not deliver in order: its updated_at says which change is the latest."""
    body = sample(financial_status="paid", cancelled_at=None, cancel_reason=None)
    deliver_shopify(admin, shop, body)
    newer = {**body, "updated_at": "2026-12-04T10:05:00+01:00",
             "shipping_address": {**body["shipping_address"], "address1": "2 Newer Street"}}
    older = {**body, "updated_at": "2026-12-04T10:00:00+01:00",
             "shipping_address": {**body["shipping_address"], "address1": "1 Older Street"}}
    assert deliver_shopify(admin, shop, newer, "orders/updated").json()["shipping_address"]["line1"] == "2 Newer Street"
    late = deliver_shopify(admin, shop, older, "orders/updated")
    assert late.status_code == 200 and late.json()["shipping_address"]["line1"] == "2 Newer Street"
