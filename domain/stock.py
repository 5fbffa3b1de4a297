"""Stock of one SKU at one location, kept as a reservation ledger.

``available = on_hand - reserved`` never goes below zero: an order can only reserve what is
available, and an adjustment cannot take on-hand below what is already promised to orders.
Which order holds how much is the order's own record (its shipments); the stock item keeps the
totals, so that it stays small however many orders pass through it.
"""
from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InsufficientStock, InvalidQuantity

_NAMESPACE = uuid5(NAMESPACE_URL, "oms:stock-item")


@lru_cache(maxsize=200_000)
def stock_item_id(sku: str, location_id: str) -> UUID:
    return uuid5(_NAMESPACE, f"{location_id}\x1f{sku}")


class StockItem(Aggregate):
    @staticmethod
    def create_id(sku: str, location_id: str) -> UUID:
        return stock_item_id(sku, location_id)

    @event("StockItemOpened")
    def __init__(self, sku: str, location_id: str) -> None:
        self.sku = sku
        self.location_id = location_id
        self.on_hand = 0
        self.reserved = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    # Commands: check the rule, then record the fact.

    def receive(self, quantity: int) -> None:
        _require_positive(quantity)
        self._received(quantity=quantity)

    def adjust(self, quantity_delta: int, reason: str) -> None:
        if quantity_delta == 0:
            raise InvalidQuantity("quantity_delta must not be zero")
        if self.on_hand + quantity_delta < self.reserved:
            raise InsufficientStock(
                f"adjusting {self.sku} at {self.location_id} by {quantity_delta} would leave "
                f"{self.on_hand + quantity_delta} on hand, below the {self.reserved} reserved"
            )
        self._adjusted(quantity_delta=quantity_delta, reason=reason)

    def reserve(self, order_id: UUID, quantity: int) -> None:
        _require_positive(quantity)
        if quantity > self.available:
            raise InsufficientStock(
                f"cannot reserve {quantity} x {self.sku} at {self.location_id}: {self.available} available"
            )
        self._reserved(order_id=order_id, quantity=quantity)

    def release(self, order_id: UUID, quantity: int) -> None:
        _require_positive(quantity)
        if quantity > self.reserved:
            raise InsufficientStock(f"cannot release {quantity}: only {self.reserved} reserved")
        self._released(order_id=order_id, quantity=quantity)

    def commit(self, order_id: UUID, quantity: int) -> None:
        """The reserved units left the building with a shipment."""
        _require_positive(quantity)
        if quantity > self.reserved:
            raise InsufficientStock(f"cannot ship {quantity}: only {self.reserved} reserved")
        self._committed(order_id=order_id, quantity=quantity)

    def restock(self, return_id: str, quantity: int) -> None:
        _require_positive(quantity)
        self._restocked(return_id=return_id, quantity=quantity)

    # Facts: apply only, so that replaying history never re-checks today's rules.

    @event("StockReceived")
    def _received(self, quantity: int) -> None:
        self.on_hand += quantity

    @event("StockAdjusted")
    def _adjusted(self, quantity_delta: int, reason: str) -> None:
        self.on_hand += quantity_delta

    @event("StockReserved")
    def _reserved(self, order_id: UUID, quantity: int) -> None:
        self.reserved += quantity

    @event("StockReleased")
    def _released(self, order_id: UUID, quantity: int) -> None:
        self.reserved -= quantity

    @event("StockCommitted")
    def _committed(self, order_id: UUID, quantity: int) -> None:
        self.reserved -= quantity
        self.on_hand -= quantity

    @event("StockRestocked")
    def _restocked(self, return_id: str, quantity: int) -> None:
        self.on_hand += quantity


def _require_positive(quantity: int) -> None:
    if quantity <= 0:
        raise InvalidQuantity(f"quantity must be positive, got {quantity}")
