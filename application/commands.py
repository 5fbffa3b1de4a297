"""What integrators ask the OMS to do. Plain data; the handlers give them meaning.

``expected_versions`` (from HTTP ``If-Match``): the order versions the client's change was based
on; the handler refuses the command when the order has moved on (checked inside the writer, so
no change can slip in between). None means no precondition.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class RegisterLocation:
    location_id: str
    name: str
    kind: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class ReceiveStock:
    location_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class AdjustStock:
    location_id: str
    sku: str
    quantity_delta: int
    reason: str


@dataclass(frozen=True)
class PlaceOrder:
    channel: str
    external_id: str
    currency: str
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    lines: list[dict[str, Any]]
    shipping_price: Decimal
    payment: dict[str, Any]
    idempotency_key: str | None = None
    # sha256 of the canonical request body, to tell a retry from a different request.
    request_fingerprint: str | None = None
    key_owner: str | None = None


@dataclass(frozen=True)
class PickShipment:
    shipment_id: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class PackShipment:
    shipment_id: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ShipShipment:
    shipment_id: str
    carrier: str
    tracking_number: str | None = None
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class DeliverShipment:
    shipment_id: str
    delivered_at: datetime | None = None
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class RequestReturn:
    order_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    expected_versions: frozenset[int] | None = None


@dataclass(frozen=True)
class ReceiveReturn:
    return_id: str
    location_id: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    expected_versions: frozenset[int] | None = None
