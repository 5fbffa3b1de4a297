"""The sender is killed (SIGKILL) in the middle of its work, again and again: afterwards every
message has arrived, and none more than once more than it should (counted by webhook-id at the
receiver), the repeats being exactly the attempts the deaths cut off.

The sender runs as `oms webhooks run` in a process of its own, against a deployment of its own
(database, writer process, the API and its read models, the outbox) that sends nothing itself."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import WriterProcess, build_system
from infrastructure.webhooks.sender import PER_ENDPOINT_IN_FLIGHT
from tests.api.support import Api, order_body
from tests.database import fresh_database_url
from tests.webhooks.conftest import webhook_settings
from tests.webhooks.receiver import Receiver

ORDERS = 60
KILLS = 4
# A restarted sender first sends again, alone, what the killed one left in flight (at most
# PER_ENDPOINT_IN_FLIGHT here): once more new messages than that have arrived, those are recorded,
# and a kill then cannot cut them off a second time.
NEW_BEFORE_KILL = PER_ENDPOINT_IN_FLIGHT + 4


@pytest.fixture(scope="module")
def deployment() -> Iterator[tuple[str, Api]]:
    with fresh_database_url() as url:
        writer = WriterProcess(environment={"OMS_DATABASE_URL": url})
        writer.start()
        system = build_system(webhook_settings(writer_socket=writer.socket_path, webhooks_sender=False),
                              database_url=url)
        system.start()
        try:
            admin_secret = system.api_keys.create("kill admin", "admin")[1]
            with TestClient(create_app(system)) as client:
                yield url, Api(client, admin_secret, "kill admin")
        finally:
            system.stop()
            writer.stop()


def _sender(url: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMS_DATABASE_URL=url, OMS_WEBHOOKS_ALLOW_PRIVATE="true")
    return subprocess.Popen([sys.executable, "-m", "infrastructure.cli", "webhooks", "run"], env=env,
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


def _pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'").fetchone()[0]


def test_a_killed_sender_loses_nothing_and_repeats_only_what_it_cut_off(deployment, tmp_path: Path) -> None:
    url, admin = deployment
    with Receiver() as receiver:
        path = receiver.path(delay=0.02)  # a receiver that takes a moment: there is always work in flight
        r = admin.post("/webhooks/endpoints", {"url": receiver.url(path), "event_types": ["order.created",
                                                                                          "order.confirmed"]})
        assert r.status_code == 201, r.text
        receiver.trust(path, r.json()["secret"])
        _, sku = admin.stocked(ORDERS * 2)
        orders = [admin.place(order_body(sku)) for _ in range(ORDERS)]
        for order in orders:
            admin.wait_order(order["id"])
        expected = 2 * ORDERS
        deadline = time.monotonic() + 30
        while _pending(url) < expected and time.monotonic() < deadline:  # the outbox has owed them all
            time.sleep(0.1)
        assert _pending(url) == expected

        log = tmp_path / "sender.log"
        for kill in range(KILLS):
            seen = len({a.webhook_id for a in receiver.at(path)})
            sender = _sender(url, log)
            deadline = time.monotonic() + 60
            while len({a.webhook_id for a in receiver.at(path)}) < min(seen + NEW_BEFORE_KILL, expected):
                assert time.monotonic() < deadline and sender.poll() is None, log.read_text()[-3000:]
                time.sleep(0.005)
            sender.send_signal(signal.SIGKILL)  # mid-batch: requests are in flight
            sender.wait(10)
            assert len({a.webhook_id for a in receiver.at(path)}) < expected, "sent everything before the last kill"

        sender = _sender(url, log)
        try:
            deadline = time.monotonic() + 90
            while _pending(url) and time.monotonic() < deadline:
                assert sender.poll() is None, log.read_text()[-3000:]
                time.sleep(0.1)
        finally:
            sender.terminate()
            sender.wait(30)
        assert _pending(url) == 0

        arrivals = receiver.at(path)
        counts = Counter(a.webhook_id for a in arrivals)
        assert len(counts) == expected  # every message arrived
        assert max(counts.values()) <= 2  # none more than once more
        assert all(a.verified_with for a in arrivals)
        with psycopg.connect(url) as conn:
            interrupted = conn.execute("SELECT count(*) FROM webhook_attempts WHERE outcome = 'interrupted'"
                                       ).fetchone()[0]
            delivered_ids = {row[0] for row in conn.execute("SELECT message_id FROM webhook_deliveries")}
        repeats = sum(count - 1 for count in counts.values())
        assert interrupted >= 1  # the kills did cut attempts off
        assert repeats <= interrupted  # and only those were repeated
        assert delivered_ids == set(counts)
