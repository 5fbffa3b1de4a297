"""The embedded server (no OMS_DATABASE_URL): stopped when the last process using it exits, also
after an earlier one was killed and never took itself off the server's list of users, and when
`oms serve` is terminated."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USE_THE_SERVER = ("import sys; from pathlib import Path; "
                  "from infrastructure.embedded_postgres import ensure_embedded_postgres; "
                  "print(ensure_embedded_postgres(Path(sys.argv[1])), flush=True)")


def test_the_server_stops_with_its_last_user_even_after_an_earlier_one_was_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "oms"
    postmaster = data_dir / "pgdata" / "postmaster.pid"
    killed = subprocess.Popen([sys.executable, "-c", USE_THE_SERVER + "; import time; time.sleep(120)",
                               str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout.readline().startswith("postgresql://")
    finally:
        killed.kill()
        killed.wait()
    assert postmaster.exists()  # a killed process stops nothing
    try:
        subprocess.run([sys.executable, "-c", USE_THE_SERVER, str(data_dir)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)

        assert not postmaster.exists()
    finally:
        if postmaster.exists():  # leave no server behind when the test fails
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGTERM)


def test_oms_serve_stops_the_embedded_server_when_it_is_terminated(tmp_path: Path) -> None:
    data_dir = tmp_path / "oms"
    postmaster = data_dir / "pgdata" / "postmaster.pid"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(OMS_DATA_DIR=str(data_dir), OMS_PORT=str(_free_port()), OMS_LOG_LEVEL="warning")
    service = subprocess.Popen([sys.executable, "-m", "infrastructure.cli", "serve"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _healthy(int(env["OMS_PORT"])):
            assert service.poll() is None and time.monotonic() < deadline, "oms serve did not start"
            time.sleep(0.3)
        assert postmaster.exists()

        service.send_signal(signal.SIGTERM)  # as a process manager stops it
        assert service.wait(60) == 128 + signal.SIGTERM
        assert not postmaster.exists()
    finally:
        if service.poll() is None:
            service.kill()
        if postmaster.exists():
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
