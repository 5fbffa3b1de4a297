"""Over HTTP, a read model or policy stopped at an event is never silent: ``GET /health`` is 503
``degraded`` naming it, ``GET /projections`` shows it, and a read waiting for its own write on it
is answered 503 ``projection-stalled`` at once; once the cause is gone, all is well again by itself.

A system of its own (fresh database, the writer and the payment policy in this process, as with
``OMS_WRITER=thread``), so that the stalls made here cannot disturb the other HTTP tests."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient

import projections.orders as orders_module
from api.app import create_app
from application.ports import PaymentGatewayUnavailable
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from infrastructure.bootstrap import System, build_system
from infrastructure.settings import Settings
from tests.api.support import Api, assert_problem, order_body, unique
from tests.database import fresh_database_url

TIMEOUT = 30
T = TypeVar("T")


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with fresh_database_url() as url:
        # A generous read-your-writes timeout: a stalled read model must end the wait, not the timeout.
        system = build_system(Settings(read_your_writes_timeout=TIMEOUT, writer="thread"), database_url=url)
        for runner in system.projections + system.followers:
            runner.max_backoff = 0.4  # tried again at 0.1, 0.2, 0.4, 0.4, ... s
        system.start()
        try:
            yield system
        finally:
            system.stop()


@pytest.fixture(scope="module")
def admin(system: System) -> Iterator[Api]:
    with TestClient(create_app(system)) as client:
        yield Api(client, system.api_keys.create("stall admin", "admin")[1], "stall admin")


def eventually(check: Callable[[], T], timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)
    return result


def health_is(admin: Api, status: int) -> Callable[[], httpx.Response | None]:
    def check() -> httpx.Response | None:
        r = admin.get("/health")
        return r if r.status_code == status else None
    return check


def test_a_read_model_stopped_at_an_event_makes_health_degraded_and_reads_waiting_on_it_fail_at_once(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the orders read model cannot write one order's row (PostgreSQL refuses NUL in text)
    _, sku = admin.stocked()
    poisoned = unique("NUL")
    order_row = orders_module._order_row

    def row_with_nul(order: Any, doc: Any) -> Any:
        row = order_row(order, doc)
        return (*row[:7], "Ada\x00Lovelace", *row[8:]) if order.external_id == poisoned else row

    monkeypatch.setattr(orders_module, "_order_row", row_with_nul)

    # When that order is placed, and its caller reads it back
    placed = admin.post("/orders", order_body(sku, external_id=poisoned))
    assert placed.status_code == 201, placed.text
    order_id, written = placed.json()["id"], int(placed.headers["x-oms-position"])
    read = admin.get(f"/orders/{order_id}")

    # Then the read is answered 503 projection-stalled (not 404 after a wait), naming where
    problem = assert_problem(read, 503)
    assert problem["type"] == "urn:oms:problem:projection-stalled"
    assert problem["projection"] == "orders" and 0 < problem["position"] <= written
    assert "orders" in problem["detail"] and str(problem["position"]) in problem["detail"]
    assert read.headers["retry-after"]
    # ... health is 503 degraded, naming the read model, the event, the error, since when and how often
    health = admin.get("/health")
    assert health.status_code == 503 and health.headers["content-type"].startswith("application/json")
    body = health.json()
    assert body["status"] == "degraded" and body["cache"] in ("warming", "warm") and "writer" in body
    (stall,) = body["stalled"]
    assert stall["projection"] == "orders" and stall["position"] == problem["position"]
    assert ("0x00" in stall["error"] or "NUL" in stall["error"]) and stall["attempts"] >= 1
    assert datetime.fromisoformat(stall["since"])
    assert "orders" in body["detail"]
    # ... the projections' status shows it on that read model only
    status = {p["name"]: p for p in admin.get("/projections").json()["data"]}
    assert status["orders"]["stalled"]["position"] == stall["position"]
    assert [name for name, p in status.items() if p["stalled"]] == ["orders"]
    # ... and the other read models go on: reads waiting on them are served
    assert admin.get(f"/stock/{sku}").status_code == 200
    assert admin.get(f"/orders/{order_id}/history").status_code == 200

    # When the cause is gone
    monkeypatch.undo()

    # Then it goes on by itself: health is ok again and the order reads back
    ok = eventually(health_is(admin, 200))
    assert ok.json()["status"] == "ok" and ok.json()["stalled"] == []
    assert admin.order(order_id)["id"] == order_id
    assert all(p["stalled"] is None for p in admin.get("/projections").json()["data"])


def test_a_policy_stopped_at_an_event_makes_health_degraded_and_goes_on_once_it_can(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the payment provider does not answer for one card
    _, sku = admin.stocked()
    authorize = SandboxPaymentGateway.authorize

    def down_for_one_card(self: Any, reference: str, *args: Any, **kwargs: Any) -> Any:
        if reference == "pay_outage":
            raise PaymentGatewayUnavailable("the provider does not answer (test)")
        return authorize(self, reference, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentGateway, "authorize", down_for_one_card)

    # When an order paid with that card is placed
    order = admin.place(order_body(sku, payment={"provider": "sandbox", "reference": "pay_outage"}))

    # Then health is 503 degraded, naming the payment policy
    body = eventually(health_is(admin, 503)).json()
    assert body["status"] == "degraded"
    assert [s["projection"] for s in body["stalled"]] == ["payment_policy"]
    assert "PaymentGatewayUnavailable" in body["stalled"][0]["error"]
    status = {p["name"]: p for p in admin.get("/projections").json()["data"]}
    assert status["payment_policy"]["stalled"]["position"] == body["stalled"][0]["position"]
    # ... while the read models go on
    assert admin.order(order["id"])["payment_status"] == "pending"

    # When the provider answers again
    monkeypatch.undo()

    # Then the policy goes on by itself
    assert eventually(health_is(admin, 200)).json()["status"] == "ok"
    assert admin.wait_order(order["id"], timeout=TIMEOUT)["payment_status"] == "authorized"


def test_the_openapi_document_tells_of_the_503s(admin: Api) -> None:
    schema = admin.get("/openapi.json").json()
    health = schema["paths"]["/health"]["get"]["responses"]["503"]
    assert health["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
    assert "application/problem+json" in health["content"]
    assert "stalled" in schema["components"]["schemas"]["Health"]["properties"]
    assert "503" in schema["paths"]["/projections"]["get"]["responses"]
    assert "stalled" in schema["components"]["schemas"]["ProjectionStatus"]["properties"]
    assert "503" in schema["paths"]["/orders/{order_id}"]["get"]["responses"]
