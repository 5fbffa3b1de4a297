"""The writer process's socket: an API process's commands carried out by another process's writer,
with the same outcomes and the same errors as in-process; nothing lost or half-written when the
connection goes away."""
from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import anyio.to_thread
import pytest

from application import commands
from application.documents import order_document
from application.errors import IdempotencyKeyReused, NotFound, PreconditionFailed
from application.writer import OutcomeUnknown, WriterUnavailable
from domain.errors import InsufficientStock
from infrastructure.writer_client import RemoteOrderService, WriterClient
from infrastructure.writer_process import WriterServer
from infrastructure.writer_wire import RemoteFailure, decode, transportable
from tests.application.conftest import Node, order_command, stock_up
from tests.application.conftest import ctx, node, url  # noqa: F401 - the fixtures, shared


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "writer.sock")


@pytest.fixture
def served(node: Node, socket_path: str) -> Iterator[RemoteOrderService]:
    """``node``'s service behind a writer socket, and an API process's view of it."""
    server = WriterServer(node.service, socket_path)
    server.start()
    yield RemoteOrderService(node.service, WriterClient(socket_path))
    server.stop()


def run(coroutine_function, *args):
    return asyncio.run(coroutine_function(*args))


def test_a_placement_is_recorded_by_the_writer_process_and_answered_as_in_process(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def place():
        return await served.place_order_async(order_command("o-1", {"A": 2}), ctx)

    outcome = run(place)
    assert outcome.created is True
    assert outcome.position == node.app.recorder.max_notification_id()
    # The answer is the committed order, as the store has it.
    assert outcome.document == order_document(node.app.repository.get(UUID(outcome.document["id"])))


def test_many_placements_in_flight_on_one_connection_each_get_their_own_answer(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 100})

    async def place_many():
        return await asyncio.gather(*(served.place_order_async(order_command(f"o-{n}", {"A": 1}), ctx)
                                      for n in range(40)))

    outcomes = run(place_many)
    assert [o.document["external_id"] for o in outcomes] == [f"o-{n}" for n in range(40)]
    assert all(o.created for o in outcomes)
    assert len({o.position for o in outcomes}) == 40
    assert node.writer.batches < 40  # shared batches: group commit still works across the socket


def test_the_answers_of_one_batch_go_to_their_connection_in_one_write(node, ctx, served, monkeypatch):
    from infrastructure import writer_process

    stock_up(node.service, ctx, {("berlin-wh", "A"): 100})
    writes = []
    send = writer_process._Connection._send
    monkeypatch.setattr(writer_process._Connection, "_send", lambda self, data: (writes.append(data), send(self, data)))
    batches_before = node.writer.batches

    async def place_many():
        return await asyncio.gather(*(served.place_order_async(order_command(f"o-{n}", {"A": 1}), ctx)
                                      for n in range(40)))

    assert all(o.created for o in run(place_many))
    assert len(writes) <= node.writer.batches - batches_before < 40


