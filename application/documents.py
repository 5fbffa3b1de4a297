"""The order as integrators and auditors see it: one JSON shape for the command responses,
the read model (``projections.orders`` stores exactly this) and the as-of view."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from domain.location import Location
from domain.money import ZERO, minor_units
from domain.order import Order
from domain.stock import StockItem


def _money(amount: Decimal, currency: str) -> str:
    """The amount in the currency's minor units, as ``str(to_currency(amount, currency))`` writes
    it (Decimal formatting rounds half to even too), in one step: a document has eight of them."""
    return format(amount, _money_format(currency))


@lru_cache(maxsize=512)
def _money_format(currency: str) -> str:
    return f".{minor_units(currency)}f"


@lru_cache(maxsize=512)
def _zero(currency: str) -> str:
    """Nothing, in the currency's minor units: most lines have no discount or tax of their own."""
    return format(ZERO, _money_format(currency))


def _money_or_zero(amount: Decimal | None, currency: str) -> str:
    return _money(amount, currency) if amount else _zero(currency)


def order_document(order: Order) -> dict[str, Any]:
    currency = order.currency
    subtotal = order.subtotal
    backordered = order.backordered
    hold = order.effective_hold
    refund_owed_by = order.refund_owed_by
    return {
        "id": str(order.id),
        "number": order.number,
        "channel": order.channel,
        "external_id": order.external_id,
        "status": order.status,
        "payment_status": order.payment_status,
        "fulfillment_status": order.fulfillment_status,
        "currency": currency,
        "customer": order.customer,
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "source": order.source,
        "notify_customer": order.notify_customer,
        "lines": [
            {"sku": l["sku"], "quantity": l["quantity"], "unit_price": _money(l["unit_price"], currency),
             "backordered": backordered.get(l["sku"], 0), "name": l.get("name"),
             "discount": _money_or_zero(l.get("discount"), currency), "tax": _money_or_zero(l.get("tax"), currency),
             "requires_shipping": l.get("requires_shipping", True)}
            for l in order.lines
        ],
        "taxes_included": order.taxes_included,
        "totals": {
            "subtotal": _money(subtotal, currency),
            "discount": _money_or_zero(order.discount, currency),
            "shipping": _money(order.shipping_price, currency),
            "tax": _money_or_zero(order.tax, currency),
            "fees": _money_or_zero(order.fees, currency),
            "total": _money(order.total_with(subtotal), currency),
            "captured": _money(order.captured, currency),
            "refunded": _money(order.refunded, currency),
        },
        "payment": {"provider": order.payment.get("provider"), "reference": order.payment.get("reference"),
                    "collected_by": order.payment.get("collected_by", "provider")},
        "shipments": [
            {
                "id": s.id,
                "location_id": s.location_id,
                "status": str(s.status),
                "lines": [{"sku": sku, "quantity": qty} for sku, qty in s.lines.items()],
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "tracking_url": s.tracking_url,
                "delivered_at": s.delivered_at.isoformat() if s.delivered_at else None,
                "tracking_events": [{"status": e.status, "message": e.message, "at": e.at.isoformat(),
                                     "location": e.location} for e in s.tracking_events],
            }
            for s in order.shipments.values()
        ],
        "returns": [
            {
                "id": r.id,
                "status": str(r.status),
                "lines": [{"sku": l.sku, "quantity": l.quantity, "reason": l.reason} for l in r.lines],
                "received": [{"sku": l.sku, "quantity": l.quantity, "condition": l.condition} for l in r.received],
                "location_id": r.location_id,
                "refund_amount": _money(r.refund_amount, currency),
                "refund_owed_by": refund_owed_by if r.refund_amount else None,
            }
            for r in order.returns.values()
        ],
        "hold": {"reason": hold.reason, "detail": hold.detail} if hold is not None else None,
        "cancel_reason": order.cancel_reason,
        "version": order.version,
        "created_at": order.created_on.isoformat(),
        "updated_at": order.modified_on.isoformat(),
    }


class RenderedDocument(Mapping[str, Any]):
    """A document as JSON, rendered by the process that built it, so that the one answering with
    it (an API process, for the writer process) sends it on without reading it. Its id and
    version, which the answer's headers need, are at hand; any other key reads the JSON once."""

    __slots__ = ("json", "_id", "_version", "_parsed")

    def __init__(self, json: bytes, id: str | None, version: int | None) -> None:  # noqa: A002 - the document's own key
        self.json = json
        self._id = id
        self._version = version
        self._parsed: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self._id
        if key == "version":
            return self._version
        return self._document()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._document())

    def __len__(self) -> int:
        return len(self._document())

    def _document(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = orjson.loads(self.json)
        return self._parsed


def location_document(location: Location) -> dict[str, Any]:
    return {
        "location_id": location.location_id,
        "name": location.name,
        "kind": location.kind,
        "latitude": location.latitude,
        "longitude": location.longitude,
    }


def stock_document(item: StockItem) -> dict[str, Any]:
    return {
        "location_id": item.location_id,
        "sku": item.sku,
        "on_hand": item.on_hand,
        "reserved": item.reserved,
        "available": item.available,
    }
