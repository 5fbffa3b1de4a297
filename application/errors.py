"""Application-level failures (the domain's own are in ``domain.errors``)."""
from __future__ import annotations


class NotFound(Exception):
    """No such order, shipment, return, location or stock item."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = identifier


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""
