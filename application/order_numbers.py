"""Order numbers for the orders this process places: a block at a time from ``NumberBlocks``
(one database round trip per ``block_size`` orders), so that numbers are unique across writer
processes without a claim per order on the way of every order."""
from __future__ import annotations

import itertools
import os
import threading

from application.ports import NumberBlocks
from domain.order_number import order_number

BLOCK_SIZE = 1000


class OrderNumbers:
    def __init__(self, blocks: NumberBlocks, block_size: int = BLOCK_SIZE) -> None:
        self._blocks = blocks
        self._block_size = block_size
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0  # the block is used up: the first call takes one

    def next(self) -> str:
        with self._lock:
            if self._next >= self._end:
                start = self._blocks.next_block() * self._block_size
                self._next, self._end = start, start + self._block_size
            n = self._next
            self._next += 1
        return order_number(n)


class ProcessBlocks:
    """Blocks for one process alone (tests, the in-process writer of a single-process setup
    without a database sequence): counted from a random start, so that two test processes on
    one database are unlikely to meet. A deployment uses the database's sequence."""

    def __init__(self) -> None:
        self._blocks = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next_block(self) -> int:
        return next(self._blocks)
