"""The use cases the API offers, each a few lines: prepare, let the writer decide and save,
follow up (payments) where the use case moves money."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from application import commands, handlers
from application.aggregate_cache import AggregateCache
from application.context import CommandContext
from application.documents import location_document, order_document, stock_document
from application.errors import NotFound, PreconditionFailed
from application.event_store import OrderManagement
from application.payments import PaymentSettlement
from application.ports import Carrier, Label, PaymentGatewayUnavailable
from application.writer import CommandResult, GroupCommitWriter
from domain.errors import ForbiddenTransition
from domain.order import Order, order_id_of


@dataclass(frozen=True)
class Outcome:
    document: dict[str, Any]
    # Notification id of the last event recorded (None when nothing was recorded).
    position: int | None
    created: bool = False


class OrderService:
    def __init__(self, app: OrderManagement, writer: GroupCommitWriter, cache: AggregateCache,
                 settlement: PaymentSettlement, carrier: Carrier) -> None:
        self.app = app
        self.writer = writer
        self.cache = cache
        self.settlement = settlement
        self.carrier = carrier

    # ------------------------------------------------------------ locations and stock

    def register_location(self, cmd: commands.RegisterLocation, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.register_location, cmd=cmd), ctx)
        location, created = result.value
        return Outcome(location_document(location), result.position, created)

    def receive_stock(self, cmd: commands.ReceiveStock, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.receive_stock, cmd=cmd), ctx)
        return Outcome(stock_document(result.value), result.position, True)

    def adjust_stock(self, cmd: commands.AdjustStock, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.adjust_stock, cmd=cmd), ctx)
        return Outcome(stock_document(result.value), result.position, True)

    # ------------------------------------------------------------ orders

    def place_order(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Outcome:
        """Records the order with its sourcing and reservations; payment follows by itself."""
        return self.placement_outcome(self.submit_placement(cmd, ctx).result(60))

    async def place_order_async(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Outcome:
        """The same as ``place_order`` without holding a thread while the batch commits."""
        import asyncio

        result = await asyncio.wrap_future(self.submit_placement(cmd, ctx))
        if is_replay(result):  # a replay reads the store: off the event loop
            return await asyncio.to_thread(self.placement_outcome, result)
        return self.placement_outcome(result)

    def submit_placement(self, cmd: commands.PlaceOrder, ctx: CommandContext) -> Future[CommandResult]:
        """Hands the placement to the writer; the future is done once its batch has committed."""
        return self.writer.submit(partial(handlers.place_order, cmd=cmd, directory=self.writer.directory), ctx)

    def placement_outcome(self, result: CommandResult) -> Outcome:
        order, created = result.value
        # A replay records nothing, yet its caller may read next and must see the order: it gets
        # the position of the order's latest event instead (a read of the store).
        position = result.position if created else self.app.latest_position(order.id)
        return Outcome(order_document(order), position, created)

    def cancel_order(self, cmd: commands.CancelOrder, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.cancel_order, cmd=cmd), ctx)
        return self._settled(result.value, result.position, ctx)

    def request_return(self, cmd: commands.RequestReturn, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.request_return, cmd=cmd), ctx)
        order, return_id = result.value
        document = next(r for r in order_document(order)["returns"] if r["id"] == return_id)
        return Outcome(document, result.position, True)

    def receive_return(self, cmd: commands.ReceiveReturn, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.receive_return, cmd=cmd), ctx)
        return self._settled(result.value, result.position, ctx)

    # ------------------------------------------------------------ shipments

    def pick(self, cmd: commands.PickShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.pick_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    def pack(self, cmd: commands.PackShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.pack_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

    def ship(self, cmd: commands.ShipShipment, ctx: CommandContext) -> Outcome:
        """Gets a label from the carrier (unless a tracking number is given), records the
        shipment leaving, then captures payment for what shipped."""
        # Fail before buying a label for a shipment the writer would refuse. The cached copy may
        # be behind another process's writes, so a refusal is confirmed against the event store.
        order = self._committed_order_of(cmd.shipment_id, "shipment")
        if _ship_refusal(order, cmd) is not None:
            self.cache.evict([order.id])
            order = self._committed_order_of(cmd.shipment_id, "shipment")
            if (refusal := _ship_refusal(order, cmd)) is not None:
                raise refusal
        shipment = order.shipments[cmd.shipment_id]
        if cmd.tracking_number:
            label = Label(cmd.tracking_number, self.carrier.tracking_url(cmd.carrier, cmd.tracking_number))
        else:
            address = order.shipping_address
            label = self.carrier.create_label(
                cmd.shipment_id, carrier=cmd.carrier, from_location=shipment["location_id"],
                to_postal_code=address.get("postal_code"), to_country=address.get("country"))
        result = self.writer.execute(partial(handlers.ship_shipment, cmd=cmd, label=label), ctx)
        return self._settled(result.value, result.position, ctx)

    def deliver(self, cmd: commands.DeliverShipment, ctx: CommandContext) -> Outcome:
        result = self.writer.execute(partial(handlers.deliver_shipment, cmd=cmd), ctx)
        return Outcome(order_document(result.value), result.position)

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

    def writer_status(self) -> dict[str, Any]:
        """Whether the cache is warm yet, and the writer's counters since it started."""
        writer = self.writer
        return {"cache": "warm" if writer.warm.is_set() else "warming",
                "writer": {"batches": writer.batches, "commands": writer.commands, "conflicts": writer.conflicts,
                           "followed_events": writer.followed,
                           "busy_seconds": {phase: round(seconds, 6) for phase, seconds in writer.seconds.items()}}}

    # ------------------------------------------------------------ history

    def order_as_of(self, order_id: UUID, at: datetime) -> dict[str, Any]:
        """The order as it was at ``at``, replayed from the event store (not the read model)."""
        order = None
        for event in self.app.repository.event_store.get(order_id):
            if event.timestamp > at:
                break
            order = event.mutate(order)
        if order is None:
            raise NotFound("order", f"{order_id} at {at.isoformat()}")
        return order_document(order)

    def _committed_order_of(self, entity_id: str, kind: str) -> Order:
        """The order holding a shipment or return, as last committed (cached, possibly behind
        writes from other processes; the writer re-checks everything it decides on)."""
        order_id = order_id_of(entity_id)
        order = self.cache.get(order_id) if order_id is not None else None
        if not isinstance(order, Order) or (
                entity_id not in (order.shipments if kind == "shipment" else order.returns)):
            raise NotFound(kind, entity_id)
        return order


def is_replay(result: CommandResult) -> bool:
    """A placement that found its order already there (same channel and external id, or a retry
    with the same Idempotency-Key): nothing was recorded."""
    _, created = result.value
    return not created


def _ship_refusal(order: Order, cmd: commands.ShipShipment) -> Exception | None:
    """Why the writer would refuse to ship, judged from ``order``; None if it would not."""
    if cmd.expected_versions is not None and order.version not in cmd.expected_versions:
        return PreconditionFailed(order.version)
    status = order.shipments[cmd.shipment_id]["status"]
    if status != "packed":
        return ForbiddenTransition(f"cannot ship shipment {cmd.shipment_id}: it is {status}, not packed")
    return None
