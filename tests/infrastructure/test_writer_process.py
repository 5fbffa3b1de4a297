"""The writer process's socket: an API process's commands carried out by another process's writer,
with the same outcomes and the same errors as in-process; nothing lost or half-written when the
connection goes away."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import anyio.to_thread
import pytest

from application import commands
from application.documents import order_document
from application.errors import IdempotencyKeyReused, NotFound, PreconditionFailed
from application.errors import CommandFailed, OutcomeUnknown, WriterUnavailable
from domain.errors import InsufficientStock
from infrastructure.writer_client import RemoteCommands, WriterClient
from infrastructure.writer_process import WriterServer
from infrastructure.writer_wire import HEADER, decode_answer, encode_request
from tests.application.conftest import Node, order_command, stock_up
from tests.application.conftest import ctx, node, url  # noqa: F401 - the fixtures, shared


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "writer.sock")


@pytest.fixture
def served(node: Node, socket_path: str) -> Iterator[RemoteCommands]:
    """``node``'s service behind a writer socket, and an API process's view of it."""
    server = WriterServer(node.service, socket_path)
    server.start()
    yield RemoteCommands(WriterClient(socket_path))
    server.stop()


def run(coroutine_function, *args):
    return asyncio.run(coroutine_function(*args))


def test_a_placement_is_recorded_by_the_writer_process_and_answered_as_in_process(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def place():
        return await served.execute(order_command("o-1", {"A": 2}), ctx)

    outcome = run(place)
    assert outcome.created is True
    assert outcome.position == node.app.recorder.max_notification_id()
    # The answer is the committed order, as the store has it.
    assert outcome.document == order_document(node.app.repository.get(UUID(outcome.document["id"])))


def test_many_placements_in_flight_on_one_connection_each_get_their_own_answer(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 100})

    async def place_many():
        return await asyncio.gather(*(served.execute(order_command(f"o-{n}", {"A": 1}), ctx)
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
        return await asyncio.gather(*(served.execute(order_command(f"o-{n}", {"A": 1}), ctx)
                                      for n in range(40)))

    assert all(o.created for o in run(place_many))
    assert len(writes) <= node.writer.batches - batches_before < 40


def test_a_replayed_placement_records_nothing_and_answers_with_the_orders_position(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def place_twice():
        first = await served.execute(order_command("o-1", {"A": 1}), ctx)
        head = node.app.recorder.max_notification_id()
        again = await served.execute(order_command("o-1", {"A": 1}), ctx)
        return first, head, again

    first, head, again = run(place_twice)
    assert again.created is False and again.document["id"] == first.document["id"]
    assert node.app.recorder.max_notification_id() == head  # nothing recorded
    assert again.position == node.app.latest_position(UUID(first.document["id"]))


def test_refusals_arrive_as_the_same_errors_with_their_details(node, ctx, served):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def scenario():
        await served.execute(order_command("o-1", {"A": 1}, idempotency_key="k-1",
                                                     request_fingerprint="body-1"), ctx)
        placed = await served.execute(order_command("o-2", {"A": 3}), ctx)
        errors = {}
        try:
            await served.execute(order_command("o-3", {"A": 1}, idempotency_key="k-1",
                                                         request_fingerprint="body-2"), ctx)
        except IdempotencyKeyReused as error:
            errors["idempotency"] = error
        for name, cmd in {
            "stock": commands.AdjustStock("berlin-wh", "A", -3, "count"),
            "missing": commands.PickShipment("shp_nope_1"),
            "stale": commands.CancelOrder(placed.document["id"], "changed mind", expected_versions=frozenset({99})),
        }.items():
            try:
                await served.execute(cmd, ctx)
            except Exception as error:  # noqa: BLE001 - collected and checked below
                errors[name] = error
        return errors

    errors = run(scenario)
    assert isinstance(errors["idempotency"], IdempotencyKeyReused)
    assert isinstance(errors["stock"], InsufficientStock) and "reserved" in errors["stock"].detail
    assert isinstance(errors["missing"], NotFound)
    assert (errors["missing"].kind, errors["missing"].identifier) == ("shipment", "shp_nope_1")
    assert isinstance(errors["stale"], PreconditionFailed) and errors["stale"].current_version >= 1


def test_any_command_and_the_writers_status_cross_the_socket(node, ctx, served):
    async def scenario():
        location = await served.execute(commands.RegisterLocation("berlin-wh", "Berlin", "warehouse", 52.5, 13.4), ctx)
        stock = await served.execute(commands.ReceiveStock("berlin-wh", "A", 7), ctx)
        status = (await served.execute(commands.DescribeWriter(), ctx)).document
        return location, stock, status

    location, stock, status = run(scenario)
    assert location.created and location.document["location_id"] == "berlin-wh"
    assert stock.document["on_hand"] == 7
    assert status["writer"]["commands"] == node.writer.commands >= 2
    assert status["cache"] in {"warm", "warming"}


def test_without_a_writer_process_commands_are_refused_as_unavailable(socket_path, ctx):
    remote_only = RemoteCommands(WriterClient(socket_path))

    async def place():
        return await remote_only.execute(order_command("o-1", {"A": 1}), ctx)

    with pytest.raises(WriterUnavailable):
        run(place)


class _StuckService:
    """Holds a command until released, like a writer whose batch has not committed yet."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        # The writer the server sends placements' answers by batches of (none here).
        self.writer = SimpleNamespace(on_batch_answered=lambda listener: None, in_writer_thread=lambda: False)
        self._threads = ThreadPoolExecutor(4)

    def submit(self, cmd, ctx) -> Future:
        return self._threads.submit(self._hold)

    def _hold(self):
        self.entered.set()
        self.release.wait(10)
        raise RuntimeError("answered after the connection was gone")


