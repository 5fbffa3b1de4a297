"""WooCommerce's order webhooks (signed, REST v3 bodies) and the orders an Amazon connector posts
(``{"order", "order_items"}`` with an API key), from the platforms' own samples."""
from __future__ import annotations

import random
from typing import Any

import pytest

from tests.api.channel_support import channel, deliver_woocommerce, payload, stock_skus
from tests.api.support import Api, assert_problem, unique

WOO_SAMPLE = "woocommerce/order.retrieve.wc_v3_docs.json"
AMAZON_ORDERS = "amazon/getOrders.v0.example.json"
AMAZON_ITEMS = "amazon/getOrderItems.v0.example.json"


@pytest.fixture(scope="module")
def stocked(admin: Api) -> str:
    return stock_skus(admin, ["Bar3", "CBA_OTF_1", "CBA_OTF_5", "woo-product-93"], quantity=500)


@pytest.fixture
def woo(admin: Api, stocked: str) -> str:
    return channel(admin, "woocommerce")


@pytest.fixture
def marketplace(admin: Api, stocked: str) -> str:
    return channel(admin, "amazon", secret=None)


def woo_sample(**changes: Any) -> dict[str, Any]:
    body = payload(WOO_SAMPLE)
    body["id"] = random.randrange(10**6, 10**9)
    body.update(changes)
    return body


# ---------------------------------------------------------------- WooCommerce


