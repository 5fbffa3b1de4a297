"""Request and order ids are UUIDv7: unique, time-ordered within a process, and fresh after a fork."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from application.ids import new_order_id, new_request_id


def test_a_request_id_is_a_version_7_uuid_carrying_the_time_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    request_id = new_request_id()
    after = time.time_ns() // 1_000_000
    parsed = UUID(hex=request_id)
    assert request_id == parsed.hex and len(request_id) == 32
    assert parsed.version == 7 and parsed.variant == "specified in RFC 4122"
    assert before <= parsed.int >> 80 <= after


def test_ids_of_one_process_are_unique_and_sort_in_the_order_they_were_made() -> None:
    ids = [new_request_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_ids_made_by_many_threads_at_once_never_repeat() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [new_request_id() for _ in range(5_000)], range(8)))
    assert len({i for batch in batches for i in batch}) == 40_000


def test_a_forked_process_does_not_continue_its_parents_sequence() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave without running pytest's teardown
        os.write(write, ",".join(new_request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode().split(",")
    os.close(read)
    parent = [new_request_id() for _ in range(3)]
    # Same millisecond or not, the 74 counter bits start elsewhere in the child.
    assert {i[12:] for i in child}.isdisjoint({i[12:] for i in parent})


def test_order_ids_are_version_7_uuids_that_sort_with_the_request_ids_in_the_order_they_were_made() -> None:
    made = [new_order_id() if i % 2 else UUID(hex=new_request_id()) for i in range(10_000)]
    assert all(isinstance(order_id, UUID) and order_id.version == 7 for order_id in made)
    assert made == sorted(made) and len(set(made)) == len(made)
