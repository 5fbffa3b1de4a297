"""The real variety of each platform's orders (tests/fixtures/payloads, README there: sources and
sums): each maps to the platform's own figures, or is held for the reason it cannot be mapped."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from application.channel_import import MAPPERS
from tests.application.test_channel_mapping import total_of

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "payloads"
TOPIC = {"shopify": "orders/create", "woocommerce": "order.created", "amazon": None}

# file: (currency, platform total, subtotal, discount, shipping, fees, tax, taxes included, paid, problems)
EXPECTED = {
    "shopify/guest_checkout_tax_lines_eur.json": ("EUR", "152.69", "143.80", "17.97", "4.90", "0", "21.96", False, True, []),
    "shopify/tax_inclusive_eur.json": ("EUR", "167.10", "178.00", "17.80", "6.90", "0", "27.85", True, True, []),
    "shopify/jpy_gift_card.json": ("JPY", "11800", "11000", "0", "800", "0", "618", True, True, []),
    "shopify/jpy_paid_with_gift_card.json": ("JPY", "5640", "4840", "0", "800", "0", "513", True, True, []),
    "shopify/pending_bank_transfer.json": ("USD", "510.94", "448.00", "0", "24.00", "0", "38.94", False, False, []),
    "shopify/no_shipping_address.json": ("GBP", "625.00", "580.00", "0", "45.00", "0", "104.17", True, True,
                                         ["no_shipping_address"]),
    "shopify/kosovo_xk_address.json": ("EUR", "95.99", "78.00", "0", "17.99", "0", "0", False, True,
                                       ["unknown_country"]),
    "woocommerce/coupon_multiple_taxes_gbp.json": ("GBP", "220.19", "210.00", "21.00", "4.99", "3.00", "23.20",
                                                   False, True, []),
    "woocommerce/unpaid_bacs.json": ("EUR", "114.95", "90.00", "0", "5.00", "0", "19.95", False, False, []),
    "amazon/de_order.json": ("EUR", "62.96", "62.97", "5.00", "4.99", "0", "10.05", True, True, []),
    "amazon/us_order_with_tax.json": ("USD", "54.47", "45.97", "2.60", "5.99", "0", "5.11", False, True, []),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_maps_to_the_platforms_figures(name: str) -> None:
    currency, total, subtotal, discount, shipping, fees, tax, included, paid, problems = EXPECTED[name]
    platform = name.split("/")[0]
    cmd = MAPPERS[platform](json.loads((PAYLOADS / name).read_text()), "c", TOPIC[platform])
    assert cmd.currency == currency
    assert cmd.platform_total == Decimal(total) == total_of(cmd)
    assert sum(l.unit_price * l.quantity for l in cmd.lines) == Decimal(subtotal)
    assert (cmd.discount, cmd.shipping_price, cmd.fees, cmd.tax) == tuple(map(Decimal, (discount, shipping, fees, tax)))
    assert (cmd.taxes_included, cmd.paid) == (included, paid)
    assert [p.reason for p in cmd.problems] == problems
    assert cmd.customer["name"] and cmd.customer["email"]  # guest checkouts too: from the addresses


def test_a_pending_amazon_order_has_no_prices_yet_and_waits_for_them() -> None:
    cmd = MAPPERS["amazon"](json.loads((PAYLOADS / "amazon/pending.json").read_text()), "c", None)
    assert (cmd.currency, cmd.paid, cmd.platform_total) == ("GBP", False, None)
