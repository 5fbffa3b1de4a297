"""``make bench-instructions``: CPU instructions per placed order in the steps every order pays
for in the service's processes (API, writer, projection worker), counted by callgrind.

On a shared machine the timings of ``make bench`` move by ±15 % from run to run (and the machine
itself ran at half speed or less in some sessions), which hides any change worth a few percent.
Instruction counts do not move: the same code and inputs give the same count whatever else the
machine is doing. So a change to these steps is judged here first, and by ``make bench`` after.

- ``http``: ``POST /orders`` through the whole ASGI app (middleware, routing, authentication and
  role check, body validation, the endpoint, the order document and its JSON response), with the
  writer's answer stubbed: no database, no network.
- ``ceiling``: the same request to ``bench/http_ceiling.py`` (FastAPI and the same request model,
  nothing else): what the web framework costs before any of our work.
- ``decide``: the writer's decision for a placement as the group-commit writer makes it
  (sourcing from 20 locations and 1,000 SKUs as ``make bench`` seeds them, reservations, the
  order's events, their mapping to stored events), in batches of 16, from memory.
- ``store``: the writer's insert of one such batch (96 events) into a fresh database on the local
  server (``BENCH_PG_URL``): this process's side only, the server's work is not counted.
- ``project``: the projection worker's side of one order (its placement and its authorisation, 7
  events) in its four read models, which follow a store filled beforehand side by side in batches
  of 10 orders' events, as under load; the server's work is not counted.

Each is run twice under callgrind with different numbers of iterations; the difference divided
by the difference of iterations is the count per iteration (start-up and imports cancel out).
Figures go to ``bench/results/instructions-<date>.json`` (``-2`` and on for a day's later runs).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.output import results_path

ROOT = Path(__file__).resolve().parent.parent
# (fewer, more) iterations per harness: enough for the difference to dwarf start-up noise.
ITERATIONS = {"http": (100, 400), "ceiling": (100, 400), "decide": (200, 1200), "store": (50, 250),
              "project": (100, 400)}
LOCATIONS, SKUS = 20, 1000


# ------------------------------------------------------------------ the harnesses

def _order_json(i: int) -> bytes:
    return json.dumps({
        "channel": "bench", "external_id": f"x-{i}", "currency": "EUR",
        "customer": {"name": "Load Test", "email": "load@example.com", "phone": None},
        "shipping_address": {"name": "Load Test", "line1": "Street 1", "line2": None, "city": "City",
                             "postal_code": "10115", "country": "DE", "latitude": 50.1, "longitude": 8.6},
        "lines": [{"sku": "SKU-00001", "quantity": 1, "unit_price": "19.90"},
                  {"sku": "SKU-00002", "quantity": 2, "unit_price": "5.00"},
                  {"sku": "SKU-00003", "quantity": 1, "unit_price": "42.00"}],
        "shipping_price": "4.90", "payment": {"provider": "sandbox", "reference": "pay_bench"}}).encode()


def _app_with_stubbed_writer():  # noqa: ANN202 - a FastAPI app
    import uuid
    from types import SimpleNamespace

    from api.app import create_app
    from application.documents import order_document
    from application.service import Outcome
    from domain.entities import OrderLine
    from domain.order import Order
    from domain.sourcing import SourcingPlan
    from infrastructure.api_keys import ApiKey, Role
    from infrastructure.settings import Settings

    order = Order.place(
        order_id=uuid.uuid4(), channel="bench", external_id="x", currency="EUR",
        customer={"name": "Load Test", "email": "load@example.com", "phone": None},
        shipping_address={"name": "Load Test", "line1": "Street 1", "line2": None, "city": "City",
                          "postal_code": "10115", "country": "DE", "latitude": 50.1, "longitude": 8.6},
        lines=[OrderLine("SKU-00001", 1, Decimal("19.90")), OrderLine("SKU-00002", 2, Decimal("5.00")),
               OrderLine("SKU-00003", 1, Decimal("42.00"))],
        shipping_price=Decimal("4.90"), payment={"provider": "sandbox", "reference": "pay_bench"})
    order.allocate(SourcingPlan([("loc-01", {"SKU-00001": 1, "SKU-00002": 2}), ("loc-02", {"SKU-00003": 1})]))
    key = ApiKey(uuid.uuid4(), "bench", Role.INTEGRATOR, datetime.now(UTC))

    class Commands:
        async def execute(self, cmd: object, ctx: object) -> Outcome:
            # As the real service answers once the batch committed: the document is built here.
            return Outcome(order_document(order), 42, True)

    system = SimpleNamespace(api_keys=SimpleNamespace(cached=lambda secret: (True, key)), commands=Commands(),
                             settings=Settings())
    return create_app(system)  # type: ignore[arg-type]


def _post_orders(app, iterations: int) -> int:  # noqa: ANN001
    """Returns the number of orders created (201)."""

    async def call(payload: bytes) -> None:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/orders", "raw_path": b"/orders", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
                 "headers": [(b"host", b"oms"), (b"content-type", b"application/json"),
                             (b"authorization", b"Bearer bench"), (b"content-length", str(len(payload)).encode())]}
        await app(scope, receive, send)
        assert sent[0]["status"] == 201, sent

    async def run() -> int:
        payloads = [_order_json(i) for i in range(iterations + 50)]
        for payload in payloads:  # the first 50 warm caches: the same in both runs
            await call(payload)
        return len(payloads)

    return asyncio.run(run())


def _decided_batches(orders: int, *, authorise: bool = False):  # noqa: ANN202 - an iterator of lists of stored events
    """Decides ``orders`` placements in batches of 16; yields each batch's stored events. With
    ``authorise``, the first batch is the seeded locations and stock items, and each batch also
    records the payment authorisations of the batch before it, as the payment policy does (and a
    last batch those of the last placements)."""
    from application import commands, handlers
    from application.order_numbers import OrderNumbers, ProcessBlocks
    from domain.entities import OrderLine
    from application.aggregate_cache import AggregateCache
    from application.context import current_context, system_context
    from application.directory import Directory
    from application.event_store import OrderManagement
    from application.ports import PaymentResult
    from application.unit_of_work import UnitOfWork
    from domain.location import Location
    from domain.stock import StockItem
    from infrastructure.transcoder import OrjsonTranscoder

    app = OrderManagement({"PERSISTENCE_MODULE": "eventsourcing.popo"}, transcoder=OrjsonTranscoder())
    cache, directory = AggregateCache(app), Directory()
    seeded: list = [Location(f"loc-{n:02d}", f"Location {n}", "warehouse", 47.5 + (n * 0.37) % 7, 6 + (n * 0.83) % 8.5)
                    for n in range(LOCATIONS)]
    for s in range(1, SKUS + 1):
        for n in range(LOCATIONS):
            if (s + n) % 4 == 0:  # as make bench seeds: each SKU at 5 of the 20 locations
                item = StockItem(f"SKU-{s:05d}", f"loc-{n:02d}")
                item.receive(1_000_000)
                seeded.append(item)
    seed_events = []
    for aggregate in seeded:
        seed_events.extend(aggregate.collect_events())
        cache.put(aggregate.id, aggregate)
    directory.note(seeded)
    if authorise:  # a store to project from must hold the locations and stock items too
        yield [app.mapper.to_stored_event(event) for event in seed_events]

    rnd = random.Random(7)

    def command(i: int) -> commands.PlaceOrder:
        a = rnd.randint(1, SKUS)
        b = (a + rnd.randint(1, SKUS - 2)) % SKUS + 1
        c = b % SKUS + 1
        if c == a:
            c = c % SKUS + 1
        return commands.PlaceOrder(
            channel="bench", external_id=f"x-{i}", currency="EUR",
            customer={"name": "Load Test", "email": "load@example.com", "phone": None},
            shipping_address={"name": "Load Test", "line1": "Street 1", "line2": None, "city": "City",
                              "postal_code": "10115", "country": "DE",
                              "latitude": 47.5 + rnd.random() * 7, "longitude": 6 + rnd.random() * 8.5},
            lines=(OrderLine(f"SKU-{a:05d}", 1, Decimal("19.90")), OrderLine(f"SKU-{b:05d}", 2, Decimal("5.00")),
                   OrderLine(f"SKU-{c:05d}", 1, Decimal("42.00"))),
            shipping_price=Decimal("4.90"), payment={"provider": "sandbox", "reference": "pay_bench"})

    context = system_context("Bench")

    def batch(decisions: list) -> list:
        """As GroupCommitWriter._decide and _committed do, without the database."""
        staged: dict = {}
        stored = []
        for decide in decisions:
            uow = UnitOfWork(cache, staged, True)
            token = current_context.set(context)
            try:
                decide(uow)
                events = [event for aggregate in uow.changed().values() for event in aggregate.collect_events()]
                stored.extend([app.mapper.to_stored_event(event) for event in events])
            finally:
                current_context.reset(token)
            staged.update(uow.changed())
        for aggregate_id, aggregate in staged.items():
            cache.put(aggregate_id, aggregate)
        directory.note(staged.values())
        return stored

    placed: list = []  # the ids of the orders placed by the last batch
    numbers = OrderNumbers(ProcessBlocks())  # a block from memory: the database sequence is one query per 1,000

    def place(cmd: commands.PlaceOrder) -> Callable:
        return lambda uow: placed.append(handlers.place_order(uow, cmd, directory, numbers)[0].id)

    def authorise_payment(order_id: Any) -> Callable:
        approved = PaymentResult(True, f"auth_{order_id.hex}")
        return lambda uow: handlers.record_authorization(uow, order_id, approved)

    cmds = [command(i) for i in range(orders)]
    for start in range(0, len(cmds), 16):
        due = [authorise_payment(order_id) for order_id in placed] if authorise else []
        placed.clear()
        yield batch([place(cmd) for cmd in cmds[start:start + 16]] + due)
    if authorise and placed:
        yield batch([authorise_payment(order_id) for order_id in placed])


def _decide(iterations: int) -> int:
    """Returns the number of events decided."""
    # The first 6 batches warm caches: the same in both runs.
    return sum(len(stored) for stored in _decided_batches(iterations + 96))


@contextmanager
def _fresh_store() -> Iterator[tuple[Any, str]]:
    """An event store application on a fresh database of the local server: (app, its URL);
    the database is dropped afterwards."""
    import uuid

    from bench.databases import create_database, drop_database

    from application.event_store import OrderManagement
    from infrastructure.database import eventsourcing_env
    from infrastructure.transcoder import OrjsonTranscoder

    name = f"oms_instructions_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        env = eventsourcing_env(url)
        env["CREATE_TABLE"] = "y"
        app = OrderManagement(env, transcoder=OrjsonTranscoder())
        try:
            yield app, url
        finally:
            app.close()
    finally:
        drop_database(name)


def _store(iterations: int) -> int:
    """Inserts ``iterations`` batches of 16 placements' events (as the decide harness makes them)
    with the writer's insert into a fresh database on the local server; returns the number of
    events stored. Only this process's instructions count: the server's work is not measured."""
    import uuid

    from eventsourcing.persistence import StoredEvent

    templates = list(_decided_batches(8 * 16))
    # Every run builds the same number of batches (the most any run inserts), so building them
    # cancels out between the two runs; each batch gets ids of its own.
    most = max(ITERATIONS["store"]) + 5
    batches = []
    for n in range(most):
        ids: dict = {}
        batches.append([StoredEvent(ids.setdefault(e.originator_id, uuid.UUID(int=n << 64 | len(ids))),
                                    e.originator_version, e.topic, e.state) for e in templates[n % len(templates)]])
    with _fresh_store() as (app, _):
        # The first 5 warm the connection and prepare the statements: the same in both runs.
        return sum(len(app.recorder.insert_events(stored)) for stored in batches[: iterations + 5])


def _project(iterations: int) -> int:
    """The projection worker's side of ``iterations`` orders (placement and authorisation, 7
    events): its four read models following the feed side by side, sharing one read of it, in
    batches of 10 orders' events, as under load. The store is filled first, the same in both
    runs, and the first 100 orders warm the read models' caches. Returns the number of orders the
    read model shows confirmed (placed and authorised)."""
    import psycopg

    from projections import build_projections

    warm, per_order, batch = 100, 7, 70
    batches = list(_decided_batches(max(ITERATIONS["project"]) + warm + 16, authorise=True))
    with _fresh_store() as (app, url):
        runners = []
        try:
            for stored in batches:
                app.recorder.insert_events(stored)
            runners = build_projections(app, batch_size=batch)
            for runner in runners:
                assert runner._try_lock()

            def project_until(position: int) -> None:
                while any(runner._position is None or runner._position < position for runner in runners):
                    for runner in runners:
                        if runner._position is None or runner._position < position:
                            runner._process_batch(batch)
                for runner in runners:
                    runner._settle()

            seeded = len(batches[0])
            project_until(seeded + warm * per_order)
            project_until(seeded + (warm + iterations) * per_order)
            with psycopg.connect(url) as conn:  # what the read models hold: for the harness's test
                return conn.execute("SELECT count(*) FROM orders WHERE status = 'confirmed'").fetchone()[0]
        finally:
            for runner in runners:
                runner.close()


def run_harness(name: str, iterations: int) -> int:
    """Runs a harness; returns what it did (orders answered 201, or events decided or stored)."""
    if name == "http":
        return _post_orders(_app_with_stubbed_writer(), iterations)
    if name == "ceiling":
        from bench.http_ceiling import app
        return _post_orders(app, iterations)
    if name == "decide":
        return _decide(iterations)
    if name == "store":
        return _store(iterations)
    if name == "project":
        return _project(iterations)
    raise SystemExit(f"unknown harness {name}")


# ------------------------------------------------------------------ counting

def ensure_valgrind() -> None:
    if not shutil.which("valgrind"):
        print("installing valgrind from Debian's packages", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=True)


def instructions(name: str, iterations: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
             sys.executable, "-m", "bench.instructions", "run", name, str(iterations)],
            cwd=ROOT, env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{name} x{iterations} failed under callgrind:\n{out.stderr[-3000:]}")
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def per_iteration(name: str) -> dict:
    fewer, more = ITERATIONS[name]
    with ThreadPoolExecutor(2) as pool:
        low, high = pool.map(lambda n: instructions(name, n), (fewer, more))
    return {"instructions": round((high - low) / (more - fewer)), "iterations": [fewer, more],
            "totals": [low, high]}


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        run_harness(sys.argv[2], int(sys.argv[3]))
        return 0
    ensure_valgrind()
    results = {"date": datetime.now(UTC).isoformat(), "python": sys.version.split()[0]}
    for name in ("http", "ceiling", "decide", "store", "project"):
        print(f"[instructions] {name} ...", flush=True)
        results[name] = per_iteration(name)
    results["http_over_ceiling"] = round(results["http"]["instructions"] / results["ceiling"]["instructions"], 2)
    out = results_path(f"instructions-{datetime.now(UTC):%Y-%m-%d}")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"{'POST /orders, HTTP layer (writer stubbed)':<44} {results['http']['instructions']:>12,} instructions")
    print(f"{'FastAPI + OrderIn alone (the ceiling)':<44} {results['ceiling']['instructions']:>12,} instructions"
          f"   (ours x{results['http_over_ceiling']})")
    print(f"{'writer: deciding one placement':<44} {results['decide']['instructions']:>12,} instructions")
    per_order = round(results["store"]["instructions"] / 16)
    print(f"{'writer: storing one batch of 16 placements':<44} {results['store']['instructions']:>12,} instructions"
          f"   ({per_order:,} per placement)")
    print(f"{'projection worker: one order, 4 read models':<44} {results['project']['instructions']:>12,} instructions"
          f"   (placement and authorisation, batches of 10 orders)")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
