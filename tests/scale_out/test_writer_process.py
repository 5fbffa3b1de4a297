"""The processes `oms serve` starts beside the API: the writer process, shared by the machine's API
workers, and the projection worker. Both are kept alive: killed, they are started again, and the
service carries on."""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.database import fresh_database_url
from tests.scale_out.test_two_processes import ADDRESS, ServiceProcess


def _writer_processes(parent: int) -> list[int]:
    return _children(parent, "writer")


def _children(parent: int, command: str) -> list[int]:
    """Child processes of ``parent`` running ``oms <command> ...``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline") as cmdline:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                if ppid == parent and command in cmdline.read().split("\0"):
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _assert_ends_soon(pid: int, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}")


def _order(external_id: str, sku: str) -> dict:
    return {"channel": "web", "external_id": external_id, "currency": "EUR",
            "customer": {"name": "Ada", "email": "ada@example.com", "phone": None}, "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00"}], "shipping_price": "0.00",
            "payment": {"provider": "sandbox", "reference": f"pay_{external_id}"}}


def test_the_api_workers_of_one_machine_share_its_one_writer_process(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_WORKERS", "2")
    with fresh_database_url() as url:
        service = ServiceProcess(url, tmp_path / "service.log")
        try:
            service.wait_healthy()
            assert len(_writer_processes(service.proc.pid)) == 1
            assert service.call("PUT", "/locations/berlin-wh", {"name": "Berlin", "kind": "warehouse",
                                                                 "latitude": 52.52, "longitude": 13.405})[0] == 201
            assert service.call("POST", "/stock/receipts", {"location_id": "berlin-wh", "sku": "A", "quantity": 30})[0] == 201
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda i: service.call("POST", "/orders", _order(f"w-{i}", "A"))[0], range(30)))
            assert statuses == [201] * 30
            # Every command, from either worker, and every authorisation went through one writer,
            # which never had to follow another's events.
            deadline = time.time() + 30
            while time.time() < deadline:
                writer = service.call("GET", "/health")[1]["writer"]
                if writer["commands"] == 2 + 30 + 30:
                    break
                time.sleep(0.2)
            assert writer["commands"] == 2 + 30 + 30 and writer["followed_events"] == 0
        finally:
            service.stop()


def test_a_killed_writer_process_is_started_again_and_orders_are_taken_again(tmp_path: Path) -> None:
    with fresh_database_url() as url:
        service = ServiceProcess(url, tmp_path / "service.log")
        try:
            service.wait_healthy()
            (writer,) = _writer_processes(service.proc.pid)
            assert service.call("PUT", "/locations/berlin-wh", {"name": "Berlin", "kind": "warehouse",
                                                                 "latitude": 52.52, "longitude": 13.405})[0] == 201
            os.kill(writer, signal.SIGKILL)

            deadline = time.time() + 60
            while time.time() < deadline:
                replacements = [pid for pid in _writer_processes(service.proc.pid) if pid != writer]
                if replacements and service.call("GET", "/health")[0] == 200:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the writer process was not started again")

            assert service.call("POST", "/stock/receipts", {"location_id": "berlin-wh", "sku": "A", "quantity": 2})[0] == 201
            status, order = service.call("POST", "/orders", _order("after-restart", "A"))
            assert status == 201, order
            assert order["shipments"][0]["location_id"] == "berlin-wh"  # the new writer knows the stock
        finally:
            service.stop()
        _assert_ends_soon(replacements[0])  # with `oms serve`


def test_a_killed_projection_worker_is_started_again_and_the_read_models_carry_on(tmp_path: Path) -> None:
    with fresh_database_url() as url:
        service = ServiceProcess(url, tmp_path / "service.log", OMS_PROJECTIONS="process")
        try:
            service.wait_healthy()
            (worker,) = _children(service.proc.pid, "projections")
            assert service.call("PUT", "/locations/berlin-wh", {"name": "Berlin", "kind": "warehouse",
                                                                 "latitude": 52.52, "longitude": 13.405})[0] == 201
            assert service.call("POST", "/stock/receipts", {"location_id": "berlin-wh", "sku": "A", "quantity": 2})[0] == 201
            os.kill(worker, signal.SIGKILL)

            status, order = service.call("POST", "/orders", _order("while-restarting", "A"))
            assert status == 201, order
            deadline = time.time() + 60
            while time.time() < deadline:
                replacements = [pid for pid in _children(service.proc.pid, "projections") if pid != worker]
                if replacements and service.call("GET", f"/orders/{order['id']}")[0] == 200:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError("the projection worker was not started again, or the read model did not catch up")
        finally:
            service.stop()
        _assert_ends_soon(replacements[0])  # with `oms serve`
