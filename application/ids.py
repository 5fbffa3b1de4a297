"""Ids made by the service: UUID version 7 (RFC 9562), for requests and for orders.

Time-ordered, so every index keyed by them (the audit trail's on request ids, the event store's
and the read models' on order ids) grows at its end instead of taking inserts all over a large
tree, and an id tells when it was made. The 74 bits after the timestamp count up from a random
start per process ("monotonic random", RFC 9562 6.2 method 2): ids of one process sort in the
order they were made, and none costs a system call.
"""
from __future__ import annotations

import itertools
import os
import time
from uuid import UUID

_COUNTER_BITS = 74
_COUNTER_MASK = (1 << _COUNTER_BITS) - 1
_RAND_B_BITS = 62


def _random_start() -> itertools.count[int]:
    return itertools.count(int.from_bytes(os.urandom(10), "big") & (_COUNTER_MASK >> 1))


_sequence = _random_start()


def _reseed() -> None:
    # A forked worker must not continue its parent's sequence: both would make the same ids.
    global _sequence
    _sequence = _random_start()


os.register_at_fork(after_in_child=_reseed)


def _next_uuid7() -> int:
    counter = next(_sequence) & _COUNTER_MASK
    value = ((time.time_ns() // 1_000_000) & ((1 << 48) - 1)) << 80
    return value | 0x7 << 76 | (counter >> _RAND_B_BITS) << 64 | 0b10 << 62 | counter & ((1 << _RAND_B_BITS) - 1)


def new_request_id() -> str:
    """32 hex digits, the shape clients already see."""
    return f"{_next_uuid7():032x}"


def new_order_id() -> UUID:
    return UUID(int=_next_uuid7())
