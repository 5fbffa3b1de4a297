"""What integrators ask the OMS to do: plain, typed data; the handlers give them meaning.

Every command is a frozen dataclass deriving from ``Command``, which knows them all by name
(``Command.named``): that is how a command crosses to the writer process and finds its
handler there, so a new command needs no list of names anywhere (docs/architecture.md,
"Adding a command").

``expected_versions`` (from HTTP ``If-Match``): the order versions the client's change was based
on; the handler refuses the command when the order has moved on (checked inside the writer, so
no change can slip in between). None means no precondition.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from domain.entities import Hold, OrderLine, ReceivedLine, ReturnedLine, TrackingEvent

__all__ = ["Hold", "OrderLine", "ReceivedLine", "ReturnedLine", "TrackingEvent"]  # the lines commands carry are the domain's


class Command:
    """Base of every command. Subclasses register themselves under their class name."""

    _by_name: ClassVar[dict[str, type[Command]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in Command._by_name:
            raise TypeError(f"two commands are named {cls.__name__}")
        Command._by_name[cls.__name__] = cls

    @classmethod
    def named(cls, name: str) -> type[Command]:
        """The command class called ``name``; KeyError for a name no command has."""
        return Command._by_name[name]

    @classmethod
    def all(cls) -> list[type[Command]]:
        return list(Command._by_name.values())


# ---------------------------------------------------------------- locations and stock


@dataclass(frozen=True)
class RegisterLocation(Command):
    location_id: str
    name: str
    kind: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class ReceiveStock(Command):
    location_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class AdjustStock(Command):
    location_id: str
    sku: str
    quantity_delta: int
    reason: str


# ---------------------------------------------------------------- orders


@dataclass(frozen=True)
class PlaceOrder(Command):
    channel: str
    external_id: str
    currency: str
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    lines: tuple[OrderLine, ...]
    shipping_price: Decimal
    payment: dict[str, Any]
    idempotency_key: str | None = None
    # sha256 of the canonical request body, to tell a retry from a different request.
    request_fingerprint: str | None = None
    key_owner: str | None = None
    notify_customer: bool = True


@dataclass(frozen=True)
class CancelOrder(Command):
    order_id: str
    reason: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class HoldOrder(Command):
    """Stops fulfilment until someone releases the order (fraud check, address to confirm...)."""

    order_id: str
    reason: str
    detail: str | None = None
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ReleaseOrder(Command):
    order_id: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ImportChannelOrder(Command):
    """An order as a sales channel (Shopify, WooCommerce, Amazon) sent it, mapped to ours
    (``application.channel_import``). Places it the first time its (channel, external id) is
    seen; after that, applies what the channel says of it: paid, cancelled, a new address.

    ``problems`` are what the mapping could not complete (the order is then held for a person);
    ``platform_total`` is the channel's own total, which ours must equal."""

    channel: str
    external_id: str
    currency: str
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    lines: tuple[OrderLine, ...]
    shipping_price: Decimal
    payment: dict[str, Any]
    billing_address: dict[str, Any] | None = None
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    taxes_included: bool = False
    platform_total: Decimal | None = None
    source: dict[str, Any] | None = None
    paid: bool = False
    cancel_reason: str | None = None
    update_address: bool = False
    problems: tuple[Hold, ...] = ()
    # False for a delivery the platform made before (a retry of one already applied): it places
    # the order if it is still missing, and changes nothing else, so an old retry never undoes
    # what a newer delivery did.
    apply_changes: bool = True
    notify_customer: bool = True
    # When the channel last changed the order (Shopify's and Woo's updated_at): a delivery older
    # than the last change applied does not undo it.
    changed_at: datetime | None = None


# ---------------------------------------------------------------- shipments


@dataclass(frozen=True)
class PickShipment(Command):
    shipment_id: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class PackShipment(Command):
    shipment_id: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ShipShipment(Command):
    shipment_id: str
    carrier: str
    tracking_number: str | None = None
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class DeliverShipment(Command):
    shipment_id: str
    delivered_at: datetime | None = None
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class TrackShipment(Command):
    """What the carrier says of a shipment's parcel (its tracking events, as it sent them)."""

    shipment_id: str
    events: tuple[TrackingEvent, ...]


# ---------------------------------------------------------------- returns


@dataclass(frozen=True)
class RequestReturn(Command):
    order_id: str
    lines: tuple[ReturnedLine, ...] = ()
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ReceiveReturn(Command):
    return_id: str
    location_id: str
    lines: tuple[ReceivedLine, ...] = ()
    expected_versions: frozenset[int] | None = None


# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class DescribeWriter(Command):
    """Not a change: asks the writer whether its cache is warm, and for its counters."""
