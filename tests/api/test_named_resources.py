"""Every resource someone can name has a GET; lists that grow are paginated; every input has a
documented answer (issue 16, "loose ends"). Given / when / then, on the real System."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.location import Location
from domain.money import CURRENCIES
from infrastructure.adapters.sandbox_carrier import SandboxCarrier
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from tests.api.support import Api, assert_problem, order_body, pointers, unique

# ---------------------------------------------------------------- GET /locations/{id}


def test_a_registered_location_can_be_read_by_its_id(integrator: Api, analyst: Api) -> None:
    # Given a registered location
    location_id = integrator.location(at=(48.137, 11.575), kind="store")
    # When it is read by id (by an integrator and by an analyst, as the list is)
    for reader in (integrator, analyst):
        r = reader.get(f"/locations/{location_id}")
        # Then it is the document the list holds
        assert r.status_code == 200, r.text
        assert r.json() == {"location_id": location_id, "name": location_id, "kind": "store",
                            "latitude": 48.137, "longitude": 11.575}


def test_an_unknown_location_is_404(analyst: Api, auditor: Api) -> None:
    problem = assert_problem(analyst.get("/locations/no-such-place"), 404)
    assert "no-such-place" in problem["detail"]
    # an id no location can have (PUT refuses it) names none either; NUL is refused everywhere
    for name in ("bad id!", "-x", "x%0A"):
        assert_problem(analyst.get(f"/locations/{name}"), 404)
    assert_problem(analyst.get("/locations/a%00b"), 422)
    assert_problem(auditor.get("/locations/no-such-place"), 403)  # the roles of GET /locations

# ---------------------------------------------------------------- GET /shipments/{id}


def test_a_shipment_can_be_read_by_its_id(integrator: Api, analyst: Api, auditor: Api) -> None:
    # Given a confirmed order whose shipment has been picked
    order = integrator.confirmed_order()
    shipment_id = order["shipments"][0]["id"]
    r = integrator.post(f"/shipments/{shipment_id}/pick", {})
    assert r.status_code == 200, r.text
    picked, position = r.json(), r.headers["x-oms-position"]
    # When the shipment is read by its id
    r = integrator.get(f"/shipments/{shipment_id}")
    # Then it is the shipment as in its order, naming and linking the order, tagged with its version
    assert r.status_code == 200, r.text
    document = r.json()
    assert document == {**picked["shipments"][0], "order_id": order["id"], "order_version": picked["version"],
                        "links": {"order": f"/orders/{order['id']}"}}
    assert document["status"] == "picked"  # the reader's own write is reflected
    assert r.headers["etag"] == f'"{picked["version"]}"'
    assert r.headers["link"] == f'</orders/{order["id"]}>; rel="up"'
    # ... for every role that reads orders
    for reader in (analyst, auditor):
        r = reader.get(f"/shipments/{shipment_id}", headers={"X-OMS-Min-Position": position})
        assert r.status_code == 200 and r.json()["status"] == "picked", r.text


@pytest.mark.parametrize("shipment_id", ["nope", "shp_nope_1", f"shp_{uuid.uuid4().hex}_1", f"ret_{uuid.uuid4().hex}_1"])
def test_an_unknown_shipment_is_404(analyst: Api, shipment_id: str) -> None:
    problem = assert_problem(analyst.get(f"/shipments/{shipment_id}"), 404)
    assert shipment_id in problem["detail"]


def test_a_shipment_number_the_order_does_not_have_is_404(integrator: Api) -> None:
    order = integrator.confirmed_order()
    other = order["shipments"][0]["id"].rsplit("_", 1)[0] + "_9"
    assert_problem(integrator.get(f"/shipments/{other}"), 404)
    # and a return id of an order that has shipments names no shipment
    assert_problem(integrator.get(f"/shipments/{other.replace('shp_', 'ret_')}"), 404)

# ---------------------------------------------------------------- returns: create and GET /returns/{id}


def test_a_return_request_answers_like_every_create_and_can_be_read_back(integrator: Api, auditor: Api) -> None:
    # Given a delivered order
    order = integrator.confirmed_order()
    sku = order["lines"][0]["sku"]
    delivered = integrator.advance(order["shipments"][0]["id"], "pick", "pack", "ship", "deliver")
    # When a return is requested
    r = integrator.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": sku, "quantity": 1, "reason": "too small"}]})
    # Then it answers 201 with where the return is and the order's new version
    assert r.status_code == 201, r.text
    requested = r.json()
    assert requested["status"] == "requested" and requested["order_id"] == order["id"]
    assert r.headers["location"] == f"/returns/{requested['id']}"
    assert r.headers["etag"] == f'"{requested["order_version"]}"'
    assert requested["order_version"] > delivered["version"]
    position = r.headers["x-oms-position"]
    # And the Location can be read, with the same version as ETag, naming and linking the order
    r = integrator.get(r.headers["location"])
    assert r.status_code == 200, r.text
    document = r.json()
    assert (document["id"], document["status"], document["order_id"]) == (requested["id"], "requested", order["id"])
    assert document["lines"] == [{"sku": sku, "quantity": 1, "reason": "too small"}]
    assert document["links"] == {"order": f"/orders/{order['id']}"}
    assert r.headers["etag"] == f'"{requested["order_version"]}"' == f'"{document["order_version"]}"'
    assert r.headers["link"] == f'</orders/{order["id"]}>; rel="up"'
    assert auditor.get(f"/returns/{requested['id']}", headers={"X-OMS-Min-Position": position}).status_code == 200


@pytest.mark.parametrize("return_id", ["nope", "ret_nope_1", f"ret_{uuid.uuid4().hex}_1", f"shp_{uuid.uuid4().hex}_1"])
def test_an_unknown_return_is_404(analyst: Api, return_id: str) -> None:
    assert_problem(analyst.get(f"/returns/{return_id}"), 404)


def test_reading_shipments_and_returns_needs_a_key(anonymous: Api) -> None:
    assert_problem(anonymous.get(f"/shipments/shp_{uuid.uuid4().hex}_1"), 401)
    assert_problem(anonymous.get(f"/returns/ret_{uuid.uuid4().hex}_1"), 401)
    assert_problem(anonymous.get("/locations/x"), 401)

# ---------------------------------------------------------------- pagination


def _walk(api: Api, path: str) -> list[list[dict]]:
    """The pages of a list, following Link headers; each page's next_cursor agrees with its Link."""
    pages = []
    while True:
        r = api.get(path)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page["data"])
        if page["next_cursor"] is None:
            assert "link" not in r.headers
            return pages
        link = r.headers["link"]
        assert link.endswith('>; rel="next"') and f"cursor={page['next_cursor']}" in link
        path = link[1:link.index(">")]


