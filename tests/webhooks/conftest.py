"""The webhook tests run a deployment of their own per module (database, writer process, the API
with its read models, the webhook outbox and sender: one at a time, as the server's connections
are few) and a real receiver on loopback, which the deployment may reach: OMS_WEBHOOKS_ALLOW_PRIVATE
is on, as a test's receiver can only be on loopback. Retries come after fractions of a second
instead of minutes, so a test sees the whole schedule."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import System, WriterProcess, build_system
from infrastructure.settings import Settings
from tests.api.support import Api
from tests.database import fresh_database_url
from tests.webhooks.receiver import Receiver

RETRY_DELAYS = (0.3, 0.6, 0.9)
STOCK_LOW_THRESHOLD = 5


def webhook_settings(**overrides: Any) -> Settings:
    return Settings(read_your_writes_timeout=5.0, auth_failures_allowed=1_000_000, webhooks_allow_private=True,
                    webhooks_retry_delays=RETRY_DELAYS, stock_low_threshold=STOCK_LOW_THRESHOLD, **overrides)


@pytest.fixture(scope="module")
def webhook_database_url() -> Iterator[str]:
    with fresh_database_url() as url:
        yield url


@pytest.fixture(scope="module")
def webhook_system(webhook_database_url: str) -> Iterator[System]:
    writer = WriterProcess(environment={"OMS_DATABASE_URL": webhook_database_url})
    writer.start()
    system = build_system(webhook_settings(writer_socket=writer.socket_path), database_url=webhook_database_url)
    system.start()
    try:
        yield system
    finally:
        system.stop()
        writer.stop()


@pytest.fixture(scope="module")
def webhook_client(webhook_system: System) -> Iterator[TestClient]:
    with TestClient(create_app(webhook_system)) as client:
        yield client


@pytest.fixture(scope="module")
def admin(webhook_system: System, webhook_client: TestClient) -> Api:
    return Api(webhook_client, webhook_system.api_keys.create("webhook admin", "admin")[1], "webhook admin")


@pytest.fixture(scope="module")
def integrator(webhook_system: System, webhook_client: TestClient) -> Api:
    return Api(webhook_client, webhook_system.api_keys.create("webhook integrator", "integrator")[1],
               "webhook integrator")


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


class Endpoints:
    """Creates endpoints at the receiver for one test, and deletes them after it."""

    def __init__(self, admin: Api, receiver: Receiver) -> None:
        self.admin = admin
        self.receiver = receiver
        self.created: list[str] = []

    def create(self, event_types: list[str], path: str | None = None, **receiver_options: Any) -> tuple[dict, str]:
        """A new endpoint (and its receiver path): (the endpoint as created, with its secret; path)."""
        path = path or self.receiver.path(**receiver_options)
        r = self.admin.post("/webhooks/endpoints", {"url": self.receiver.url(path), "event_types": event_types,
                                                    "description": "a test's receiver"})
        assert r.status_code == 201, r.text
        endpoint = r.json()
        self.receiver.trust(path, endpoint["secret"])
        self.created.append(endpoint["id"])
        return endpoint, path

    def deliveries(self, endpoint_id: str, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"endpoint_id": endpoint_id, "limit": "200", **filters}.items())
        return self.admin.all_pages(f"/webhooks/deliveries?{query}")

    def wait_deliveries(self, endpoint_id: str, until: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Polls the endpoint's deliveries until ``until(deliveries)`` (they are recorded just after
        the receiver answered)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(endpoint_id)
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def delete_all(self) -> None:
        for endpoint_id in self.created:
            self.admin.delete(f"/webhooks/endpoints/{endpoint_id}")


@pytest.fixture
def endpoints(admin: Api, receiver: Receiver) -> Iterator[Endpoints]:
    made = Endpoints(admin, receiver)
    try:
        yield made
    finally:
        made.delete_all()
