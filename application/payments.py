"""Moving money: authorise on placement, capture what shipped, void on cancel, refund returns.

Each step is ``decide what is due`` (from the committed order), ``call the provider`` with an
idempotency key derived from the order, ``record the result`` through the writer. The recording
handlers are idempotent, so the HTTP request that caused a step and the payment policy that
follows the feed may both try it: the provider moves money once and the order records it once.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial
from uuid import UUID

from application import handlers
from application.aggregate_cache import AggregateCache
from application.context import CommandContext
from application.ports import PaymentGateway, PaymentGatewayUnavailable, PaymentResult
from application.writer import GroupCommitWriter
from domain.order import Order

log = logging.getLogger(__name__)


class PaymentSettlement:
    def __init__(self, writer: GroupCommitWriter, cache: AggregateCache, gateway: PaymentGateway) -> None:
        self._writer = writer
        self._cache = cache
        self._gateway = gateway

    def settle(self, order_id: UUID, context: CommandContext, *, min_version: int = 0) -> int | None:
        """Does whatever payment step is due; returns the position of the last event recorded.

        ``min_version``: the version the caller knows the order has reached. A cached copy older
        than that (another process wrote the order) is reloaded before deciding what is due.
        """
        order = self._cache.get(order_id)
        if order is not None and order.version < min_version:
            self._cache.evict([order_id])
            order = self._cache.get(order_id)
        if not isinstance(order, Order):
            return None
        position = None
        try:
            if order.payment_state == "pending" and not order.cancelled:
                order, position = self._authorize(order, context)
            for shipment_id, amount in order.capture_due():
                order, position = self._capture(order, shipment_id, amount, context) or (order, position)
            if order.void_due():
                order, position = self._void(order, context) or (order, position)
            for return_id, amount in order.refund_due():
                order, position = self._refund(order, return_id, amount, context) or (order, position)
        except PaymentGatewayUnavailable:
            log.warning("payment provider unavailable while settling order %s; the policy will retry", order_id)
            raise
        return position

    def _authorize(self, order: Order, context: CommandContext) -> tuple[Order, int | None]:
        result = self._gateway.authorize(
            order.payment.get("reference") or "", order.total, order.currency, idempotency_key=f"authorize:{order.id}")
        outcome = self._writer.execute(
            partial(handlers.record_authorization, order_id=order.id, result=result),
            context.for_command("RecordPaymentAuthorization"))
        return outcome.value, outcome.position

    def _capture(self, order: Order, shipment_id: str, amount: Decimal, context: CommandContext):
        result = self._gateway.capture(order.authorization_id or "", amount, order.currency,
                                       idempotency_key=f"capture:{shipment_id}")
        return self._record(result, f"capture of {amount} {order.currency} for {shipment_id}", context,
                            "RecordPaymentCapture", partial(handlers.record_capture, order_id=order.id,
                                                            shipment_id=shipment_id, amount=amount),
                            "capture_id")

    def _void(self, order: Order, context: CommandContext):
        result = self._gateway.void(order.authorization_id or "", idempotency_key=f"void:{order.id}")
        return self._record(result, f"void of order {order.id}", context, "RecordPaymentVoid",
                            partial(handlers.record_void, order_id=order.id,
                                    reason=order.cancel_reason or "order cancelled"))

    def _refund(self, order: Order, return_id: str, amount: Decimal, context: CommandContext):
        result = self._gateway.refund(order.authorization_id or "", amount, order.currency,
                                      idempotency_key=f"refund:{return_id}")
        return self._record(result, f"refund of {amount} {order.currency} for {return_id}", context,
                            "RecordPaymentRefund", partial(handlers.record_refund, order_id=order.id,
                                                           return_id=return_id, amount=amount),
                            "refund_id")

    def _record(self, result: PaymentResult, what: str, context: CommandContext, command: str,
                handler: partial, transaction_param: str | None = None) -> tuple[Order, int | None] | None:
        """Records what the provider did; a refusal is logged and left for a person to look at
        (the order keeps showing the amount as due)."""
        if not result.approved:
            log.error("%s was refused: %s", what, result.reason)
            return None
        if transaction_param is not None:
            handler = partial(handler, **{transaction_param: result.transaction_id or ""})
        outcome = self._writer.execute(handler, context.for_command(command))
        return outcome.value, outcome.position