def test_locations_are_paginated_like_orders(integrator: Api, analyst: Api) -> None:
    # Given three more locations
    mine = {integrator.location(unique("page")) for _ in range(3)}
    # When the list is read two at a time
    pages = _walk(integrator, "/locations?limit=2")
    # Then every page but the last holds two, in id order, and together they hold every location once
    ids = [loc["location_id"] for page in pages for loc in page]
    assert all(len(page) == 2 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and mine <= set(ids)
    assert len(analyst.get("/locations?limit=1").json()["data"]) == 1  # the analyst's role reads it too


def test_api_keys_are_paginated_like_orders(admin: Api) -> None:
    # Given three more keys
    created = [admin.post("/api-keys", {"name": unique("paged"), "role": "analyst"}).json()["id"] for _ in range(3)]
    # When the keys are read one at a time
    pages = _walk(admin, "/api-keys?limit=1")
    # Then they come oldest first, each once, the new ones last
    ids = [key["id"] for page in pages for key in page]
    assert all(len(page) == 1 for page in pages)
    assert len(ids) == len(set(ids)) and ids[-3:] == created
    assert [k["id"] for k in admin.get("/api-keys?limit=200").json()["data"]][-3:] == created


@pytest.mark.parametrize("path", ["/locations", "/api-keys"])
@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor", "cursor=WzEsMl0",
                                   "cursor=WyJhXHUwMDAwIl0", "cursor=WyJcdWQ4MDAiXQ", "color=red"])
