"""A shipping address placed for sourcing: the client's coordinates, else the geocoder's."""
from __future__ import annotations

from typing import Any

from application.ports import Geocoder


def placed(address: dict[str, Any], geocoder: Geocoder | None) -> dict[str, Any]:
    """``address`` with its ``latitude``/``longitude`` and the ``coordinates_precision`` they have:
    ``"given"`` when the client sent them, else ``"city"`` or ``"country"`` as the geocoder placed
    it, else ``"unknown"`` (coordinates null: sourcing then goes by availability alone). Runs
    before the command is sent, never in the writer: a lookup may take a while the first time."""
    if address.get("latitude") is not None and address.get("longitude") is not None:
        return {**address, "coordinates_precision": "given"}
    found = geocoder.locate(address["country"], address.get("city"), address.get("postal_code")) \
        if geocoder is not None else None
    if found is None:
        return {**address, "latitude": None, "longitude": None, "coordinates_precision": "unknown"}
    return {**address, "latitude": found.latitude, "longitude": found.longitude,
            "coordinates_precision": found.precision}
