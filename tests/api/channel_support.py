"""Deliveries as the platforms make them: signed bodies, their headers, fixtures by name."""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
from pathlib import Path
from typing import Any

from tests.api.support import Api, unique

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
SECRET = "shpss_test_0123456789abcdef0123456789"


def payload(name: str) -> dict[str, Any]:
    """A fixture (tests/fixtures/payloads/<platform>/<name>), a fresh copy each time."""
    return copy.deepcopy(json.loads((PAYLOADS / name).read_text()))


def shopify_id() -> int:
    """Shopify's ids are above 2**53: so are these."""
    return random.randrange(2**60, 2**63)


def channel(admin: Api, platform: str, secret: str | None = SECRET) -> str:
    channel_id = unique(platform)
    body: dict[str, Any] = {"platform": platform, "name": f"{platform} test shop"}
    if secret is not None:
        body["webhook_secret"] = secret
    r = admin.put(f"/channels/{channel_id}", body)
    assert r.status_code == 201, r.text
    return channel_id


def signature(raw: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def deliver_shopify(api: Api, channel_id: str, body: dict[str, Any], topic: str = "orders/create", *,
                    webhook_id: str | None = None, secret: str = SECRET):  # noqa: ANN201
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Hmac-Sha256": signature(raw, secret), "X-Shopify-Shop-Domain": "test.myshopify.com",
               "X-Shopify-API-Version": "2026-07", "X-Shopify-Webhook-Id": webhook_id or unique("wh")}
    return api.client.post(f"/channels/{channel_id}/orders", content=raw, headers=headers)


def deliver_woocommerce(api: Api, channel_id: str, body: dict[str, Any] | bytes, topic: str = "order.created", *,
                        secret: str = SECRET, content_type: str = "application/json"):  # noqa: ANN201
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order",
               "X-WC-Webhook-Signature": signature(raw, secret), "X-WC-Webhook-Delivery-ID": unique("d"),
               "X-WC-Webhook-Source": "https://shop.example.com/"}
    return api.client.post(f"/channels/{channel_id}/orders", content=raw, headers=headers)


def stock_skus(api: Api, skus: list[str], quantity: int = 10, at: tuple[float, float] = (38.2, -85.7)) -> str:
    location_id = api.location(at=at)
    for sku in skus:
        api.receive(location_id, sku, quantity)
    return location_id


def after(response) -> dict[str, str]:  # noqa: ANN001
    """Headers for a read that must see what ``response``'s delivery recorded (a platform's
    delivery carries no API key whose reads would wait for it)."""
    return {"X-OMS-Min-Position": response.headers["X-OMS-Position"]}
