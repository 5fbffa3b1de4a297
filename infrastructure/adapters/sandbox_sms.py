"""The sandbox SMS provider: sends nothing, keeps what it would have sent (in memory, for as
long as the process lives), as the sandbox payment provider and carrier do. The outbox has the
same record, durably: each SMS is marked sent with the sandbox's id (``sandbox-…``)."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSms:
    id: str
    to: str
    body: str


class SandboxSmsSender:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[SandboxSms] = []

    def send(self, to: str, body: str, *, handing_over: Callable[[], None]) -> str:
        # (``handing_over`` is not called: nothing leaves the process, so a crash here can make no
        # copy anyone receives, and the outbox is spared recording it.)
        sms = SandboxSms(f"sandbox-{uuid.uuid4().hex}", to, body)
        with self._lock:
            self.sent.append(sms)
        return sms.id
