"""Delivery: only a 2xx answer delivers; failures are tried again on the schedule and then given
up; 410 Gone and an endpoint failing for too long disable it; one order's messages never overtake
each other; every attempt is logged and a delivery can be sent again by hand."""
from __future__ import annotations

import time

import pytest

from tests.api.support import Api, assert_problem, order_body
from tests.webhooks.conftest import RETRY_DELAYS, Endpoints
from tests.webhooks.receiver import Arrival, Receiver, types_of


def _place(integrator: Api, **overrides) -> dict:
    _, sku = integrator.stocked(50)
    return integrator.place(order_body(sku, **overrides))


def _answers(*statuses: int) -> object:
    """A receiver script: these statuses for the first arrivals, then 200."""
    remaining = list(statuses)
    return lambda arrival: remaining.pop(0) if remaining else 200


def test_a_failed_attempt_is_retried_with_the_same_message_until_a_2xx(integrator: Api, endpoints: Endpoints,
                                                                       receiver: Receiver, admin: Api) -> None:
    endpoint, path = endpoints.create(["order.created"], script=_answers(500))
    order = _place(integrator)
    arrived = receiver.wait(path, lambda found: len(found) >= 2, order_id=order["id"])
    assert [a.answered for a in arrived] == [500, 200]
    first, second = arrived
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert second.at - first.at >= RETRY_DELAYS[0] * 0.9
    assert all(a.verified_with for a in arrived)

    (delivery,) = endpoints.wait_deliveries(endpoint["id"], lambda found: found and found[0]["status"] == "delivered")
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2 and delivery["status_code"] == 200
    assert delivery["webhook_id"] == first.webhook_id and delivery["type"] == "order.created"
    detail = admin.get(f"/webhooks/deliveries/{delivery['id']}").json()
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in detail["attempt_log"]] == \
        [(1, 500, "failed"), (2, 200, "delivered")]
    assert detail["attempt_log"][0]["response_excerpt"] == "not now"

    # Sent again by hand: a new delivery of the same message.
    r = admin.post(f"/webhooks/deliveries/{delivery['id']}/retry")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] != delivery["id"] and again["webhook_id"] == delivery["webhook_id"]
    assert again["origin"] == "retry"
    arrived = receiver.wait(path, lambda found: len(found) >= 3, order_id=order["id"])
    assert arrived[2].webhook_id == first.webhook_id and arrived[2].body == first.body
    assert_problem(admin.post("/webhooks/deliveries/999999999/retry"), 404)


def test_a_delivery_is_given_up_after_the_last_retry(integrator: Api, endpoints: Endpoints, receiver: Receiver,
                                                     admin: Api) -> None:
    endpoint, path = endpoints.create(["order.created"], script=lambda arrival: 503)
    order = _place(integrator)
    attempts = 1 + len(RETRY_DELAYS)
    (delivery,) = endpoints.wait_deliveries(endpoint["id"], lambda found: found and found[0]["status"] == "failed")
    assert delivery["status"] == "failed" and delivery["attempts"] == attempts
    assert delivery["next_attempt_at"] is None and delivery["status_code"] == 503
    assert len(receiver.at(path, order["id"])) == attempts
    gaps = [b.at - a.at for a, b in zip(receiver.at(path, order["id"]), receiver.at(path, order["id"])[1:])]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, RETRY_DELAYS)), gaps  # growing delays
    now = admin.get(f"/webhooks/endpoints/{endpoint['id']}").json()
    assert now["enabled"] is True and now["failing_since"] is not None  # (not for long enough to disable it)
    assert {d["id"] for d in endpoints.deliveries(endpoint["id"], status="failed")} == {delivery["id"]}
    assert endpoints.deliveries(endpoint["id"], status="delivered") == []


