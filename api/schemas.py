"""Request and response models, per resource.

Inputs reject unknown fields (``extra="forbid"``): clients can never set ids, statuses or
totals. Money is a decimal string (``"99.90"``); JSON numbers are accepted too and read
exactly as written (``Decimal(str(number))``), never kept as floats.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain.countries import COUNTRIES
from domain.money import CURRENCIES, minor_units

# ---------------------------------------------------------------- field types


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Output(BaseModel):
    # Documents may gain fields; the models document the shape without hiding additions.
    model_config = ConfigDict(extra="allow")


# White space spelled out: ``\s`` means different characters to JSON Schema's (ECMAScript) regular
# expressions and to pydantic's (Rust), and a client must be able to trust the document's pattern.
SPACE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    """Only an RFC 3339 date-time with its offset, as the document says (pydantic alone would
    also read a number as seconds since 1970)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError("datetime_format", "must be an RFC 3339 date-time with a time zone, "
                                                     "such as 2026-12-01T09:30:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def text(max_length: int) -> Any:
    """A non-blank string of at most ``max_length`` characters."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=rf"[^{SPACE}]")


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=rf"^[^{SPACE}/]+$")]
def _whole_number(value: Any) -> Any:
    """A JSON number with no fraction, as JSON Schema's ``integer`` reads it (``2.0`` is 2); text
    and booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be a valid integer, got a number with a fraction")
        return int(value)
    return value


# The constraints before the validator, so that they stay JSON Schema's own keywords.
Quantity = Annotated[int, Field(gt=0, le=1_000_000, description="a positive whole number"),
                     BeforeValidator(_whole_number)]
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=rf"^[^@{SPACE}]+@[^@{SPACE}]+\.[^@{SPACE}]+$"),
                  Field(examples=["ada@example.com"])]
Phone = Annotated[str, StringConstraints(max_length=32, pattern=r"^\+?[0-9][0-9 ()./-]{2,31}$"),
                  Field(examples=["+4915112345678"])]

_MONEY = re.compile(r"^\d{1,15}(\.\d{1,4})?$")


def _money(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise PydanticCustomError("money", 'must be a decimal amount as a string, such as "9.99"')
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("money", 'must be a decimal amount as a string, such as "9.99"')
        value = str(value)  # the shortest repr: what the client wrote, not the binary float
    elif isinstance(value, (int, Decimal)):
        value = str(value)
    if not isinstance(value, str) or not _MONEY.match(value):
        raise PydanticCustomError(
            "money", 'must be a non-negative decimal amount with at most 4 decimals, as a string such as "9.99"')
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\d{1,15}(\.\d{1,4})?$"},
                              {"type": "number", "minimum": 0, "maximum": 999_999_999_999_999, "multipleOf": 0.0001}],
                    "examples": ["99.90"],
                    "description": "decimal amount as a string (JSON numbers are accepted and read exactly)"}),
]
MoneyOut = Annotated[str, Field(examples=["99.90"], description="decimal amount as a string")]



def one_of(codes: type[StrEnum], kind: str, message: str) -> Any:
    """A field that takes one of ``codes``. The OpenAPI document lists them (as the schema named
    after the enum); anything else is refused with ``message`` (not a list of every code); the
    validated value is the plain string, so commands and events carry no API types."""
    allowed = frozenset(member.value for member in codes)

    def check(value: Any) -> str:
        if type(value) is not str or value not in allowed:
            raise PydanticCustomError(kind, message)
        return value

    return Annotated[str, PlainValidator(check, json_schema_input_type=codes)]


Country = StrEnum("Country", {code: code for code in sorted(COUNTRIES)}, module=__name__)  # type: ignore[misc]
Country.__doc__ = "ISO 3166-1 alpha-2 country code (officially assigned)."
CountryCode = Annotated[one_of(Country, "country", 'must be an ISO 3166-1 alpha-2 country code such as "DE"'),
                        Field(examples=["DE"])]