def test_a_replayed_placement_records_nothing_and_answers_with_the_orders_position(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def place_twice():
        first = await served.place_order_async(order_command("o-1", {"A": 1}), ctx)
        head = node.app.recorder.max_notification_id()
        again = await served.place_order_async(order_command("o-1", {"A": 1}), ctx)
        return first, head, again

    first, head, again = run(place_twice)
    assert again.created is False and again.document["id"] == first.document["id"]
    assert node.app.recorder.max_notification_id() == head  # nothing recorded
    assert again.position == node.app.latest_position(UUID(first.document["id"]))


def test_refusals_arrive_as_the_same_errors_with_their_details(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def scenario():
        await served.place_order_async(order_command("o-1", {"A": 1}, idempotency_key="k-1",
                                                     request_fingerprint="body-1"), ctx)
        placed = await served.place_order_async(order_command("o-2", {"A": 3}), ctx)
        errors = {}
        try:
            await served.place_order_async(order_command("o-3", {"A": 1}, idempotency_key="k-1",
                                                         request_fingerprint="body-2"), ctx)
        except IdempotencyKeyReused as error:
            errors["idempotency"] = error
        for name, call in {
            "stock": lambda: served.adjust_stock(commands.AdjustStock("berlin-wh", "A", -3, "count"), ctx),
            "missing": lambda: served.pick(commands.PickShipment("shp_nope_1"), ctx),
            "stale": lambda: served.cancel_order(commands.CancelOrder(placed.document["id"], "changed mind",
                                                                      expected_versions=frozenset({99})), ctx),
        }.items():
            try:
                await anyio.to_thread.run_sync(call)
            except Exception as error:  # noqa: BLE001 - collected and checked below
                errors[name] = error
        return errors

    errors = run(scenario)
    assert isinstance(errors["idempotency"], IdempotencyKeyReused)
    assert isinstance(errors["stock"], InsufficientStock) and "reserved" in errors["stock"].detail
    assert isinstance(errors["missing"], NotFound)
    assert (errors["missing"].kind, errors["missing"].identifier) == ("shipment", "shp_nope_1")
    assert isinstance(errors["stale"], PreconditionFailed) and errors["stale"].current_version >= 1


def test_commands_from_the_routes_worker_threads_and_the_writers_status(node, ctx, served):
    async def scenario():
        location = await anyio.to_thread.run_sync(
            served.register_location, commands.RegisterLocation("berlin-wh", "Berlin", "warehouse", 52.5, 13.4), ctx)
        stock = await anyio.to_thread.run_sync(served.receive_stock, commands.ReceiveStock("berlin-wh", "A", 7), ctx)
        status = await anyio.to_thread.run_sync(served.writer_status)
        return location, stock, status

    location, stock, status = run(scenario)
    assert location.created and location.document["location_id"] == "berlin-wh"
    assert stock.document["on_hand"] == 7
    assert status["writer"]["commands"] == node.writer.commands >= 2
    assert status["cache"] in {"warm", "warming"}


def test_without_a_writer_process_commands_are_refused_as_unavailable(socket_path, ctx):
    remote_only = RemoteOrderService(None, WriterClient(socket_path))  # type: ignore[arg-type]

    async def place():
        return await remote_only.place_order_async(order_command("o-1", {"A": 1}), ctx)

    with pytest.raises(WriterUnavailable):
        run(place)


class _StuckService:
    """Holds a command until released, like a writer whose batch has not committed yet."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        # The writer the server sends placements' answers by batches of (none here).
        self.writer = SimpleNamespace(on_batch_answered=lambda listener: None, in_writer_thread=lambda: False)

    def cancel_order(self, cmd, ctx):
        self.entered.set()
        self.release.wait(10)
        raise RuntimeError("answered after the connection was gone")


def test_a_lost_writer_process_makes_the_outcome_unknown_and_the_next_call_connects_again(node, ctx, socket_path):
    stuck = _StuckService()
    server = WriterServer(stuck, socket_path)  # type: ignore[arg-type]
    server.start()
    remote = RemoteOrderService(node.service, WriterClient(socket_path))
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def scenario():
        pending = asyncio.ensure_future(anyio.to_thread.run_sync(
            remote.cancel_order, commands.CancelOrder("00000000-0000-0000-0000-000000000000", "x"), ctx))
        await anyio.to_thread.run_sync(stuck.entered.wait, 10)
        stopping = threading.Thread(target=server.stop)  # closes the connection, then waits for its pool
        stopping.start()
        try:
            with pytest.raises(OutcomeUnknown):
                await pending
        finally:
            stuck.release.set()
            await anyio.to_thread.run_sync(stopping.join, 10)
        restarted = WriterServer(node.service, socket_path)  # as `oms serve` starts it again
        restarted.start()
        try:
            return await remote.place_order_async(order_command("o-after", {"A": 1}), ctx)
        finally:
            restarted.stop()

    assert run(scenario).created is True


def test_a_command_the_writer_process_does_not_answer_in_time_has_an_unknown_outcome(node, ctx, socket_path):
    stuck = _StuckService()
    server = WriterServer(stuck, socket_path)  # type: ignore[arg-type]
    server.start()
    remote = RemoteOrderService(node.service, WriterClient(socket_path), timeout=0.5)

    async def cancel():
        return await anyio.to_thread.run_sync(
            remote.cancel_order, commands.CancelOrder("00000000-0000-0000-0000-000000000000", "x"), ctx)

    try:
        with pytest.raises(OutcomeUnknown, match="within 0.5 s"):
            run(cancel)
    finally:
        stuck.release.set()
        server.stop()


def test_only_commands_data_and_our_errors_may_cross_the_socket():
    class Exploit:
        def __reduce__(self):
            import os
            return os.system, ("echo pwned",)

    with pytest.raises(pickle.UnpicklingError):
        decode(pickle.dumps((1, "cancel_order", (Exploit(),))))
    assert isinstance(transportable(ValueError("internal")), RemoteFailure)
    assert isinstance(transportable(InsufficientStock("short")), InsufficientStock)
