"""A webhook receiver on loopback, as an integrator would run one: a real HTTP server that verifies
every delivery's signature with the ``standardwebhooks`` library and records what arrived.

Each endpoint a test registers gets a path of its own, its secret(s) and, if the test wants, a
script saying what to answer (a status per arrival, e.g. 500 then 200)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified_with: list[str]  # the registered secrets whose signature it carries
    answered: int = 0

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.payload["type"]


# What a path answers an arrival: a status, and seconds to wait before answering.
Script = Callable[[Arrival], int]


@dataclass
class Route:
    secrets: list[str] = field(default_factory=list)
    script: Script | None = None
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = receiver._arrived(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                payload = b'{"ok": true}' if 200 <= status < 300 else b"not now"
                self.send_response(status)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def path(self, script: Script | None = None, delay: float = 0.0) -> str:
        """A new path of this receiver; its URL is ``url(path)``."""
        path = f"/hooks/{uuid.uuid4().hex[:12]}"
        self.routes[path] = Route(script=script, delay=delay)
        return path

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def trust(self, path: str, secret: str) -> None:
        self.routes[path].secrets.append(secret)

    def _arrived(self, path: str, headers: dict[str, str], body: bytes) -> int:
        route = self.routes.get(path) or Route()
        verified = []
        for secret in route.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        arrival = Arrival(path, headers, body, time.monotonic(), verified)
        if route.delay:
            time.sleep(route.delay)
        arrival.answered = route.script(arrival) if route.script else 200
        with self._lock:
            self.arrivals.append(arrival)
        return arrival.answered

    def at(self, path: str, order_id: str | None = None) -> list[Arrival]:
        """What arrived at ``path`` (about ``order_id``, if given), in the order it arrived."""
        with self._lock:
            found = [a for a in self.arrivals if a.path == path]
        if order_id is not None:
            found = [a for a in found if a.payload["data"].get("id") == order_id]
        return found

    def wait(self, path: str, until: Callable[[list[Arrival]], bool], order_id: str | None = None,
             timeout: float = 20.0) -> list[Arrival]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.at(path, order_id)
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def types_of(arrivals: list[Arrival]) -> list[str]:
    return [a.type for a in arrivals]