# Every active ISO 4217 code that has a minor unit (domain/money.py holds the table).
Currency = StrEnum("Currency", {code: code for code in CURRENCIES}, module=__name__)  # type: ignore[misc]
Currency.__doc__ = "ISO 4217 currency code (active, with a minor unit); amounts have at most its minor units' decimals."
CurrencyCode = Annotated[
    one_of(Currency, "currency", 'must be an active ISO 4217 currency code in capitals, such as "EUR"'),
    Field(examples=["EUR"])]


class PaymentProvider(StrEnum):
    """The payment providers the service has an adapter for (infrastructure/adapters)."""

    SANDBOX = "sandbox"


class Carrier(StrEnum):
    """The carriers the carrier adapter issues labels for (infrastructure/adapters/sandbox_carrier.py)."""

    FEDEX = "fedex"
    UPS = "ups"
    DHL = "dhl"
    USPS = "usps"
    DPD = "dpd"


PaymentProviderName = one_of(PaymentProvider, "payment_provider",
                             "must be a payment provider the service has: " + ", ".join(PaymentProvider))
CarrierName = one_of(Carrier, "carrier", "must be a carrier the service ships with: " + ", ".join(Carrier))


_QUANTA = {units: Decimal(1).scaleb(-units) for units in range(5)}  # minor units are 0 to 4


def _check_minor_units(model: str, currency: str | None, amounts: list[tuple[tuple[Any, ...], Decimal]]) -> None:
    """Raises an error at each amount with more decimals than ``currency`` has (ISO 4217 minor
    units; ``"100.0"`` is a whole number, as the domain counts it). On every order's path: the
    common case is one quantize per amount."""
    if currency is None:  # the currency itself was refused: that is the error to report
        return
    units = minor_units(currency)
    quantum = _QUANTA[units]
    wrong = [(loc, amount) for loc, amount in amounts if amount.quantize(quantum) != amount]
    if not wrong:
        return
    message = (f"{currency} amounts are whole numbers (no decimals)" if units == 0
               else f"{currency} amounts have at most {units} decimals")
    raise ValidationError.from_exception_data(model, [
        InitErrorDetails(type=PydanticCustomError("money_precision", message), loc=loc, input=str(amount))
        for loc, amount in wrong])


OrderStatus = Literal["pending", "confirmed", "backordered", "on_hold", "completed", "cancelled"]
PaymentStatus = Literal["pending", "authorized", "declined", "voided", "paid", "partially_refunded", "refunded"]
FulfillmentStatus = Literal["unfulfilled", "partially_shipped", "shipped", "partially_delivered", "delivered"]
Role = Literal["admin", "integrator", "auditor", "analyst"]

# ---------------------------------------------------------------- locations


class LocationIn(Input):
    name: Annotated[str, text(200)]
    kind: Literal["warehouse", "store"]
    latitude: Latitude
    longitude: Longitude


class LocationOut(Output):
    location_id: str
    name: str
    kind: Literal["warehouse", "store"]
    latitude: float
    longitude: float


class LocationList(Output):
    data: list[LocationOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")

# ---------------------------------------------------------------- stock


class StockReceiptIn(Input):
    location_id: Identifier
    sku: Sku
    quantity: Quantity


class StockAdjustmentIn(Input):
    location_id: Identifier
    sku: Sku
    quantity_delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000,
                                         description="units to add (positive) or remove (negative); never 0",
                                         json_schema_extra={"not": {"const": 0}}), BeforeValidator(_whole_number)]
    reason: Annotated[str, text(500)]

    @field_validator("quantity_delta")
    @classmethod
    def _changes_something(cls, delta: int) -> int:
        if delta == 0:
            raise PydanticCustomError("zero_delta", "must not be 0: an adjustment adds or removes units")
        return delta


class StockAtLocation(Output):
    location_id: str
    sku: str | None = None
    on_hand: int
    reserved: int
    available: int


class StockOut(Output):
    sku: str
    on_hand: int
    reserved: int
    available: int
    locations: list[StockAtLocation]

