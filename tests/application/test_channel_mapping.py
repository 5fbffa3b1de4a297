"""The platforms' order bodies mapped to ours, without a database: whatever the lines,
discounts, taxes and currency, our total is the platform's to the cent."""
from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.channel_import import MAPPERS, NotAnOrder
from application.commands import ImportChannelOrder
from domain.money import minor_units
from domain.order import Order

D = Decimal


def total_of(cmd: ImportChannelOrder) -> Decimal:
    """The total of the order the command places (the domain's arithmetic)."""
    return Order.place(order_id=uuid4(), channel=cmd.channel, external_id=cmd.external_id, currency=cmd.currency,
                       customer=cmd.customer, shipping_address=cmd.shipping_address, lines=cmd.lines,
                       shipping_price=cmd.shipping_price, payment=cmd.payment, discount=cmd.discount, tax=cmd.tax,
                       fees=cmd.fees, taxes_included=cmd.taxes_included).total


def amount(units: int, currency: str) -> str:
    return str(D(units).scaleb(-minor_units(currency)))


ADDRESS = {"first_name": "Ada", "last_name": "L", "address1": "Am Neuen Garten 1", "city": "Potsdam",
           "zip": "14469", "country_code": "DE", "latitude": None, "longitude": None}

shopify_lines = st.lists(st.fixed_dictionaries({
    "units": st.integers(1, 5), "price": st.integers(0, 50_000), "discount": st.integers(0, 500),
    "taxes": st.lists(st.integers(0, 2_000), max_size=3), "gift_card": st.booleans()}), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(shopify_lines, st.sampled_from(["EUR", "JPY", "KWD", "HKD", "USD"]), st.booleans(),
       st.lists(st.tuples(st.integers(0, 3_000), st.integers(0, 500)), max_size=2), st.integers(0, 1_000))
def test_a_shopify_order_totals_as_shopify_adds_it_up(lines, currency, taxes_included, shipping, order_discount):
    items, discounts, taxes = [], 0, 0
    for n, line in enumerate(lines):
        discount = min(line["discount"], line["price"] * line["units"])
        items.append({"id": 10**17 + n, "sku": f"SKU-{n}", "name": f"Item {n}", "quantity": line["units"],
                      "price": amount(line["price"], currency), "gift_card": line["gift_card"],
                      "requires_shipping": not line["gift_card"],
                      "discount_allocations": [{"amount": amount(discount, currency)}] if discount else [],
                      "tax_lines": [{"price": amount(t, currency), "rate": 0.19} for t in line["taxes"]]})
        discounts += discount
        taxes += sum(line["taxes"])
    shipping_lines = [{"price": amount(p, currency), "tax_lines": [{"price": amount(t, currency)}]}
                      for p, t in shipping]
    taxes += sum(t for _, t in shipping)
    subtotal = sum(l["price"] * l["units"] for l in lines)
    discounts += order_discount
    total = subtotal - discounts + sum(p for p, _ in shipping) + (0 if taxes_included else taxes)
    body = {"id": 2**62 + 7, "currency": currency, "line_items": items, "shipping_lines": shipping_lines,
            "total_discounts": amount(discounts, currency), "total_tax": amount(taxes, currency),
            "taxes_included": taxes_included, "total_price": amount(total, currency),
            "financial_status": "paid", "shipping_address": ADDRESS, "customer": None, "email": "ada@example.com"}
    cmd = MAPPERS["shopify"](body, "shop", "orders/create")
    assert cmd is not None and cmd.problems == ()
    assert total_of(cmd) == cmd.platform_total == D(amount(total, currency))
    assert cmd.external_id == str(2**62 + 7) and cmd.paid
    assert [line.requires_shipping for line in cmd.lines] == [not line["gift_card"] for line in lines]
    assert cmd.customer == {"name": "Ada L", "email": "ada@example.com", "phone": None}  # a guest checkout


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 100_000), st.integers(0, 300)), min_size=1, max_size=4),
       st.sampled_from(["EUR", "JPY", "GBP"]), st.booleans())
def test_an_amazon_order_totals_as_amazon_adds_it_up(items, currency, vat_included):
    """ItemPrice is the price of all the units: one that does not divide by the quantity still
    adds up, the rounding kept as a discount of the line."""
    order_items, total, tax = [], 0, 0
    for n, (units, price, item_tax) in enumerate(items):
        order_items.append({"SellerSKU": f"SKU-{n}", "QuantityOrdered": units, "Title": f"Item {n}",
                            "ItemPrice": {"CurrencyCode": currency, "Amount": amount(price, currency)},
                            "ItemTax": {"CurrencyCode": currency, "Amount": amount(item_tax, currency)},
                            "ShippingPrice": {"CurrencyCode": currency, "Amount": amount(100, currency)}})
        total += price + 100
        tax += item_tax
    total += 0 if vat_included else tax
    body = {"order": {"AmazonOrderId": "028-1234567-1234567", "OrderStatus": "Unshipped",
                      "OrderTotal": {"CurrencyCode": currency, "Amount": amount(total, currency)},
                      "ShippingAddress": {"Name": "Ada", "AddressLine1": "Street 1", "City": "Berlin",
                                          "CountryCode": "DE"}},
            "order_items": order_items}
    cmd = MAPPERS["amazon"](body, "amazon-de", None)
    assert cmd.problems == ()
    assert total_of(cmd) == D(amount(total, currency))
    assert cmd.taxes_included == (vat_included and tax > 0)


def test_the_woocommerce_sample_maps_to_its_own_total():
    import json
    from pathlib import Path
    body = json.loads((Path(__file__).parents[1] / "fixtures" / "payloads" / "woocommerce"
                       / "order.retrieve.wc_v3_docs.json").read_text())
    cmd = MAPPERS["woocommerce"](body, "woo", "order.created")
    assert total_of(cmd) == D(body["total"]) == D("29.35")
    assert cmd.source["placed_at"] == "2017-03-22T19:28:02+00:00"
    assert [p.reason for p in cmd.problems] == ["missing_sku"]


@pytest.mark.parametrize("platform, body, pointer", [
    ("shopify", {"currency": "EUR", "line_items": [{}]}, "/id"),
    ("shopify", {"id": 1.5e20, "currency": "EUR", "line_items": []}, "/id"),  # a float id is not exact
    ("shopify", {"id": 1, "currency": "EURO", "line_items": [{"quantity": 1}]}, "/currency"),
    ("shopify", {"id": 1, "currency": "EUR", "line_items": [{"quantity": 0, "price": "1"}]}, "/line_items/0/quantity"),
    ("woocommerce", {"id": 1, "currency": "EUR", "line_items": [{"quantity": 1, "subtotal": "x"}]},
     "/line_items/0/subtotal"),
    ("amazon", {"order": {"OrderStatus": "Pending"}, "order_items": [{}]}, "/order/AmazonOrderId"),
    ("amazon", {"order": {"AmazonOrderId": "1"}, "order_items": [{"QuantityOrdered": 1}]}, "/order/OrderTotal"),
])
def test_a_body_that_is_not_the_platforms_order_says_what_is_missing(platform, body, pointer):
    with pytest.raises(NotAnOrder) as refused:
        MAPPERS[platform](body, "c", "orders/create" if platform == "shopify" else None)
    assert refused.value.pointer == pointer
