"""Holding an order: fulfilment stops until someone releases it; the order says why."""
from __future__ import annotations

from tests.api.support import Api, assert_problem


def test_a_held_order_is_not_picked_until_released(integrator: Api) -> None:
    order = integrator.confirmed_order()
    shipment_id = order["shipments"][0]["id"]

    held = integrator.post(f"/orders/{order['id']}/hold", {"reason": "fraud_check",
                                                            "detail": "billing and shipping countries differ"})
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "on_hold"
    assert held.json()["hold"] == {"reason": "fraud_check", "detail": "billing and shipping countries differ"}
    assert held.headers["etag"] == f'"{held.json()["version"]}"'
    problem = assert_problem(integrator.post(f"/shipments/{shipment_id}/pick", {}), 409)
    assert "on hold (fraud_check)" in problem["detail"]
    assert integrator.wait_order(order["id"], lambda o: o["status"] == "on_hold")["hold"]["reason"] == "fraud_check"

    released = integrator.post(f"/orders/{order['id']}/release", None,
                               headers={"If-Match": held.headers["etag"]})
    assert released.status_code == 200 and released.json()["status"] == "confirmed"
    assert released.json()["hold"] is None
    assert integrator.post(f"/shipments/{shipment_id}/pick", {}).status_code == 200


def test_holding_twice_releasing_unheld_and_a_stale_version_are_refused(integrator: Api) -> None:
    order = integrator.confirmed_order()
    assert_problem(integrator.post(f"/orders/{order['id']}/release", None), 409)
    first = integrator.post(f"/orders/{order['id']}/hold", {"reason": "address_check"})
    assert first.status_code == 200
    assert_problem(integrator.post(f"/orders/{order['id']}/hold", {"reason": "fraud_check"}), 409)
    assert_problem(integrator.post(f"/orders/{order['id']}/release", None, headers={"If-Match": '"1"'}), 412)


def test_a_hold_needs_a_reason_code(integrator: Api) -> None:
    order = integrator.confirmed_order()
    problem = assert_problem(integrator.post(f"/orders/{order['id']}/hold", {"reason": "Not A Code!"}), 422)
    assert problem["errors"][0]["pointer"] == "/reason"
    assert_problem(integrator.post("/orders/01a23e98-0328-76c9-bf99-8b43dec563ad/hold", {"reason": "x"}), 404)
