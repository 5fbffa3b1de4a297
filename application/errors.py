"""Application-level failures (the domain's own are in ``domain.errors``)."""
from __future__ import annotations


class NotFound(Exception):
    """No such order, shipment, return, location or stock item."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = identifier

    def __reduce__(self) -> tuple:  # rebuilt from its fields when it crosses a process boundary
        return type(self), (self.kind, self.identifier)


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""


class PreconditionFailed(Exception):
    """The order is no longer at the version the client based its change on (If-Match)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the order is at version {current_version}, not at any version the request named")
        self.current_version = current_version

    def __reduce__(self) -> tuple:
        return type(self), (self.current_version,)
