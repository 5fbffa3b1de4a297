"""Sandbox payment provider: a simulator behind the real ``PaymentGateway`` port.

It approves everything except payment references that start with ``pay_declined``, keeps its
ledger in memory and honours idempotency keys as a real provider does (the same key returns the
first result, money moves once). Never use it for real money.
"""
from __future__ import annotations

import threading
import uuid
from decimal import Decimal

from application.ports import PaymentResult

DECLINED_PREFIX = "pay_declined"


class SandboxPaymentGateway:
    name = "sandbox"

    def __init__(self) -> None:
        self._results: dict[str, PaymentResult] = {}
        self._authorized: dict[str, Decimal] = {}
        self._captured: dict[str, Decimal] = {}
        self._refunded: dict[str, Decimal] = {}
        self._lock = threading.Lock()

    def _once(self, key: str, operation) -> PaymentResult:
        with self._lock:
            if key not in self._results:
                self._results[key] = operation()
            return self._results[key]

    def authorize(self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str) -> PaymentResult:
        def run() -> PaymentResult:
            if reference.startswith(DECLINED_PREFIX):
                return PaymentResult(False, reason="card declined (sandbox)")
            authorization_id = f"auth_{uuid.uuid4().hex}"
            self._authorized[authorization_id] = amount
            return PaymentResult(True, authorization_id)

        return self._once(idempotency_key, run)

    def capture(self, authorization_id: str, amount: Decimal, currency: str, *, idempotency_key: str) -> PaymentResult:
        def run() -> PaymentResult:
            limit = self._authorized.get(authorization_id)
            if limit is None:
                # A restart loses the sandbox's memory; treat unknown authorisations as valid.
                limit = amount + self._captured.get(authorization_id, Decimal(0))
            if self._captured.get(authorization_id, Decimal(0)) + amount > limit:
                return PaymentResult(False, reason="capture exceeds authorisation (sandbox)")
            self._captured[authorization_id] = self._captured.get(authorization_id, Decimal(0)) + amount
            return PaymentResult(True, f"cap_{uuid.uuid4().hex}")

        return self._once(idempotency_key, run)

    def void(self, authorization_id: str, *, idempotency_key: str) -> PaymentResult:
        def run() -> PaymentResult:
            self._authorized.pop(authorization_id, None)
            return PaymentResult(True, f"void_{uuid.uuid4().hex}")

        return self._once(idempotency_key, run)

    def refund(self, authorization_id: str, amount: Decimal, currency: str, *, idempotency_key: str) -> PaymentResult:
        def run() -> PaymentResult:
            self._refunded[authorization_id] = self._refunded.get(authorization_id, Decimal(0)) + amount
            return PaymentResult(True, f"ref_{uuid.uuid4().hex}")

        return self._once(idempotency_key, run)
