"""Integrator keys limited to channels (issue 18, "Keys scoped to channels"): such a key places,
reads, lists and changes only its channels' orders. Any other order is 404 to it, exactly as an
order that does not exist (never 403), and no idempotent replay of another channel's
``(channel, external_id)`` shows it one. A key with no channels keeps every channel."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.support import Api, assert_problem, order_body, pointers, unique


def scoped_key(admin: Api, client: TestClient, *channels: str) -> tuple[Api, dict[str, Any]]:
    r = admin.post("/api-keys", {"name": unique("connector"), "role": "integrator", "channels": list(channels)})
    assert r.status_code == 201, r.text
    return Api(client, r.json()["secret"], r.json()["name"]), r.json()


def same_problem(got: dict[str, Any], unknown: dict[str, Any], identifier: str, unknown_id: str) -> None:
    """``got`` is the problem an unknown resource gets, but for its id."""
    strip = ("instance", "request_id")
    assert {k: v for k, v in got.items() if k not in strip} == {
        k: (v.replace(unknown_id, identifier) if isinstance(v, str) else v)
        for k, v in unknown.items() if k not in strip}


@pytest.fixture(scope="module")
def other_order(integrator: Api) -> dict[str, Any]:
    """An order of a channel no scoped key of these tests reaches, confirmed, its shipment
    delivered and a return requested (by the unlimited integrator key)."""
    b = unique("shop-b")
    _, sku = integrator.stocked(5)
    order = integrator.place(order_body(sku, 2, channel=b))
    order = integrator.wait_order(order["id"])
    assert order["status"] == "confirmed", order
    integrator.advance(order["shipments"][0]["id"], "pick", "pack", "ship", "deliver")
    r = integrator.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": sku, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return integrator.order(order["id"])


def test_an_admin_creates_a_key_limited_to_channels_and_its_documents_show_them(admin: Api, client) -> None:
    _, created = scoped_key(admin, client, "zeta-shop", "amazon-de", "zeta-shop")
    assert created["role"] == "integrator" and created["channels"] == ["amazon-de", "zeta-shop"]
    listed = {k["id"]: k for k in admin.all_pages("/api-keys")}
    assert listed[created["id"]]["channels"] == ["amazon-de", "zeta-shop"]
    assert all(k["channels"] is None for k in listed.values() if k["role"] != "integrator")

    unlimited = admin.post("/api-keys", {"name": unique("erp"), "role": "integrator"})
    assert unlimited.status_code == 201 and unlimited.json()["channels"] is None
    assert admin.post("/api-keys", {"name": unique("erp"), "role": "auditor", "channels": None}).json()["channels"] is None

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "channels" in schema["ApiKeyIn"]["properties"] and "channels" in schema["ApiKeyOut"]["properties"]
    assert schema["ApiKeyIn"]["then"] == {"properties": {"role": {"const": "integrator"}}}


@pytest.mark.parametrize("body", [
    {"role": "admin", "channels": ["amazon-de"]},
    {"role": "auditor", "channels": ["amazon-de"]},
    {"role": "analyst", "channels": ["amazon-de"]},
    {"role": "integrator", "channels": []},
    {"role": "integrator", "channels": ["  "]},
    {"role": "integrator", "channels": ["x" * 51]},
    {"role": "integrator", "channels": [f"c{n}" for n in range(101)]},
    {"role": "integrator", "channels": "amazon-de"},
], ids=["admin", "auditor", "analyst", "empty", "blank", "too-long", "too-many", "not-a-list"])
def test_channels_are_for_integrator_keys_only_and_follow_the_rules_of_an_orders_channel(admin: Api, body) -> None:
    problem = assert_problem(admin.post("/api-keys", {"name": "scoped", **body}), 422)
    assert any(p.startswith("/channels") for p in pointers(problem)), problem


def test_a_scoped_key_places_reads_lists_and_changes_its_channels_orders(
        admin: Api, integrator: Api, client) -> None:
    a = unique("amazon-de")
    connector, _ = scoped_key(admin, client, a)
    _, sku = integrator.stocked(5)
    placed = connector.post("/orders", order_body(sku, 1, channel=a))
    assert placed.status_code == 201, placed.text
    order = connector.wait_order(placed.json()["id"])  # paid by the payment policy, as any order
    assert order["status"] == "confirmed" and order["channel"] == a
    replay = connector.post("/orders", order_body(sku, 1, channel=a, external_id=order["external_id"]))
    assert replay.status_code == 200 and replay.json()["id"] == order["id"]

    assert connector.post(f"/orders/{order['id']}/hold", {"reason": "fraud_check"}).status_code == 200
    assert connector.post(f"/orders/{order['id']}/release", None).status_code == 200
    shipment_id = order["shipments"][0]["id"]
    assert connector.get(f"/shipments/{shipment_id}").status_code == 200
    connector.advance(shipment_id, "pick", "pack", "ship", "deliver")
    r = connector.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": sku, "quantity": 1}]})
    assert r.status_code == 201, r.text
    assert connector.get(f"/returns/{r.json()['id']}").status_code == 200
    location_id = order["shipments"][0]["location_id"]
    received = connector.post(f"/returns/{r.json()['id']}/receive",
                              {"location_id": location_id, "lines": [{"sku": sku, "quantity": 1,
                                                                      "condition": "resellable"}]})
    assert received.status_code == 200, received.text
    assert [o["id"] for o in connector.all_pages("/orders?limit=200")] == [order["id"]]


def test_another_channels_order_is_not_found_exactly_as_an_unknown_one(
        admin: Api, integrator: Api, client, other_order: dict[str, Any]) -> None:
    connector, _ = scoped_key(admin, client, unique("amazon-de"))
    order_id = other_order["id"]
    version = integrator.order(order_id)["version"]
    shipment_id = other_order["shipments"][0]["id"]
    return_id = other_order["returns"][0]["id"]
    unknown_order = str(uuid.uuid4())
    unknown_shipment = f"shp_{uuid.UUID(unknown_order).hex}_1"
    unknown_return = f"ret_{uuid.UUID(unknown_order).hex}_1"
    location_id = other_order["shipments"][0]["location_id"]
    receipt = {"location_id": location_id, "lines": [{"sku": other_order["lines"][0]["sku"], "quantity": 1,
                                                      "condition": "resellable"}]}
    attempts = [
        ("GET", "/orders/{}", None, order_id, unknown_order),
        ("POST", "/orders/{}/cancel", {"reason": "not mine"}, order_id, unknown_order),
        ("POST", "/orders/{}/hold", {"reason": "fraud_check"}, order_id, unknown_order),
        ("POST", "/orders/{}/release", None, order_id, unknown_order),
        ("POST", "/orders/{}/returns", {"lines": [{"sku": other_order["lines"][0]["sku"], "quantity": 1}]},
         order_id, unknown_order),
        ("GET", "/shipments/{}", None, shipment_id, unknown_shipment),
        ("POST", "/shipments/{}/pick", {}, shipment_id, unknown_shipment),
        ("POST", "/shipments/{}/pack", {}, shipment_id, unknown_shipment),
        ("POST", "/shipments/{}/ship", {"carrier": "fedex"}, shipment_id, unknown_shipment),
        ("POST", "/shipments/{}/deliver", {}, shipment_id, unknown_shipment),
        ("GET", "/returns/{}", None, return_id, unknown_return),
        ("POST", "/returns/{}/receive", receipt, return_id, unknown_return),
    ]
    for method, path, body, identifier, unknown in attempts:
        got = assert_problem(connector.request(method, path.format(identifier), json=body), 404)
        expected = assert_problem(connector.request(method, path.format(unknown), json=body), 404)
        same_problem(got, expected, identifier, unknown)
        assert got["detail"].endswith(f"{identifier} not found"), got

    # Nothing of it was recorded: the order is as it was, to the unlimited key.
    assert integrator.order(order_id)["version"] == version


def test_a_command_on_another_channels_order_is_refused_by_the_writer_before_any_read_model_has_it(
        admin: Api, integrator: Api, client) -> None:
    a, b = unique("amazon-de"), unique("shop-c")
    connector, _ = scoped_key(admin, client, a)
    _, sku = integrator.stocked(5)
    for _ in range(5):  # each command right after the placement, with no read in between
        order = integrator.place(order_body(sku, 1, channel=b))
        assert_problem(connector.post(f"/orders/{order['id']}/cancel", {"reason": "not mine"}), 404)
        assert_problem(connector.post(f"/orders/{order['id']}/hold", {"reason": "fraud_check"}), 404)
        assert integrator.post(f"/orders/{order['id']}/cancel", {"reason": "test done"}).status_code == 200


def test_placing_into_another_channel_is_not_found_and_never_replays_its_order(
        admin: Api, integrator: Api, client, other_order: dict[str, Any]) -> None:
    b = other_order["channel"]
    connector, _ = scoped_key(admin, client, unique("amazon-de"))
    sku = other_order["lines"][0]["sku"]
    replaying = order_body(sku, 1, channel=b, external_id=other_order["external_id"])
    for headers in (None, {"Idempotency-Key": unique("retry")}):
        r = connector.post("/orders", replaying, headers=headers)
        problem = assert_problem(r, 404)
        assert problem["type"] == "urn:oms:problem:not-found"
        assert problem["detail"] == f"channel {b} not found for this API key"
        assert other_order["id"] not in r.text and "location" not in r.headers
    # A new external id into the other channel is refused the same way, and records nothing.
    assert_problem(connector.post("/orders", order_body(sku, 1, channel=b)), 404)
    assert [o["id"] for o in integrator.all_pages(f"/orders?channel={b}&limit=200")] == [other_order["id"]]
    # The unlimited key still gets the replay, as before.
    r = integrator.post("/orders", replaying)
    assert r.status_code == 200 and r.json()["id"] == other_order["id"]


def test_a_key_lists_only_its_channels_orders(admin: Api, integrator: Api, client,
                                              other_order: dict[str, Any]) -> None:
    a, b, c = unique("amazon-de"), other_order["channel"], unique("woo")
    connector, _ = scoped_key(admin, client, a, c)
    _, sku = integrator.stocked(5)
    mine = [connector.place(order_body(sku, 1, channel=channel))["id"] for channel in (a, c)]
    listed = connector.all_pages("/orders?limit=200")
    assert sorted(o["id"] for o in listed) == sorted(mine)
    assert [o["id"] for o in connector.all_pages(f"/orders?channel={c}")] == [mine[1]]
    assert connector.all_pages(f"/orders?channel={b}") == []
    assert connector.all_pages(f"/orders?channel={b}&status=completed") == []


def test_an_integrator_key_with_no_channels_reaches_every_channel(
        integrator: Api, admin: Api, other_order: dict[str, Any]) -> None:
    a, b = unique("amazon-de"), other_order["channel"]
    _, sku = integrator.stocked(5)
    placed = integrator.place(order_body(sku, 1, channel=a))
    for api in (integrator, admin):
        assert api.get(f"/orders/{other_order['id']}").status_code == 200
        assert api.get(f"/orders/{placed['id']}").status_code == 200
        assert api.get(f"/shipments/{other_order['shipments'][0]['id']}").status_code == 200
        assert api.get(f"/returns/{other_order['returns'][0]['id']}").status_code == 200
        assert [o["id"] for o in api.all_pages(f"/orders?channel={a}")] == [placed["id"]]
        assert [o["id"] for o in api.all_pages(f"/orders?channel={b}")] == [other_order["id"]]
    assert integrator.post(f"/orders/{placed['id']}/hold", {"reason": "fraud_check"}).status_code == 200
