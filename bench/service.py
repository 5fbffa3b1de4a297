"""Start the OMS as a user runs it in production (``oms serve``), and talk to it over HTTP."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, database_url: str, admin_key: str, *, workers: int = 1, log: Path,
                 environment: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.environment = environment or {}
        self.admin_key = admin_key
        self.workers = workers
        self.port = free_port()
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Service:
        env = dict(os.environ, OMS_DATABASE_URL=self.database_url, OMS_PORT=str(self.port),
                   OMS_HOST="127.0.0.1", OMS_ADMIN_KEY=self.admin_key, OMS_WORKERS=str(self.workers),
                   OMS_LOG_LEVEL="warning", **self.environment)
        oms = Path(sys.executable).with_name("oms")
        command = [str(oms), "serve"] if oms.exists() else [sys.executable, "-m", "infrastructure.cli", "serve"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited; see {self.log_path}")
            try:
                status, body = Client(self.base, self.admin_key).request("GET", "/health")
                # Measure a started service, not one still loading its stock into memory.
                if status == 200 and body.get("cache") == "warm":
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"service did not become healthy; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


class Client:
    """A keep-alive HTTP client; one per thread."""

    _local = threading.local()

    def __init__(self, base: str, key: str) -> None:
        self.host, self.port = base.removeprefix("http://").split(":")
        self.key = key

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "target", None) != (self.host, self.port):
            conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
            self._local.conn, self._local.target = conn, (self.host, self.port)
        return conn

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
