"""`oms serve` keeps its writer process alive: killed, it is started again, and the API carries on."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.database import fresh_database_url
from tests.scale_out.test_two_processes import ADDRESS, ServiceProcess


def _writer_processes(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline") as cmdline:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                if ppid == parent and "writer" in cmdline.read().split("\0"):
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


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
            status, order = service.call("POST", "/orders", {
                "channel": "web", "external_id": "after-restart", "currency": "EUR",
                "customer": {"name": "Ada", "email": "ada@example.com", "phone": None}, "shipping_address": ADDRESS,
                "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}], "shipping_price": "0.00",
                "payment": {"provider": "sandbox", "reference": "pay_1"}})
            assert status == 201, order
            assert order["shipments"][0]["location_id"] == "berlin-wh"  # the new writer knows the stock
        finally:
            service.stop()
        deadline = time.time() + 30  # and it ends with `oms serve`
        while os.path.exists(f"/proc/{replacements[0]}") and time.time() < deadline:
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{replacements[0]}")
