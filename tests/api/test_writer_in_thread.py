"""The variant: the writer inside the API process (``OMS_WRITER=thread``). The same routes, the
same answers; the payment policy then follows the writer's commits from memory."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import System, build_system
from infrastructure.settings import Settings
from tests.api.support import Api, order_body
from tests.database import fresh_database_url


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with fresh_database_url() as url:
        system = build_system(Settings(read_your_writes_timeout=5.0, writer="thread"), database_url=url)
        system.start()
        try:
            yield system
        finally:
            system.stop()


@pytest.fixture(scope="module")
def integrator(system: System) -> Iterator[Api]:
    with TestClient(create_app(system)) as client:
        yield Api(client, system.api_keys.create("in-thread integrator", "integrator")[1], "in-thread integrator")


def test_the_commands_are_carried_out_by_the_writer_in_this_process(system: System) -> None:
    assert system.commands is system.service


def test_an_order_goes_the_whole_way_with_the_writer_in_the_api_process(integrator: Api) -> None:
    order = integrator.confirmed_order(quantity=2)
    shipment_id = order["shipments"][0]["id"]
    integrator.advance(shipment_id, "pick", "pack", "ship")
    r = integrator.post(f"/shipments/{shipment_id}/deliver", {"delivered_at": "2026-12-01T10:00:00+01:00"})
    assert r.status_code == 200, r.text
    assert r.json()["shipments"][0]["delivered_at"] == "2026-12-01T10:00:00+01:00"
    r = integrator.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": order["lines"][0]["sku"], "quantity": 1}]})
    assert r.status_code == 201 and r.headers["location"] == f"/returns/{r.json()['id']}"
    again = integrator.post("/orders", order_body(order["lines"][0]["sku"], 2, external_id=order["external_id"]))
    assert again.status_code == 200 and again.json()["id"] == order["id"]


def test_the_payment_policy_follows_its_writers_commits_from_memory(integrator: Api, system: System) -> None:
    """Beside the writer, the policy takes the orders just placed from the writer's own commits
    (projections/feed.py, CommittedFeed) instead of reading them back from the store."""
    feed = system.followers[0].feed
    integrator.confirmed_order()  # the policy has caught up with everything before
    read_before, published_before = feed.rows_read, feed.rows_published

    order = integrator.confirmed_order()

    assert order["payment_status"] == "authorized"
    published = feed.rows_published - published_before
    # (When the writer pauses, the policy asks the store for other writers' events; it may then
    # come across one of these commits before the writer has handed it over.)
    assert published > 0 and feed.rows_read - read_before < published
