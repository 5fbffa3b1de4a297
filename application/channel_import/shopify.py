"""Shopify's order webhooks (REST Order resource, as ``orders/create``, ``orders/paid``,
``orders/cancelled`` and ``orders/updated`` send it; https://shopify.dev/docs/api/webhooks).

Every topic carries the whole order, so whichever delivery arrives first places it (Shopify
retries and reorders deliveries): a cancellation that arrives before its creation records the
order cancelled, and the late creation finds it so.

Amounts are the shop's currency (``currency``); ``total_price`` = line items − discounts +
shipping + duties and fees (+ taxes unless ``taxes_included``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from application.channel_import.mapping import (
    Amounts,
    LineDraft,
    NotAnOrder,
    Problems,
    address,
    currency_code,
    customer,
    first,
    full_name,
    identifier,
    instant,
    money,
    no_shipping_address,
    order_lines,
    payment,
    quantity,
    required,
    text,
    total_of,
)
from application.commands import ImportChannelOrder
from domain.money import ZERO

PLATFORM = "shopify"
ORDER_TOPICS = {"orders/create", "orders/paid", "orders/cancelled", "orders/updated", "orders/edited",
                "orders/fulfilled", "orders/partially_fulfilled"}
PAID = {"paid", "partially_refunded", "refunded"}  # charged by Shopify (refunds are its business then)


def map_delivery(body: Mapping[str, Any], channel: str, topic: str | None) -> ImportChannelOrder | None:
    """The command for a delivery of ``topic``; None for a topic that is not about an order's
    life here (acknowledged and recorded by the caller)."""
    if topic not in ORDER_TOPICS:
        return None
    order_id = identifier(body.get("id"), "/id", "the order's id")
    currency = currency_code(body.get("currency"), "/currency")
    items = required(body, "line_items", "/line_items", list, "the order's line items")
    problems = Problems()
    amounts = Amounts(currency, problems)
    drafts = [_line(item, n, problems) for n, item in enumerate(items)]
    shipping_lines = [s for s in body.get("shipping_lines") or [] if isinstance(s, dict) and not s.get("is_removed")]
    shipping = total_of(money(s.get("price"), f"/shipping_lines/{n}/price", default=ZERO)
                        for n, s in enumerate(shipping_lines))
    fees = _set_amount(body.get("current_total_duties_set")) + _set_amount(body.get("current_total_additional_fees_set"))
    lines = order_lines(drafts, amounts)
    shipping_address = _address(body.get("shipping_address"), "shipping", problems)
    if not shipping_address and any(line.requires_shipping for line in lines):
        shipping_address = no_shipping_address(problems, PLATFORM)
    billing = _address(body.get("billing_address"), "billing", problems) or None
    who = body.get("customer") if isinstance(body.get("customer"), dict) else {}
    name = full_name(who.get("first_name"), who.get("last_name")) or first(
        shipping_address.get("name"), (billing or {}).get("name"))
    email = first(text(body.get("email")), text(body.get("contact_email")), text(who.get("email")))
    phone = first(text(body.get("phone")), text(who.get("phone")), shipping_address.get("phone"))
    cancelled = topic == "orders/cancelled" or (topic == "orders/updated" and body.get("cancelled_at") is not None)
    return ImportChannelOrder(
        channel=channel,
        external_id=order_id,
        currency=currency,
        customer=customer(name, email, phone),
        shipping_address=shipping_address,
        billing_address=billing,
        lines=lines,
        shipping_price=amounts(shipping, "the shipping price"),
        discount=amounts(money(body.get("total_discounts"), "/total_discounts", default=ZERO), "total_discounts"),
        tax=amounts(money(body.get("total_tax"), "/total_tax", default=ZERO), "total_tax"),
        fees=amounts(fees, "duties and fees"),
        taxes_included=body.get("taxes_included") is True,
        platform_total=money(body["total_price"], "/total_price") if body.get("total_price") is not None else None,
        payment=payment(PLATFORM, order_id),
        source={"platform": PLATFORM, "name": text(body.get("name")), "number": body.get("order_number"),
                "placed_at": text(body.get("processed_at")) or text(body.get("created_at")),
                "test": body.get("test") is True},
        paid=body.get("financial_status") in PAID,
        cancel_reason=f"cancelled on Shopify ({text(body.get('cancel_reason')) or 'no reason given'})"
        if cancelled else None,
        update_address=topic == "orders/updated",
        changed_at=instant(body.get("updated_at")),
        problems=tuple(problems),
    )


def _line(item: Any, n: int, problems: Problems) -> LineDraft:
    pointer = f"/line_items/{n}"
    if not isinstance(item, dict):
        raise NotAnOrder(pointer, "a line item is an object")
    units = quantity(item.get("quantity"), f"{pointer}/quantity")
    price = money(item.get("price"), f"{pointer}/price")
    name = text(item.get("name")) or text(item.get("title"))
    sku = text(item.get("sku"))
    gift_card = item.get("gift_card") is True
    if sku is None:
        sku = f"shopify-variant-{item['variant_id']}" if text(item.get("variant_id")) else f"shopify-line-{item.get('id')}"
        if not gift_card:
            problems.add("missing_sku", f"line {n} ({name or 'no name'}) has no SKU; recorded as {sku}")
    allocations = item.get("discount_allocations") or []
    discount = total_of(money(a.get("amount"), f"{pointer}/discount_allocations/{k}/amount", default=ZERO)
                        for k, a in enumerate(allocations) if isinstance(a, dict))
    if not allocations:
        discount = money(item.get("total_discount"), f"{pointer}/total_discount", default=ZERO)
    tax = total_of(money(t.get("price"), f"{pointer}/tax_lines/{k}/price", default=ZERO)
                   for k, t in enumerate(item.get("tax_lines") or []) if isinstance(t, dict))
    ships = item.get("requires_shipping") is not False and not gift_card
    return LineDraft(sku, units, price * units, name, discount, tax, ships)


def _address(raw: Any, which: str, problems: Problems) -> dict[str, Any]:
    if not isinstance(raw, dict) or not any(text(raw.get(k)) for k in ("address1", "city", "country_code")):
        return {}
    return address(
        problems, which,
        name=text(raw.get("name")) or full_name(raw.get("first_name"), raw.get("last_name")),
        company=text(raw.get("company")), line1=text(raw.get("address1")), line2=text(raw.get("address2")),
        city=text(raw.get("city")), postal_code=text(raw.get("zip")),
        region=text(raw.get("province_code")) or text(raw.get("province")),
        country=text(raw.get("country_code")), phone=text(raw.get("phone")),
        latitude=raw.get("latitude"), longitude=raw.get("longitude"))


def _set_amount(money_set: Any) -> Any:
    """The shop's amount of a ``*_set`` object (absent: zero)."""
    if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
        return money(money_set["shop_money"].get("amount"), "/shop_money/amount", default=ZERO)
    return ZERO

