"""Interpreter settings for the OMS's long-running processes (API, projection worker, rebuild).

Each of them keeps hundreds of thousands of long-lived objects in memory (the writer's aggregate
cache, a projection's LRU of orders). With CPython's default thresholds the cyclic collector
keeps re-scanning them: it took 40 % of the CPU of an `orders` rebuild and paused every thread
of the API for 100s of ms (docs/performance.md). The domain builds no reference cycles, so
collections can be rare.
"""
from __future__ import annotations

import gc
import sys

# Young collections small (a pause is proportional to what they scan: at 50,000 and 50 the writer
# process paused 18-40 ms per young collection and 825 ms per middle one, at 1,000 o/s); full
# collections as rare as before (every 2.5 billion allocations at most), since they scan the
# whole cache (docs/performance.md, finding 28).
GC_THRESHOLDS = (10_000, 10, 25_000)
# Threads that wait on Postgres most of the time (the writer) would otherwise queue behind a
# busy thread for the GIL for up to the default 5 ms (the "convoy effect").
GIL_SWITCH_INTERVAL = 0.0005


def tune_for_long_lived_state() -> None:
    """Freezes what start-up created out of collection and makes full collections rare."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def tune_gil_for_writer() -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


