"""A real SMTP server on loopback for the tests (aiosmtpd): it keeps every message it accepts,
refuses recipients whose address starts with ``bounce`` (550, permanently) and, once each,
those starting with ``greylist`` (451, try again later), and may take its time over each message
(as a busy server does between taking the data and answering 250)."""
from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content().replace("\r\n", "\n")


class Mailbox:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self._greylisted: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        if address.startswith("bounce"):
            return "550 5.1.1 <%s>: no such mailbox" % address
        if address.startswith("greylist") and address not in self._greylisted:
            self._greylisted.add(address)
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        # Kept first, answered after: a client that dies meanwhile never learns it was delivered.
        message = email.message_from_bytes(envelope.content, policy=default)
        with self._lock:
            self.received.append(Received(tuple(envelope.rcpt_tos), message))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK: queued"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def messages(self, containing: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.received if containing in r.subject]

    def message_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(r.message_id for r in self.received)

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "messages") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; received: {[r.subject for r in self.received]}")
            time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1:``port`` that can be stopped and started again on it."""

    def __init__(self, mailbox: Mailbox, port: int | None = None, **controller_options) -> None:
        self.mailbox = mailbox
        self.port = port or free_port()
        self._options = controller_options
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **self._options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
