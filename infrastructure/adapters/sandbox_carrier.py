"""Sandbox carrier: a simulator behind the ``Carrier`` port that issues tracking numbers in the
style of the named carrier (``fedex``: 12 digits, ``ups``: 1Z..., ``dhl``: 10 digits) and a
tracking URL on that carrier's public tracking page. No parcel is booked anywhere."""
from __future__ import annotations

import hashlib

from application.ports import Label, UnknownCarrier

_TRACKING_URLS = {
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
}


class SandboxCarrier:
    carriers = tuple(_TRACKING_URLS)

    def create_label(self, shipment_id: str, *, carrier: str, from_location: str,
                     to_postal_code: str | None, to_country: str | None) -> Label:
        carrier = carrier.lower()
        if carrier not in _TRACKING_URLS:
            raise UnknownCarrier(f"no carrier named {carrier!r}; known: {', '.join(self.carriers)}")
        # Deterministic per shipment, so a retried request gets the same label.
        digest = int(hashlib.sha256(f"{carrier}:{shipment_id}".encode()).hexdigest(), 16)
        if carrier == "ups":
            number = f"1Z{digest % 10**16:016d}"
        elif carrier == "dhl":
            number = f"{digest % 10**10:010d}"
        else:
            number = f"{digest % 10**12:012d}"
        return Label(number, self.tracking_url(carrier, number))

    def tracking_url(self, carrier: str, tracking_number: str) -> str | None:
        template = _TRACKING_URLS.get(carrier.lower())
        return template.format(number=tracking_number) if template else None
