"""The order journey over HTTP: placement, payment, fulfilment, returns, and the rules on the way."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote

from tests.api.support import BERLIN, MUNICH, Api, assert_problem, order_body, unique


def test_whole_journey(integrator: Api, auditor: Api) -> None:
    near = integrator.location(at=BERLIN)
    far = integrator.location(at=MUNICH)
    sku = unique("SHOE")
    integrator.receive(near, sku, 2)
    integrator.receive(far, sku, 5)

    body = order_body(sku, 1, shipping_price="0.00")
    r = integrator.post("/orders", body, headers={"Idempotency-Key": unique("key")})
    assert r.status_code == 201, r.text
    placed = r.json()
    assert r.headers["location"] == f"/orders/{placed['id']}"
    assert r.headers["etag"] == f'"{placed["version"]}"'
    assert int(r.headers["x-oms-position"]) > 0
    assert placed["number"].startswith("OMS-") and placed["notify_customer"] is True
    assert placed["totals"] == {"subtotal": "99.90", "discount": "0.00", "shipping": "0.00", "tax": "0.00",
                                "fees": "0.00", "total": "99.90", "captured": "0.00", "refunded": "0.00"}

    order = integrator.wait_order(placed["id"])
    assert (order["status"], order["payment_status"]) == ("confirmed", "authorized")
    [shipment] = order["shipments"]
    assert shipment["location_id"] == near  # the nearest location with stock

    stock = integrator.get(f"/stock/{sku}").json()
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (7, 1, 6)

    document = integrator.advance(shipment["id"], "pick", "pack", "ship")
    assert document["fulfillment_status"] == "shipped"
    assert document["shipments"][0]["tracking_number"] and document["shipments"][0]["carrier"] == "fedex"
    # Capture follows the shipment (in the request, or by the payment policy).
    assert integrator.wait_order(order["id"], lambda o: o["payment_status"] == "paid")["payment_status"] == "paid"
    document = integrator.advance(shipment["id"], "deliver")
    assert (document["status"], document["fulfillment_status"]) == ("completed", "delivered")

    r = integrator.post(f"/orders/{order['id']}/returns",
                        {"lines": [{"sku": sku, "quantity": 1, "reason": "too small"}]})
    assert r.status_code == 201, r.text
    ret = r.json()
    assert ret["status"] == "requested" and ret["id"]

    r = integrator.post(f"/returns/{ret['id']}/receive",
                        {"location_id": near, "lines": [{"sku": sku, "quantity": 1, "condition": "resellable"}]})
    assert r.status_code == 200, r.text
    order = integrator.wait_order(order["id"], lambda o: o["payment_status"] == "refunded")
    assert order["payment_status"] == "refunded"
    assert order["totals"]["refunded"] == "99.90"

    stock = integrator.get(f"/stock/{sku}").json()
    assert (stock["on_hand"], stock["reserved"]) == (7, 0)  # one shipped, one restocked
    # The auditor's key made none of these changes: it asks for the last one's position.
    history = auditor.get(f"/orders/{order['id']}/history",
                          headers={"X-OMS-Min-Position": r.headers["x-oms-position"]}).json()["data"]
    assert len(history) >= 8
    assert history[0]["type"] == "OrderPlaced"


def test_declined_payment_puts_order_on_hold_and_releases_stock(integrator: Api) -> None:
    _, sku = integrator.stocked(3)
    body = order_body(sku, 2, payment={"provider": "sandbox", "reference": "pay_declined_card"})
    order = integrator.wait_order(integrator.place(body)["id"])
    assert (order["status"], order["payment_status"]) == ("on_hold", "declined")
    # The release is the payment policy's write, not the caller's: the stock read model shows it
    # once it has caught up, independently of the orders read model.
    stock = integrator.wait_stock(sku, until=lambda s: s["reserved"] == 0)
    assert (stock["reserved"], stock["available"]) == (0, 3)
    shipment = order["shipments"][0]["id"]
    assert_problem(integrator.post(f"/shipments/{shipment}/pick", {}), 409)


def test_backorder_when_stock_is_short(integrator: Api) -> None:
    _, sku = integrator.stocked(1)
    order = integrator.wait_order(integrator.place(order_body(sku, 3))["id"])
    assert order["status"] == "backordered"
    assert order["lines"][0]["backordered"] == 2
    assert sum(line["quantity"] for s in order["shipments"] for line in s["lines"]) == 1


def test_split_shipments_over_two_locations(integrator: Api) -> None:
    near = integrator.location(at=BERLIN)
    far = integrator.location(at=MUNICH)
    sku = unique("SPLIT")
    integrator.receive(near, sku, 1)
    integrator.receive(far, sku, 1)
    order = integrator.wait_order(integrator.place(order_body(sku, 2))["id"])
    assert order["status"] == "confirmed"
    assert sorted(s["location_id"] for s in order["shipments"]) == sorted([near, far])
    for shipment in order["shipments"]:
        integrator.advance(shipment["id"], "pick", "pack", "ship")
    assert integrator.order(order["id"])["fulfillment_status"] == "shipped"


def test_ship_before_pack_is_409(integrator: Api) -> None:
    order = integrator.confirmed_order()
    shipment = order["shipments"][0]["id"]
    integrator.advance(shipment, "pick")
    problem = assert_problem(integrator.post(f"/shipments/{shipment}/ship", {"carrier": "fedex"}), 409)
    assert problem["type"].endswith("forbidden-transition")
    assert_problem(integrator.post(f"/shipments/{shipment}/deliver", {}), 409)


def test_unknown_carrier_is_422(integrator: Api) -> None:
    order = integrator.confirmed_order()
    shipment = order["shipments"][0]["id"]
    integrator.advance(shipment, "pick", "pack")
    assert_problem(integrator.post(f"/shipments/{shipment}/ship", {"carrier": "pigeon"}), 422)
    r = integrator.post(f"/shipments/{shipment}/ship", {"carrier": "ups", "tracking_number": "1Z999"})
    assert r.status_code == 200 and r.json()["shipments"][0]["tracking_number"] == "1Z999"


def test_cancel(integrator: Api) -> None:
    order = integrator.confirmed_order()
    sku = order["lines"][0]["sku"]
    r = integrator.post(f"/orders/{order['id']}/cancel", {"reason": "customer changed their mind"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert integrator.get(f"/stock/{sku}").json()["reserved"] == 0
    assert_problem(integrator.post(f"/orders/{order['id']}/cancel", {"reason": "again"}), 409)


def test_cancel_after_ship_is_409(integrator: Api) -> None:
    order = integrator.confirmed_order()
    integrator.advance(order["shipments"][0]["id"], "pick", "pack", "ship")
    problem = assert_problem(integrator.post(f"/orders/{order['id']}/cancel", {"reason": "too late"}), 409)
    assert "shipped" in problem["detail"]


def test_return_more_than_delivered_is_409(integrator: Api) -> None:
    order = integrator.confirmed_order(quantity=1)
    sku = order["lines"][0]["sku"]
    integrator.advance(order["shipments"][0]["id"], "pick", "pack", "ship", "deliver")
    assert_problem(integrator.post(f"/orders/{order['id']}/returns",
                                   {"lines": [{"sku": sku, "quantity": 2, "reason": "x"}]}), 409)


def test_adjustment_below_reserved_is_409(integrator: Api) -> None:
    location, sku = integrator.stocked(2)
    integrator.wait_order(integrator.place(order_body(sku, 2))["id"])
    r = integrator.post("/stock/adjustments",
                        {"location_id": location, "sku": sku, "quantity_delta": -1, "reason": "damaged"})
    assert_problem(r, 409)
    r = integrator.post("/stock/adjustments",
                        {"location_id": location, "sku": sku, "quantity_delta": 3, "reason": "found"})
    assert r.status_code == 201 and r.json()["on_hand"] == 5


def test_if_match(integrator: Api) -> None:
    order = integrator.confirmed_order()
    shipment = order["shipments"][0]["id"]
    r = integrator.get(f"/orders/{order['id']}")
    current = r.headers["etag"]
    assert current == f'"{order["version"]}"'

    r = integrator.post(f"/shipments/{shipment}/pick", {}, headers={"If-Match": '"1"'})
    problem = assert_problem(r, 412)
    assert r.headers["etag"] == current
    assert problem["type"].endswith("precondition-failed")

    r = integrator.post(f"/shipments/{shipment}/pick", {}, headers={"If-Match": current})
    assert r.status_code == 200, r.text
    picked = r.headers["etag"]
    assert picked != current
    # The old ETag is stale now; a weak form of the current one matches.
    assert_problem(integrator.post(f"/shipments/{shipment}/pack", {}, headers={"If-Match": current}), 412)
    assert integrator.post(f"/shipments/{shipment}/pack", {}, headers={"If-Match": f"W/{picked}"}).status_code == 200
    assert_problem(integrator.post(f"/orders/{order['id']}/cancel", {"reason": "x"},
                                   headers={"If-Match": picked}), 412)
    assert integrator.post(f"/orders/{order['id']}/cancel", {"reason": "x"}, headers={"If-Match": "*"}).status_code == 200


def test_if_none_match(integrator: Api) -> None:
    order = integrator.confirmed_order()
    etag = integrator.get(f"/orders/{order['id']}").headers["etag"]
    r = integrator.get(f"/orders/{order['id']}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["etag"] == etag and r.content == b""


def test_same_channel_and_external_id_returns_the_existing_order(integrator: Api, system) -> None:
    _, sku = integrator.stocked()
    body = order_body(sku)
    first = integrator.wait_order(integrator.place(body)["id"])
    head = system.app.recorder.max_notification_id()
    r = integrator.post("/orders", body)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first["id"]
    assert r.headers["location"] == f"/orders/{first['id']}"
    # Nothing recorded; the position is where the order's latest event already stands.
    assert system.app.recorder.max_notification_id() == head
    assert 0 < int(r.headers["x-oms-position"]) <= head


def test_idempotency_key(integrator: Api, system) -> None:
    _, sku = integrator.stocked()
    key = unique("idem")
    body = order_body(sku)
    first = integrator.place(body, headers={"Idempotency-Key": key})
    integrator.wait_order(first["id"])
    head = system.app.recorder.max_notification_id()

    r = integrator.post("/orders", body, headers={"Idempotency-Key": key})
    assert r.status_code == 200 and r.json()["id"] == first["id"]
    assert r.headers.get("idempotent-replayed") == "true"

    different = order_body(sku, 2)
    problem = assert_problem(integrator.post("/orders", different, headers={"Idempotency-Key": key}), 422)
    assert "Idempotency-Key" in problem["detail"]
    assert system.app.recorder.max_notification_id() == head


def test_a_replayed_order_answers_with_the_position_of_its_latest_event(integrator: Api, analyst: Api) -> None:
    _, sku = integrator.stocked()
    body = order_body(sku)
    first = integrator.post("/orders", body)
    assert first.status_code == 201
    authorized = integrator.wait_order(first.json()["id"], lambda o: o["payment_status"] == "authorized")
    assert authorized["payment_status"] == "authorized"  # recorded after the placement, by the policy

    replay = integrator.post("/orders", body)  # e.g. a retry after a timeout: nothing new is recorded
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert int(replay.headers["x-oms-position"]) > int(first.headers["x-oms-position"])
    # Whoever reads with that position sees the order as the replay described it.
    seen = analyst.get(f"/orders/{first.json()['id']}",
                       headers={"X-OMS-Min-Position": replay.headers["x-oms-position"]}).json()
    assert seen["payment_status"] == replay.json()["payment_status"] == "authorized"


def test_idempotency_keys_are_scoped_to_the_api_key(integrator: Api, admin: Api) -> None:
    _, sku = integrator.stocked()
    key = unique("idem")
    one = integrator.place(order_body(sku), headers={"Idempotency-Key": key})
    other = admin.place(order_body(sku), headers={"Idempotency-Key": key})
    assert one["id"] != other["id"]


def test_list_filters_cursor_and_link(integrator: Api, analyst: Api) -> None:
    channel = unique("chan")
    _, sku = integrator.stocked(10)
    ids = [integrator.place(order_body(sku, channel=channel))["id"] for _ in range(3)]
    declined = integrator.place(order_body(sku, channel=channel,
                                           payment={"provider": "sandbox", "reference": "pay_declined_x"}))
    integrator.wait_order(declined["id"])
    ids.append(declined["id"])
    for order_id in ids:
        integrator.wait_order(order_id)

    r = analyst.get(f"/orders?channel={channel}&limit=3", headers={"X-OMS-Min-Position": "1"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [o["id"] for o in page["data"]] == list(reversed(ids))[:3]  # newest first
    assert page["next_cursor"]
    link = r.headers["link"]
    assert link.endswith('>; rel="next"') and f"channel={channel}" in link and "limit=3" in link
    next_url = link[1:link.index(">")]

    r = analyst.get(next_url)
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()["data"]] == [ids[0]]
    assert r.json()["next_cursor"] is None and "link" not in r.headers

    on_hold = analyst.get(f"/orders?channel={channel}&status=on_hold").json()["data"]
    assert [o["id"] for o in on_hold] == [declined["id"]]
    declined_payments = analyst.get(f"/orders?channel={channel}&payment_status=declined").json()["data"]
    assert [o["id"] for o in declined_payments] == [declined["id"]]
    by_sku = analyst.get(f"/orders?sku={sku}&fulfillment_status=unfulfilled").json()["data"]
    assert {o["id"] for o in by_sku} == set(ids)
    future = quote("2999-01-01T00:00:00+00:00")
    assert analyst.get(f"/orders?channel={channel}&created_after={future}").json()["data"] == []
    assert len(analyst.get(f"/orders?channel={channel}&created_before={future}").json()["data"]) == 4


def test_history_records_actor_and_request_id(integrator: Api, auditor: Api) -> None:
    _, sku = integrator.stocked()
    r = integrator.post("/orders", order_body(sku), headers={"X-Request-ID": "req-history-1"})
    assert r.status_code == 201 and r.headers["x-request-id"] == "req-history-1"
    order = integrator.wait_order(r.json()["id"])
    picked = integrator.post(f"/shipments/{order['shipments'][0]['id']}/pick", {},
                             headers={"X-Request-ID": "req-history-2"})

    # Another key reads: it sees the pick once it asks for the pick's position.
    history = auditor.get(f"/orders/{order['id']}/history",
                          headers={"X-OMS-Min-Position": picked.headers["x-oms-position"]}).json()["data"]
    placed = history[0]
    assert placed["type"] == "OrderPlaced" and placed["version"] == 1
    assert placed["request_id"] == "req-history-1"
    assert placed["actor"]["name"] == integrator.name
    assert placed["position"] > 0 and placed["recorded_at"]
    assert placed["data"]["external_id"] == order["external_id"]
    picked = history[-1]
    assert picked["request_id"] == "req-history-2" and picked["actor"]["name"] == integrator.name
    assert [e["position"] for e in history] == sorted(e["position"] for e in history)


def test_as_of_shows_the_earlier_state(integrator: Api, auditor: Api) -> None:
    order = integrator.confirmed_order()
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    integrator.advance(order["shipments"][0]["id"], "pick")

    r = auditor.get(f"/orders/{order['id']}/as-of", params={"at": between.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["shipments"][0]["status"] == "ready"
    assert r.headers["etag"] == f'"{r.json()["version"]}"'
    now = auditor.get(f"/orders/{order['id']}/as-of", params={"at": datetime.now(UTC).isoformat()}).json()
    assert now["shipments"][0]["status"] == "picked"
    assert_problem(auditor.get(f"/orders/{order['id']}/as-of", params={"at": "2000-01-01T00:00:00Z"}), 404)


def test_reads_reflect_the_callers_writes(integrator: Api) -> None:
    order = integrator.confirmed_order()
    shipment = order["shipments"][0]["id"]
    for step, status in [("pick", "picked"), ("pack", "packed")]:
        r = integrator.post(f"/shipments/{shipment}/{step}", {})
        position = int(r.headers["x-oms-position"])
        assert integrator.order(order["id"])["shipments"][0]["status"] == status
        assert position > 0


def test_locations(integrator: Api, analyst: Api) -> None:
    location_id = unique("store")
    body = {"name": "Flagship", "kind": "store", "latitude": 52.5, "longitude": 13.4}
    r = integrator.put(f"/locations/{location_id}", body)
    assert r.status_code == 201 and r.json() == {"location_id": location_id, **body}
    r = integrator.put(f"/locations/{location_id}", {**body, "name": "Flagship Mitte"})
    assert r.status_code == 200 and r.json()["name"] == "Flagship Mitte"
    listed = {loc["location_id"]: loc for loc in integrator.all_pages("/locations")}
    assert listed[location_id]["name"] == "Flagship Mitte"
    assert location_id in {loc["location_id"] for loc in analyst.all_pages("/locations")}


def test_stock_levels(integrator: Api, analyst: Api) -> None:
    location, sku = integrator.stocked(4)
    r = integrator.post("/stock/adjustments", {"location_id": location, "sku": sku, "quantity_delta": -1,
                                               "reason": "broken"})
    assert r.status_code == 201
    assert r.json() == {"location_id": location, "sku": sku, "on_hand": 3, "reserved": 0, "available": 3}
    stock = integrator.get(f"/stock/{sku}").json()
    assert stock == {"sku": sku, "on_hand": 3, "reserved": 0, "available": 3,
                     "locations": [{"location_id": location, "on_hand": 3, "reserved": 0, "available": 3}]}
    position = r.headers["x-oms-position"]
    assert analyst.get(f"/stock/{sku}", headers={"X-OMS-Min-Position": position}).json()["on_hand"] == 3
