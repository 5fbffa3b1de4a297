"""Brute force against API keys: a client address that keeps failing to authenticate is
answered 429 for a while, with a ``Retry-After`` that doubles with each failure beyond the
allowance, and while it is blocked its keys are not looked up (no database query per guess).
Keys already known valid in this process still pass: a client that shares its address with an
attacker (a NAT, a proxy) keeps working with its own key."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TRACKED = 100_000  # addresses remembered at most; the quiet ones go first


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)  # when, within the window
    blocked_until: float = 0.0
    blocks: int = 0


class AuthFailures:
    def __init__(self, *, allowed: int, window: float, max_block: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window
        self.max_block = max_block
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Whole seconds the client must wait; 0 when it may try."""
        record = self._records.get(client)
        if record is None:
            return 0
        left = record.blocked_until - self._clock()
        return math.ceil(left) if left > 0 else 0

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            record = self._records.get(client)
            if record is None:
                if len(self._records) >= MAX_TRACKED:
                    self._forget_quiet(now)
                record = self._records[client] = _Record()
            record.failures = [t for t in record.failures if now - t < self.window] + [now]
            if len(record.failures) > self.allowed:
                record.blocks += 1
                record.blocked_until = now + min(2.0 ** (record.blocks - 1), self.max_block)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)

    def _forget_quiet(self, now: float) -> None:
        for client in [c for c, r in self._records.items()
                       if r.blocked_until < now and (not r.failures or now - r.failures[-1] >= self.window)]:
            del self._records[client]
        if len(self._records) >= MAX_TRACKED:  # still full: the oldest failures go
            oldest = sorted(self._records, key=lambda c: self._records[c].failures[-1:] or [0.0])
            for client in oldest[: len(oldest) // 2]:
                del self._records[client]
