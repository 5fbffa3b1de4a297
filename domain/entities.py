"""The parts of an order that have an identity of their own: shipments and returns.

They are immutable values inside the order aggregate: a change makes a new one (``evolve``),
so a copy of the order that shares them can never change the original.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.money import ZERO


class Entity:
    def evolve(self, **changes: Any) -> Any:
        """A copy with ``changes`` (cheaper than ``dataclasses.replace``: replays run this for
        every fulfilment event)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone


@dataclass(frozen=True)
class OrderLine:
    """One ordered SKU. ``discount`` and ``tax`` are the line's totals as its channel states them
    (a channel's discount that is not allocated to lines is the order's); a line that does not
    ship (a gift card) is part of the money, never of sourcing."""

    sku: str
    quantity: int
    unit_price: Decimal
    name: str | None = None
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    requires_shipping: bool = True

    def as_event_data(self) -> dict[str, Any]:
        """The line as its event records it: the optional parts only when set, so an order of our
        own API records what it always did."""
        data: dict[str, Any] = {"sku": self.sku, "quantity": self.quantity, "unit_price": self.unit_price}
        if self.name is not None:
            data["name"] = self.name
        if self.discount:
            data["discount"] = self.discount
        if self.tax:
            data["tax"] = self.tax
        if not self.requires_shipping:
            data["requires_shipping"] = False
        return data


class ShipmentStatus(StrEnum):
    READY = "ready"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still at the location, its units reserved."""
        return self in (ShipmentStatus.READY, ShipmentStatus.PICKED, ShipmentStatus.PACKED)

    @property
    def has_left(self) -> bool:
        return self in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)


class TrackingStatus(StrEnum):
    """What a carrier says of a parcel (EasyPost's statuses)."""

    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    RETURN_TO_SENDER = "return_to_sender"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrackingEvent:
    status: str  # a TrackingStatus
    message: str | None
    at: datetime
    location: str | None = None


@dataclass(frozen=True, eq=True)
class Shipment(Entity):
    id: str
    location_id: str
    lines: Mapping[str, int]  # units per SKU
    status: ShipmentStatus = ShipmentStatus.READY
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    captured: bool = False
    tracking_events: tuple[TrackingEvent, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ShipmentStatus(self.status))


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class ReturnedLine:
    sku: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True)
class ReceivedLine:
    sku: str
    quantity: int
    condition: str  # resellable | damaged


@dataclass(frozen=True)
class Return(Entity):
    id: str
    lines: tuple[ReturnedLine, ...]
    status: ReturnStatus = ReturnStatus.REQUESTED
    received: tuple[ReceivedLine, ...] = ()
    location_id: str | None = None
    refund_amount: Decimal = ZERO
    refunded: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ReturnStatus(self.status))


@dataclass(frozen=True)
class Hold(Entity):
    """Why the order waits for a person: a reason code and words an operator can read."""

    reason: str
    detail: str | None = None