# ---------------------------------------------------------------- orders


class CustomerIn(Input):
    name: Annotated[str, text(200)]
    email: Email | None = None
    phone: Phone | None = None


class AddressIn(Input):
    name: Annotated[str, text(200)]
    line1: Annotated[str, text(200)]
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, text(100)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")] | None = None
    country: CountryCode
    latitude: Latitude | None = Field(None, description="with longitude, or neither: the address is then "
                                                        "placed by its city, or else its country")
    longitude: Longitude | None = Field(None, description="with latitude, or neither")

    @model_validator(mode="after")
    def _both_coordinates_or_neither(self) -> AddressIn:
        if (self.latitude is None) == (self.longitude is None):
            return self
        given, missing = ("latitude", "longitude") if self.longitude is None else ("longitude", "latitude")
        raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
            type=PydanticCustomError("coordinates_pair", "{given} was given without {missing}: send both "
                                     "coordinates, or neither to have the address placed by its city or country",
                                     {"given": given, "missing": missing}),
            loc=(given,), input=getattr(self, given))])


class OrderLineIn(Input):
    sku: Sku
    quantity: Quantity
    unit_price: Money


class PaymentIn(Input):
    provider: PaymentProviderName
    reference: Annotated[str, text(200)]


class OrderIn(Input):
    channel: Annotated[str, text(50)]
    external_id: Annotated[str, text(128)]
    currency: CurrencyCode
    customer: CustomerIn
    shipping_address: AddressIn
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]
    shipping_price: Money
    payment: PaymentIn
    notify_customer: Annotated[bool, Field(strict=True, description="false: no message to the customer from us "
                                                                     "(the channel tells them itself)")] = True

    @field_validator("lines")
    @classmethod
    def _unique_skus(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise PydanticCustomError("duplicate_sku", "SKU {sku} appears on more than one line",
                                          {"sku": line.sku})
            seen.add(line.sku)
        return lines

    @field_validator("lines")
    @classmethod
    def _unit_prices_in_minor_units(cls, lines: list[OrderLineIn], info: ValidationInfo) -> list[OrderLineIn]:
        _check_minor_units(cls.__name__, info.data.get("currency"),
                           [((n, "unit_price"), line.unit_price) for n, line in enumerate(lines)])
        return lines

    @field_validator("shipping_price")
    @classmethod
    def _shipping_price_in_minor_units(cls, price: Decimal, info: ValidationInfo) -> Decimal:
        _check_minor_units(cls.__name__, info.data.get("currency"), [((), price)])
        return price


class CancelIn(Input):
    reason: Annotated[str, text(500)]


class HoldIn(Input):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        description="a code for why, e.g. fraud_check or address_check", examples=["fraud_check"])
    detail: Annotated[str, text(500)] | None = Field(None, description="words for the person who resolves it")


class ReturnLineIn(Input):
    sku: Sku
    quantity: Quantity
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class ReturnIn(Input):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=500)]


class ReceivedLineIn(Input):
    sku: Sku
    quantity: Quantity
    condition: Literal["resellable", "damaged"]


class ReceiveReturnIn(Input):
    location_id: Identifier
    lines: Annotated[list[ReceivedLineIn], Field(min_length=1, max_length=500)]


class OrderLineOut(Output):
    sku: str
    quantity: int
    unit_price: MoneyOut
    backordered: int = 0
    name: str | None = Field(None, description="the product's name, as the sales channel gave it")
    discount: MoneyOut = Field("0.00", description="the line's discounts (of all its units)")
    tax: MoneyOut = Field("0.00", description="the line's taxes (of all its units)")
    requires_shipping: bool = Field(True, description="false for a line that does not ship (a gift card)")


