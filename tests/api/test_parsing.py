"""POST /orders reads its body and Idempotency-Key itself (api/parsing.py): clients and the
OpenAPI document must see what a FastAPI body and header parameter would give them.

The reference is a FastAPI app with one route declaring ``body: OrderIn`` and the header, with
this API's problem handlers: every bad request must get the same problems from both, pointing at
the same places. (Validating JSON text, pydantic words a few messages in JSON's own terms: "a
valid array" where validating Python objects says "a valid list".)"""
from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import as_served, create_app, telemetry_at_start
from api.deps import Commander
from api.guard import Refusal, check_json_body
from api.problems import install_problem_handlers
from api.schemas import OrderIn
from tests.api.support import Api, assert_problem, order_body


def _reference_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/orders", status_code=201)
    async def place_order(body: OrderIn, idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=255)] = None) -> dict[str, Any]:
        return {}

    return app


@pytest.fixture(scope="module")
def reference() -> TestClient:
    return TestClient(_reference_app())


def _errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return response.json()["errors"]


BAD_BODIES = [
    ("no body", b"", {}),
    ("not declared as JSON", json.dumps(order_body("A")).encode(), {"Content-Type": "text/plain"}),
    ("no content type", json.dumps(order_body("A")).encode(), {"Content-Type": ""}),
    ("a list", b"[1, 2]", {}),
    ("a string", b'"text"', {}),
    ("null", b"null", {}),
    ("an unknown field", json.dumps(order_body("A", foo=1)).encode(), {}),
    ("missing fields", b'{"channel": "web"}', {}),
    ("a bad line", json.dumps(order_body([("A", 0), ("A", 2)])).encode(), {}),
    ("JSON with a charset", json.dumps(order_body("A", currency="eur")).encode(),
     {"Content-Type": "application/json; charset=utf-8"}),
    ("a +json type", json.dumps(order_body("A", shipping_price="free")).encode(),
     {"Content-Type": "application/vnd.oms+json"}),
]


@pytest.mark.parametrize(("case", "content", "headers"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_a_bad_body_gets_the_problem_a_body_parameter_gets(integrator: Api, reference: TestClient, case: str,
                                                           content: bytes, headers: dict[str, str]) -> None:
    headers = {"Content-Type": "application/json", **headers}
    if not headers["Content-Type"]:
        del headers["Content-Type"]
    ours = integrator.client.post("/orders", content=content, headers=integrator.headers(headers))
    assert_problem(ours, 422)
    assert _errors(ours) == _errors(reference.post("/orders", content=content, headers=headers))


def test_malformed_json_points_at_the_whole_body_as_for_a_body_parameter(integrator: Api,
                                                                         reference: TestClient) -> None:
    content, headers = b'{"channel": "web",', {"Content-Type": "application/json"}
    ours = _errors(integrator.client.post("/orders", content=content, headers=integrator.headers(headers)))
    theirs = _errors(reference.post("/orders", content=content, headers=headers))
    # The parsers word their reasons differently; where and what is the same.
    assert [e["pointer"] for e in ours] == [e["pointer"] for e in theirs] == [""]
    assert ours[0]["detail"].startswith("malformed JSON: ") and theirs[0]["detail"].startswith("malformed JSON: ")


# Any JSON value where an order's field would be: both must refuse or accept it alike.
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
fields = st.sampled_from(["channel", "currency", "shipping_price", "lines", "customer", "payment",
                          "shipping_address"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=fields, value=json_values)
def test_any_value_of_a_field_is_judged_as_a_body_parameter_judges_it(
        integrator: Api, reference: TestClient, field: str, value: Any) -> None:
    body = order_body("NO-SUCH-SKU", **{field: value})
    ours = integrator.client.post("/orders", json=body, headers=integrator.headers())
    try:  # text PostgreSQL cannot hold is refused before any route (api/guard.py), where it is
        check_json_body(json.dumps(body).encode(), max_depth=32)
    except Refusal as refusal:
        assert _where(_errors(ours)) == [e["pointer"] for e in refusal.errors]
        return
    theirs = reference.post("/orders", json=body)
    if theirs.status_code == 201:
        return  # valid: ours goes on to place it (not what this test is about)
    assert _where(_errors(ours)) == _where(_errors(theirs))


def _where(errors: list[dict[str, Any]]) -> list[str]:
    return [e["pointer"] for e in errors]


@pytest.mark.parametrize("value", ["", "k" * 256])
def test_a_bad_idempotency_key_is_a_header_problem_as_for_a_header_parameter(
        integrator: Api, reference: TestClient, value: str) -> None:
    body = order_body("A")
    ours = _errors(integrator.post("/orders", body, headers={"Idempotency-Key": value}))
    assert ours == _errors(reference.post("/orders", json=body, headers={"Idempotency-Key": value}))
    assert ours[0]["parameter"] == "Idempotency-Key" and ours[0]["in"] == "header"


def test_the_key_is_checked_before_the_body_is_read(anonymous: Api) -> None:
    r = anonymous.client.post("/orders", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 401)


def test_the_openapi_document_describes_the_route_as_for_parameters() -> None:
    """The same requestBody, header parameter, security and component schemas as FastAPI gives
    the route declared with parameters (the reference, with the key check as ours)."""
    reference = FastAPI()

    @reference.post("/orders")
    async def place_order(body: OrderIn, key: Commander, idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=255,
            description="Retries with the same key and body return the first result; "
                        "a different body is 422")] = None) -> None:
        pass

    theirs, ours = as_served(reference.openapi()), create_app(None).openapi()  # type: ignore[arg-type]
    for part in ("requestBody", "parameters", "security"):
        assert ours["paths"]["/orders"]["post"][part] == theirs["paths"]["/orders"]["post"][part], part
    for name in ("OrderIn", "CustomerIn", "AddressIn", "OrderLineIn", "PaymentIn"):
        assert ours["components"]["schemas"][name] == theirs["components"]["schemas"][name], name


def test_telemetry_follows_the_providers_set_up_before_the_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    assert telemetry_at_start() == {"tracing": False, "metrics": False, "logs": False}
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.NoOpTracerProvider())
    assert telemetry_at_start() == {"tracing": True, "metrics": False, "logs": False}
