"""Two service processes, as `oms serve` runs them, against one database under load.

Each process has its own writer and cache; both run projections and the payment policy, of which
only one process may be active at a time. Orders are fired at both for a scarce SKU.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.database import fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "oms_scale_out_test_admin_key_0123456789"
ADDRESS = {"name": "Ada", "line1": "Street 1", "line2": None, "city": "Potsdam", "postal_code": "14469",
           "country": "DE", "latitude": 52.41, "longitude": 13.07}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    def __init__(self, url: str, log: Path, **settings: str) -> None:
        self.port = _free_port()
        env = dict(os.environ, OMS_DATABASE_URL=url, OMS_PORT=str(self.port), OMS_ADMIN_KEY=ADMIN_KEY,
                   OMS_PROJECTIONS="thread", OMS_LOG_LEVEL="warning")
        env.update(settings)
        self.log = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "infrastructure.cli", "serve"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, "service process exited"
            try:
                if self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("service did not become healthy")

    def call(self, method: str, path: str, body: object = None, headers: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def two_services(tmp_path):
    with fresh_database_url() as url:
        first = ServiceProcess(url, tmp_path / "first.log")
        first.wait_healthy()  # the first creates the tables; then the second joins
        second = ServiceProcess(url, tmp_path / "second.log")
        try:
            second.wait_healthy()
            yield url, first, second
        finally:
            second.stop()
            first.stop()


def test_two_service_processes_share_one_database_without_overselling(two_services):
    url, first, second = two_services
    for location, lat, lon in (("berlin-wh", 52.52, 13.405), ("munich-wh", 48.137, 11.575)):
        assert first.call("PUT", f"/locations/{location}", {"name": location, "kind": "warehouse",
                                                              "latitude": lat, "longitude": lon})[0] in (200, 201)
    assert second.call("POST", "/stock/receipts", {"location_id": "berlin-wh", "sku": "SCARCE", "quantity": 30})[0] == 201
    assert first.call("POST", "/stock/receipts", {"location_id": "munich-wh", "sku": "SCARCE", "quantity": 20})[0] == 201

    def place(i: int) -> dict:
        service = (first, second)[i % 2]
        status, order = service.call("POST", "/orders", {
            "channel": "web", "external_id": f"scale-{i}", "currency": "EUR",
            "customer": {"name": "Ada", "email": "ada@example.com", "phone": None}, "shipping_address": ADDRESS,
            "lines": [{"sku": "SCARCE", "quantity": 1, "unit_price": "10.00"}], "shipping_price": "0.00",
            "payment": {"provider": "sandbox", "reference": f"pay_{i}"}})
        assert status == 201, order
        return order

    with ThreadPoolExecutor(32) as pool:
        orders = list(pool.map(place, range(240)))

    allocated = [o for o in orders if o["shipments"]]
    assert len(allocated) == 50
    assert sum(o["lines"][0]["backordered"] for o in orders) == 190

    # The read models, built in whichever process holds each projection, converge on the truth.
    deadline = time.time() + 30
    while time.time() < deadline:
        status, stock = second.call("GET", "/stock/SCARCE")
        _, projections = first.call("GET", "/projections")
        if status == 200 and stock["reserved"] == 50 and all(p["lag"] == 0 for p in projections["data"]):
            break
        time.sleep(0.2)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (50, 50, 0)

    # Each projection and the payment policy is active in exactly one of the two processes.
    with psycopg.connect(url) as conn:
        holders = conn.execute(
            "SELECT objid, count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "GROUP BY objid").fetchall()
    assert len(holders) >= 5 and all(count == 1 for _, count in holders)

    # Every order got its payment authorised by the one active policy.
    deadline = time.time() + 30
    while time.time() < deadline:
        statuses = {first.call("GET", f"/orders/{o['id']}")[1]["payment_status"] for o in orders[:40]}
        if statuses == {"authorized"}:
            break
        time.sleep(0.3)
    assert statuses == {"authorized"}


def test_a_standby_process_takes_over_the_projections_when_the_active_one_dies(two_services):
    url, first, second = two_services
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    assert second.call("PUT", "/locations/after-failover", {"name": "x", "kind": "store",
                                                             "latitude": 50.0, "longitude": 8.0})[0] == 201
    deadline = time.time() + 30
    while time.time() < deadline:
        status, locations = second.call("GET", "/locations")
        if status == 200 and any(l["location_id"] == "after-failover" for l in locations["data"]):
            return
        time.sleep(0.3)
    raise AssertionError("the standby process never took over the locations projection")
