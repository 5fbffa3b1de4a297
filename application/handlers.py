"""Command handlers: load, decide, save. Each runs inside the group-commit writer, which saves
every aggregate the handler changed, with all their events, in one transaction."""
from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from application import commands
from application.context import current_context
from application.directory import Directory
from application.errors import IdempotencyKeyReused, NotFound, PreconditionFailed, channel_not_found
from application.ids import new_order_id
from application.idempotency import IdempotencyKey, idempotency_key_id
from application.order_numbers import OrderNumbers
from application.ports import Label, PaymentResult
from application.unit_of_work import UnitOfWork
from domain.entities import Hold
from domain.geo import great_circle_km
from domain.location import Location
from domain.order import Order, Release, order_id_of
from domain.order_reference import OrderReference, order_reference_id
from domain.sourcing import Candidate, plan_sourcing
from domain.stock import StockItem, stock_item_id

# ---------------------------------------------------------------- locations and stock


def register_location(uow: UnitOfWork, cmd: commands.RegisterLocation) -> tuple[Location, bool]:
    """Returns the location and whether it was created (rather than updated)."""
    location_id = Location.create_id(cmd.location_id)
    if uow.is_new(location_id):
        return uow.add(Location(cmd.location_id, cmd.name, cmd.kind, cmd.latitude, cmd.longitude)), True
    location = uow.get(location_id)
    location.update(cmd.name, cmd.kind, cmd.latitude, cmd.longitude)
    return location, False


def receive_stock(uow: UnitOfWork, cmd: commands.ReceiveStock) -> StockItem:
    item = _stock_item_for_update(uow, cmd.sku, cmd.location_id)
    item.receive(cmd.quantity)
    return item


def adjust_stock(uow: UnitOfWork, cmd: commands.AdjustStock) -> StockItem:
    item = _stock_item_for_update(uow, cmd.sku, cmd.location_id)
    item.adjust(cmd.quantity_delta, cmd.reason)
    return item


def _stock_item_for_update(uow: UnitOfWork, sku: str, location_id: str) -> StockItem:
    _require_location(uow, location_id)
    item_id = stock_item_id(sku, location_id)
    if uow.is_new(item_id):
        return uow.add(StockItem(sku, location_id))
    return uow.get(item_id)


def _require_location(uow: UnitOfWork, location_id: str) -> Location:
    location = uow.read(Location.create_id(location_id))
    if location is None:
        raise NotFound("location", location_id)
    return location


# ---------------------------------------------------------------- orders


def place_order(uow: UnitOfWork, cmd: commands.PlaceOrder, directory: Directory,
                numbers: OrderNumbers) -> tuple[Order, bool]:
    """Places, sources and reserves in one decision. Returns (order, created)."""
    if not current_context.get().reaches(cmd.channel):  # before any replay could show an order
        raise channel_not_found(cmd.channel)
    key_id = None
    if cmd.idempotency_key is not None:
        key_id = idempotency_key_id(cmd.key_owner or "", cmd.idempotency_key)
        if not uow.is_new(key_id, presume_if_unknown=True):
            used: IdempotencyKey = uow.read(key_id)
            if used.fingerprint != cmd.request_fingerprint:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {cmd.idempotency_key!r} was already used with a different request body")
            return uow.read(used.order_id), False

    reference_id = order_reference_id(cmd.channel, cmd.external_id)
    if not uow.is_new(reference_id, presume_if_unknown=True):
        return uow.read(_order_id_claimed_by(uow.read(reference_id))), False

    order = uow.add(Order.place(
        order_id=new_order_id(), channel=cmd.channel, external_id=cmd.external_id, currency=cmd.currency,
        customer=cmd.customer, shipping_address=cmd.shipping_address,
        lines=cmd.lines,
        shipping_price=cmd.shipping_price, payment=cmd.payment,
        number=numbers.next(), notify_customer=cmd.notify_customer,
    ))
    _source_and_claim(uow, order, reference_id, directory)
    if key_id is not None:
        uow.add(IdempotencyKey(cmd.key_owner or "", cmd.idempotency_key, cmd.request_fingerprint or "", order.id))
    return order, True


