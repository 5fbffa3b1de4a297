"""Amazon's orders, as a connector pulls them from the Selling Partner API (Orders v0) and
posts them: ``{"order": <getOrders Order>, "order_items": [<getOrderItems OrderItem>, ...]}``.

Amounts are ``{"CurrencyCode", "Amount"}`` objects. An item's ``ItemPrice`` is the price of all
its units (not of one). Where Amazon states VAT-inclusive prices (its EU marketplaces),
``OrderTotal`` does not add ``ItemTax`` again: whichever reading gives ``OrderTotal`` is the
one taken, and an order whose total neither gives is held. Amazon charges the buyer: an order
is paid once it leaves ``Pending``; ``Canceled`` cancels it. Posting the same order again
applies its new status (and address).
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from application.channel_import.mapping import (
    Amounts,
    LineDraft,
    NotAnOrder,
    Problems,
    address,
    currency_code,
    customer,
    identifier,
    instant,
    money,
    no_shipping_address,
    order_lines,
    payment,
    quantity,
    required,
    text,
)
from application.commands import ImportChannelOrder
from domain.money import ZERO

PLATFORM = "amazon"
UNPAID = {"Pending", "PendingAvailability"}
# Amazon's marketplaces and their currencies (developer-docs.amazon.com/sp-api/docs/marketplace-ids).
MARKETPLACE_CURRENCIES = {
    "ATVPDKIKX0DER": "USD", "A2EUQ1WTGCTBG2": "CAD", "A1AM78C64UM0Y8": "MXN", "A2Q3Y263D00KWC": "BRL",
    "A1PA6795UKMFR9": "EUR", "A13V1IB3VIYZZH": "EUR", "APJ6JRA9NG5V4": "EUR", "A1RKKUPIHCS9HS": "EUR",
    "A1805IZSGTT6HS": "EUR", "AMEN7PMS3EDWL": "EUR", "A1F83G8C2ARO7P": "GBP", "A2NODRKZP88ZB9": "SEK",
    "A1C3SOZRARQ6R3": "PLN", "A33AVAJ2PDY3EV": "TRY", "ARBP9OOSHTCHU": "EGP", "A17E79C6D8DWNP": "SAR",
    "A2VIGQ35RCS4UG": "AED", "A21TJRUUN4KGV": "INR", "A1VC38T7YXB528": "JPY", "A39IBJ37TRP1C6": "AUD",
    "A19VAU5U5O7RUS": "SGD",
}
CANCELLED = {"Canceled", "Cancelled"}


def map_delivery(body: Mapping[str, Any], channel: str, topic: str | None) -> ImportChannelOrder | None:
    order = required(body, "order", "/order", dict, "the order (a getOrders Order)")
    items = required(body, "order_items", "/order_items", list, "the order's items (getOrderItems OrderItems)")
    order_id = identifier(order.get("AmazonOrderId"), "/order/AmazonOrderId", "the AmazonOrderId")
    currency = _currency(order, items)
    problems = Problems()
    amounts = Amounts(currency, problems)
    sums: dict[str, Decimal] = {}

    def amount(value: Any, pointer: str, what: str) -> Decimal:
        if value is None:
            return ZERO
        if not isinstance(value, dict):
            raise NotAnOrder(pointer, "an amount is a {CurrencyCode, Amount} object")
        if value.get("CurrencyCode") not in (None, currency):
            problems.add("currency_mismatch", f"{what} is in {value.get('CurrencyCode')}, the order in {currency}")
        return money(value.get("Amount"), f"{pointer}/Amount", default=ZERO)

    drafts = []
    for n, item in enumerate(items):
        pointer = f"/order_items/{n}"
        if not isinstance(item, dict):
            raise NotAnOrder(pointer, "an order item is an object")
        units = quantity(item.get("QuantityOrdered"), f"{pointer}/QuantityOrdered")
        sku = text(item.get("SellerSKU"))
        if sku is None:
            sku = f"amazon-asin-{text(item.get('ASIN')) or item.get('OrderItemId')}"
            problems.add("missing_sku", f"item {n} has no SellerSKU; recorded as {sku}")
        parts = {key: amount(item.get(key), f"{pointer}/{key}", f"{key} of {sku}") for key in (
            "ItemPrice", "ItemTax", "ShippingPrice", "ShippingTax", "ShippingDiscount", "ShippingDiscountTax",
            "PromotionDiscount", "PromotionDiscountTax", "CODFee", "CODFeeDiscount")}
        buyer = item.get("BuyerInfo") if isinstance(item.get("BuyerInfo"), dict) else {}
        parts["GiftWrapPrice"] = amount(buyer.get("GiftWrapPrice"), f"{pointer}/BuyerInfo/GiftWrapPrice",
                                        f"GiftWrapPrice of {sku}")
        parts["GiftWrapTax"] = amount(buyer.get("GiftWrapTax"), f"{pointer}/BuyerInfo/GiftWrapTax",
                                      f"GiftWrapTax of {sku}")
        for key, value in parts.items():
            sums[key] = sums.get(key, ZERO) + value
        drafts.append(LineDraft(sku, units, parts["ItemPrice"], text(item.get("Title")),
                                parts["PromotionDiscount"], parts["ItemTax"]))
    lines = order_lines(drafts, amounts)
    subtotal = sum((line.unit_price * line.quantity for line in lines), ZERO)
    shipping = sums.get("ShippingPrice", ZERO)
    discount = sum((line.discount for line in lines), ZERO) + sums.get("ShippingDiscount", ZERO) \
        + sums.get("CODFeeDiscount", ZERO)
    # A promotion's own tax lowers the tax charged (ItemTax is before the promotion).
    tax = sums.get("ItemTax", ZERO) + sums.get("ShippingTax", ZERO) + sums.get("GiftWrapTax", ZERO) \
        - sums.get("PromotionDiscountTax", ZERO) - sums.get("ShippingDiscountTax", ZERO)
    fees = sums.get("GiftWrapPrice", ZERO) + sums.get("CODFee", ZERO)
    platform_total = amount(order["OrderTotal"], "/order/OrderTotal", "OrderTotal") \
        if order.get("OrderTotal") is not None else None
    exclusive = subtotal - discount + shipping + fees
    taxes_included = platform_total is not None and exclusive == platform_total and tax > 0
    raw_address = order.get("ShippingAddress")
    status = text(order.get("OrderStatus"))
    shipping_address = _address(raw_address, problems) if isinstance(raw_address, dict) else {}
    if not shipping_address and status not in UNPAID | CANCELLED:
        shipping_address = no_shipping_address(problems, PLATFORM)
    buyer_info = order.get("BuyerInfo") if isinstance(order.get("BuyerInfo"), dict) else {}
    return ImportChannelOrder(
        channel=channel,
        external_id=order_id,
        currency=currency,
        customer=customer(text(buyer_info.get("BuyerName")) or shipping_address.get("name"),
                          text(buyer_info.get("BuyerEmail")), shipping_address.get("phone")),
        shipping_address=shipping_address,
        billing_address=None,
        lines=lines,
        shipping_price=amounts(shipping, "ShippingPrice"),
        discount=amounts(discount, "the discounts"),
        tax=amounts(tax, "the taxes"),
        fees=amounts(fees, "gift wrap and COD fees"),
        taxes_included=taxes_included,
        platform_total=platform_total,
        payment=payment(PLATFORM, order_id),
        source={"platform": PLATFORM, "name": order_id, "placed_at": text(order.get("PurchaseDate")),
                "marketplace_id": text(order.get("MarketplaceId")), "status": status,
                "fulfillment_channel": text(order.get("FulfillmentChannel"))},
        paid=status is not None and status not in UNPAID | CANCELLED,
        cancel_reason="cancelled on Amazon" if status in CANCELLED else None,
        update_address=bool(shipping_address),
        changed_at=instant(order.get("LastUpdateDate")),
        problems=tuple(problems),
        notify_customer=False,  # Amazon messages its buyers itself (and hides their e-mail addresses)
    )


def _currency(order: Mapping[str, Any], items: list[Any]) -> str:
    """The order's currency: its OrderTotal's, else its first item's price's."""
    total = order.get("OrderTotal")
    if isinstance(total, dict) and total.get("CurrencyCode"):
        return currency_code(total.get("CurrencyCode"), "/order/OrderTotal/CurrencyCode")
    for n, item in enumerate(items):
        price = item.get("ItemPrice") if isinstance(item, dict) else None
        if isinstance(price, dict) and price.get("CurrencyCode"):
            return currency_code(price.get("CurrencyCode"), f"/order_items/{n}/ItemPrice/CurrencyCode")
    marketplace = MARKETPLACE_CURRENCIES.get(order.get("MarketplaceId"))  # a Pending order has no prices yet
    if marketplace is not None:
        return marketplace
    raise NotAnOrder("/order/OrderTotal", "the order's currency is missing (no OrderTotal, no ItemPrice, "
                                          "no marketplace we know)")


def _address(raw: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    lines = [text(raw.get(k)) for k in ("AddressLine1", "AddressLine2", "AddressLine3")]
    present = [line for line in lines if line]
    return address(
        problems, "shipping", name=text(raw.get("Name")), company=text(raw.get("CompanyName")),
        line1=present[0] if present else None, line2=", ".join(present[1:]) or None,
        city=text(raw.get("City")), postal_code=text(raw.get("PostalCode")),
        region=text(raw.get("StateOrRegion")), country=text(raw.get("CountryCode")), phone=text(raw.get("Phone")))
