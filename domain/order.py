"""The order: what the customer bought, where it ships from, what was paid, shipped and returned.

Shipments and returns live inside the order aggregate: every rule that links them (capture what
shipped, return no more than was delivered, refund no more than was captured) is then checked
against one consistent state, in one stream an auditor can replay.

Command methods check the rule and then call a private ``@event`` method that only applies the
fact, so replaying old history never re-runs today's checks.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.entities import (
    Hold,
    OrderLine,
    ReceivedLine,
    Return,
    ReturnedLine,
    ReturnStatus,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingStatus,
)
from domain.errors import ForbiddenTransition, InvalidQuantity
from domain.money import ZERO, has_valid_precision, to_currency
from domain.sourcing import SourcingPlan

SHIPMENT_PREFIX = "shp_"
RETURN_PREFIX = "ret_"


def order_id_of(entity_id: str) -> UUID | None:
    """The order a shipment or return id belongs to (``shp_<order hex>_<n>``), or None."""
    for prefix in (SHIPMENT_PREFIX, RETURN_PREFIX):
        if entity_id.startswith(prefix):
            hex_part, _, number = entity_id[len(prefix):].partition("_")
            if len(hex_part) == 32 and number.isdigit():
                try:
                    return UUID(hex=hex_part)
                except ValueError:
                    return None
    return None


class PaymentState(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    VOIDED = "voided"
    # Charged by the sales channel (Shopify, Amazon, WooCommerce): never authorised again by our
    # provider; its refunds are the channel's to pay.
    COLLECTED = "collected"


AWAITING_PAYMENT = "awaiting_payment"  # the hold of a channel's order that the channel has not charged yet


PAYMENT_DECLINED = "payment_declined"  # the hold reason of an order whose payment was declined
# The same words however the order was loaded: snapshots of version 1 did not keep the provider's
# reason, which the order's history (PaymentDeclined) has.
DECLINED_HOLD = Hold(PAYMENT_DECLINED, "the payment provider declined the payment; the order needs a new one")


class Release(NamedTuple):
    """Units of one SKU that move at one location because of the order."""

    location_id: str
    sku: str
    quantity: int


class Order(Aggregate):
    """Its id is given by whoever places it (time-ordered, ``application.ids``); that one order
    exists per (channel, external id) is the business of ``domain.order_reference``.

    Version 2 of its state holds shipments and returns as ``domain.entities`` values (version 1,
    in older snapshots, held them as dicts): ``upcast_v1_v2`` reads those. Version 3 added what
    sales channels state (``upcast_v2_v3``).
    """

    class_version = 3
    # What orders placed before these existed have (class attributes: an older snapshot's state
    # simply lacks them).
    number: str | None = None
    notify_customer: bool = True
    address_as_of: datetime | None = None  # when the channel last changed the shipping address

    @classmethod
    def place(
        cls,
        *,
        order_id: UUID,
        channel: str,
        external_id: str,
        currency: str,
        customer: dict[str, Any],
        shipping_address: dict[str, Any],
        lines: Sequence[OrderLine],
        shipping_price: Decimal,
        payment: dict[str, Any],
        billing_address: dict[str, Any] | None = None,
        discount: Decimal = ZERO,
        tax: Decimal = ZERO,
        fees: Decimal = ZERO,
        taxes_included: bool = False,
        source: dict[str, Any] | None = None,
        number: str | None = None,
        notify_customer: bool = True,
    ) -> Order:
        """``discount`` is every discount of the order (its lines' included), ``tax`` every tax
        (contained in the prices when ``taxes_included``), ``fees`` other charges (gift wrap, a
        payment fee); ``source`` what the sales channel calls the order (its name, its time)."""
        if not lines:
            raise InvalidQuantity("an order needs at least one line")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise InvalidQuantity("each SKU may appear on one line only")
        for line in lines:
            if line.quantity <= 0:
                raise InvalidQuantity(f"quantity of {line.sku} must be positive")
            if line.unit_price < 0 or not has_valid_precision(line.unit_price, currency):
                raise InvalidQuantity(f"unit_price of {line.sku} is not a valid {currency} amount")
        if shipping_price < 0 or not has_valid_precision(shipping_price, currency):
            raise InvalidQuantity(f"shipping_price is not a valid {currency} amount")
        for name, amount in (("discount", discount), ("tax", tax), ("fees", fees)):
            if amount < 0 or not has_valid_precision(amount, currency):
                raise InvalidQuantity(f"{name} is not a valid {currency} amount")
        extras: dict[str, Any] = {}  # recorded only when set: an order of our own API records what it always did
        if billing_address is not None:
            extras["billing_address"] = dict(billing_address)
        for name, value in (("discount", discount), ("tax", tax), ("fees", fees), ("taxes_included", taxes_included)):
            if value:
                extras[name] = value
        if source is not None:
            extras["source"] = dict(source)
        if number is not None:
            extras["number"] = number
        if not notify_customer:
            extras["notify_customer"] = False
        return cls(
            id=order_id,
            channel=channel,
            external_id=external_id,
            currency=currency,
            customer=dict(customer),
            shipping_address=dict(shipping_address),
            lines=[line.as_event_data() for line in lines],
            shipping_price=shipping_price,
            payment=dict(payment),
            **extras,
        )

    @event("OrderPlaced")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for a given id: the stream's, not kept in the event
        channel: str,
        external_id: str,
        currency: str,
        customer: dict[str, Any],
        shipping_address: dict[str, Any],
        lines: list[dict[str, Any]],
        shipping_price: Decimal,
        payment: dict[str, Any],
        billing_address: dict[str, Any] | None = None,
        discount: Decimal = ZERO,
        tax: Decimal = ZERO,
        fees: Decimal = ZERO,
        taxes_included: bool = False,
        source: dict[str, Any] | None = None,
        number: str | None = None,
        notify_customer: bool = True,
    ) -> None:
        self.channel = channel
        self.external_id = external_id
        self.currency = currency
        self.customer = customer
        self.shipping_address = shipping_address
        self.lines = lines
        self.shipping_price = shipping_price
        self.payment = payment
        self.billing_address = billing_address
        self.discount = discount
        self.tax = tax
        self.fees = fees
        self.taxes_included = taxes_included
        self.source = source
        self.number = number
        self.notify_customer = notify_customer
        self.payment_state = PaymentState.PENDING
        self.authorization_id: str | None = None
        self.captured = ZERO
        self.refunded = ZERO
        self.shipping_captured = False
        self.shipments: dict[str, Shipment] = {}
        self.returns: dict[str, Return] = {}
        self.backordered: dict[str, int] = {}
        self.cancelled = False
        self.cancel_reason: str | None = None
        self.hold: Hold | None = None

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Version 3 added what sales channels state: billing address, discount, tax, fees."""
        state.update({"billing_address": None, "discount": ZERO, "tax": ZERO, "fees": ZERO,
                      "taxes_included": False, "source": None, "number": None, "notify_customer": True, **state})

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version 1 snapshot's shipments and returns were dicts of the entities' fields."""
        state["payment_state"] = PaymentState(state["payment_state"])
        state["shipments"] = {k: Shipment(**v) for k, v in state["shipments"].items()}
        state["returns"] = {k: Return(
            id=v["id"], status=v["status"], location_id=v["location_id"], refund_amount=v["refund_amount"],
            refunded=v.get("refunded", False),
            lines=tuple(ReturnedLine(l["sku"], l["quantity"], l.get("reason")) for l in v["lines"]),
            received=tuple(ReceivedLine(l["sku"], l["quantity"], l["condition"]) for l in v["received"]),
        ) for k, v in state["returns"].items()}
        state["hold"] = (DECLINED_HOLD if state["payment_state"] == PaymentState.DECLINED
                         and not state["cancelled"] else None)

    # ----------------------------------------------------------------- derived state

    @property
    def subtotal(self) -> Decimal:
        return to_currency(sum((l["unit_price"] * l["quantity"] for l in self.lines), ZERO), self.currency)

    @property
    def total(self) -> Decimal:
        """What the customer pays: as the sales channel adds it up, to the cent."""
        return self.total_with(self.subtotal)

    def total_with(self, subtotal: Decimal) -> Decimal:
        """``total`` from a subtotal the caller has at hand (a document needs both)."""
        total = subtotal - self.discount + self.shipping_price + self.fees
        return total if self.taxes_included else total + self.tax

    @property
    def collected_by_channel(self) -> bool:
        """The sales channel charges the customer (our payment provider never does)."""
        return self.payment.get("collected_by") == "channel"

    @property
    def awaiting_channel_payment(self) -> bool:
        return self.collected_by_channel and self.payment_state == PaymentState.PENDING and not self.cancelled

    @property
    def effective_hold(self) -> Hold | None:
        """What the order waits for: a hold someone (or an import) put on it, else the
        channel's payment."""
        if self.hold is not None:
            return self.hold
        if self.awaiting_channel_payment:
            return Hold(AWAITING_PAYMENT, f"waiting for {self.payment.get('provider')} to report the order paid")
        return None

    def demand(self) -> dict[str, int]:
        """Units per SKU to source: every line that ships (a gift card does not)."""
        return {l["sku"]: l["quantity"] for l in self.lines if l.get("requires_shipping", True)}

    def unit_price(self, sku: str) -> Decimal:
        for line in self.lines:
            if line["sku"] == sku:
                return line["unit_price"]
        raise InvalidQuantity(f"{sku} is not on this order")

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.hold is not None or self.awaiting_channel_payment:
            return "on_hold"
        if self.payment_state == PaymentState.PENDING:
            return "pending"
        if self.backordered:
            return "backordered"
        live, _, delivered = self._shipment_counts()
        return "completed" if live and delivered == live else "confirmed"

    @property
    def payment_status(self) -> str:
        if self.payment_state not in (PaymentState.AUTHORIZED, PaymentState.COLLECTED):
            return str(self.payment_state)
        if self.refunded > 0:
            return "refunded" if self.refunded >= self.captured else "partially_refunded"
        if self.captured > 0 or self.payment_state == PaymentState.COLLECTED:
            return "paid"
        return "authorized"

    @property
    def fulfillment_status(self) -> str:
        live, shipped, delivered = self._shipment_counts()
        complete = bool(live) and not self.backordered
        if not shipped:
            return "unfulfilled"
        if delivered:
            return "delivered" if complete and delivered == live else "partially_delivered"
        return "shipped" if complete and shipped == live else "partially_shipped"

    def _shipment_counts(self) -> tuple[int, int, int]:
        """(live, shipped or delivered, delivered) shipments; a cancelled one is not live. Counted
        in one pass: every order document and read-model row asks for both statuses."""
        live = shipped = delivered = 0
        for s in self.shipments.values():
            status = s.status
            if status != ShipmentStatus.CANCELLED:
                live += 1
                if status == ShipmentStatus.DELIVERED:
                    shipped += 1
                    delivered += 1
                elif status == ShipmentStatus.SHIPPED:
                    shipped += 1
        return live, shipped, delivered

    def shipment(self, shipment_id: str) -> Shipment:
        try:
            return self.shipments[shipment_id]
        except KeyError:
            raise KeyError(shipment_id) from None

    def return_(self, return_id: str) -> Return:
        try:
            return self.returns[return_id]
        except KeyError:
            raise KeyError(return_id) from None

    def reservations(self) -> list[Release]:
        """Units this order still holds at locations (shipments not yet shipped or cancelled)."""
        return [
            Release(s.location_id, sku, qty)
            for s in self.shipments.values()
            if s.status.is_open
            for sku, qty in s.lines.items()
        ]

    # ----------------------------------------------------------------- sourcing

    def allocate(self, plan: SourcingPlan) -> None:
        if self.shipments or self.cancelled:
            raise ForbiddenTransition("the order has already been allocated")
        shipments = [
            {"id": f"{SHIPMENT_PREFIX}{self.id.hex}_{n}", "location_id": location_id, "lines": dict(lines)}
            for n, (location_id, lines) in enumerate(plan.allocations, start=1)
        ]
        self._allocated(shipments=shipments, backordered=dict(plan.backordered))

    @event("OrderAllocated")
    def _allocated(self, shipments: list[dict[str, Any]], backordered: dict[str, int]) -> None:
        for s in shipments:
            self.shipments[s["id"]] = Shipment(s["id"], s["location_id"], dict(s["lines"]))
        self.backordered = dict(backordered)

    # ----------------------------------------------------------------- payment

    def authorize_payment(self, authorization_id: str, amount: Decimal) -> None:
        self._require_payment_pending()
        self._payment_authorized(authorization_id=authorization_id, amount=amount)

    @event("PaymentAuthorized")
    def _payment_authorized(self, authorization_id: str, amount: Decimal) -> None:
        self.payment_state = PaymentState.AUTHORIZED
        self.authorization_id = authorization_id

    def decline_payment(self, reason: str) -> list[Release]:
        """Puts the order on hold; the caller gives the returned units back to stock."""
        self._require_payment_pending()
        releases = self.reservations()
        self._payment_declined(reason=reason)
        return releases

    @event("PaymentDeclined")
    def _payment_declined(self, reason: str) -> None:
        self.payment_state = PaymentState.DECLINED
        self.hold = DECLINED_HOLD
        self._cancel_open_shipments()

    def authorization_due(self) -> bool:
        """The payment waits for the provider's answer (and the order still wants it)."""
        return self.payment_state == PaymentState.PENDING and not self.cancelled and not self.collected_by_channel

    def record_channel_payment(self, reference: str, amount: Decimal) -> None:
        """The sales channel reports the order charged: it may now be fulfilled."""
        if not self.awaiting_channel_payment:
            raise ForbiddenTransition(f"the order is not waiting for its channel's payment (payment is "
                                      f"{self.payment_status}{', order cancelled' if self.cancelled else ''})")
        self._payment_collected_by_channel(reference=reference, amount=amount)

    @event("PaymentCollectedByChannel")
    def _payment_collected_by_channel(self, reference: str, amount: Decimal) -> None:
        self.payment_state = PaymentState.COLLECTED
        self.payment = {**self.payment, "reference": reference}
        self.captured = amount

    @property
    def refund_owed_by(self) -> str | None:
        """Who pays refunds back: the channel that charged, or None (our provider)."""
        return self.payment.get("provider") if self.payment_state == PaymentState.COLLECTED else None

    def _require_payment_pending(self) -> None:
        if not self.authorization_due():
            raise ForbiddenTransition(f"payment is {self.payment_status}, not pending")

    def capture_due(self) -> list[tuple[str, Decimal]]:
        """(shipment id, amount) for every shipped shipment whose payment is not captured yet."""
        if self.payment_state != PaymentState.AUTHORIZED:
            return []
        due = []
        shipping_pending = not self.shipping_captured
        for s in self.shipments.values():
            if s.status.has_left and not s.captured:
                amount = sum((self.unit_price(sku) * qty for sku, qty in s.lines.items()), ZERO)
                if shipping_pending:
                    amount += self.shipping_price
                    shipping_pending = False
                due.append((s.id, to_currency(amount, self.currency)))
        return due

    def record_capture(self, shipment_id: str, amount: Decimal, capture_id: str) -> None:
        shipment = self.shipment(shipment_id)
        if shipment.captured:
            raise ForbiddenTransition(f"payment for shipment {shipment_id} is already captured")
        if not shipment.status.has_left:
            raise ForbiddenTransition(f"shipment {shipment_id} has not shipped; nothing to capture")
        if self.payment_state != PaymentState.AUTHORIZED:
            raise ForbiddenTransition(f"payment is {self.payment_status}; cannot capture")
        if self.captured + amount > self.total:
            raise ForbiddenTransition("cannot capture more than the order total")
        self._payment_captured(shipment_id=shipment_id, amount=amount, capture_id=capture_id)

    @event("PaymentCaptured")
    def _payment_captured(self, shipment_id: str, amount: Decimal, capture_id: str) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].evolve(captured=True)
        if not self.shipping_captured and self.shipping_price:
            self.shipping_captured = True
        self.captured += amount

    def void_due(self) -> bool:
        return self.cancelled and self.payment_state == PaymentState.AUTHORIZED and self.captured == 0

    def void_payment(self, reason: str) -> None:
        if not self.void_due():
            raise ForbiddenTransition(f"payment is {self.payment_status}; nothing to void")
        self._payment_voided(reason=reason)

    @event("PaymentVoided")
    def _payment_voided(self, reason: str) -> None:
        self.payment_state = PaymentState.VOIDED

    def refund_due(self) -> list[tuple[str, Decimal]]:
        """Refunds for our payment provider to make (a channel pays back what it charged)."""
        if self.payment_state == PaymentState.COLLECTED:
            return []
        return [(r.id, r.refund_amount) for r in self.returns.values()
                if r.status == ReturnStatus.RECEIVED and r.refund_amount > 0]

    def record_refund(self, return_id: str, amount: Decimal, refund_id: str) -> None:
        ret = self.return_(return_id)
        if ret.status != ReturnStatus.RECEIVED:
            raise ForbiddenTransition(f"return {return_id} has nothing left to refund")
        if amount > self.captured - self.refunded:
            raise ForbiddenTransition(
                f"cannot refund {amount} {self.currency}: only {self.captured - self.refunded} captured and not refunded"
            )
        self._payment_refunded(return_id=return_id, amount=amount, refund_id=refund_id)

    @event("PaymentRefunded")
    def _payment_refunded(self, return_id: str, amount: Decimal, refund_id: str) -> None:
        self.returns[return_id] = self.returns[return_id].evolve(status=ReturnStatus.REFUNDED, refunded=True)
        self.refunded += amount

    # ----------------------------------------------------------------- fulfilment

    def pick(self, shipment_id: str) -> None:
        self._require_shipment_step(shipment_id, ShipmentStatus.READY, "pick")
        self._shipment_picked(shipment_id=shipment_id)

    @event("ShipmentPicked")
    def _shipment_picked(self, shipment_id: str) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].evolve(status=ShipmentStatus.PICKED)

    def pack(self, shipment_id: str) -> None:
        self._require_shipment_step(shipment_id, ShipmentStatus.PICKED, "pack")
        self._shipment_packed(shipment_id=shipment_id)

    @event("ShipmentPacked")
    def _shipment_packed(self, shipment_id: str) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].evolve(status=ShipmentStatus.PACKED)

    def refusal_to_ship(self, shipment_id: str) -> ForbiddenTransition | None:
        """Why ``ship`` would refuse, or None: asked before a label is bought for the parcel."""
        return self._step_refusal(shipment_id, ShipmentStatus.PACKED, "ship")

    def can_ship(self, shipment_id: str) -> bool:
        return self.refusal_to_ship(shipment_id) is None

    def ship(self, shipment_id: str, carrier: str, tracking_number: str, tracking_url: str | None) -> list[Release]:
        """Returns the units that leave the location, for the stock ledger to commit."""
        self._require_shipment_step(shipment_id, ShipmentStatus.PACKED, "ship")
        shipment = self.shipments[shipment_id]
        leaving = [Release(shipment.location_id, sku, qty) for sku, qty in shipment.lines.items()]
        self._shipment_shipped(
            shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number, tracking_url=tracking_url
        )
        return leaving

    @event("ShipmentShipped")
    def _shipment_shipped(self, shipment_id: str, carrier: str, tracking_number: str, tracking_url: str | None) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].evolve(
            status=ShipmentStatus.SHIPPED, carrier=carrier, tracking_number=tracking_number, tracking_url=tracking_url)

    def deliver(self, shipment_id: str, delivered_at: datetime) -> None:
        self._require_shipment_step(shipment_id, ShipmentStatus.SHIPPED, "deliver")
        self._shipment_delivered(shipment_id=shipment_id, delivered_at=delivered_at)

    @event("ShipmentDelivered")
    def _shipment_delivered(self, shipment_id: str, delivered_at: datetime) -> None:
        self.shipments[shipment_id] = self.shipments[shipment_id].evolve(
            status=ShipmentStatus.DELIVERED, delivered_at=delivered_at)

    def track(self, shipment_id: str, events: Sequence[TrackingEvent]) -> None:
        """What the carrier says of the parcel: events not heard before are kept, in time order;
        a delivery completes a shipped shipment with the carrier's time. A late or repeated event
        changes nothing (a late in_transit never reopens a delivered shipment)."""
        shipment = self.shipment(shipment_id)
        if shipment.status == ShipmentStatus.CANCELLED:
            raise ForbiddenTransition(f"shipment {shipment_id} is cancelled; it is not being carried")
        known = set(shipment.tracking_events)
        new = sorted({e for e in events if e not in known}, key=lambda e: e.at)
        if new:
            self._shipment_tracked(shipment_id=shipment_id, events=[
                {"status": e.status, "message": e.message, "at": e.at, "location": e.location} for e in new])
        delivered = [e for e in new if e.status == TrackingStatus.DELIVERED]
        if delivered and self.shipments[shipment_id].status == ShipmentStatus.SHIPPED:
            self.deliver(shipment_id, delivered[-1].at)

    @event("ShipmentTracked")
    def _shipment_tracked(self, shipment_id: str, events: list[dict[str, Any]]) -> None:
        shipment = self.shipments[shipment_id]
        heard = shipment.tracking_events + tuple(
            TrackingEvent(e["status"], e["message"], e["at"], e["location"]) for e in events)
        self.shipments[shipment_id] = shipment.evolve(tracking_events=tuple(sorted(heard, key=lambda e: e.at)))

    def _require_shipment_step(self, shipment_id: str, required: ShipmentStatus, action: str) -> None:
        refusal = self._step_refusal(shipment_id, required, action)
        if refusal is not None:
            raise refusal

    def _step_refusal(self, shipment_id: str, required: ShipmentStatus, action: str) -> ForbiddenTransition | None:
        shipment = self.shipment(shipment_id)
        if self.cancelled:
            return ForbiddenTransition(f"cannot {action}: the order is cancelled")
        if action != "deliver" and self.hold is not None:
            return ForbiddenTransition(f"cannot {action}: the order is on hold ({self.hold.reason})")
        if action != "deliver" and self.awaiting_channel_payment:
            return ForbiddenTransition(f"cannot {action}: the order is on hold ({AWAITING_PAYMENT})")
        if action != "deliver" and self.payment_state not in (PaymentState.AUTHORIZED, PaymentState.COLLECTED):
            return ForbiddenTransition(f"cannot {action}: payment is {self.payment_status}")
        if shipment.status != required:
            return ForbiddenTransition(
                f"cannot {action} shipment {shipment_id}: it is {shipment.status}, not {required}")
        return None

    # ----------------------------------------------------------------- changes from the channel

    def refusal_to_change_address(self) -> ForbiddenTransition | None:
        if self.cancelled:
            return ForbiddenTransition("cannot change the address: the order is cancelled")
        if any(s.status.has_left for s in self.shipments.values()):
            return ForbiddenTransition("cannot change the address: part of the order has shipped")
        return None

    def change_shipping_address(self, address: dict[str, Any], as_of: datetime | None = None) -> None:
        """Until a parcel has left: the reservations stay where they are. ``as_of``: when the
        channel made the change; one older than the last change applied is stale (channels
        deliver out of order) and changes nothing."""
        if (refusal := self.refusal_to_change_address()) is not None:
            raise refusal
        if as_of is not None and self.address_as_of is not None and as_of <= self.address_as_of:
            return
        if address != self.shipping_address:
            self._shipping_address_changed(address=dict(address), as_of=as_of)

    @event("ShippingAddressChanged")
    def _shipping_address_changed(self, address: dict[str, Any], as_of: datetime | None = None) -> None:
        self.shipping_address = address
        if as_of is not None:
            self.address_as_of = as_of

    # ----------------------------------------------------------------- holds

    def refusal_to_hold(self) -> ForbiddenTransition | None:
        if self.cancelled:
            return ForbiddenTransition("cannot hold: the order is cancelled")
        if self.hold is not None:
            return ForbiddenTransition(f"the order is already on hold ({self.hold.reason})")
        if not any(s.status.is_open for s in self.shipments.values()) and not self.backordered:
            return ForbiddenTransition("cannot hold: nothing of the order is left to fulfil")
        return None

    def put_on_hold(self, reason: str, detail: str | None = None) -> None:
        """Stops picking, packing and shipping until the hold is released."""
        if (refusal := self.refusal_to_hold()) is not None:
            raise refusal
        self._put_on_hold(reason=reason, detail=detail)

    @event("OrderPutOnHold")
    def _put_on_hold(self, reason: str, detail: str | None) -> None:
        self.hold = Hold(reason, detail)

    def release_hold(self) -> None:
        if self.hold is None:
            raise ForbiddenTransition("the order is not on hold")
        if self.hold.reason == PAYMENT_DECLINED:
            raise ForbiddenTransition("a declined payment is not released by hand: the order needs a new payment")
        self._hold_released()

    @event("OrderHoldReleased")
    def _hold_released(self) -> None:
        self.hold = None

    # ----------------------------------------------------------------- cancellation

    def refusal_to_cancel(self) -> ForbiddenTransition | None:
        if self.cancelled:
            return ForbiddenTransition("the order is already cancelled")
        if any(s.status.has_left for s in self.shipments.values()):
            return ForbiddenTransition("cannot cancel: part of the order has shipped")
        return None

    def cancel(self, reason: str) -> list[Release]:
        """Cancels until something has shipped; returns the reservations to release."""
        if (refusal := self.refusal_to_cancel()) is not None:
            raise refusal
        releases = self.reservations()
        self._cancelled(reason=reason)
        return releases

    @event("OrderCancelled")
    def _cancelled(self, reason: str) -> None:
        self.cancelled = True
        self.cancel_reason = reason
        self.backordered = {}
        self.hold = None
        self._cancel_open_shipments()

    def _cancel_open_shipments(self) -> None:
        for shipment_id, s in self.shipments.items():
            if s.status.is_open:
                self.shipments[shipment_id] = s.evolve(status=ShipmentStatus.CANCELLED)

    # ----------------------------------------------------------------- returns

    def returnable(self) -> dict[str, int]:
        """Units per SKU delivered and not yet claimed by a return."""
        units: dict[str, int] = {}
        for s in self.shipments.values():
            if s.status == ShipmentStatus.DELIVERED:
                for sku, qty in s.lines.items():
                    units[sku] = units.get(sku, 0) + qty
        for r in self.returns.values():
            for line in r.lines:
                units[line.sku] = units.get(line.sku, 0) - line.quantity
        return units

    def request_return(self, lines: Sequence[ReturnedLine]) -> str:
        if not lines:
            raise InvalidQuantity("a return needs at least one line")
        returnable = self.returnable()
        wanted: dict[str, int] = {}
        for line in lines:
            if line.quantity <= 0:
                raise InvalidQuantity(f"quantity of {line.sku} must be positive")
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        for sku, qty in wanted.items():
            if qty > returnable.get(sku, 0):
                raise ForbiddenTransition(
                    f"cannot return {qty} x {sku}: {max(returnable.get(sku, 0), 0)} delivered and not yet returned"
                )
        return_id = f"{RETURN_PREFIX}{self.id.hex}_{len(self.returns) + 1}"
        self._return_requested(
            return_id=return_id,
            lines=[{"sku": l.sku, "quantity": l.quantity, "reason": l.reason} for l in lines],
        )
        return return_id

    @event("ReturnRequested")
    def _return_requested(self, return_id: str, lines: list[dict[str, Any]]) -> None:
        self.returns[return_id] = Return(
            return_id, tuple(ReturnedLine(l["sku"], l["quantity"], l.get("reason")) for l in lines))

    def receive_return(self, return_id: str, location_id: str, lines: Sequence[ReceivedLine]) -> list[Release]:
        """Records what came back; returns the resellable units to put back on hand."""
        ret = self.return_(return_id)
        if ret.status != ReturnStatus.REQUESTED:
            raise ForbiddenTransition(f"return {return_id} is {ret.status}, not requested")
        if not lines:
            raise InvalidQuantity("a receipt needs at least one line")
        expected: dict[str, int] = {}
        for returned in ret.lines:
            expected[returned.sku] = expected.get(returned.sku, 0) + returned.quantity
        received: dict[str, int] = {}
        for line in lines:
            if line.quantity <= 0:
                raise InvalidQuantity(f"quantity of {line.sku} must be positive")
            received[line.sku] = received.get(line.sku, 0) + line.quantity
        for sku, qty in received.items():
            if qty > expected.get(sku, 0):
                raise ForbiddenTransition(f"return {return_id} expects {expected.get(sku, 0)} x {sku}, got {qty}")
        refund = to_currency(sum((self.unit_price(sku) * qty for sku, qty in received.items()), ZERO), self.currency)
        self._return_received(
            return_id=return_id,
            location_id=location_id,
            lines=[{"sku": l.sku, "quantity": l.quantity, "condition": l.condition} for l in lines],
            refund_amount=refund,
        )
        return [Release(location_id, l.sku, l.quantity) for l in lines if l.condition == "resellable"]

    @event("ReturnReceived")
    def _return_received(
        self, return_id: str, location_id: str, lines: list[dict[str, Any]], refund_amount: Decimal
    ) -> None:
        self.returns[return_id] = self.returns[return_id].evolve(
            status=ReturnStatus.RECEIVED, location_id=location_id, refund_amount=refund_amount,
            received=tuple(ReceivedLine(l["sku"], l["quantity"], l["condition"]) for l in lines))