def _source_and_claim(uow: UnitOfWork, order: Order, reference_id: UUID, directory: Directory) -> None:
    """Sources the order's lines that ship from the nearest locations with stock, reserves them
    there, and claims the order's (channel, external id) for it."""
    demand = order.demand()
    plan = plan_sourcing(demand, _candidates(uow, demand, order.shipping_address, directory))
    for location_id, lines in plan.allocations:
        for sku, quantity in lines.items():
            uow.get(stock_item_id(sku, location_id)).reserve(order.id, quantity)
    order.allocate(plan)
    uow.add(OrderReference(id=reference_id, channel=order.channel, external_id=order.external_id, order_id=order.id))


def _order_id_claimed_by(reference: OrderReference | Order) -> UUID:
    """An order placed before references existed has the reference's id and is its own claim."""
    return reference.order_id if isinstance(reference, OrderReference) else reference.id


def _candidates(uow: UnitOfWork, demand: dict[str, int], address: dict, directory: Directory) -> list[Candidate]:
    """Every location with some of the demanded SKUs available, with its distance. An address
    with no coordinates (none given, none found) is equally near every location (0 km): the
    plan then goes by availability alone."""
    available: dict[str, dict[str, int]] = {}
    for sku in demand:
        for location_id, item_id in directory.holders(sku).items():
            item = uow.read(item_id)
            if item is not None and item.available > 0:
                available.setdefault(location_id, {})[sku] = item.available
    latitude, longitude = address.get("latitude"), address.get("longitude")
    placed = latitude is not None and longitude is not None
    candidates = []
    for location_id, units in available.items():
        location: Location | None = uow.read(Location.create_id(location_id))
        if location is not None:
            distance = great_circle_km(latitude, longitude, location.latitude, location.longitude) if placed else 0.0
            candidates.append(Candidate(location_id, distance, units))
    return candidates


def cancel_order(uow: UnitOfWork, cmd: commands.CancelOrder) -> Order:
    order = _order_for_update(uow, cmd.order_id, cmd.expected_versions)
    _release(uow, order.id, order.cancel(cmd.reason))
    return order


def hold_order(uow: UnitOfWork, cmd: commands.HoldOrder) -> Order:
    order = _order_for_update(uow, cmd.order_id, cmd.expected_versions)
    order.put_on_hold(cmd.reason, cmd.detail)
    return order


def release_order(uow: UnitOfWork, cmd: commands.ReleaseOrder) -> Order:
    order = _order_for_update(uow, cmd.order_id, cmd.expected_versions)
    order.release_hold()
    return order


# ---------------------------------------------------------------- orders from sales channels


def import_channel_order(uow: UnitOfWork, cmd: commands.ImportChannelOrder,
                         directory: Directory, numbers: OrderNumbers) -> tuple[Order, bool]:
    """The first delivery of a channel's order places it (whatever the delivery's topic: every
    one carries the whole order), later ones apply what changed. Returns (order, created).

    Nothing is ever dropped: what the mapping could not complete, an SKU no location has ever
    stocked, or a total that is not the channel's holds the order for a person instead."""
    if not current_context.get().reaches(cmd.channel):
        raise channel_not_found(cmd.channel)
    reference_id = order_reference_id(cmd.channel, cmd.external_id)
    if not uow.is_new(reference_id, presume_if_unknown=True):
        order = _order_for_update(uow, _order_id_claimed_by(uow.read(reference_id)))
        if cmd.apply_changes:
            _apply_channel_changes(uow, order, cmd)
        return order, False
    order = uow.add(Order.place(
        order_id=new_order_id(), channel=cmd.channel, external_id=cmd.external_id, currency=cmd.currency,
        customer=cmd.customer, shipping_address=cmd.shipping_address, lines=cmd.lines,
        shipping_price=cmd.shipping_price, payment=cmd.payment, billing_address=cmd.billing_address,
        discount=cmd.discount, tax=cmd.tax, fees=cmd.fees, taxes_included=cmd.taxes_included, source=cmd.source,
        number=numbers.next(), notify_customer=cmd.notify_customer,
    ))
    _source_and_claim(uow, order, reference_id, directory)
    if cmd.paid:
        _record_channel_payment(order, cmd)
    problems = list(cmd.problems) + _import_problems(order, cmd, directory)
    if cmd.cancel_reason is not None:
        _release(uow, order.id, order.cancel(cmd.cancel_reason))
    elif problems and order.refusal_to_hold() is None:
        order.put_on_hold(problems[0].reason, "; ".join(p.detail or p.reason for p in problems))
    return order, True


