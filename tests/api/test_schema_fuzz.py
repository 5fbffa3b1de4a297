"""Schemathesis against the served application's own OpenAPI document: every operation, positive
and negative cases, every check it has (no server error, no undocumented status, no response
that breaks its schema, no valid request refused, no invalid one accepted, the right Allow on a
405...), over real HTTP to the API whose writer runs in a process of its own.

What the document cannot say is told to Schemathesis in the configuration below, each with its
reason; nothing is told by turning a check off.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import WriterProcess, build_system
from infrastructure.settings import Settings
from tests.api.conftest import serving
from tests.api.support import Api
from tests.database import fresh_database_url

EXAMPLES_PER_OPERATION = int(os.environ.get("OMS_FUZZ_EXAMPLES", "60"))
MIN_CASES = 2000

CONFIG = """
[generation]
# An HTTP API cannot refuse headers it does not know (proxies add them): extra parameters are
# not invalid input.
allow-extra-parameters = false

[checks.positive_data_acceptance]
# 412: If-Match names a version of the order, which moves with every change; whether a given
# version is current is state, not schema.
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]

[dictionaries]
shipments = {{ values = {shipments} }}
returns = {{ values = {returns} }}
orders = {{ values = {orders} }}
channels = {{ values = {channels} }}
endpoints = {{ values = {endpoints} }}
deliveries = {{ values = {deliveries} }}

# Real resources, half the time, so that commands reach their rules and not only their 404s.
[parameters."path.shipment_id"]
dictionary = "shipments"
probability = 0.5

[parameters."path.return_id"]
dictionary = "returns"
probability = 0.5

[parameters."path.order_id"]
dictionary = "orders"
probability = 0.5

[parameters."path.channel_id"]
dictionary = "channels"
probability = 0.5

[parameters."path.endpoint_id"]
dictionary = "endpoints"
probability = 0.5

[parameters."path.delivery_id"]
dictionary = "deliveries"
probability = 0.5

# What an order's body may hold depends on more than one field: how many decimals an amount may
# have depends on the currency (JPY none, KWD three), each SKU may be on one line only, and an
# Idempotency-Key may be used again only with the same body. These are 422 as any bad input is.
[[operations]]
include-name = "POST /orders"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]

# A channel's order is its platform's own body, which the document gives as a free object (each
# platform's schema is its own): a body that is not that platform's order is 422 with a pointer.
[[operations]]
include-name = "POST /channels/{{channel_id}}/orders"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# A Shopify or WooCommerce channel needs its webhook secret when it is created, not when it is
# updated (a PUT without it keeps the one it has): whether it is required is state.
[[operations]]
include-name = "PUT /channels/{{channel_id}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# A webhook endpoint's URL must lead to a public address (SSRF): whether its host is, or resolves
# to, a loopback, private or link-local address is the network's answer, not the schema's; such
# a URL is 422 with a pointer to it. A replay reaches back from no further than the event feed's
# head at the time of the request (a position beyond it is 422): state, as X-OMS-Min-Position's.
[[operations]]
include-name = "POST /webhooks/endpoints"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "PATCH /webhooks/endpoints/{{endpoint_id}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-name = "POST /webhooks/endpoints/{{endpoint_id}}/replay"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# Reads: X-OMS-Min-Position's valid range is the store's head at the time of the request (a
# position beyond it is refused, not waited on: docs/reliability.md), and a cursor is only ever
# one this API issued on an earlier page. Either is 422 otherwise.
[[operations]]
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
"""


def _resources(integrator: Api, admin: Api) -> dict[str, list[str]]:
    # An endpoint, so that the orders below owe it deliveries (nothing is sent: see `fuzzed`).
    r = admin.post("/webhooks/endpoints", {"url": "https://hooks.example.invalid/oms", "event_types": ["*"]})
    assert r.status_code == 201, r.text
    endpoints = [r.json()["id"]]
    shipments, returns, orders = [], [], []
    for _ in range(3):
        order = integrator.confirmed_order(quantity=2, stock=20)
        orders.append(order["id"])
        shipment = order["shipments"][0]["id"]
        shipments.append(shipment)
        integrator.advance(shipment, "pick", "pack", "ship", "deliver")
        r = integrator.post(f"/orders/{order['id']}/returns", {"lines": [{"sku": order["lines"][0]["sku"], "quantity": 1}]})
        assert r.status_code == 201, r.text
        returns.append(r.json()["id"])
    shipments.append(integrator.confirmed_order()["shipments"][0]["id"])
    channels = []
    for platform in ("shopify", "woocommerce", "amazon"):
        channel_id = f"fuzz-{platform}"
        r = admin.put(f"/channels/{channel_id}", {"platform": platform, "name": platform,
                                                  "webhook_secret": "fuzzing-secret"})
        assert r.status_code in (200, 201), r.text
        channels.append(channel_id)
    deliveries = [d["id"] for d in admin.get(f"/webhooks/deliveries?endpoint_id={endpoints[0]}&limit=10").json()["data"]]
    return {"shipments": shipments, "returns": returns, "orders": orders, "channels": channels,
            "endpoints": endpoints, "deliveries": deliveries or [1]}


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[tuple[str, int], dict[str, str], Api]]:
    """A deployment of its own (database, writer process, API over HTTP): the stateful phase
    cancels, holds, revokes keys and stocks SKUs it finds in responses, which other tests must not
    find done."""
    with fresh_database_url() as url:
        writer = WriterProcess(environment={"OMS_DATABASE_URL": url})
        writer.start()
        # webhooks_sender=False: a generated endpoint URL may name any public address, and a
        # test sends nothing off this machine (the outbox still owes them their deliveries).
        system = build_system(Settings(read_your_writes_timeout=5.0, writer_socket=writer.socket_path,
                                       auth_failures_allowed=1_000_000, webhooks_sender=False), database_url=url)
        system.start()
        system.geocoder.warm()  # as `oms serve` does at start: no generated request waits for it
        try:
            secrets = {role: system.api_keys.create(f"fuzz {role}", role)[1] for role in ("admin", "integrator")}
            with TestClient(create_app(system)) as client:
                with serving(system) as address:
                    yield address, secrets, Api(client, secrets["integrator"], "fuzz integrator")
        finally:
            system.stop()
            writer.stop()


def test_the_api_keeps_its_contract_under_generated_requests(fuzzed, tmp_path: Path) -> None:
    (host, port), secrets, integrator = fuzzed
    admin = Api(integrator.client, secrets["admin"], "fuzz admin")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(**{k: repr(v).replace("'", '"') for k, v in _resources(integrator, admin).items()}))
    report = tmp_path / "report.ndjson"
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
         f"http://{host}:{port}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION),
         "--seed", "20261203", "--header", f"Authorization: Bearer {secrets['admin']}", "--no-color",
         "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=1800)
    print(run.stdout[-2500:])
    assert run.returncode == 0, run.stdout[-30000:] + run.stderr[-3000:]
    generated = int(run.stdout.split("Test cases:")[1].split("generated")[0].strip())
    assert generated >= MIN_CASES, run.stdout[-2500:]
