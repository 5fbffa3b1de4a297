"""Policies: what the OMS does by itself when something has happened.

The payment policy follows the event feed: an order placed gets its payment authorised; a
shipment shipped gets captured, a cancellation voided, a received return refunded. The HTTP
commands that cause the last three settle at once themselves; the policy is what makes them
happen anyway if that attempt failed (provider down, process died). Delivery to the policy is
at least once; settlement is idempotent, so that is exactly once in effect.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from application.context import system_context
from application.payments import PaymentSettlement, Settle
from domain.order import Order

log = logging.getLogger(__name__)

PAYMENT_TRIGGERS = (
    Order.OrderPlaced,
    Order.ShipmentShipped,
    Order.OrderCancelled,
    Order.ReturnReceived,
)


class PaymentPolicy:
    name = "payment_policy"
    trigger_types = PAYMENT_TRIGGERS

    def __init__(self, settlement: PaymentSettlement) -> None:
        self._settlement = settlement

    def orders_to_settle(self, events: Iterable[Any]) -> list[tuple[UUID, str, int]]:
        """(order id, request id of the trigger, latest version seen) for each order, once per batch."""
        wanted: dict[UUID, tuple[str, int]] = {}
        for event in events:
            if isinstance(event, self.trigger_types):
                meta = vars(event).get("__meta__") or {}
                request_id = wanted.get(event.originator_id, (meta.get("request_id") or "", 0))[0]
                wanted[event.originator_id] = (request_id, event.originator_version)
        return [(order_id, request_id, version) for order_id, (request_id, version) in wanted.items()]

    def process(self, events: Iterable[Any]) -> None:
        """Settles every order the events concern, all in one go (their results share the
        writer's batches); raises if any settlement failed, so that the caller does not move past
        these events and tries them again."""
        self._settlement.settle_many(
            Settle(order_id, system_context("SettlePayment", request_id), min_version=version)
            for order_id, request_id, version in self.orders_to_settle(events))
