"""What this machine charges for work done in bursts: the same fixed piece of Python work, run
back to back and with a pause (a sleep) before each piece, in CPU time per piece.

Under load below saturation every process of the service works in bursts: a batch, then a wait
for the next. On a machine where a thread that slept pays for it in cold caches, a re-scheduled
virtual CPU or flushed buffers, each burst costs more CPU than the same work done back to back.
This measures that premium on the machine itself, apart from our code: the piece is fixed
(orjson round trips of an order-sized document and dict/list work, the same instructions every
time), so any difference is the machine's.

It also times a wake-up round trip between two processes (``wake_up_round_trip``): the cost of
the hand-offs the service is made of, recorded to tell the machine's hours apart.

``python -m bench.bursts`` prints both; ``make bench`` records them under ``machine``.
"""
from __future__ import annotations

import os
import socket
import statistics
import sys
import time

import orjson

_DOCUMENT = {
    "id": "0" * 32,
    "lines": [{"sku": f"SKU-{i:05d}", "quantity": i, "unit_price": "19.90"} for i in range(30)],
    "customer": {"name": "Load Test", "email": "load@example.com"},
    "numbers": list(range(200)),
}
# Pauses before each piece, in seconds: back to back, then about as long as the service's
# processes wait between batches at high and at moderate load.
PAUSES = (0.0, 0.0005, 0.002, 0.01)
# Round trips per piece: ~4 is about what one order costs a process of the service (~0.1 ms on a
# fast core); 40 is a batch's worth.
SIZES = (4, 40)
ROUNDS = 3


def _piece(round_trips: int) -> None:
    for _ in range(round_trips):
        document = orjson.loads(orjson.dumps(_DOCUMENT))
        sorted(document["numbers"], reverse=True)
        {key: value for key, value in document.items()}


def cpu_per_piece(round_trips: int, pause: float, pieces: int) -> float:
    """Mean CPU seconds of this thread per piece, the pauses not counted."""
    spent = []
    for _ in range(pieces):
        started = time.thread_time()
        _piece(round_trips)
        spent.append(time.thread_time() - started)
        if pause:
            time.sleep(pause)
    return statistics.fmean(spent)


def measure(sizes: tuple[int, ...] = SIZES, pauses: tuple[float, ...] = PAUSES, rounds: int = ROUNDS) -> dict:
    """Per piece size: CPU µs per piece at each pause (median of ``rounds`` alternating rounds)
    and its ratio to back to back. About 20 s, most of it asleep."""
    samples: dict[tuple[int, float], list[float]] = {}
    for _ in range(rounds):  # alternating, so that a change in the machine's speed hits every pause alike
        for size in sizes:
            for pause in pauses:
                # ~0.1 s of CPU per cell; fewer pieces where the pauses are long
                pieces = 4000 // size if pause < 0.005 else 400 // size * 2
                samples.setdefault((size, pause), []).append(cpu_per_piece(size, pause, pieces))
    median = {cell: statistics.median(values) for cell, values in samples.items()}
    return {
        f"{size}_round_trips": {
            f"pause_{pause * 1000:g}_ms": {
                "cpu_us_per_piece": round(median[(size, pause)] * 1e6, 1),
                "vs_back_to_back": round(median[(size, pause)] / median[(size, 0.0)], 2),
            }
            for pause in pauses
        }
        for size in sizes
    }


def wake_up_round_trip(round_trips: int = 20_000) -> dict:
    """Two processes passing one byte back and forth over a Unix socket pair: each pass is a
    system call and the wake-up of a sleeping process on the other side, the hand-off that the
    service's processes, PostgreSQL and pgbench all make many times per order or transaction.
    Recorded so that runs at different hours of this shared machine can be told apart by it."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echoing side
        ours.close()
        try:
            while theirs.recv(1):
                theirs.sendall(b"x")
        finally:
            os._exit(0)
    theirs.close()
    try:
        for _ in range(1000):  # warm-up
            ours.sendall(b"x")
            ours.recv(1)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(round_trips):
            ours.sendall(b"x")
            ours.recv(1)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ours.close()
        os.waitpid(child, 0)
    return {"wall_us_per_round_trip": round(wall / round_trips * 1e6, 1),
            "this_side_cpu_us_per_round_trip": round(cpu / round_trips * 1e6, 1)}


def main() -> int:
    trip = wake_up_round_trip()
    print(f"wake-up round trip between two processes: {trip['wall_us_per_round_trip']} µs "
          f"({trip['this_side_cpu_us_per_round_trip']} µs of CPU on this side)")
    result = measure()
    print(f"{'piece':<16} " + " ".join(f"{'pause ' + key.split('_')[1] + ' ms':>20}"
                                      for key in next(iter(result.values()))))
    for size, cells in result.items():
        print(f"{size.replace('_', ' '):<16} " + " ".join(
            f"{c['cpu_us_per_piece']:>9.1f} µs ({c['vs_back_to_back']:.2f}×)" for c in cells.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
