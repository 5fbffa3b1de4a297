"""Settling many orders at once: one round of provider calls, one group commit for the results,
and one order's failure neither stops the others nor loops."""
from __future__ import annotations

from decimal import Decimal
from functools import partial
from uuid import UUID

import pytest

from application import commands, handlers
from application.payments import PaymentSettlement, Settle
from application.ports import PaymentGatewayUnavailable, PaymentResult
from infrastructure.adapters.sandbox_payments import SandboxPaymentGateway
from tests.application.conftest import order_command, stock_up


class FlakyGateway(SandboxPaymentGateway):
    """The sandbox, except that it is unreachable for some payment references and refuses every void."""

    def __init__(self, unreachable: set[str]) -> None:
        super().__init__()
        self.unreachable = unreachable
        self.calls: list[str] = []

    def authorize(self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str) -> PaymentResult:
        self.calls.append(idempotency_key)
        if reference in self.unreachable:
            raise PaymentGatewayUnavailable("connection refused")
        return super().authorize(reference, amount, currency, idempotency_key=idempotency_key)

    def void(self, authorization_id: str, *, idempotency_key: str) -> PaymentResult:
        self.calls.append(idempotency_key)
        return PaymentResult(False, reason="void window closed")


def place(node, ctx, count: int, reference=lambda i: "pay_ok") -> list[UUID]:
    stock_up(node.service, ctx, {("berlin-wh", "A"): 1000})
    return [UUID(node.service.place_order(order_command(f"s-{i}", {"A": 1}, reference(i)), ctx).document["id"])
            for i in range(count)]


@pytest.mark.parametrize("concurrent_calls", [1, 4])
def test_many_orders_are_authorised_in_one_go_and_share_the_writers_batches(node, ctx, concurrent_calls):
    ids = place(node, ctx, 20, reference=lambda i: "pay_declined_card" if i == 7 else "pay_ok")
    settlement = PaymentSettlement(node.writer, node.cache, node.gateway, concurrent_calls=concurrent_calls)
    batches = node.writer.batches
    positions = settlement.settle_many(Settle(order_id, ctx) for order_id in ids)
    settlement.close()

    states = [node.cache.get(order_id).payment_state for order_id in ids]
    assert states == ["declined" if i == 7 else "authorized" for i in range(20)]
    assert all(positions[order_id] is not None for order_id in ids)
    # Submitted together, not one command per batch as a thread per order waiting would do.
    assert node.writer.batches - batches <= 3


def test_an_unreachable_provider_stops_only_its_orders_and_is_raised_after_the_others(node, ctx):
    ids = place(node, ctx, 4, reference=lambda i: "pay_down" if i == 2 else "pay_ok")
    gateway = FlakyGateway(unreachable={"pay_down"})
    settlement = PaymentSettlement(node.writer, node.cache, gateway)

    with pytest.raises(PaymentGatewayUnavailable):
        settlement.settle_many(Settle(order_id, ctx) for order_id in ids)

    states = [node.cache.get(order_id).payment_state for order_id in ids]
    assert states == ["authorized", "authorized", "pending", "authorized"]  # the policy retries the third
    gateway.unreachable.clear()
    settlement.settle(ids[2], ctx)
    assert node.cache.get(ids[2]).payment_state == "authorized"


def test_a_refused_step_is_left_due_and_tried_once_per_call(node, ctx):
    (order_id,) = place(node, ctx, 1)
    gateway = FlakyGateway(unreachable=set())
    settlement = PaymentSettlement(node.writer, node.cache, gateway)
    settlement.settle(order_id, ctx)
    # Cancelled through the writer alone: the service would settle the void at once.
    node.writer.execute(partial(handlers.cancel_order, cmd=commands.CancelOrder(str(order_id), "changed mind")), ctx)
    gateway.calls.clear()

    assert settlement.settle(order_id, ctx) is None  # the provider refused the void: nothing recorded

    order = node.cache.get(order_id)
    assert order.void_due() and order.payment_state == "authorized"  # still shown as due, for a person
    assert gateway.calls == [f"void:{order_id}"]
