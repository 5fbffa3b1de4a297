"""Bad input: 422 problem+json with JSON pointers; 404 and 405 as problems; never a 500."""
from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.support import Api, assert_problem, order_body, pointers, unique


def test_problem_shape_for_unknown_field(integrator: Api) -> None:
    body = order_body("SKU-1", foo="bar")
    r = integrator.post("/orders", body, headers={"X-Request-ID": "req-unknown-field"})
    problem = assert_problem(r, 422)
    assert problem["type"].endswith("validation-error")
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == "/orders"
    assert problem["errors"] == [{"pointer": "/foo", "detail": "unknown field"}]
    assert problem["request_id"] == "req-unknown-field" == r.headers["x-request-id"]


@pytest.mark.parametrize("field", ["status", "id", "totals", "version", "payment_status"])
def test_clients_cannot_set_server_fields(integrator: Api, field: str) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", **{field: "x"})), 422)
    assert pointers(problem) == [f"/{field}"]


def test_unknown_nested_field(integrator: Api) -> None:
    body = order_body("SKU-1")
    body["customer"]["loyalty"] = "gold"
    body["lines"][0]["discount"] = "1.00"
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert set(pointers(problem)) == {"/customer/loyalty", "/lines/0/discount"}


@pytest.mark.parametrize("price", ["12.3.4", "abc", "-1.00", "", "1e3", True, "NaN", [1]])
def test_bad_money(integrator: Api, price) -> None:
    body = order_body("SKU-1")
    body["lines"][0]["unit_price"] = price
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert pointers(problem) == ["/lines/0/unit_price"]


