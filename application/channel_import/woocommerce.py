"""WooCommerce's order webhooks: the REST API v3 order body, as ``order.created``,
``order.updated``, ``order.deleted`` send it
(https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties).

Woo's amounts are tax-exclusive whatever the shop displays (``prices_include_tax`` only says
how prices were entered): ``total`` = Σ line subtotals − ``discount_total`` + ``shipping_total``
+ fees + ``total_tax``. A line's ``subtotal`` is before its coupons, its ``total`` after.
``date_created`` has no offset; ``date_created_gmt`` is UTC. Paid means ``date_paid`` is set.
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

PLATFORM = "woocommerce"
ORDER_TOPICS = {"order.created", "order.updated", "order.deleted", "order.restored"}
CANCELLED = {"cancelled", "failed", "refunded", "trash"}


def map_delivery(body: Mapping[str, Any], channel: str, topic: str | None) -> ImportChannelOrder | None:
    if topic is not None and topic not in ORDER_TOPICS:
        return None
    order_id = identifier(body.get("id"), "/id", "the order's id")
    currency = currency_code(body.get("currency"), "/currency")
    items = required(body, "line_items", "/line_items", list, "the order's line items")
    problems = Problems()
    amounts = Amounts(currency, problems)
    lines = order_lines([_line(item, n, problems) for n, item in enumerate(items)], amounts)
    shipping_address = _address(body.get("shipping"), "shipping", problems)
    if not shipping_address and any(line.requires_shipping for line in lines):
        shipping_address = no_shipping_address(problems, PLATFORM)
    billing_raw = body.get("billing") if isinstance(body.get("billing"), dict) else {}
    billing = _address(billing_raw, "billing", problems) or None
    name = first(full_name(billing_raw.get("first_name"), billing_raw.get("last_name")),
                 shipping_address.get("name"))
    fees = total_of(money(f.get("total"), f"/fee_lines/{n}/total", default=ZERO)
                    for n, f in enumerate(body.get("fee_lines") or []) if isinstance(f, dict))
    status = text(body.get("status"))
    cancelled = topic == "order.deleted" or (topic != "order.created" and status in CANCELLED)
    paid_at = text(body.get("date_paid_gmt")) or text(body.get("date_paid"))
    return ImportChannelOrder(
        channel=channel,
        external_id=order_id,
        currency=currency,
        customer=customer(name, text(billing_raw.get("email")),
                          first(text(billing_raw.get("phone")), shipping_address.get("phone"))),
        shipping_address=shipping_address,
        billing_address=billing,
        lines=lines,
        shipping_price=amounts(money(body.get("shipping_total"), "/shipping_total", default=ZERO), "shipping_total"),
        discount=amounts(money(body.get("discount_total"), "/discount_total", default=ZERO), "discount_total"),
        tax=amounts(money(body.get("total_tax"), "/total_tax", default=ZERO), "total_tax"),
        fees=amounts(fees, "the fees"),
        taxes_included=False,
        platform_total=money(body["total"], "/total") if body.get("total") is not None else None,
        payment=payment(PLATFORM, text(body.get("transaction_id")) or order_id),
        source={"platform": PLATFORM, "name": text(body.get("number")) or order_id,
                "placed_at": _gmt(body.get("date_created_gmt")), "status": status,
                "payment_method": text(body.get("payment_method_title")) or text(body.get("payment_method"))},
        paid=paid_at is not None and status not in CANCELLED,
        cancel_reason=f"cancelled on WooCommerce (status {status or 'deleted'})" if cancelled else None,
        update_address=topic == "order.updated",
        changed_at=instant(_gmt(body.get("date_modified_gmt"))),
        problems=tuple(problems),
    )


def _line(item: Any, n: int, problems: Problems) -> LineDraft:
    pointer = f"/line_items/{n}"
    if not isinstance(item, dict):
        raise NotAnOrder(pointer, "a line item is an object")
    units = quantity(item.get("quantity"), f"{pointer}/quantity")
    before = money(item.get("subtotal"), f"{pointer}/subtotal")
    after = money(item.get("total"), f"{pointer}/total", default=before)
    name = text(item.get("name"))
    sku = text(item.get("sku"))
    if sku is None:
        variation = item.get("variation_id") or 0
        sku = f"woo-product-{item.get('product_id')}" + (f"-{variation}" if variation else "")
        problems.add("missing_sku", f"line {n} ({name or 'no name'}) has no SKU; recorded as {sku}")
    tax = money(item.get("total_tax"), f"{pointer}/total_tax", default=ZERO)
    return LineDraft(sku, units, before, name, before - after, tax)


def _address(raw: Any, which: str, problems: Problems) -> dict[str, Any]:
    if not isinstance(raw, dict) or not any(text(raw.get(k)) for k in ("address_1", "city", "country")):
        return {}
    return address(
        problems, which, name=full_name(raw.get("first_name"), raw.get("last_name")),
        company=text(raw.get("company")), line1=text(raw.get("address_1")), line2=text(raw.get("address_2")),
        city=text(raw.get("city")), postal_code=text(raw.get("postcode")), region=text(raw.get("state")),
        country=text(raw.get("country")), phone=text(raw.get("phone")))


def _gmt(value: Any) -> str | None:
    """Woo's ``*_gmt`` times are UTC without an offset: given one."""
    found = text(value)
    return f"{found}+00:00" if found and not found.endswith(("Z", "+00:00")) else found
