"""The outside world as the application needs it: small protocols, adapters plug in at bootstrap."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from typing import Protocol

from application.errors import ApplicationError
from domain.geo import Coordinates


@dataclass(frozen=True)
class PaymentResult:
    approved: bool
    transaction_id: str | None = None
    reason: str | None = None


class PaymentGateway(Protocol):
    """A payment provider. Every call carries an idempotency key: a retried call with the same
    key must not move money twice (real providers such as Stripe or Adyen honour such keys)."""

    def authorize(self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str) -> PaymentResult: ...

    def capture(self, authorization_id: str, amount: Decimal, currency: str, *,
                idempotency_key: str) -> PaymentResult: ...

    def void(self, authorization_id: str, *, idempotency_key: str) -> PaymentResult: ...

    def refund(self, authorization_id: str, amount: Decimal, currency: str, *,
               idempotency_key: str) -> PaymentResult: ...


class PaymentGatewayUnavailable(ApplicationError):
    """The provider could not be reached; the operation can be retried later."""


@dataclass(frozen=True)
class Label:
    tracking_number: str
    tracking_url: str | None


class Carrier(Protocol):
    """A carrier that issues tracking numbers (labels) for parcels."""

    def create_label(self, shipment_id: str, *, carrier: str, from_location: str,
                     to_postal_code: str | None, to_country: str | None) -> Label: ...

    def tracking_url(self, carrier: str, tracking_number: str) -> str | None:
        """The public tracking page, or None for a carrier this adapter does not know."""


class UnknownCarrier(ApplicationError):
    """No adapter serves the named carrier."""


class Geocoder(Protocol):
    """Places an address for sourcing, without calling out: ``Coordinates`` of its city
    (precision ``"city"``) or, for a city it does not know (or none), of its country
    (``"country"``); None for a country it cannot place."""

    def locate(self, country: str, city: str | None, postal_code: str | None = None) -> Coordinates | None: ...


class NumberBlocks(Protocol):
    """Hands out blocks of order numbers, each block to one process only (a database sequence)."""

    def next_block(self) -> int: ...


class DeliveryFailed(ApplicationError):
    """A message was not handed over. ``permanent``: it never will be (the recipient does not
    exist, the provider refuses the number); otherwise it is tried again later. ``unreachable``:
    the server could not be reached at all (the other messages for it need not try now)."""

    def __init__(self, reason: str, *, permanent: bool, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.unreachable = unreachable


class EmailSender(Protocol):
    """A mail server. ``handing_over`` is called right before the message is handed over (the
    SMTP ``DATA``): from then on it may have been delivered even if this call never returns."""

    def send(self, message: EmailMessage, *, handing_over: Callable[[], None]) -> None: ...

    def close(self) -> None:
        """Ends the connection kept between messages, if any."""


class SmsSender(Protocol):
    """An SMS provider. ``to`` is in E.164; returns the provider's id of the message.
    ``handing_over`` is called right before the request that sends it."""

    def send(self, to: str, body: str, *, handing_over: Callable[[], None]) -> str: ...