def test_bad_page_parameters_are_422(admin: Api, path: str, query: str) -> None:
    problem = assert_problem(admin.get(f"{path}?{query}"), 422)
    assert problem["errors"][0]["parameter"] == query.split("=")[0] and problem["errors"][0]["in"] == "query"


def test_a_cursor_of_one_list_is_refused_by_another(admin: Api) -> None:
    for _ in range(2):
        admin.location(unique("page"))
    locations_cursor = admin.get("/locations?limit=1").json()["next_cursor"]
    assert locations_cursor
    assert_problem(admin.get(f"/api-keys?cursor={locations_cursor}"), 422)
    assert_problem(admin.get(f"/orders?cursor={locations_cursor}"), 422)

# ---------------------------------------------------------------- currencies and countries


@pytest.mark.parametrize("currency", ["XYZ", "XAU", "XXX", "HRK", "eur"])
def test_a_currency_outside_iso_4217_is_422(integrator: Api, currency: str) -> None:
    problem = assert_problem(integrator.post("/orders", order_body("SKU-1", currency=currency)), 422)
    assert pointers(problem) == ["/currency"]
    assert "ISO 4217" in problem["errors"][0]["detail"]


@pytest.mark.parametrize(("currency", "price", "shipping"), [("JPY", "100.5", "0"), ("KWD", "1.1234", "0.500"),
                                                              ("EUR", "9.999", "0.00"), ("HKD", "10.001", "1")])
def test_more_decimals_than_the_currency_has_are_422_at_the_amount(integrator: Api, currency: str, price: str,
                                                                   shipping: str) -> None:
    body = order_body("SKU-1", currency=currency, shipping_price=shipping)
    body["lines"][0]["unit_price"] = price
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert pointers(problem) == ["/lines/0/unit_price"]
    assert currency in problem["errors"][0]["detail"]


def test_the_shipping_price_is_checked_too(integrator: Api) -> None:
    body = order_body("SKU-1", currency="JPY", shipping_price="5.5")
    body["lines"][0]["unit_price"] = "1000"
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert pointers(problem) == ["/shipping_price"]
    assert problem["errors"][0]["detail"] == "JPY amounts are whole numbers (no decimals)"


@pytest.mark.parametrize(("currency", "price", "total"), [("JPY", "1500", "1500"), ("KWD", "1.125", "1.125"),
                                                           ("HKD", "10.50", "10.50"), ("CLF", "0.1234", "0.1234")])
def test_amounts_within_the_minor_units_are_accepted(integrator: Api, currency: str, price: str, total: str) -> None:
    _, sku = integrator.stocked()
    body = order_body(sku, currency=currency, shipping_price="0")
    body["lines"][0]["unit_price"] = price
    r = integrator.post("/orders", body)
    assert r.status_code == 201, r.text
    assert (r.json()["currency"], r.json()["totals"]["total"]) == (currency, total)


def test_the_openapi_document_lists_the_codes(client) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    currencies = components["Currency"]["enum"]
    assert currencies == list(CURRENCIES) and {"EUR", "JPY", "KWD", "HKD"} <= set(currencies)
    assert "XYZ" not in currencies and "XAU" not in currencies
    assert len(components["Country"]["enum"]) == 249 and "DE" in components["Country"]["enum"]
    assert components["OrderIn"]["properties"]["currency"]["$ref"] == "#/components/schemas/Currency"
    assert components["AddressIn"]["properties"]["country"]["$ref"] == "#/components/schemas/Country"

# ---------------------------------------------------------------- payment providers, carriers, adjustments


def test_an_unknown_payment_provider_is_422(integrator: Api) -> None:
    body = order_body("SKU-1", payment={"provider": "stripe", "reference": "pay_1"})
    problem = assert_problem(integrator.post("/orders", body), 422)
    assert pointers(problem) == ["/payment/provider"]
    assert "sandbox" in problem["errors"][0]["detail"]


