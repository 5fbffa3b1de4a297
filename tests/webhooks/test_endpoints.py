"""Endpoints: the secret shown once and rotated with an overlap, replays from the event store with
the very webhook-ids and bodies of the first time, and the API's answers to bad input."""
from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from infrastructure.webhooks.store import new_secret
from tests.api.support import Api, assert_problem, order_body, pointers
from tests.webhooks.conftest import Endpoints
from tests.webhooks.receiver import Receiver, types_of


def _head(admin: Api) -> int:
    r = admin.get("/projections")
    assert r.status_code == 200, r.text
    return r.json()["head"]


def test_the_secret_is_shown_once_and_a_rotated_one_overlaps_the_previous(
        admin: Api, integrator: Api, endpoints: Endpoints, receiver: Receiver) -> None:
    endpoint, path = endpoints.create(["order.created"])
    shown = admin.get(f"/webhooks/endpoints/{endpoint['id']}").json()
    assert "secret" not in shown and shown["url"] == receiver.url(path)
    assert all("secret" not in e for e in admin.get("/webhooks/endpoints").json()["data"])

    r = admin.post(f"/webhooks/endpoints/{endpoint['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    rotated = r.json()["secret"]
    assert rotated.startswith("whsec_") and rotated != endpoint["secret"]
    receiver.trust(path, rotated)

    _, sku = integrator.stocked(50)
    order = integrator.place(order_body(sku))
    (arrival,) = receiver.wait(path, lambda found: len(found) >= 1, order_id=order["id"])
    # Signed with the new secret and, during the overlap, with the previous one too.
    assert sorted(arrival.verified_with) == sorted([endpoint["secret"], rotated])
    assert len(arrival.headers["webhook-signature"].split(" ")) == 2
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(arrival.body, arrival.headers)
    assert_problem(admin.post("/webhooks/endpoints/00000000-0000-0000-0000-000000000000/rotate-secret"), 404)


def test_a_replay_resends_what_the_feed_recorded_with_the_same_ids_and_bodies(
        admin: Api, integrator: Api, endpoints: Endpoints, receiver: Receiver) -> None:
    before = _head(admin)
    _, sku = integrator.stocked(50)
    earlier = integrator.wait_order(integrator.place(order_body(sku))["id"])  # before the endpoint existed
    endpoint, path = endpoints.create(["order.created", "order.confirmed"])
    assert endpoint["since_position"] >= before
    later = integrator.place(order_body(sku))
    first_time = receiver.wait(path, lambda found: len(found) >= 2, order_id=later["id"])
    assert types_of(first_time) == ["order.created", "order.confirmed"]
    assert receiver.at(path, earlier["id"]) == []  # created before the endpoint: not sent

    r = admin.post(f"/webhooks/endpoints/{endpoint['id']}/replay", {"since_position": before})
    assert r.status_code == 202, r.text
    assert r.json()["since_position"] == before and r.json()["until_position"] >= endpoint["since_position"]
    replayed_earlier = receiver.wait(path, lambda found: len(found) >= 2, order_id=earlier["id"])
    assert types_of(replayed_earlier) == ["order.created", "order.confirmed"]
    assert all(a.verified_with for a in replayed_earlier)
    replayed_later = receiver.wait(path, lambda found: len(found) >= 4, order_id=later["id"])[2:]
    assert [(a.webhook_id, a.body) for a in replayed_later] == [(a.webhook_id, a.body) for a in first_time]
    replays = [d for d in endpoints.deliveries(endpoint["id"]) if d["origin"] == "replay"]
    assert len(replays) >= 4

    # Replayed again: the same ids and bodies once more (the event store holds them for good).
    r = admin.post(f"/webhooks/endpoints/{endpoint['id']}/replay", {"since_position": before})
    assert r.status_code == 202, r.text
    again = receiver.wait(path, lambda found: len(found) >= 4, order_id=earlier["id"])[2:]
    assert [(a.webhook_id, a.body) for a in again] == [(a.webhook_id, a.body) for a in replayed_earlier]

    problem = assert_problem(admin.post(f"/webhooks/endpoints/{endpoint['id']}/replay",
                                        {"since_position": _head(admin) + 1_000_000}), 422)
    assert pointers(problem) == ["/since_position"]
    assert_problem(admin.post("/webhooks/endpoints/00000000-0000-0000-0000-000000000000/replay",
                              {"since_position": 0}), 404)


def test_an_endpoint_is_changed_disabled_and_deleted(admin: Api, integrator: Api, endpoints: Endpoints,
                                                     receiver: Receiver, webhook_system) -> None:
    endpoint, path = endpoints.create(["order.created"])
    url = f"/webhooks/endpoints/{endpoint['id']}"
    r = admin.request("PATCH", url, json={"event_types": ["order.confirmed", "order.confirmed"],
                                          "description": None})
    assert r.status_code == 200, r.text
    assert r.json()["event_types"] == ["order.confirmed"] and r.json()["description"] is None
    assert r.json()["url"] == endpoint["url"]

    r = admin.request("PATCH", url, json={"enabled": False})
    assert r.json()["enabled"] is False and r.json()["disabled_reason"] == "disabled through the API"
    _, sku = integrator.stocked(50)
    paused = integrator.wait_order(integrator.place(order_body(sku))["id"])
    assert webhook_system.webhooks.outbox.wait(webhook_system.queries.head(), timeout=10)  # past its events
    assert "webhook_outbox" in {p["name"] for p in admin.get("/projections").json()["data"]}
    r = admin.request("PATCH", url, json={"enabled": True})
    assert r.json()["enabled"] is True
    resumed = integrator.wait_order(integrator.place(order_body(sku))["id"])
    arrived = receiver.wait(path, lambda found: len(found) >= 1, order_id=resumed["id"])
    assert types_of(arrived) == ["order.confirmed"]
    assert receiver.at(path, paused["id"]) == []

    assert admin.delete(url).status_code == 204
    assert_problem(admin.get(url), 404)
    assert_problem(admin.delete(url), 404)
    assert_problem(admin.request("PATCH", url, json={"enabled": True}), 404)
    assert endpoints.deliveries(endpoint["id"]) == []


@pytest.mark.parametrize("body, pointer", [
    ({"url": "ftp://example.com/x", "event_types": ["*"]}, "/url"),
    ({"url": "https://example.com/x", "event_types": []}, "/event_types"),
    ({"url": "https://example.com/x", "event_types": ["order.shipped"]}, "/event_types/0"),
    ({"url": "https://example.com:99999/x", "event_types": ["*"]}, "/url"),
    ({"url": "https://example.com/x", "event_types": ["*"], "secret": "mine"}, "/secret"),
    ({"event_types": ["*"]}, "/url"),
])
def test_bad_endpoints_are_refused_with_a_pointer(admin: Api, body: dict, pointer: str) -> None:
    problem = assert_problem(admin.post("/webhooks/endpoints", body), 422)
    assert pointer in pointers(problem), problem


def test_only_admins_manage_endpoints(integrator: Api, receiver: Receiver) -> None:
    assert_problem(integrator.post("/webhooks/endpoints", {"url": receiver.url("/x"), "event_types": ["*"]}), 403)
    assert_problem(integrator.get("/webhooks/endpoints"), 403)
