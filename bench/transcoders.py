"""The event store's transcoder against the library's own: encode and decode of the events an
order's life records (the rebuild path decodes every event once), per event.

    python -m bench.transcoders

Kept out of `make bench` (seconds, not minutes); the figures are in docs/performance.md.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from infrastructure.transcoder import OrjsonTranscoder


def _events() -> list[dict[str, Any]]:
    """States of the events of one order's life, as the mapper hands them to the transcoder."""
    now = datetime.now(UTC)
    meta = {"actor_id": str(uuid4()), "actor_name": "shop", "request_id": uuid4().hex, "command": "PlaceOrder"}
    shipment = f"shp_{uuid4().hex}_1"
    base = {"timestamp": now, "__meta__": meta}
    return [
        {**base, "channel": "web", "external_id": "ext-1", "currency": "EUR",
         "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": None},
         "shipping_address": {"name": "Ada", "line1": "Am Neuen Garten 1", "line2": None, "city": "Potsdam",
                              "postal_code": "14469", "country": "DE", "latitude": 52.41, "longitude": 13.07},
         "lines": [{"sku": f"SKU-{n}", "quantity": 1 + n, "unit_price": Decimal("19.90")} for n in range(2)],
         "shipping_price": Decimal("4.90"), "payment": {"provider": "sandbox", "reference": "pay_1"},
         "originator_topic": "domain.order:Order"},
        {**base, "shipments": [{"id": shipment, "location_id": "berlin-wh", "lines": {"SKU-0": 1, "SKU-1": 2}}],
         "backordered": {}},
        {**base, "order_id": uuid4(), "quantity": 2},  # a reservation
        {**base, "authorization_id": "auth_1", "amount": Decimal("64.60")},
        {**base, "shipment_id": shipment},
        {**base, "shipment_id": shipment, "carrier": "dhl", "tracking_number": "T1", "tracking_url": None},
        {**base, "shipment_id": shipment, "amount": Decimal("64.60"), "capture_id": "cap_1"},
        {**base, "shipment_id": shipment, "delivered_at": now},
    ]


def _library() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def _per_event(function: Any, items: list[Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                function(item)
        best = min(best, (time.perf_counter() - start) / (rounds * len(items)))
    return best * 1e6


def main() -> None:
    events, rounds = _events(), 2000
    for name, transcoder in (("ours (orjson, tagged)", OrjsonTranscoder()), ("library JSONTranscoder", _library())):
        encoded = [transcoder.encode(e) for e in events]
        assert [transcoder.decode(b)["timestamp"] for b in encoded] == [e["timestamp"] for e in events]
        print(f"{name:24} encode {_per_event(transcoder.encode, events, rounds):6.2f} us/event   "
              f"decode {_per_event(transcoder.decode, encoded, rounds):6.2f} us/event")


if __name__ == "__main__":
    main()
