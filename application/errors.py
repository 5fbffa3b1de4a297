"""Application-level failures (the domain's own are in ``domain.errors``).

Every failure a command may answer with derives from ``ApplicationError`` or
``domain.errors.DomainError``: those two families are what may cross from the writer process
to an API process (``infrastructure.writer_wire``); anything else arrives as a plain failure.
An error that crosses is rebuilt from its constructor arguments (``__reduce__``).
"""
from __future__ import annotations


class ApplicationError(Exception):
    """A command was refused or could not be carried out, for a reason the caller is told."""


class NotFound(ApplicationError):
    """No such order, shipment, return, location or stock item."""

    def __init__(self, kind: str, identifier: object, detail: str | None = None) -> None:
        super().__init__(detail or f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = identifier
        self.detail = detail

    def __reduce__(self) -> tuple:
        return type(self), (self.kind, str(self.identifier), self.detail)


def channel_not_found(channel: str) -> NotFound:
    """A channel outside the caller's API key (one limited to channels): not found for it, as an
    order outside them is (404, never 403)."""
    return NotFound("channel", channel, f"channel {channel} not found for this API key")


class IdempotencyKeyReused(ApplicationError):
    """The Idempotency-Key was already used for a different request body."""


class PreconditionFailed(ApplicationError):
    """The order is no longer at the version the client based its change on (If-Match)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the order is at version {current_version}, not at any version the request named")
        self.current_version = current_version

    def __reduce__(self) -> tuple:
        return type(self), (self.current_version,)


class ConcurrencyConflict(ApplicationError):
    """The command kept colliding with writes from elsewhere; it was not recorded."""


class WriterUnavailable(ApplicationError):
    """The writer is stopped or the event store could not be written; nothing was recorded."""


class OutcomeUnknown(WriterUnavailable):
    """The writer (in a process of its own) went away while it had the command: it may or may
    not have been recorded."""


class CommandFailed(ApplicationError):
    """The command failed in a way that has no name of its own (a bug, or a failure of the
    writer process that could not be told in detail): answered as a server error."""