class TotalsOut(Output):
    """``total`` = subtotal - discount + shipping + fees (+ tax unless the prices include it),
    equal to the sales channel's own total to the cent."""

    subtotal: MoneyOut = Field(description="unit price × quantity of every line, before discounts")
    discount: MoneyOut = Field("0.00", description="every discount of the order, its lines' included")
    shipping: MoneyOut
    tax: MoneyOut = Field("0.00", description="every tax; contained in the prices when taxes_included")
    fees: MoneyOut = Field("0.00", description="other charges a channel adds (gift wrap, payment fees)")
    total: MoneyOut
    captured: MoneyOut | None = None
    refunded: MoneyOut


class ShipmentLineOut(Output):
    sku: str
    quantity: int


class TrackingEventOut(Output):
    status: Literal["pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup",
                    "return_to_sender", "failure", "unknown"]
    message: str | None = None
    at: datetime
    location: str | None = None


class CarrierAccountIn(Input):
    webhook_secret: Annotated[str, StringConstraints(min_length=16, max_length=500)] = Field(
        description="the secret EasyPost signs its webhooks with (write-only: never returned)")


class CarrierAccountOut(Output):
    carrier: str
    webhook_secret_set: bool
    updated_at: datetime


class CarrierEventOut(Output):
    id: int
    received_at: datetime
    event_id: str | None = None
    description: str | None = None
    tracking_code: str | None = None
    outcome: Literal["applied", "unmatched", "ignored"]
    body: dict[str, Any]


class CarrierEventList(Output):
    data: list[CarrierEventOut]


class ShipmentOut(Output):
    id: str
    location_id: str
    status: Literal["ready", "picked", "packed", "shipped", "delivered", "cancelled"]
    lines: list[ShipmentLineOut]
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    delivered_at: datetime | None = None
    tracking_events: list[TrackingEventOut] = []


class ReturnOut(Output):
    id: str
    status: Literal["requested", "received", "refunded"]
    lines: list[dict[str, Any]]
    received: list[dict[str, Any]] = []
    location_id: str | None = None
    refund_amount: MoneyOut
    refund_owed_by: str | None = Field(None, description="the sales channel that pays the refund back "
                                                        "(it charged the order); null when our provider does")
    order_id: str | None = Field(None, description="the order the return belongs to")
    order_version: int | None = Field(None, description="the order's version after the request (its ETag)")


class OrderLinks(Output):
    order: str = Field(description="the order it belongs to", examples=["/orders/0190c9a4-7b1e-7c3d-9f00-3a5b2c1d4e5f"])


class ShipmentDocument(ShipmentOut):
    """A shipment on its own: as in its order's document, with the order named and linked."""

    order_id: str = Field(description="the order the shipment belongs to")
    order_version: int = Field(description="the order's version: the ETag, for If-Match on the shipment's commands")
    links: OrderLinks


class ReturnDocument(ReturnOut):
    """A return on its own: as in its order's document, with the order named and linked."""

    order_id: str = Field(description="the order the return belongs to")
    order_version: int = Field(description="the order's version: the ETag, for If-Match on the return's commands")
    links: OrderLinks


class AddressOut(Output):
    """The shipping address as placed: its coordinates, and how they were found."""

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = Field(None, description="null when the address could not be placed")
    longitude: float | None = None
    coordinates_precision: Literal["given", "city", "country", "unknown"] | None = Field(
        None, description="given: the client's coordinates; city or country: looked up (offline) from the "
                          "address, at its city or, for a city not known, its country's centre; unknown: "
                          "not placed (sourced by availability alone). Absent on orders placed before it was "
                          "recorded")


class HoldOut(Output):
    reason: str = Field(examples=["fraud_check", "payment_declined", "awaiting_payment", "unknown_sku"])
    detail: str | None = None


