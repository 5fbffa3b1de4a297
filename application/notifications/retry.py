"""When a message that could not be handed over is tried again.

The delay doubles from ``first_delay`` up to ``max_delay``; each is stretched by a random part of
up to half of itself (jitter), so that messages that failed together (the mail server was down)
do not all come back at the same instant, and a delay is never shorter than the one before it.
After ``max_attempts`` attempts the message has failed for good. At the defaults (30 s doubling
to 2 h, 18 attempts) a message is tried for 20 to 30 hours.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 30.0
    max_delay: float = 7200.0
    max_attempts: int = 18

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``attempts``-th attempt failed (``draw`` gives [0, 1))."""
        base = min(self.first_delay * 2.0 ** max(attempts - 1, 0), self.max_delay)
        return base * (1.0 + draw() / 2.0)

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