def test_the_woocommerce_sample_is_mapped_exactly_and_paid_on_the_channel(admin: Api, woo: str) -> None:
    body = woo_sample()
    r = deliver_woocommerce(admin, woo, body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["external_id"] == str(body["id"])
    assert order["totals"] | {} == {"subtotal": "18.00", "discount": "0.00", "shipping": "10.00", "tax": "1.35",
                                    "fees": "0.00", "total": "29.35", "captured": "29.35", "refunded": "0.00"}
    assert order["totals"]["total"] == body["total"]
    assert [(l["sku"], l["quantity"], l["unit_price"], l["tax"]) for l in order["lines"]] == [
        ("woo-product-93", 2, "3.00", "0.45"), ("Bar3", 1, "12.00", "0.90")]
    assert order["customer"] == {"name": "John Doe", "email": "john.doe@example.com", "phone": "(555) 555-5555"}
    assert order["source"]["placed_at"] == "2017-03-22T19:28:02+00:00"  # date_created_gmt, not the local time
    # The first line has no SKU in Woo: recorded under a stand-in and held for a person.
    assert order["status"] == "on_hold" and order["hold"]["reason"] == "missing_sku"
    assert order["payment"] == {"provider": "woocommerce", "reference": str(body["id"]), "collected_by": "channel"}
    assert order["payment_status"] == "paid"
    again = deliver_woocommerce(admin, woo, body)
    assert again.status_code == 200 and again.json()["id"] == order["id"]


def test_an_unpaid_woocommerce_order_waits_for_its_payment(admin: Api, woo: str) -> None:
    items = woo_sample()["line_items"]
    items[0]["sku"] = "Bar3"
    body = woo_sample(date_paid=None, date_paid_gmt=None, status="on-hold", line_items=items)  # Bar3 twice: one line
    order = deliver_woocommerce(admin, woo, body).json()
    assert (order["status"], order["hold"]["reason"], order["payment_status"]) == ("on_hold", "awaiting_payment",
                                                                                   "pending")
    paid = deliver_woocommerce(admin, woo, {**body, "status": "processing", "date_paid_gmt": "2026-12-04T09:00:00"},
                               "order.updated")
    assert paid.status_code == 200
    assert (paid.json()["status"], paid.json()["payment_status"]) == ("confirmed", "paid")
    cancelled = deliver_woocommerce(admin, woo, {**body, "status": "cancelled"}, "order.updated")
    assert cancelled.json()["status"] == "cancelled"


def test_woocommerces_ping_is_acknowledged_and_recorded(admin: Api, woo: str) -> None:
    r = deliver_woocommerce(admin, woo, b"webhook_id=42", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.json()["outcome"] == "ping"
    (delivery,) = admin.get(f"/channels/{woo}/deliveries").json()["data"]
    assert delivery["outcome"] == "ping"


def test_a_wrong_woocommerce_signature_is_401_and_records_nothing(admin: Api, woo: str) -> None:
    assert_problem(deliver_woocommerce(admin, woo, woo_sample(), secret="wrong secret"), 401)
    assert admin.get(f"/channels/{woo}/deliveries").json()["data"] == []


# ---------------------------------------------------------------- Amazon


def amazon_order(status: str = "Unshipped", **order_changes: Any) -> dict[str, Any]:
    order = payload(AMAZON_ORDERS)["payload"]["Orders"][0]
    order["AmazonOrderId"] = f"{random.randrange(100, 999)}-{random.randrange(10**6, 10**7)}-{random.randrange(10**6, 10**7)}"
    order["OrderStatus"] = status
    order.update(order_changes)
    return {"order": order, "order_items": payload(AMAZON_ITEMS)["payload"]["OrderItems"]}


def test_the_amazon_samples_are_recorded_and_held_for_what_they_cannot_be(admin: Api, marketplace: str) -> None:
    body = amazon_order()
    r = admin.post(f"/channels/{marketplace}/orders", body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["external_id"] == body["order"]["AmazonOrderId"]
    assert order["currency"] == "JPY"
    # The documentation's example prices JPY with cents and gift-wraps in GBP: recorded, held, explained.
    assert order["status"] == "on_hold" and order["hold"]["reason"] == "currency_mismatch"
    assert "GBP" in order["hold"]["detail"] and "JPY cannot hold" in order["hold"]["detail"]
    assert order["payment"]["provider"] == "amazon" and order["payment_status"] == "paid"
    assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("CBA_OTF_1", 1), ("CBA_OTF_5", 2)]
    assert order["customer"]["email"] == "user@example.com"
    assert order["notify_customer"] is False  # Amazon messages its buyers itself
    assert order["shipping_address"]["city"] == "Canton" and order["shipping_address"]["country"] == "US"


def test_a_pending_amazon_order_waits_and_a_later_post_applies_its_status(admin: Api, marketplace: str) -> None:
    body = amazon_order("Pending")
    for item in body["order_items"]:
        for key in ("ItemPrice", "ShippingPrice", "CODFee", "CODFeeDiscount", "PointsGranted"):
            item.pop(key, None)
        item.pop("BuyerInfo", None)
    first = admin.post(f"/channels/{marketplace}/orders", body).json()
    assert first["hold"]["reason"] == "awaiting_payment"
    body["order"]["OrderStatus"] = "Unshipped"
    paid = admin.post(f"/channels/{marketplace}/orders", body)
    assert paid.status_code == 200 and paid.json()["status"] == "confirmed"
    body["order"]["OrderStatus"] = "Canceled"
    assert admin.post(f"/channels/{marketplace}/orders", body).json()["status"] == "cancelled"


def test_amazon_orders_need_a_key_that_reaches_the_channel(admin: Api, anonymous: Api, marketplace: str) -> None:
    assert_problem(anonymous.post(f"/channels/{marketplace}/orders", amazon_order()), 401)
    r = admin.post("/api-keys", {"name": unique("connector"), "role": "integrator", "channels": ["elsewhere"]})
    assert r.status_code == 201, r.text
    other = Api(admin.client, r.json()["secret"])
    assert_problem(other.post(f"/channels/{marketplace}/orders", amazon_order()), 404)
    r = admin.post("/api-keys", {"name": unique("connector"), "role": "integrator", "channels": [marketplace]})
    connector = Api(admin.client, r.json()["secret"])
    placed = connector.post(f"/channels/{marketplace}/orders", amazon_order())
    assert placed.status_code == 201, placed.text
    assert connector.get(f"/orders/{placed.json()['id']}").status_code == 200


def test_a_body_that_is_not_an_amazon_order_is_422_with_a_pointer(admin: Api, marketplace: str) -> None:
    problem = assert_problem(admin.post(f"/channels/{marketplace}/orders", {"order": {"OrderStatus": "Unshipped"},
                                                                             "order_items": []}), 422)
    assert problem["errors"][0]["pointer"] == "/order_items"
    problem = assert_problem(admin.post(f"/channels/{marketplace}/orders", payload(AMAZON_ORDERS)), 422)
    assert problem["errors"][0]["pointer"] == "/order"
    rejected = admin.get(f"/channels/{marketplace}/deliveries?outcome=rejected").json()
    assert len(rejected["data"]) == 2


