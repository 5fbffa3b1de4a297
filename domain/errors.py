"""Named failures of business rules. The API maps them to problem responses."""
from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded."""

    title = "Business rule violated"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ForbiddenTransition(DomainError):
    """The aggregate is not in a state that allows this command (e.g. ship before pack)."""

    title = "Forbidden transition"


class InsufficientStock(DomainError):
    """Stock would go below what is reserved, or below zero."""

    title = "Insufficient stock"


class InvalidQuantity(DomainError):
    """A quantity or amount is outside what the rule allows."""

    title = "Invalid quantity"
