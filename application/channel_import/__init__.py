"""Orders as sales channels send them, mapped to ours: one module per platform, each a pure
function from the platform's own order body to an ``ImportChannelOrder`` command.

A body that is not that platform's order at all (no id, no lines) is refused (``NotAnOrder``,
with a JSON pointer to what is missing). Anything else is mapped as far as it goes, and what
could not be mapped (an address without a country we know, a line without an SKU, an amount
the currency cannot hold) is listed as a problem: the order is recorded and held for a person,
never dropped.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from application.channel_import import amazon, shopify, woocommerce
from application.channel_import.mapping import NotAnOrder
from application.commands import ImportChannelOrder

Mapper = Callable[[Mapping[str, Any], str, str | None], ImportChannelOrder | None]

MAPPERS: dict[str, Mapper] = {
    "shopify": shopify.map_delivery,
    "woocommerce": woocommerce.map_delivery,
    "amazon": amazon.map_delivery,
}

__all__ = ["MAPPERS", "Mapper", "NotAnOrder"]