class OrderOut(Output):
    id: str
    number: str | None = Field(None, description="the short number people read the order by (OMS-7K3F9Q), unique; "
                                                  "null for orders placed before numbers were given",
                               examples=["OMS-7K3F9Q"])
    channel: str
    external_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    fulfillment_status: FulfillmentStatus
    currency: str
    customer: dict[str, Any]
    shipping_address: AddressOut
    billing_address: dict[str, Any] | None = None
    source: dict[str, Any] | None = Field(None, description="what the sales channel calls the order: platform, "
                                                            "its name (e.g. #1001), when it was placed there")
    lines: list[OrderLineOut]
    taxes_included: bool = Field(False, description="the prices contain the taxes (totals.tax is not added)")
    notify_customer: bool = Field(True, description="false: the customer gets no message from us (marketplaces "
                                                    "such as Amazon message their buyers themselves)")
    totals: TotalsOut
    payment: dict[str, Any] = Field(description="provider, reference, and collected_by: provider (ours "
                                                "authorises and captures) or channel (charged by the channel)")
    shipments: list[ShipmentOut]
    returns: list[ReturnOut]
    cancel_reason: str | None = None
    hold: HoldOut | None = Field(None, description="why the order waits for a person (status on_hold)")
    version: int = Field(description="increases with every change; the ETag")
    created_at: datetime
    updated_at: datetime


class OrderList(Output):
    data: list[OrderOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")


class HistoryEntry(Output):
    position: int
    type: str
    version: int | None = None
    recorded_at: datetime
    actor: Any = None
    request_id: str | None = None
    data: dict[str, Any] = {}


class NotificationOut(Output):
    """A message to the customer (GET /notifications; README, "Customer notifications")."""

    id: str
    order_id: str
    channel: Literal["email", "sms"]
    template: str = Field(description="order_confirmed, shipment_shipped, shipment_delivered, order_cancelled, "
                                      "order_on_hold, return_received or refund_issued")
    recipient: str = Field(description="the e-mail address, or the phone number in E.164")
    status: Literal["pending", "sent", "failed"]
    attempts: int = Field(description="attempts to hand it over so far")
    last_error: str | None = Field(None, description="why the last attempt failed, or why it is not sent")
    sent_at: datetime | None = None
    created_at: datetime | None = Field(None, description="when the event that caused it happened")
    position: int | None = Field(None, description="the event that caused it (an entry of the order's history)")


class NotificationDetail(NotificationOut):
    """The message as it was rendered and sent."""

    locale: str
    subject: str | None = None
    body_text: str
    body_html: str | None = None
    message_id: str | None = Field(None, description="the e-mail's Message-ID: the same on every attempt")
    next_attempt_at: datetime | None = Field(None, description="when a pending message is tried next")


class NotificationList(Output):
    data: list[NotificationOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")


class History(Output):
    data: list[HistoryEntry]
    notifications: list[NotificationOut] = Field(
        [], description="the messages the customer was sent about the order, oldest first; each names the "
                        "event that caused it (position)")

# ---------------------------------------------------------------- shipments


class PickIn(Input):
    pass


class PackIn(Input):
    pass


class ShipIn(Input):
    carrier: CarrierName
    tracking_number: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")] | None = None


class DeliverIn(Input):
    delivered_at: Instant | None = None

# ---------------------------------------------------------------- API keys


MAX_KEY_CHANNELS = 100
KeyChannels = Annotated[list[Annotated[str, text(50)]], Field(min_length=1, max_length=MAX_KEY_CHANNELS)]


class ApiKeyIn(Input):
    # What the validator below says, for the document: channels (a list) only with the integrator role.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"channels": {"type": "array"}}, "required": ["channels"]},
        "then": {"properties": {"role": {"const": "integrator"}}}})

    name: Annotated[str, text(200)]
    role: Role
    channels: KeyChannels | None = Field(
        None, description="integrator keys only: the channel ids (an order's `channel`) whose orders the key "
                          "places, reads, lists and changes; any other order is 404 to it. Absent or null: "
                          "every channel", examples=[["amazon-de"]])

    @field_validator("channels")
    @classmethod
    def _integrator_only(cls, channels: list[str] | None, info: ValidationInfo) -> list[str] | None:
        role = info.data.get("role")
        if channels is not None and role is not None and role != "integrator":
            raise PydanticCustomError("channels_role", "only integrator keys can be limited to channels, "
                                                       "not {role} keys", {"role": role})
        return channels