def _record_channel_payment(order: Order, cmd: commands.ImportChannelOrder) -> None:
    """The channel charged the whole order: its transaction (or the order's own id) is the reference."""
    order.record_channel_payment(str(cmd.payment.get("reference") or cmd.external_id), order.total)


def _import_problems(order: Order, cmd: commands.ImportChannelOrder, directory: Directory) -> list[Hold]:
    """What only the writer can tell of an imported order: SKUs no location has ever stocked,
    and a total that differs from the channel's."""
    problems = []
    unknown = [line.sku for line in cmd.lines if line.requires_shipping and not directory.holders(line.sku)]
    if unknown:
        problems.append(Hold("unknown_sku", f"no location has ever stocked {', '.join(unknown)}"))
    if cmd.platform_total is not None and order.total != cmd.platform_total:
        problems.append(Hold("totals_mismatch", f"our total {order.total} {order.currency} differs from the "
                                                f"channel's {cmd.platform_total} {order.currency}"))
    return problems


def _apply_channel_changes(uow: UnitOfWork, order: Order, cmd: commands.ImportChannelOrder) -> None:
    """What a later delivery says: paid, cancelled, a new shipping address. What our rules do
    not allow (cancelling what has shipped) is left as it is; the delivery's record says so."""
    if cmd.cancel_reason is not None and not order.cancelled:
        if order.refusal_to_cancel() is None:
            _release(uow, order.id, order.cancel(cmd.cancel_reason))
        return
    if cmd.paid and order.awaiting_channel_payment:
        _record_channel_payment(order, cmd)
    if cmd.update_address and cmd.shipping_address and order.refusal_to_change_address() is None:
        order.change_shipping_address(cmd.shipping_address, cmd.changed_at)


def _release(uow: UnitOfWork, order_id: UUID, releases: list[Release]) -> None:
    for r in releases:
        uow.get(stock_item_id(r.sku, r.location_id)).release(order_id, r.quantity)


def _order_for_update(uow: UnitOfWork, order_id: str | UUID,
                      expected_versions: frozenset[int] | None = None) -> Order:
    try:
        aggregate_id = order_id if isinstance(order_id, UUID) else UUID(order_id)
    except ValueError:
        raise NotFound("order", order_id) from None
    order = uow.get(aggregate_id)
    if not isinstance(order, Order) or not _reached(order):
        raise NotFound("order", order_id)
    _check_precondition(order, expected_versions)
    return order


def _reached(order: Order) -> bool:
    """Whether the command's actor may reach ``order``: an API key limited to channels reaches
    only their orders, and any other order is refused exactly as one that does not exist. The
    writer runs every handler with its command's context (``current_context``)."""
    return current_context.get().reaches(order.channel)


def _check_precondition(order: Order, expected_versions: frozenset[int] | None) -> None:
    if expected_versions is not None and order.version not in expected_versions:
        raise PreconditionFailed(order.version)


def _order_of(uow: UnitOfWork, entity_id: str, kind: str,
              expected_versions: frozenset[int] | None = None) -> Order:
    order_id = order_id_of(entity_id)
    order = uow.get(order_id) if order_id is not None else None
    if not isinstance(order, Order) or not _reached(order):
        raise NotFound(kind, entity_id)
    entities = order.shipments if kind == "shipment" else order.returns
    if entity_id not in entities:
        raise NotFound(kind, entity_id)
    _check_precondition(order, expected_versions)
    return order