def test_a_lost_writer_process_makes_the_outcome_unknown_and_the_next_call_connects_again(node, ctx, socket_path):
    stuck = _StuckService()
    server = WriterServer(stuck, socket_path)  # type: ignore[arg-type]
    server.start()
    remote = RemoteCommands(WriterClient(socket_path))
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})

    async def scenario():
        pending = asyncio.ensure_future(remote.execute(
            commands.CancelOrder("00000000-0000-0000-0000-000000000000", "x"), ctx))
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
            return await remote.execute(order_command("o-after", {"A": 1}), ctx)
        finally:
            restarted.stop()

    assert run(scenario).created is True


def test_a_command_the_writer_process_does_not_answer_in_time_has_an_unknown_outcome(node, ctx, socket_path):
    stuck = _StuckService()
    server = WriterServer(stuck, socket_path)  # type: ignore[arg-type]
    server.start()
    remote = RemoteCommands(WriterClient(socket_path), timeout=0.5)

    async def cancel():
        return await remote.execute(commands.CancelOrder("00000000-0000-0000-0000-000000000000", "x"), ctx)

    try:
        with pytest.raises(OutcomeUnknown, match="within 0.5 s"):
            run(cancel)
    finally:
        stuck.release.set()
        server.stop()


def test_delivering_with_its_documented_field_is_carried_to_the_writer_and_back(node, ctx, served):
    """The hardening issue's example: ``delivered_at`` once broke the wire and its connection."""
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    placed = node.service.place_order(order_command("o-1", {"A": 1}), ctx)
    node.service.settle_payments(UUID(placed.document["id"]), ctx)
    shipment_id = placed.document["shipments"][0]["id"]
    for step in (commands.PickShipment(shipment_id), commands.PackShipment(shipment_id),
                 commands.ShipShipment(shipment_id, "dhl", "TRACK-1")):
        node.service.handle(step, ctx)
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

    delivered = run(served.execute, commands.DeliverShipment(shipment_id, at), ctx)
    assert delivered.document["shipments"][0]["delivered_at"] == at.isoformat()


def test_a_command_that_fails_fails_alone_and_the_connection_carries_the_others(node, ctx, served, socket_path):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 100})

    async def scenario():
        unsendable = commands.CancelOrder("\ud800", "x")  # text no JSON can carry
        outcomes = await asyncio.gather(
            *(served.execute(order_command(f"o-{n}", {"A": 1}), ctx) for n in range(20)),
            served.execute(unsendable, ctx), return_exceptions=True)
        return outcomes

    outcomes = run(scenario)
    assert isinstance(outcomes[-1], UnicodeEncodeError)
    assert all(o.created for o in outcomes[:-1])


def test_a_frame_the_writer_cannot_read_is_answered_as_a_failure_and_the_connection_stays_up(node, ctx, served,
                                                                                               socket_path):
    stock_up(node.service, ctx, {("berlin-wh", "A"): 5})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(socket_path)
        reader = sock.makefile("rb")
        unknown = b'[5,"LaunchRockets",{},{"actor_id":"a","actor_name":"b","command":"c","request_id":"r"}]'
        sock.sendall(HEADER.pack(len(unknown)) + unknown)
        sock.sendall(HEADER.pack(len(b"\xff\xfe")) + b"\xff\xfe")  # not even a call id: skipped
        sock.sendall(encode_request(6, order_command("o-1", {"A": 1}), ctx))
        answers = {}
        for _ in range(2):
            (size,) = HEADER.unpack(reader.read(HEADER.size))
            call_id, outcome, error = decode_answer(reader.read(size))
            answers[call_id] = outcome or error
    assert isinstance(answers[5], CommandFailed) and "LaunchRockets" in str(answers[5])
    assert answers[6].created is True


def test_a_failure_inside_the_writer_is_a_command_failure_for_its_caller_only(node, ctx, served, monkeypatch):
    def broken(self, cmd, ctx):
        raise RuntimeError("a bug")
    from application import service as service_module
    monkeypatch.setitem(service_module._USE_CASES, commands.ReceiveStock, broken)

    with pytest.raises(CommandFailed, match="RuntimeError: a bug"):
        run(served.execute, commands.ReceiveStock("berlin-wh", "A", 1), ctx)
    assert run(served.execute, commands.DescribeWriter(), ctx).document["cache"] in {"warm", "warming"}
