"""What ``make bench`` runs beside the orders, as a shop would have it: customer e-mail to a mail
server and three webhook endpoints, one of which fails every delivery. Taking an order must not
slow down for any of them (issue 19): they run off the event feed.

The mail server is aiosmtpd on loopback (it accepts and counts), the receivers one small HTTP
server on loopback: ``/ok/1`` and ``/ok/2`` answer 204, ``/failing`` 503. ``BENCH_SIDE_EFFECTS=0``
runs the bench without any of it (to compare).
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from bench.service import Client, free_port

ENABLED = os.environ.get("BENCH_SIDE_EFFECTS", "1") != "0"
ENDPOINTS = ("ok/1", "ok/2", "failing")


class _Mailbox:
    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self._lock:
            self.received += 1
        return "250 OK"


class SideEffects:
    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())
        self.deliveries: Counter[str] = Counter()
        counts = self.deliveries
        lock = threading.Lock()

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.strip("/")
                with lock:
                    counts[path] += 1
                self.send_response(503 if path == "failing" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
        self.http.daemon_threads = True

    def __enter__(self) -> SideEffects:
        self.smtp.start()
        threading.Thread(target=self.http.serve_forever, name="bench-webhook-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.smtp.stop()

    def environment(self) -> dict[str, str]:
        """The service's settings: this mail server, and endpoints on loopback allowed."""
        return {"OMS_SMTP_URL": f"smtp://127.0.0.1:{self.smtp.port}", "OMS_MAIL_FROM": "Bench Shop <orders@bench.test>",
                "OMS_WEBHOOKS_ALLOW_PRIVATE": "true"}

    def configure(self, client: Client) -> None:
        """Three endpoints for every event type, one of them failing."""
        port = self.http.server_address[1]
        for path in ENDPOINTS:
            status, body = client.request("POST", "/webhooks/endpoints", {
                "url": f"http://127.0.0.1:{port}/{path}", "event_types": ["*"], "description": f"bench {path}"})
            if status != 201:
                raise RuntimeError(f"could not configure the webhook endpoint {path}: {status} {body}")

    def counts(self) -> dict[str, int]:
        return {"emails": self.mailbox.received, **{f"webhooks {p}": self.deliveries[p] for p in ENDPOINTS}}
