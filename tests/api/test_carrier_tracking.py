"""EasyPost tracking webhooks, as EasyPost sends them (the sample in tests/fixtures/payloads): signed
with the account's secret, matched to the shipment by its tracking number, kept as the
shipment's tracking events; `delivered` completes it; nothing is ever dropped."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import Api, assert_problem, unique

SAMPLE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
                     / "easypost.event.tracker_updated.fedex_in_transit.json").read_text())
SECRET = "whsec_ﬁ_easypost_test_secret_0123"  # a ligature: the key is the NFKD form


def _signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(unicodedata.normalize("NFKD", secret).encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hmac-Signature": f"hmac-sha256-hex={digest}", "Content-Type": "application/json"}


def _event(tracking_code: str, *details: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["id"] = event_id or unique("evt")
    body["result"]["tracking_code"] = tracking_code
    if details:
        body["result"]["tracking_details"] = list(details)
    return body


def _post(client, body: dict[str, Any], secret: str = SECRET):  # noqa: ANN001, ANN202
    raw, headers = _signed(body, secret)
    return client.post("/carriers/easypost/events", content=raw, headers=headers)


@pytest.fixture(scope="module")
def configured(admin: Api) -> None:
    assert admin.put("/carriers/easypost", {"webhook_secret": SECRET}).status_code == 200


@pytest.fixture
def shipped(integrator: Api, configured) -> tuple[str, str, str]:
    order = integrator.confirmed_order()
    shipment_id = order["shipments"][0]["id"]
    tracking = unique("TRK")
    integrator.advance(shipment_id, "pick", "pack")
    r = integrator.post(f"/shipments/{shipment_id}/ship", {"carrier": "fedex", "tracking_number": tracking})
    assert r.status_code == 200, r.text
    integrator.wait_order(order["id"], lambda o: o["shipments"][0]["tracking_number"] == tracking)
    return order["id"], shipment_id, tracking


def test_the_sample_event_adds_its_tracking_details_to_the_shipment_once(integrator: Api, shipped) -> None:
    order_id, _, tracking = shipped
    body = _event(tracking)
    for _ in range(3):  # EasyPost retries; each delivery is harmless
        r = _post(integrator.client, body)
        assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    order = integrator.wait_order(order_id, lambda o: len(o["shipments"][0]["tracking_events"]) == 7)
    events = order["shipments"][0]["tracking_events"]
    assert [e["status"] for e in events] == [d["status"] for d in SAMPLE["result"]["tracking_details"]]
    assert events[1] == {"status": "in_transit", "message": "Picked up", "at": "2024-07-31T19:27:00+00:00",
                         "location": "ORLANDO, FL, 32809, US"}
    assert order["shipments"][0]["status"] == "shipped"


def test_delivered_completes_the_shipment_with_the_carriers_time_and_a_late_event_changes_nothing(
        integrator: Api, shipped) -> None:
    order_id, _, tracking = shipped
    delivered = {"status": "delivered", "message": "Delivered", "datetime": "2024-08-02T10:15:00Z",
                 "tracking_location": {"city": "Potsdam", "country": "DE"}}
    late = {"status": "in_transit", "message": "Arrived at hub", "datetime": "2024-08-01T08:00:00Z"}
    assert _post(integrator.client, _event(tracking, delivered)).status_code == 200
    assert _post(integrator.client, _event(tracking, late)).status_code == 200
    order = integrator.wait_order(order_id, lambda o: len(o["shipments"][0]["tracking_events"]) == 2)
    shipment = order["shipments"][0]
    assert shipment["status"] == "delivered" and shipment["delivered_at"] == "2024-08-02T10:15:00+00:00"
    assert [e["status"] for e in shipment["tracking_events"]] == ["in_transit", "delivered"]  # in time order
    assert order["fulfillment_status"] == "delivered"


def test_a_wrong_or_missing_signature_is_401_and_records_nothing(integrator: Api, admin: Api, shipped) -> None:
    order_id, _, tracking = shipped
    before = integrator.order(order_id)["version"]
    assert_problem(_post(integrator.client, _event(tracking), secret="whsec_not_the_secret_0123456789"), 401)
    raw, headers = _signed(_event(tracking))
    assert_problem(integrator.client.post("/carriers/easypost/events", content=raw,
                                          headers={"Content-Type": "application/json"}), 401)
    tampered = raw.replace(b"Picked up", b"Picked up!")
    assert_problem(integrator.client.post("/carriers/easypost/events", content=tampered, headers=headers), 401)
    assert integrator.order(order_id)["version"] == before


def test_an_event_for_an_unknown_tracking_number_is_recorded_and_listed(integrator: Api, admin: Api,
                                                                       configured) -> None:
    code = unique("UNKNOWN")
    r = _post(integrator.client, _event(code, event_id=f"evt_{code}"))
    assert r.status_code == 202 and r.json()["outcome"] == "unmatched"
    listed = admin.get("/carriers/easypost/unmatched").json()["data"]
    mine = [e for e in listed if e["tracking_code"] == code]
    assert len(mine) == 1 and mine[0]["event_id"] == f"evt_{code}" and mine[0]["body"]["result"]["carrier"] == "FedEx"
    assert_problem(integrator.get("/carriers/easypost/unmatched"), 403)


def test_the_secret_is_write_only(admin: Api, configured) -> None:
    r = admin.put("/carriers/easypost", {"webhook_secret": SECRET})
    assert r.json()["webhook_secret_set"] is True and SECRET not in r.text


def test_the_same_event_delivered_20_times_from_8_threads_at_once_is_recorded_once(integrator: Api, auditor: Api,
                                                                                  shipped) -> None:
    from concurrent.futures import ThreadPoolExecutor

    order_id, _, tracking = shipped
    body = _event(tracking)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _post(integrator.client, body).status_code, range(20)))
    assert statuses == [200] * 20
    order = integrator.wait_order(order_id, lambda o: len(o["shipments"][0]["tracking_events"]) == 7)
    assert len(order["shipments"][0]["tracking_events"]) == 7
    import time

    deadline = time.monotonic() + 15
    while True:  # the history read model follows the orders one
        history = auditor.get(f"/orders/{order_id}/history").json()["data"]
        if history[-1]["version"] >= order["version"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [e["type"] for e in history].count("ShipmentTracked") == 1