def test_an_unknown_carrier_is_422_before_anything_is_looked_up(integrator: Api) -> None:
    for carrier in ("pigeon", "FedEx", ""):
        problem = assert_problem(integrator.post(f"/shipments/shp_{uuid.uuid4().hex}_1/ship", {"carrier": carrier}), 422)
        assert pointers(problem) == ["/carrier"]
        assert "fedex" in problem["errors"][0]["detail"]


def test_the_enums_are_what_the_adapters_serve(client) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(components["Carrier"]["enum"]) == set(SandboxCarrier.carriers)
    assert components["PaymentProvider"]["enum"] == [SandboxPaymentGateway.name]


def test_a_stock_adjustment_of_zero_is_422(integrator: Api) -> None:
    location, sku = integrator.stocked()
    problem = assert_problem(integrator.post("/stock/adjustments", {"location_id": location, "sku": sku,
                                                                   "quantity_delta": 0, "reason": "recount"}), 422)
    assert pointers(problem) == ["/quantity_delta"]

# ---------------------------------------------------------------- the as-of read


def test_as_of_before_the_order_existed_says_so(integrator: Api, auditor: Api) -> None:
    # Given an order
    order = integrator.confirmed_order()
    created = datetime.fromisoformat(order["created_at"])
    # When it is asked for as it was a second before it was placed
    before = (created - timedelta(seconds=1)).isoformat()
    problem = assert_problem(auditor.get(f"/orders/{order['id']}/as-of", params={"at": before}), 404)
    # Then the answer says the order did not exist yet, and when
    assert "did not exist yet at" in problem["detail"] and order["id"] in problem["detail"]
    # And at its own created_at (as the README shows), it is the order as placed
    r = auditor.get(f"/orders/{order['id']}/as-of", params={"at": order["created_at"]})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["status"]) == (1, "pending")
    # And an order that never existed is simply not found
    unknown = uuid.uuid4()
    problem = assert_problem(auditor.get(f"/orders/{unknown}/as-of", params={"at": datetime.now(UTC).isoformat()}), 404)
    assert "did not exist yet" not in problem["detail"]


def test_as_of_of_a_stream_that_is_no_order_is_404(integrator: Api, auditor: Api) -> None:
    # Given a location, whose stream id is a UUID as an order's is
    stream = Location.create_id(integrator.location())
    # When it is asked for as an order, Then it is no order
    problem = assert_problem(auditor.get(f"/orders/{stream}/as-of", params={"at": datetime.now(UTC).isoformat()}), 404)
    assert str(stream) in problem["detail"]

# ---------------------------------------------------------------- Content-Type


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest.mark.parametrize("path", ["/orders", "/stock/receipts", "/locations/wh-ct"])
def test_a_json_body_without_a_json_content_type_is_told_so(integrator: Api, path: str,
                                                            content_type: str | None) -> None:
    # Given a body that is a JSON object, sent without Content-Type: application/json
    body = b'{"location_id": "x", "sku": "y", "quantity": 1}'
    headers = {"Content-Type": content_type} if content_type else {}
    method = "PUT" if path.startswith("/locations") else "POST"
    # When it is sent
    r = integrator.client.request(method, path, content=body, headers=integrator.headers(headers))
    # Then the answer is the 422 of every bad body, naming the header, not the body
    problem = assert_problem(r, 422)
    assert problem["detail"].startswith("Content-Type must be application/json")
    assert problem["errors"] == [{"parameter": "Content-Type", "in": "header", "detail": problem["detail"]}]
    assert (content_type or "missing") in problem["detail"]


def test_a_json_body_that_is_no_object_is_still_told_so(integrator: Api) -> None:
    problem = assert_problem(integrator.post("/stock/receipts", [1, 2]), 422)
    assert problem["errors"] == [{"pointer": "", "detail": "the request body must be a JSON object"}]
