"""Idempotency keys sent with ``POST /orders``: a retry returns the first result, a different
body under the same key is refused. Recorded in the event store in the same transaction as the
order it produced, so a key and its order exist together or not at all."""
from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NAMESPACE = uuid5(NAMESPACE_URL, "oms:idempotency-key")


def idempotency_key_id(owner: str, key: str) -> UUID:
    """Keys are scoped to the API key that sent them, so two integrators cannot collide."""
    return uuid5(_NAMESPACE, f"{owner}\x1f{key}")


class IdempotencyKey(Aggregate):
    @staticmethod
    def create_id(owner: str, key: str) -> UUID:
        return idempotency_key_id(owner, key)

    @event("IdempotencyKeyUsed")
    def __init__(self, owner: str, key: str, fingerprint: str, order_id: UUID) -> None:
        self.owner = owner
        self.key = key
        self.fingerprint = fingerprint
        self.order_id = order_id
