"""What every platform's mapping needs: reading its money and text exactly, building our
addresses, lines and customer, and noting what could not be mapped (``Problems``)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from application.errors import ApplicationError
from domain.countries import COUNTRIES
from domain.entities import Hold, OrderLine
from domain.money import CURRENCIES, ZERO, has_valid_precision, minor_units, to_currency

CHANNEL_PAYMENT = "channel"  # payment["collected_by"] of an order the channel charges


class NotAnOrder(ApplicationError):
    """The body is not the platform's order at all: ``pointer`` (RFC 6901) says what is missing."""

    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__(detail)
        self.pointer = pointer
        self.detail = detail


@dataclass
class Problems:
    """What the mapping could not complete; each becomes part of the order's hold."""

    found: list[Hold] = field(default_factory=list)

    def add(self, reason: str, detail: str) -> None:
        self.found.append(Hold(reason, detail))

    def __iter__(self) -> Any:
        return iter(self.found)


def required(body: Mapping[str, Any], key: str, pointer: str, kinds: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if not isinstance(value, kinds) or isinstance(value, bool) or value in ("", [], {}):
        raise NotAnOrder(pointer, f"{what} is missing: this is not the platform's order")
    return value


def text(value: Any) -> str | None:
    """A non-blank string, stripped; None for anything else (platforms send "" for absent)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def identifier(value: Any, pointer: str, what: str) -> str:
    """A platform's id, exactly as text (Shopify's are above 2**53: never through a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        raise NotAnOrder(pointer, f"{what} is missing: this is not the platform's order")
    if isinstance(value, float):  # pragma: no cover - excluded above; kept for clarity
        raise NotAnOrder(pointer, f"{what} must be exact")
    return str(value).strip()


_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def money(value: Any, pointer: str, *, default: Decimal | None = None) -> Decimal:
    """An amount as the platform writes it (a decimal string; a JSON number read as written)."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise NotAnOrder(pointer, "must be a decimal amount")
    text_value = str(value).strip() if isinstance(value, (str, int, float)) else None
    if text_value is None or not _DECIMAL.match(text_value):
        raise NotAnOrder(pointer, f"must be a decimal amount, got {value!r}")
    try:
        return Decimal(text_value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise NotAnOrder(pointer, f"must be a decimal amount, got {value!r}") from None


def currency_code(value: Any, pointer: str) -> str:
    """An ISO 4217 code (any active one: HKD, JPY with no minor unit, ...)."""
    if not isinstance(value, str) or not value.strip():
        raise NotAnOrder(pointer, "the order's currency is missing: this is not the platform's order")
    if value.strip().upper() not in CURRENCIES:
        raise NotAnOrder(pointer, f"{value!r} is not an active ISO 4217 currency code")
    return value.strip().upper()


def quantity(value: Any, pointer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise NotAnOrder(pointer, "must be a whole number of units")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise NotAnOrder(pointer, f"must be a whole number of units, got {value!r}") from None
    if number != number.to_integral_value() or number <= 0:
        raise NotAnOrder(pointer, f"must be a positive whole number of units, got {value!r}")
    return int(number)


class Amounts:
    """Amounts of one currency: each checked against its minor units. One the currency cannot
    hold (JPY 25.99) is a problem, rounded to the currency so that the order can be recorded."""

    def __init__(self, currency: str, problems: Problems) -> None:
        self.currency = currency
        self.problems = problems

    def __call__(self, amount: Decimal, where: str) -> Decimal:
        if amount < 0:
            self.problems.add("invalid_amount", f"{where} is negative ({amount} {self.currency})")
            return ZERO
        if not has_valid_precision(amount, self.currency):
            rounded = to_currency(amount, self.currency)
            self.problems.add("invalid_amount", f"{where} is {amount}, which {self.currency} cannot hold "
                                                f"({minor_units(self.currency)} decimals); recorded as {rounded}")
            return rounded
        return amount


@dataclass
class LineDraft:
    sku: str
    quantity: int
    total: Decimal  # the price of all its units, before discounts
    name: str | None = None
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    requires_shipping: bool = True


def order_lines(drafts: Sequence[LineDraft], amounts: Amounts) -> tuple[OrderLine, ...]:
    """Our lines: one per SKU (platforms may list an SKU twice), each with a unit price in the
    currency's minor units. When a line's total does not divide by its quantity (Amazon states
    the price of all units), the unit price is rounded up and the difference is a discount of the
    line, so that every total stays the platform's to the cent."""
    merged: dict[str, LineDraft] = {}
    for draft in drafts:
        known = merged.get(draft.sku)
        if known is None:
            merged[draft.sku] = LineDraft(draft.sku, draft.quantity, draft.total, draft.name, draft.discount,
                                          draft.tax, draft.requires_shipping)
        else:
            known.quantity += draft.quantity
            known.total += draft.total
            known.discount += draft.discount
            known.tax += draft.tax
            known.requires_shipping = known.requires_shipping or draft.requires_shipping
    lines = []
    quantum = Decimal(1).scaleb(-minor_units(amounts.currency))
    for draft in merged.values():
        total = amounts(draft.total, f"the price of {draft.sku}")
        unit_price = (total / draft.quantity).quantize(quantum, rounding=ROUND_CEILING)
        rounding = unit_price * draft.quantity - total
        lines.append(OrderLine(
            sku=draft.sku, quantity=draft.quantity, unit_price=unit_price, name=draft.name,
            discount=amounts(draft.discount, f"the discount of {draft.sku}") + rounding,
            tax=amounts(draft.tax, f"the tax of {draft.sku}"), requires_shipping=draft.requires_shipping))
    return tuple(lines)


def address(problems: Problems, which: str, *, name: str | None, line1: str | None, line2: str | None = None,
            city: str | None, postal_code: str | None, country: str | None, region: str | None = None,
            company: str | None = None, phone: str | None = None, latitude: Any = None,
            longitude: Any = None) -> dict[str, Any]:
    """Our address; a country code that is not ISO 3166-1 is a problem (kept as sent)."""
    found = {
        "name": name, "company": company, "line1": line1, "line2": line2, "city": city,
        "postal_code": postal_code, "region": region, "country": country.upper() if country else None,
        "phone": phone,
    }
    if which == "shipping":
        if country is None:
            problems.add("unknown_country", "the shipping address has no country")
        elif country.upper() not in COUNTRIES:
            problems.add("unknown_country", f"the shipping address's country {country!r} is not an ISO 3166-1 code")
        coordinates = _coordinates(latitude, longitude)
        if coordinates is not None:
            found["latitude"], found["longitude"] = coordinates
    return found


def _coordinates(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """A channel's own coordinates (Shopify geocodes some addresses), when they are sane."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0.0, 0.0):
        return lat, lon
    return None


def instant(value: Any) -> datetime | None:
    """A platform's RFC 3339 time (with its offset), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def full_name(*parts: Any) -> str | None:
    joined = " ".join(p for p in (text(part) for part in parts) if p)
    return joined or None


def customer(name: str | None, email: str | None, phone: str | None) -> dict[str, Any]:
    return {"name": name, "email": email, "phone": phone}


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def total_of(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def payment(platform: str, reference: str) -> dict[str, Any]:
    return {"provider": platform, "reference": reference, "collected_by": CHANNEL_PAYMENT}


def no_shipping_address(problems: Problems, platform: str) -> dict[str, Any]:
    problems.add("no_shipping_address", f"the {platform} order has no shipping address for the items that ship")
    return {}