def test_bad_shipping_price(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", shipping_price="free")), 422)
    assert pointers(problem) == ["/shipping_price"]


def test_more_decimals_than_the_currency_allows(integrator: Api) -> None:
    body = order_body("SKU-1", currency="JPY", shipping_price="0")
    body["lines"][0]["unit_price"] = "100.5"
    assert_problem(integrator.post("/orders", body), 422)


def test_money_as_json_number_is_read_exactly(integrator: Api) -> None:
    _, sku = integrator.stocked()
    body = order_body(sku, shipping_price=0.1)
    body["lines"][0]["unit_price"] = 19.99
    r = integrator.post("/orders", body)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["lines"][0]["unit_price"] == "19.99"
    assert order["totals"]["total"] == "20.09"


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", "", 978])
def test_bad_currency(integrator: Api, currency) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", currency=currency)), 422)
    assert pointers(problem) == ["/currency"]


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", None, True])
def test_bad_quantity(integrator: Api, quantity) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", quantity)), 422)
    assert pointers(problem) == ["/lines/0/quantity"]


def test_duplicate_skus(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/orders", order_body([("A", 1), ("A", 2)])), 422)
    assert pointers(problem) == ["/lines"]
    assert "A" in problem["errors"][0]["detail"]


def test_empty_lines(integrator: Api) -> None:
    assert pointers(assert_problem(integrator.post("/orders", order_body([])), 422)) == ["/lines"]


@pytest.mark.parametrize(("field", "value"), [("country", "XX"), ("country", "de"), ("latitude", 91.0),
                                               ("longitude", -181), ("latitude", "52.1"), ("city", "")])
def test_bad_address(integrator: Api, field, value) -> None:
    body = order_body("SKU-1")
    body["shipping_address"][field] = value
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert pointers(problem) == [f"/shipping_address/{field}"]


def test_bad_email(integrator: Api) -> None:
    body = order_body("SKU-1")
    body["customer"]["email"] = "not an email"
    assert pointers(assert_problem(integrator.post("/orders", body), 422)) == ["/customer/email"]


def test_missing_fields_are_listed(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/orders", {"channel": "web"}), 422)
    assert {"/external_id", "/currency", "/lines", "/payment"} <= set(pointers(problem))


def test_malformed_json(integrator: Api) -> None:
    r = integrator.client.post("/orders", content=b'{"channel": "web",', headers=integrator.headers(
        {"Content-Type": "application/json"}))
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["pointer"] == ""
    assert "JSON" in problem["errors"][0]["detail"]


def test_body_must_be_an_object(integrator: Api) -> None:
    assert_problem(integrator.post("/orders", [1, 2]), 422)
    assert_problem(integrator.post("/stock/receipts", "text"), 422)


def test_missing_body(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/stock/receipts"), 422)
    assert problem["errors"][0]["pointer"] == ""


def test_location_input(integrator: Api) -> None:
    problem = assert_problem(integrator.put("/locations/x1", {"name": "x", "kind": "depot",
                                                               "latitude": 1.0, "longitude": 1.0}), 422)
    assert pointers(problem) == ["/kind"]
    problem = assert_problem(integrator.put("/locations/bad id!", {"name": "x", "kind": "store",
                                                                    "latitude": 1.0, "longitude": 1.0}), 422)
    assert problem["errors"][0]["parameter"] == "location_id"


def test_stock_input(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/stock/receipts", {"location_id": "x", "sku": "y", "quantity": 0}), 422)
    assert pointers(problem) == ["/quantity"]
    problem = assert_problem(integrator.post("/stock/adjustments",
                                             {"location_id": "x", "sku": "y", "quantity_delta": 1}), 422)
    assert pointers(problem) == ["/reason"]


@pytest.mark.parametrize("query", ["status=shipped", "payment_status=nope", "fulfillment_status=done",
                                   "created_after=2024-01-01T00:00:00", "created_before=yesterday",
                                   "limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor", "color=red"])
def test_bad_list_parameters(analyst: Api, query: str) -> None:
    problem = assert_problem(analyst.get(f"/orders?{query}"), 422)
    assert problem["errors"][0]["parameter"] == query.split("=")[0]
    assert problem["errors"][0]["in"] == "query"


def test_as_of_needs_a_time_zone(auditor: Api) -> None:
    problem = assert_problem(auditor.get(f"/orders/{uuid.uuid4()}/as-of?at=2024-01-01T10:00:00"), 422)
    assert problem["errors"][0]["parameter"] == "at"
    assert_problem(auditor.get(f"/orders/{uuid.uuid4()}/as-of"), 422)


def test_bad_min_position_header(analyst: Api) -> None:
    problem = assert_problem(analyst.get("/orders", headers={"X-OMS-Min-Position": "soon"}), 422)
    assert problem["errors"][0] == {"parameter": "X-OMS-Min-Position", "in": "header",
                                    "detail": problem["errors"][0]["detail"]}


def test_unknown_things_are_404(admin: Api) -> None:
    assert_problem(admin.get(f"/orders/{uuid.uuid4()}"), 404)
    assert_problem(admin.get("/orders/not-an-id"), 404)
    assert_problem(admin.post(f"/orders/{uuid.uuid4()}/cancel", {"reason": "x"}), 404)
    assert_problem(admin.post("/orders/nope/returns", {"lines": [{"sku": "a", "quantity": 1}]}), 404)
    assert_problem(admin.get(f"/orders/{uuid.uuid4()}/history"), 404)
    assert_problem(admin.get(f"/orders/{uuid.uuid4()}/as-of?at=2030-01-01T00:00:00Z"), 404)
    assert_problem(admin.post("/shipments/shp_nope_1/pick", {}), 404)
    assert_problem(admin.post(f"/shipments/shp_{uuid.uuid4().hex}_1/pack"), 404)
    assert_problem(admin.post("/returns/ret_nope_1/receive",
                              {"location_id": "x", "lines": [{"sku": "a", "quantity": 1, "condition": "damaged"}]}), 404)
    assert_problem(admin.get(f"/stock/{unique('NEVER-STOCKED')}"), 404)  # (other tests may stock any SKU they saw)
    problem = assert_problem(admin.post("/stock/receipts", {"location_id": "nowhere", "sku": "A", "quantity": 1}), 404)
    assert "nowhere" in problem["detail"]


def test_unknown_route_and_method_are_problems(admin: Api) -> None:
    assert_problem(admin.get("/no/such/route"), 404)
    r = admin.delete("/orders")
    assert_problem(r, 405)
    assert r.headers["allow"]


def test_unexpected_error_is_a_500_without_internals(system, secrets, monkeypatch) -> None:
    def boom(*args, **kwargs) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(system.queries, "locations", boom)
    with TestClient(create_app(system), raise_server_exceptions=False) as client:
        r = Api(client, secrets["admin"]).get("/locations", headers={"X-Request-ID": "req-boom"})
    problem = assert_problem(r, 500)
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert problem["request_id"] == "req-boom"