def test_410_gone_disables_the_endpoint(integrator: Api, endpoints: Endpoints, receiver: Receiver,
                                        admin: Api, webhook_system) -> None:
    endpoint, path = endpoints.create(["order.created"], script=lambda arrival: 410)
    _place(integrator)
    (delivery,) = endpoints.wait_deliveries(endpoint["id"], lambda found: found and found[0]["status"] == "failed")
    assert delivery["attempts"] == 1 and delivery["status_code"] == 410
    disabled = admin.get(f"/webhooks/endpoints/{endpoint['id']}").json()
    assert disabled["enabled"] is False and "410 Gone" in disabled["disabled_reason"]

    # Disabled: what happens meanwhile is not queued for it.
    later = integrator.wait_order(_place(integrator)["id"])
    assert webhook_system.webhooks.outbox.wait(webhook_system.queries.head(), timeout=10)  # past its events
    time.sleep(0.5)  # (and the sender's next round)
    assert receiver.at(path, later["id"]) == []
    assert len(endpoints.deliveries(endpoint["id"])) == 1
    assert_problem(admin.post(f"/webhooks/deliveries/{delivery['id']}/retry"), 409)

    r = admin.request("PATCH", f"/webhooks/endpoints/{endpoint['id']}", json={"enabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None


def test_an_endpoint_failing_for_too_long_is_disabled_and_says_why(integrator: Api, endpoints: Endpoints,
                                                                   receiver: Receiver, admin: Api, webhook_system,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Days in production (OMS_WEBHOOKS_DISABLE_AFTER); half a second here.
    monkeypatch.setattr(webhook_system.webhooks.sender, "disable_after", 0.5)
    endpoint, path = endpoints.create(["order.created"], script=lambda arrival: 500)
    _place(integrator)
    deadline = time.monotonic() + 15
    while (now := admin.get(f"/webhooks/endpoints/{endpoint['id']}").json())["enabled"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert now["enabled"] is False
    assert now["disabled_reason"].startswith("every attempt failed since") and "HTTP 500" in now["disabled_reason"]
    (delivery,) = endpoints.deliveries(endpoint["id"])
    assert delivery["attempts"] >= 2 and delivery["next_attempt_at"] is None


def test_one_orders_messages_keep_their_order_while_an_earlier_one_is_retried(
        integrator: Api, endpoints: Endpoints, receiver: Receiver) -> None:
    _, sku = integrator.stocked(50)
    failing = order_body(sku)
    refusals = [500, 500]

    def script(arrival: Arrival) -> int:
        data = arrival.payload["data"]
        if arrival.type == "order.created" and data.get("external_id") == failing["external_id"] and refusals:
            return refusals.pop(0)
        return 200

    endpoint, path = endpoints.create(["order.created", "order.confirmed"], script=script)
    slow = integrator.place(failing)
    other = integrator.place(order_body(sku))
    arrived = receiver.wait(path, lambda found: "order.confirmed" in types_of(found), order_id=slow["id"])
    assert [(a.type, a.answered) for a in arrived] == [
        ("order.created", 500), ("order.created", 500), ("order.created", 200), ("order.confirmed", 200)]
    # The other order's messages did not wait for it.
    others = receiver.wait(path, lambda found: len(found) >= 2, order_id=other["id"])
    assert types_of(others) == ["order.created", "order.confirmed"]
    assert others[0].at < arrived[2].at
    # While the first was retried, the confirmation waited with no attempt due.
    deliveries = endpoints.wait_deliveries(endpoint["id"], lambda found: all(d["status"] == "delivered" for d in found)
                                           and len(found) == 4)
    confirmed = [d for d in deliveries if d["type"] == "order.confirmed" and d["webhook_id"] == arrived[3].webhook_id]
    assert confirmed and confirmed[0]["attempts"] == 1


def test_deliveries_are_listed_a_page_at_a_time(admin: Api, endpoints: Endpoints, integrator: Api,
                                                receiver: Receiver) -> None:
    endpoint, path = endpoints.create(["order.created"])
    orders = [_place(integrator) for _ in range(3)]
    receiver.wait(path, lambda found: len(found) >= 3)
    endpoints.wait_deliveries(endpoint["id"], lambda found: len(found) == 3)
    r = admin.get(f"/webhooks/deliveries?endpoint_id={endpoint['id']}&limit=2")
    assert r.status_code == 200 and len(r.json()["data"]) == 2 and r.json()["next_cursor"]
    everything = admin.all_pages(f"/webhooks/deliveries?endpoint_id={endpoint['id']}&limit=2")
    assert len(everything) == 3 and [d["id"] for d in everything] == sorted((d["id"] for d in everything),
                                                                            reverse=True)
    assert {d["endpoint_id"] for d in everything} == {endpoint["id"]}
    assert len(orders) == 3
    assert_problem(admin.get("/webhooks/deliveries?cursor=not-one-of-ours"), 422)
    assert_problem(admin.get("/webhooks/deliveries?status=lost"), 422)
    assert_problem(admin.get("/webhooks/deliveries/999999999"), 404)
    assert_problem(integrator.get("/webhooks/deliveries"), 403)
