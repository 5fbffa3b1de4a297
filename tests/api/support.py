"""Helpers for the HTTP tests: a client bound to one API key, and order bodies."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"

ADDRESS = dict(name="Ada Lovelace", line1="Am Neuen Garten 1", line2=None, city="Potsdam",
               postal_code="14469", country="DE", latitude=52.4125, longitude=13.0711)
BERLIN = (52.52, 13.405)
MUNICH = (48.137, 11.575)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def order_body(sku: str | list[tuple[str, int]], quantity: int = 1, **overrides: Any) -> dict[str, Any]:
    lines = ([{"sku": sku, "quantity": quantity, "unit_price": "99.90"}] if isinstance(sku, str)
             else [{"sku": s, "quantity": q, "unit_price": "10.00"} for s, q in sku])
    body = {
        "channel": "web",
        "external_id": unique("EXT"),
        "currency": "EUR",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+4915112345678"},
        "shipping_address": dict(ADDRESS),
        "lines": lines,
        "shipping_price": "4.95",
        "payment": {"provider": "sandbox", "reference": "pay_test"},
    }
    body.update(overrides)
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    problem = response.json()
    for member in ("type", "title", "status", "detail", "instance"):
        assert member in problem, problem
    assert problem["status"] == status
    return problem


def pointers(problem: dict[str, Any]) -> list[str]:
    return [e.get("pointer") for e in problem.get("errors") or []]


class Api:
    """A test client that sends one API key."""

    def __init__(self, client: TestClient, secret: str | None, name: str = "") -> None:
        self.client = client
        self.secret = secret
        self.name = name

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, json=json, headers=self.headers(headers), **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def all_pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list, following its ``Link: rel="next"`` headers."""
        items: list[dict[str, Any]] = []
        while True:
            r = self.get(path)
            assert r.status_code == 200, r.text
            items.extend(r.json()["data"])
            if "link" not in r.headers:
                assert r.json()["next_cursor"] is None
                return items
            path = r.headers["link"][1:r.headers["link"].index(">")]

    # ------------------------------------------------------------ set-up steps

    def location(self, location_id: str | None = None, at: tuple[float, float] = BERLIN,
                 kind: str = "warehouse") -> str:
        location_id = location_id or unique("wh")
        r = self.put(f"/locations/{location_id}", {"name": location_id, "kind": kind,
                                                   "latitude": at[0], "longitude": at[1]})
        assert r.status_code in (200, 201), r.text
        return location_id

    def receive(self, location_id: str, sku: str, quantity: int) -> None:
        r = self.post("/stock/receipts", {"location_id": location_id, "sku": sku, "quantity": quantity})
        assert r.status_code == 201, r.text

    def stocked(self, quantity: int = 5, at: tuple[float, float] = BERLIN) -> tuple[str, str]:
        """A new location holding ``quantity`` of a new SKU: (location id, sku)."""
        location_id = self.location(at=at)
        sku = unique("SKU")
        self.receive(location_id, sku, quantity)
        return location_id, sku

    def place(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        r = self.post("/orders", body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    def order(self, order_id: str) -> dict[str, Any]:
        r = self.get(f"/orders/{order_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_order(self, order_id: str, until: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = 15) -> dict[str, Any]:
        """Polls until ``until(order)`` (default: payment is no longer pending)."""
        until = until or (lambda o: o["payment_status"] != "pending")
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if until(order) or time.monotonic() > deadline:
                return order
            time.sleep(0.05)

    def wait_stock(self, sku: str, until: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        """Polls ``GET /stock/{sku}`` until ``until(stock)``: for changes the system made on its
        own (a policy's), which read-your-writes does not wait for."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(f"/stock/{sku}")
            assert r.status_code == 200, r.text
            if until(r.json()) or time.monotonic() > deadline:
                return r.json()
            time.sleep(0.05)

    def confirmed_order(self, quantity: int = 1, stock: int = 5) -> dict[str, Any]:
        """A placed and authorised order for a new SKU stocked at a new location."""
        _, sku = self.stocked(stock)
        order = self.place(order_body(sku, quantity))
        order = self.wait_order(order["id"])
        assert order["status"] == "confirmed", order
        return order

    def advance(self, shipment_id: str, *steps: str) -> dict[str, Any]:
        payloads = {"pick": {}, "pack": {}, "ship": {"carrier": "fedex"}, "deliver": {}}
        document: dict[str, Any] = {}
        for step in steps:
            r = self.post(f"/shipments/{shipment_id}/{step}", payloads[step])
            assert r.status_code == 200, r.text
            document = r.json()
        return document
