"""Interpreter settings for the OMS's long-running processes (writer, projection worker, API, rebuild).

Each of them keeps hundreds of thousands of long-lived objects in memory (the writer's aggregate
cache, a projection's LRU of orders). CPython's cyclic collector re-scans such objects in every
collection of the generation they sit in: with its default thresholds it took 40 % of the CPU of an
`orders` rebuild and paused every thread of the API for 100s of ms, and with any thresholds the
writer paused tens of ms in each middle-generation collection for objects that were all alive
(docs/performance.md, findings 5, 15, 28 and 30).

The domain builds no reference cycles: what the collector is for here is the rare cycle that a
library or an exception leaves. So what survives a young collection is frozen (out of every later
collection, at no cost: ``gc.freeze`` moves a list), and young collections only ever scan what was
allocated since the last one. Frozen cyclic garbage is not found until a full collection, which
runs, as CPython's own rule has it, once the frozen objects have grown by a quarter since the last.
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
import time

log = logging.getLogger(__name__)

# Young collections small: a pause is proportional to what they scan (finding 28).
GC_THRESHOLDS = (10_000, 10, 25_000)
# A full collection once the frozen objects grew by this share since the last (CPython's own rule
# for its oldest generation). Counting them walks them all (24 ms for 1.4 M objects, holding the
# GIL), so it is done rarely: cyclic garbage is rare here, and waits for the next look.
FULL_COLLECTION_GROWTH = 0.25
FULL_COLLECTION_CHECK_SECONDS = 600.0
# Threads that wait on Postgres most of the time (the writer) would otherwise queue behind a
# busy thread for the GIL for up to the default 5 ms (the "convoy effect").
GIL_SWITCH_INTERVAL = 0.0005

_installed = threading.Lock()
_collector: YoungCollections | None = None


class YoungCollections:
    """Freezes the survivors of every collection; runs a full collection when they have grown."""

    def __init__(self, growth: float = FULL_COLLECTION_GROWTH) -> None:
        self.growth = growth
        self.full_collections = 0
        self._baseline = gc.get_freeze_count()

    def freeze_survivors(self, phase: str, info: dict) -> None:
        if phase == "stop":
            gc.freeze()

    def collect_if_grown(self) -> bool:
        """A full collection (every object unfrozen, scanned, the survivors frozen again) once the
        frozen objects grew by ``growth`` since the last. Returns whether it ran."""
        if gc.get_freeze_count() <= self._baseline * (1 + self.growth):
            return False
        self.collect_all()
        return True

    def collect_all(self) -> None:
        """Every object unfrozen and scanned; the survivors are frozen again."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self._baseline = gc.get_freeze_count()
        self.full_collections += 1
        log.info("full collection: %d unreachable objects, %d kept, %.0f ms",
                 found, self._baseline, (time.perf_counter() - started) * 1000)

    def watch(self, interval: float = FULL_COLLECTION_CHECK_SECONDS) -> None:
        while True:
            time.sleep(interval)
            self.collect_if_grown()


def tune_for_long_lived_state() -> None:
    """Freezes what start-up created, then the survivors of every young collection (once per
    process; later calls only freeze what start-up has created since)."""
    global _collector
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    with _installed:
        if _collector is None:
            _collector = YoungCollections()
            gc.callbacks.append(_collector.freeze_survivors)
            threading.Thread(target=_collector.watch, name="full-collections", daemon=True).start()


def tune_gil_for_writer() -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
