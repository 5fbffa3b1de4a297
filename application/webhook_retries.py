"""When a webhook delivery that failed is tried again: growing delays, with jitter, over more than
a day (Standard Webhooks' recommendation), then it is given up.

The delays are after the first, second, ... failure in a row; jitter only lengthens them (up to
``JITTER``), so many deliveries that failed together do not all come back at the same instant and
the schedule still spans its whole length."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

# Its own generator: the global one's state belongs to whoever seeds it (tests, libraries).
_jitter = random.Random()

# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over 27.6 hours.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2


def next_delay(failures: int, delays: Sequence[float], rand: Callable[[], float] = _jitter.random) -> float | None:
    """Seconds to wait after the ``failures``-th failure in a row; None when the schedule is over."""
    if failures < 1 or failures > len(delays):
        return None
    return delays[failures - 1] * (1 + JITTER * rand())
