"""The use cases the API offers, each a few lines: prepare, let the writer decide and save,
follow up (payments) where the use case moves money.

A use case is an ``OrderService`` method marked ``@use_case(SomeCommand)``; ``handle`` finds it
by the command's type. ``Commands`` is what the API sees: this service in the writer's own
process (``OMS_WRITER=thread``), or ``infrastructure.writer_client.RemoteCommands``, which
carries the same commands to the writer process and back.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar
from uuid import UUID

from application import commands, handlers
from application.aggregate_cache import AggregateCache
from application.commands import Command
from application.context import CommandContext
from application.documents import location_document, order_document, stock_document
from application.errors import CommandFailed, NotFound
from application.event_store import OrderManagement
from application.order_numbers import OrderNumbers, ProcessBlocks
from application.payments import PaymentSettlement
from application.ports import Carrier, Label, PaymentGatewayUnavailable
from application.writer import CommandResult, GroupCommitWriter
from domain.order import Order, order_id_of


@dataclass(frozen=True)
class Outcome:
    document: Mapping[str, Any]
    # Notification id of the last event recorded (None when nothing was recorded).
    position: int | None
    created: bool = False


class Commands(Protocol):
    """What the API asks of the writer, wherever the writer runs."""

    async def execute(self, cmd: Command, ctx: CommandContext) -> Outcome: ...


C = TypeVar("C", bound=Command)
UseCase = Callable[["OrderService", Any, CommandContext], Outcome]
_USE_CASES: dict[type[Command], UseCase] = {}


def use_case(command_type: type[C]) -> Callable[[Callable[[OrderService, C, CommandContext], Outcome]],
                                                Callable[[OrderService, C, CommandContext], Outcome]]:
    """Marks the method that carries out ``command_type``."""
    def register(method: Callable[[OrderService, C, CommandContext], Outcome]) -> Callable[
            [OrderService, C, CommandContext], Outcome]:
        _USE_CASES[command_type] = method
        return method
    return register


def handled_commands() -> frozenset[type[Command]]:
    return frozenset(_USE_CASES)


class OrderService:
    def __init__(self, app: OrderManagement, writer: GroupCommitWriter, cache: AggregateCache,
                 settlement: PaymentSettlement, carrier: Carrier, *, threads: int = 64,
                 numbers: OrderNumbers | None = None) -> None:
        self.app = app
        self.writer = writer
        self.cache = cache
        self.settlement = settlement
        self.carrier = carrier
        # A deployment's numbers come from the database (several writers); one process alone
        # (tests) may count by itself.
        self.numbers = numbers or OrderNumbers(ProcessBlocks())
        # Use cases other than placing an order wait for their batch (and maybe a payment
        # provider) on a thread of their own.
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="command")

    # ------------------------------------------------------------ dispatch

    def handle(self, cmd: Command, ctx: CommandContext) -> Outcome:
        """Carries out ``cmd``, blocking until its outcome is known."""
        try:
            carry_out = _USE_CASES[type(cmd)]
        except KeyError:
            raise CommandFailed(f"no use case carries out {type(cmd).__name__}") from None
        return carry_out(self, cmd, ctx)

    def submit(self, cmd: Command, ctx: CommandContext) -> Future[Outcome]:
        """``handle`` without blocking the caller: a placement is answered from its batch's
        commit (no thread of its own: every order passes here), anything else from a thread."""
        if isinstance(cmd, commands.PlaceOrder):
            return self._submit_placement(cmd, ctx)
        return self._threads.submit(self.handle, cmd, ctx)

    async def execute(self, cmd: Command, ctx: CommandContext) -> Outcome:
        return await asyncio.wrap_future(self.submit(cmd, ctx))

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ locations and stock

    @use_case(commands.RegisterLocation)
    def register_location(self, cmd: commands.RegisterLocation, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.register_location, cmd=cmd), ctx)
        location, created = result.value
        return Outcome(location_document(location), result.position, created)

    @use_case(commands.ReceiveStock)
    def receive_stock(self, cmd: commands.ReceiveStock, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.receive_stock, cmd=cmd), ctx)
        return Outcome(stock_document(result.value), result.position, True)

    @use_case(commands.AdjustStock)
    def adjust_stock(self, cmd: commands.AdjustStock, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.adjust_stock, cmd=cmd), ctx)
        return Outcome(stock_document(result.value), result.position, True)

    # ------------------------------------------------------------ orders

    @use_case(commands.PlaceOrder)
    def place_order(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Outcome:
        """Records the order with its sourcing and reservations; payment follows by itself."""
        return self._submit_placement(cmd, ctx).result(60)

    def _submit_placement(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Future[Outcome]:
        outcome: Future[Outcome] = Future()

        def placed(done: Future[CommandResult]) -> None:
            try:
                result = done.result()
            except BaseException as error:  # noqa: BLE001 - the command's own failure, for its caller
                outcome.set_exception(error)
                return
            if is_replay(result):  # a replay reads the store: not on the writer's thread
                self._threads.submit(_complete, outcome, self.placement_outcome, result)
            else:
                _complete(outcome, self.placement_outcome, result)

        self.writer.submit(partial(handlers.place_order, cmd=cmd, directory=self.writer.directory,
                                   numbers=self.numbers), ctx).add_done_callback(placed)
        return outcome

    def placement_outcome(self, result: CommandResult) -> Outcome:
        order, created = result.value
        # A replay records nothing, yet its caller may read next and must see the order: it gets
        # the position of the order's latest event instead (a read of the store).
        position = result.position if created else self.app.latest_position(order.id)
        return Outcome(order_document(order), position, created)

    @use_case(commands.CancelOrder)
    def cancel_order(self, cmd: commands.CancelOrder, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.cancel_order, cmd=cmd), ctx)
        return self._settled(result.value, result.position, ctx)

    @use_case(commands.HoldOrder)
    def hold_order(self, cmd: commands.HoldOrder, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.hold_order, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    @use_case(commands.ReleaseOrder)
    def release_order(self, cmd: commands.ReleaseOrder, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.release_order, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    @use_case(commands.ImportChannelOrder)
    def import_channel_order(self, cmd: commands.ImportChannelOrder, ctx: CommandContext) -> Outcome:
        """Places a sales channel's order, or applies a later delivery of it (created False)."""
        result = self.writer.execute(
            partial(handlers.import_channel_order, cmd=cmd, directory=self.writer.directory, numbers=self.numbers),
            ctx)
        order, created = result.value
        return Outcome(order_document(order), result.position, created)  # no position: nothing was new

    @use_case(commands.RequestReturn)
    def request_return(self, cmd: commands.RequestReturn, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.request_return, cmd=cmd), ctx)
        order, return_id = result.value
        document = next(r for r in order_document(order)["returns"] if r["id"] == return_id)
        return Outcome({**document, "order_id": str(order.id), "order_version": order.version},
                       result.position, True)

    @use_case(commands.ReceiveReturn)
    def receive_return(self, cmd: commands.ReceiveReturn, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.receive_return, cmd=cmd), ctx)
        return self._settled(result.value, result.position, ctx)

    # ------------------------------------------------------------ shipments

    @use_case(commands.PickShipment)
    def pick(self, cmd: commands.PickShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.pick_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    @use_case(commands.PackShipment)
    def pack(self, cmd: commands.PackShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.pack_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    @use_case(commands.ShipShipment)
    def ship(self, cmd: commands.ShipShipment, ctx: CommandContext) -> Outcome:
        """Gets a label from the carrier (unless a tracking number is given), records the
        shipment leaving, then captures payment for what shipped."""
        # Fail before buying a label for a shipment the writer would refuse. The cached copy may
        # be behind another process's writes, so a refusal is confirmed against the event store.
        order = self._committed_order_of(cmd.shipment_id, ctx)
        if handlers.ship_refusal(order, cmd) is not None:
            self.cache.evict([order.id])
            order = self._committed_order_of(cmd.shipment_id, ctx)
            if (refusal := handlers.ship_refusal(order, cmd)) is not None:
                raise refusal
        shipment = order.shipments[cmd.shipment_id]
        if cmd.tracking_number:
            label = Label(cmd.tracking_number, self.carrier.tracking_url(cmd.carrier, cmd.tracking_number))
        else:
            address = order.shipping_address
            label = self.carrier.create_label(
                cmd.shipment_id, carrier=cmd.carrier, from_location=shipment.location_id,
                to_postal_code=address.get("postal_code"), to_country=address.get("country"))
        result = self.writer.execute(partial(handlers.ship_shipment, cmd=cmd, label=label), ctx)
        return self._settled(result.value, result.position, ctx)

    @use_case(commands.DeliverShipment)
    def deliver(self, cmd: commands.DeliverShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.deliver_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    @use_case(commands.TrackShipment)
    def track(self, cmd: commands.TrackShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.track_shipment, cmd=cmd), ctx)
        return self._settled(result.value, result.position, ctx)  # a delivery may make money due

    # ------------------------------------------------------------ payments

    def settle_payments(self, order_id: UUID, ctx: CommandContext) -> int | None:
        return self.settlement.settle(order_id, ctx)

    def _settled(self, order: Order, position: int | None, ctx: CommandContext) -> Outcome:
        """Moves the money the command made due; if the provider is down the payment policy
        retries, and the command itself stands."""
        try:
            settled_at = self.settlement.settle(order.id, ctx)
        except PaymentGatewayUnavailable:
            settled_at = None
        if settled_at is not None:
            position = settled_at
        # Re-read even when this call settled nothing: the policy may have settled it meanwhile.
        latest = self.cache.get(order.id)
        if isinstance(latest, Order) and latest.version > order.version:
            order = latest
        return Outcome(order_document(order), position)

    # ------------------------------------------------------------ operations

    @use_case(commands.DescribeWriter)
    def describe_writer(self, cmd: commands.DescribeWriter, ctx: CommandContext) -> Outcome:
        """Whether the cache is warm yet, and the writer's counters since it started."""
        writer = self.writer
        return Outcome({"cache": "warm" if writer.warm.is_set() else "warming",
                        "writer": {"batches": writer.batches, "commands": writer.commands,
                                   "conflicts": writer.conflicts, "followed_events": writer.followed,
                                   "busy_seconds": {phase: round(seconds, 6)
                                                    for phase, seconds in writer.seconds.items()}}}, None)

    # ------------------------------------------------------------ history

    def order_as_of(self, order_id: UUID, at: datetime) -> dict[str, Any]:
        """The order as it was at ``at``, replayed from the event store (not the read model)."""
        order = None
        event: Any
        for event in self.app.repository.event_store.get(order_id):
            if order is None:  # the stream's first event: is it an order's, and was it placed by then?
                placed = event.mutate(None)
                if not isinstance(placed, Order):  # a location's or a stock item's stream
                    raise NotFound("order", order_id)
                if event.timestamp > at:
                    raise NotFound("order", order_id, f"the order {order_id} did not exist yet at {at.isoformat()}")
                order = placed
            elif event.timestamp > at:
                break
            else:
                order = event.mutate(order)
        if order is None:
            raise NotFound("order", order_id)
        return order_document(order)

    def _committed_order_of(self, shipment_id: str, ctx: CommandContext) -> Order:
        """The order holding a shipment, as last committed (cached, possibly behind writes from
        other processes; the writer re-checks everything it decides on). A shipment of an order
        outside the caller's channels is not found, as in the writer."""
        order_id = order_id_of(shipment_id)
        order = self.cache.get(order_id) if order_id is not None else None
        if not isinstance(order, Order) or shipment_id not in order.shipments or not ctx.reaches(order.channel):
            raise NotFound("shipment", shipment_id)
        return order


def _complete(outcome: Future[Outcome], build: Callable[[CommandResult], Outcome], result: CommandResult) -> None:
    try:
        outcome.set_result(build(result))
    except BaseException as error:  # noqa: BLE001 - for the caller, not this thread
        outcome.set_exception(error)


def is_replay(result: CommandResult) -> bool:
    """A placement that found its order already there (same channel and external id, or a retry
    with the same Idempotency-Key): nothing was recorded."""
    _, created = result.value
    return not created
