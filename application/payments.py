"""Moving money: authorise on placement, capture what shipped, void on cancel, refund returns.

Each step is ``decide what is due`` (from the committed order), ``call the provider`` with an
idempotency key derived from the order, ``record the result`` through the writer. The recording
handlers are idempotent, so the HTTP request that caused a step and the payment policy that
follows the feed may both try it: the provider moves money once and the order records it once.

Many orders are settled in rounds: the provider is called for every order's next step (side by
side, as the gateway allows), then all the results are submitted to the writer at once, so
they share one group commit, and nothing waits for the batch but the one thread that settles.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from application import handlers
from application.aggregate_cache import AggregateCache
from application.context import CommandContext
from application.ports import PaymentGateway, PaymentGatewayUnavailable, PaymentResult
from application.writer import CommandResult, GroupCommitWriter
from domain.order import Order

log = logging.getLogger(__name__)

# How long to wait for the writer to record a result (as GroupCommitWriter.execute).
WAIT_SECONDS = 60


@dataclass(frozen=True)
class Settle:
    """An order to settle: ``min_version`` is the version the caller knows it has reached (a
    cached copy older than that, written by another process, is reloaded first)."""

    order_id: UUID
    context: CommandContext
    min_version: int = 0


@dataclass(frozen=True)
class _Step:
    key: str  # the provider's idempotency key: also names the step
    what: str
    command: str
    call: Callable[[], PaymentResult]
    record: Callable[[PaymentResult], Any]  # the handler for the writer, given the result
    # A declined authorisation is recorded (the order goes on hold); any other refusal is left
    # for a person to look at (the order keeps showing the amount as due).
    records_refusal: bool = False


class PaymentSettlement:
    def __init__(self, writer: GroupCommitWriter, cache: AggregateCache, gateway: PaymentGateway,
                 *, concurrent_calls: int = 32) -> None:
        self._writer = writer
        self._cache = cache
        self._gateway = gateway
        # Provider calls are I/O: this many in flight at once. 1 calls inline (an in-memory
        # simulator, where threads would only add hand-offs).
        self._concurrent_calls = concurrent_calls
        self._calls: ThreadPoolExecutor | None = None
        self._calls_lock = threading.Lock()

    def close(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, None
        if calls is not None:
            calls.shutdown(wait=True)

    def settle(self, order_id: UUID, context: CommandContext, *, min_version: int = 0) -> int | None:
        """Does whatever payment steps are due; returns the position of the last event recorded."""
        return self.settle_many([Settle(order_id, context, min_version)]).get(order_id)

    def settle_many(self, orders: Iterable[Settle]) -> dict[UUID, int | None]:
        """Settles every order, in rounds of one step per order; returns, per order, the position
        of the last event recorded. A failure (provider down, store unavailable) stops that order
        only; the first one is raised once every other order has been settled."""
        pending = {o.order_id: o for o in orders}
        positions: dict[UUID, int | None] = dict.fromkeys(pending)
        attempted: set[str] = set()  # each step at most once per call, so the rounds end
        errors: list[Exception] = []
        while pending:
            steps = self._next_steps(pending.values(), attempted)
            attempted.update(step.key for _, step in steps)
            submitted: list[tuple[Settle, Future[CommandResult]]] = []
            for (settle, step), result in zip(steps, self._call(steps, errors)):
                if result is None:  # the call failed: this order stops here
                    continue
                if result.approved or step.records_refusal:
                    try:
                        submitted.append((settle, self._writer.submit(
                            step.record(result), settle.context.for_command(step.command))))
                    except Exception as error:  # noqa: BLE001 - the writer is stopping: collected
                        errors.append(error)
                else:
                    log.error("%s was refused: %s", step.what, result.reason)
                    submitted.append((settle, _done(CommandResult(None, None))))
            pending = {}
            for settle, future in submitted:
                try:
                    outcome = future.result(WAIT_SECONDS)
                except Exception as error:  # noqa: BLE001 - collected; the others go on
                    errors.append(error)
                    continue
                if outcome.position is not None:
                    positions[settle.order_id] = outcome.position
                # The order may have more due (several shipments to capture, say).
                pending[settle.order_id] = Settle(settle.order_id, settle.context)
        if errors:
            raise errors[0]
        return positions

    # ---------------------------------------------------------------- deciding

    def _next_steps(self, orders: Iterable[Settle], attempted: set[str]) -> list[tuple[Settle, _Step]]:
        steps = []
        for settle in orders:
            order = self._cache.get(settle.order_id)
            if order is not None and order.version < settle.min_version:
                self._cache.evict([settle.order_id])
                order = self._cache.get(settle.order_id)
            if isinstance(order, Order):
                step = self._next_step(order, attempted)
                if step is not None:
                    steps.append((settle, step))
        return steps

    def _next_step(self, order: Order, attempted: set[str]) -> _Step | None:
        gateway = self._gateway
        key = f"authorize:{order.id}"
        if order.authorization_due() and key not in attempted:
            return _Step(key, f"authorisation of order {order.id}", "RecordPaymentAuthorization",
                         partial(gateway.authorize, order.payment.get("reference") or "", order.total, order.currency,
                                 idempotency_key=key),
                         lambda result: partial(handlers.record_authorization, order_id=order.id, result=result),
                         records_refusal=True)
        for shipment_id, amount in order.capture_due():
            if f"capture:{shipment_id}" not in attempted:
                return _amount_step(order, "capture", shipment_id, amount, gateway.capture, handlers.record_capture,
                                    item_param="shipment_id", id_param="capture_id")
        key = f"void:{order.id}"
        if order.void_due() and key not in attempted:
            reason = order.cancel_reason or "order cancelled"
            return _Step(key, f"void of order {order.id}", "RecordPaymentVoid",
                         partial(gateway.void, order.authorization_id or "", idempotency_key=key),
                         lambda result: partial(handlers.record_void, order_id=order.id, reason=reason))
        for return_id, amount in order.refund_due():
            if f"refund:{return_id}" not in attempted:
                return _amount_step(order, "refund", return_id, amount, gateway.refund, handlers.record_refund,
                                    item_param="return_id", id_param="refund_id")
        return None

    # ---------------------------------------------------------------- calling the provider

    def _call(self, steps: list[tuple[Settle, _Step]], errors: list[Exception]) -> list[PaymentResult | None]:
        def call(item: tuple[Settle, _Step]) -> PaymentResult | None:
            settle, step = item
            try:
                return step.call()
            except PaymentGatewayUnavailable as error:
                log.warning("payment provider unavailable for the %s; the policy will retry", step.what)
                errors.append(error)
            except Exception as error:  # noqa: BLE001 - collected; the others go on
                log.exception("the %s failed", step.what)
                errors.append(error)
            return None

        if self._concurrent_calls <= 1 or len(steps) <= 1:
            return [call(item) for item in steps]
        with self._calls_lock:
            if self._calls is None:
                self._calls = ThreadPoolExecutor(max_workers=self._concurrent_calls,
                                                 thread_name_prefix="payment-calls")
            calls = self._calls
        return list(calls.map(call, steps))


def _amount_step(order: Order, kind: str, item: str, amount: Decimal, call: Callable[..., PaymentResult],
                 handler: Callable[..., Any], *, item_param: str, id_param: str) -> _Step:
    """A capture (per shipment) or a refund (per return) of ``amount`` on the order's authorisation."""
    key = f"{kind}:{item}"
    return _Step(key, f"{kind} of {amount} {order.currency} for {item}", f"RecordPayment{kind.title()}",
                 partial(call, order.authorization_id or "", amount, order.currency, idempotency_key=key),
                 lambda result: partial(handler, order_id=order.id, amount=amount,
                                        **{item_param: item, id_param: result.transaction_id or ""}))


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future