class ApiKeyOut(Output):
    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None
    active: bool
    channels: list[str] | None = Field(None, description="the channels an integrator key is limited to, "
                                                         "sorted; null: every channel")


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="shown only in this response; store it now")


class ApiKeyList(Output):
    data: list[ApiKeyOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last")

# ---------------------------------------------------------------- operations


class WriterStats(Output):
    """Counters of the group-commit writer of the process that answered, since it started."""

    batches: int = Field(description="transactions committed")
    commands: int = Field(description="commands recorded or refused in those transactions")
    conflicts: int = Field(description="batches decided again under the table lock after another process wrote first")
    followed_events: int = Field(description="events of other processes applied to this process's cache")
    busy_seconds: dict[str, float] = Field(
        description="seconds the writer spent per phase: deciding (handlers, in memory), storing (insert and "
                    "commit) and settling (answering callers, cache, snapshots); their sum over wall time is its load")


class Stall(Output):
    """A read model or policy stopped at an event it cannot apply; it tries again by itself, at
    growing intervals, and goes on once it applies."""

    projection: str = Field(description="the read model or policy")
    position: int = Field(description="the event it cannot apply (its X-OMS-Position)")
    error: str = Field(description="why, as the last attempt failed")
    since: datetime = Field(description="when the first attempt at this event failed")
    attempts: int = Field(description="failed attempts at this event so far")


class Health(Output):
    status: Literal["ok", "degraded"] = Field(
        description="degraded (with 503): a read model or policy is stopped at an event, listed in `stalled`")
    detail: str | None = Field(None, description="when degraded: which is stopped where, in words")
    # "warming" while the writer still loads stock into memory after a start (slower, never wrong).
    cache: Literal["warming", "warm"]
    writer: WriterStats
    stalled: list[Stall] = []


class ProjectionStatus(Output):
    name: str
    position: int | None = None
    lag: int | None = None
    stalled: Stall | None = None


class ProjectionList(Output):
    head: int | None = None
    data: list[ProjectionStatus]

# ---------------------------------------------------------------- channels

ChannelId = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Platform = Literal["shopify", "woocommerce", "amazon", "api"]


class ChannelIn(Input):
    platform: Platform = Field(description="shopify and woocommerce sign their webhooks with the channel's "
                                           "secret; amazon orders are posted by a connector with an API key; "
                                           "api channels place orders with POST /orders")
    name: Annotated[str, text(200)]
    webhook_secret: Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=rf"[^{SPACE}]")] | None = \
        Field(None, description="the secret the platform signs webhooks with (write-only: never returned; a new "
                                "PUT rotates it, and one without it keeps it). Needed for shopify and woocommerce.")


class ChannelOut(Output):
    channel_id: str
    platform: Platform
    name: str
    webhook_secret_set: bool
    orders_url: str = Field(description="where the platform posts its orders (POST)")
    created_at: datetime
    updated_at: datetime


class ChannelList(Output):
    data: list[ChannelOut]


DeliveryOutcome = Literal["received", "placed", "applied", "unchanged", "duplicate", "ignored", "rejected", "failed",
                          "ping"]


class ChannelDeliveryOut(Output):
    id: int
    channel_id: str
    received_at: datetime
    topic: str | None = None
    delivery_id: str | None = Field(None, description="the platform's id of the delivery (X-Shopify-Webhook-Id, "
                                                      "X-WC-Webhook-Delivery-ID)")
    external_id: str | None = Field(None, description="the platform's order id")
    outcome: DeliveryOutcome = Field(
        description="placed: a new order; applied: a change to its order; unchanged: nothing new; duplicate: "
                    "a delivery id seen before (not applied again); ignored: a topic that is not about orders; "
                    "ping: WooCommerce's test delivery; rejected: not the platform's order (422); failed: an error")
    order_id: str | None = None
    detail: str | None = None
    headers: dict[str, str] = {}
    body: str | None = Field(None, description="the raw body as it arrived (GET of one delivery only)")


class ChannelDeliveryList(Output):
    data: list[ChannelDeliveryOut]