# ---------------------------------------------------------------- payment results


def record_authorization(uow: UnitOfWork, order_id: UUID, result: PaymentResult) -> Order:
    """Idempotent: a result for an order whose payment is no longer pending changes nothing."""
    order = _order_for_update(uow, order_id)
    if not order.authorization_due():
        return order
    if result.approved:
        order.authorize_payment(result.transaction_id or "", order.total)
    else:
        _release(uow, order.id, order.decline_payment(result.reason or "declined by the payment provider"))
    return order


def record_capture(uow: UnitOfWork, order_id: UUID, shipment_id: str, amount, capture_id: str) -> Order:
    order = _order_for_update(uow, order_id)
    if any(s == shipment_id for s, _ in order.capture_due()):
        order.record_capture(shipment_id, amount, capture_id)
    return order


def record_void(uow: UnitOfWork, order_id: UUID, reason: str) -> Order:
    order = _order_for_update(uow, order_id)
    if order.void_due():
        order.void_payment(reason)
    return order


def record_refund(uow: UnitOfWork, order_id: UUID, return_id: str, amount, refund_id: str) -> Order:
    order = _order_for_update(uow, order_id)
    if any(r == return_id for r, _ in order.refund_due()):
        order.record_refund(return_id, amount, refund_id)
    return order


# ---------------------------------------------------------------- fulfilment


def pick_shipment(uow: UnitOfWork, cmd: commands.PickShipment) -> Order:
    order = _order_of(uow, cmd.shipment_id, "shipment", cmd.expected_versions)
    order.pick(cmd.shipment_id)
    return order


def pack_shipment(uow: UnitOfWork, cmd: commands.PackShipment) -> Order:
    order = _order_of(uow, cmd.shipment_id, "shipment", cmd.expected_versions)
    order.pack(cmd.shipment_id)
    return order


def ship_refusal(order: Order, cmd: commands.ShipShipment) -> Exception | None:
    """Why the writer would refuse ``cmd`` on ``order`` as it stands; None if it would not (asked
    before buying a label)."""
    if cmd.expected_versions is not None and order.version not in cmd.expected_versions:
        return PreconditionFailed(order.version)
    return order.refusal_to_ship(cmd.shipment_id)


def ship_shipment(uow: UnitOfWork, cmd: commands.ShipShipment, label: Label) -> Order:
    order = _order_of(uow, cmd.shipment_id, "shipment", cmd.expected_versions)
    leaving = order.ship(cmd.shipment_id, cmd.carrier, label.tracking_number, label.tracking_url)
    for r in leaving:
        uow.get(stock_item_id(r.sku, r.location_id)).commit(order.id, r.quantity)
    return order


def deliver_shipment(uow: UnitOfWork, cmd: commands.DeliverShipment) -> Order:
    order = _order_of(uow, cmd.shipment_id, "shipment", cmd.expected_versions)
    order.deliver(cmd.shipment_id, cmd.delivered_at or datetime.now(UTC))
    return order


def track_shipment(uow: UnitOfWork, cmd: commands.TrackShipment) -> Order:
    order = _order_of(uow, cmd.shipment_id, "shipment")
    order.track(cmd.shipment_id, cmd.events)
    return order


# ---------------------------------------------------------------- returns


def request_return(uow: UnitOfWork, cmd: commands.RequestReturn) -> tuple[Order, str]:
    order = _order_for_update(uow, cmd.order_id, cmd.expected_versions)
    return order, order.request_return(cmd.lines)


def receive_return(uow: UnitOfWork, cmd: commands.ReceiveReturn) -> Order:
    order = _order_of(uow, cmd.return_id, "return", cmd.expected_versions)
    _require_location(uow, cmd.location_id)
    for r in order.receive_return(cmd.return_id, cmd.location_id, cmd.lines):
        _stock_item_for_update(uow, r.sku, r.location_id).restock(cmd.return_id, r.quantity)
    return order
