"""The edge (api/guard.py, api/routing.py): text PostgreSQL cannot hold never enters an event,
limits apply before work, and every kind of bad input gets one answer on every route.

The hardening issue's examples: a customer name, SKU or location name with NUL was accepted and
stopped the read models for good; here each is refused with a pointer and nothing is recorded."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.routing import APIRoute

from api.routing import GuardedRoute
from application.documents import order_document
from tests.api.support import Api, assert_problem, order_body, pointers

NUL, SURROGATE = "A\u0000B", "A\ud800B"


def _head(system) -> int:
    return system.queries.head()


@pytest.mark.parametrize(("path", "body", "pointer"), [
    ("/orders", lambda sku: order_body(sku, customer={"name": NUL, "email": "a@example.com", "phone": None}),
     "/customer/name"),
    ("/orders", lambda sku: order_body(NUL), "/lines/0/sku"),
    ("/orders", lambda sku: {**order_body(sku), "shipping_address": {**order_body(sku)["shipping_address"],
                                                                      "city": f"Pots{NUL}"}},
     "/shipping_address/city"),
    ("/locations/edge-wh", lambda sku: {"name": NUL, "kind": "warehouse", "latitude": 1, "longitude": 2}, "/name"),
    ("/stock/receipts", lambda sku: {"location_id": "edge-wh", "sku": NUL, "quantity": 1}, "/sku"),
], ids=["customer-name", "sku", "city", "location-name", "stock-sku"])
def test_nul_is_refused_with_a_pointer_and_nothing_is_recorded(integrator: Api, system, path, body, pointer) -> None:
    _, sku = integrator.stocked()
    head = _head(system)
    method = integrator.put if path.startswith("/locations") else integrator.post
    problem = assert_problem(method(path, body(sku)), 422)
    assert pointers(problem) == [pointer] and "NUL" in problem["detail"]
    assert _head(system) == head


def test_a_lone_surrogate_anywhere_in_a_body_is_refused(integrator: Api) -> None:
    _, sku = integrator.stocked()
    raw = order_body(sku)
    raw["customer"]["name"] = "@SURROGATE@"
    body = __import__("json").dumps(raw).replace("@SURROGATE@", "A\\ud800B").encode()
    problem = assert_problem(integrator.client.post("/orders", content=body, headers={
        **integrator.headers(), "Content-Type": "application/json"}), 422)
    assert pointers(problem) == ["/customer/name"] and "U+D800" in problem["detail"]
    key = b'{"name": "x", "kind": "store", "latitude": 1, "longitude": 2, "k\\udc00": 1}'
    problem = assert_problem(integrator.client.put("/locations/edge-store", content=key, headers={
        **integrator.headers(), "Content-Type": "application/json"}), 422)
    assert pointers(problem) == ["/k\\udc00"]


def test_nul_in_query_and_path_parameters_is_refused(integrator: Api) -> None:
    problem = assert_problem(integrator.get("/orders?channel=we%00b"), 422)
    assert problem["errors"][0] == {"parameter": "channel", "in": "query",
                                    "detail": "contains NUL (U+0000), which cannot be stored"}
    problem = assert_problem(integrator.get("/stock/SKU%00X"), 422)
    assert problem["errors"][0]["in"] == "path"
    assert_problem(integrator.post("/shipments/shp%00x/pick", {}), 422)


def _send_part_of_a_body(address: tuple[str, int], path: str, headers: dict[str, str], sent: int) -> tuple[int, bytes]:
    """Sends the request line, the headers and ``sent`` bytes of a chunked body that would go on
    for ever, then waits for the answer: it can only come from a server that did not wait for
    the rest."""
    import socket

    with socket.create_connection(address, timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "test", "Content-Type": "application/json",
                                                     "Transfer-Encoding": "chunked", **headers}.items())
        sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
        chunk = b"{" + b" " * 65535
        for _ in range(sent // len(chunk)):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        answer = sock.makefile("rb").readline()
        return int(answer.split()[1]), answer


def test_a_body_over_the_limit_is_413_without_being_read_whole(integrator: Api, system, served) -> None:
    limit = system.settings.max_body_bytes
    declared = integrator.client.post("/stock/receipts", content=b"{" + b" " * limit + b"}", headers={
        **integrator.headers(), "Content-Type": "application/json"})
    problem = assert_problem(declared, 413)
    assert problem["type"] == "urn:oms:problem:payload-too-large"

    status, _ = _send_part_of_a_body(served, "/orders", integrator.headers(), limit + 2 * 65536)
    assert status == 413


def test_the_key_is_checked_before_the_body_is_read(served) -> None:
    for path in ("/orders", "/stock/receipts", "/shipments/shp_x_1/pick"):
        status, _ = _send_part_of_a_body(served, path, {}, 65536)
        assert status == 401, path


def test_nesting_is_bounded(integrator: Api) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", customer=deep)), 422)
    assert "deeper than 32" in problem["detail"]
    assert_problem(integrator.client.post("/stock/receipts", content=b"[" * 100_000 + b"]" * 100_000,
                                          headers={**integrator.headers(), "Content-Type": "application/json"}), 422)


def _routes() -> list[Any]:
    from api.app import ROUTE_MODULES

    return [route for module in ROUTE_MODULES for route in module.router.routes]


def _command_paths(client) -> list[tuple[str, str]]:
    fill = {"order_id": "01a23e98-0328-76c9-bf99-8b43dec563ad", "shipment_id": "shp_x_1", "return_id": "ret_x_1",
            "location_id": "edge-wh", "key_id": "00000000-0000-0000-0000-000000000000", "sku": "SKU",
            "channel_id": "edge-channel", "endpoint_id": "00000000-0000-0000-0000-000000000000", "delivery_id": "1"}
    return [(method, route.path.format(**fill)) for route in _routes() if isinstance(route, APIRoute)
            for method in route.methods if method in ("POST", "PUT", "PATCH")]


def test_a_body_that_is_not_utf8_or_not_json_is_422_on_every_route(admin: Api) -> None:
    paths = _command_paths(admin.client)
    assert len(paths) >= 12
    for method, path in paths:
        for body, what in ((b'{"name": "\xff\xfe"}', "UTF-8"), (b"{not json", "JSON")):
            r = admin.client.request(method, path, content=body,
                                     headers={**admin.headers(), "Content-Type": "application/json"})
            assert r.status_code == 422, (method, path, what, r.status_code, r.text)


def test_every_status_a_guarded_route_gives_is_documented(admin: Api) -> None:
    document = admin.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() in ("POST", "PUT", "PATCH"):
                assert {"413", "422"} <= set(operation["responses"]), (method, path)
            if operation.get("parameters"):
                assert "422" in operation["responses"], (method, path)


def test_every_route_of_the_app_is_guarded(admin: Api) -> None:
    routes = _routes()
    assert len(routes) > 20 and all(isinstance(r, GuardedRoute) for r in routes)


def test_a_position_beyond_the_head_is_refused_instead_of_waited_on(integrator: Api, system) -> None:
    beyond = _head(system) + 1_000_000
    problem = assert_problem(integrator.get("/stock/SKU-NOWHERE", headers={"X-OMS-Min-Position": str(beyond)}), 422)
    assert problem["errors"][0]["parameter"] == "X-OMS-Min-Position"


def test_after_poisoned_requests_the_read_models_equal_a_rebuild_of_the_store(integrator: Api, system) -> None:
    _, sku = integrator.stocked()
    placed = integrator.place(order_body(sku))
    for poisoned in (order_body(NUL), order_body(sku, external_id=NUL),
                     order_body(sku, customer={"name": "x", "email": NUL, "phone": None})):
        assert_problem(integrator.post("/orders", poisoned), 422)
    order = integrator.wait_order(placed["id"])
    status = {s["name"]: s for s in integrator.client.app.state.system.queries.projection_status(system.projections)}
    head = _head(system)
    assert system.queries.wait_for(list(status), head, timeout=15)  # no read model stalled
    # The orders read model holds, for the order, what replaying its events gives.
    assert order == order_document(system.app.repository.get(UUID(placed["id"])))


@pytest.mark.parametrize(("path", "body"), [
    ("/shipments/shp_0123456789abcdef0123456789abcdef_1/pick", {}),
    ("/shipments/shp_0123456789abcdef0123456789abcdef_1/pack", {}),
    ("/shipments/shp_0123456789abcdef0123456789abcdef_1/ship", {"carrier": "dhl"}),
    ("/shipments/shp_0123456789abcdef0123456789abcdef_1/deliver", {"delivered_at": "2026-12-01T09:30:00Z"}),
    ("/shipments/not-a-shipment/deliver", {}),
    ("/returns/ret_0123456789abcdef0123456789abcdef_1/receive",
     {"location_id": "edge-wh", "lines": [{"sku": "A", "quantity": 1, "condition": "damaged"}]}),
    ("/orders/01a23e98-0328-76c9-bf99-8b43dec563ad/cancel", {"reason": "x"}),
    ("/orders/01a23e98-0328-76c9-bf99-8b43dec563ad/hold", {"reason": "fraud_check"}),
    ("/orders/01a23e98-0328-76c9-bf99-8b43dec563ad/returns", {"lines": [{"sku": "A", "quantity": 1}]}),
])
def test_an_unknown_shipment_return_or_order_is_404_through_the_writer_never_503(integrator: Api, path, body) -> None:
    problem = assert_problem(integrator.post(path, body), 404)
    assert problem["type"] == "urn:oms:problem:not-found"
