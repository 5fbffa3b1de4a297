"""Warehouses and stores: the places stock is held and shipped from."""
from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NAMESPACE = uuid5(NAMESPACE_URL, "oms:location")


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"


class Location(Aggregate):
    """A location is addressed by the retailer's own id (e.g. ``berlin-wh``)."""

    @staticmethod
    @lru_cache(maxsize=10_000)
    def create_id(location_id: str) -> UUID:
        return uuid5(_NAMESPACE, location_id)

    @event("LocationRegistered")
    def __init__(self, location_id: str, name: str, kind: str, latitude: float, longitude: float) -> None:
        self.location_id = location_id
        self.name = name
        self.kind = LocationKind(kind).value
        self.latitude = latitude
        self.longitude = longitude

    def update(self, name: str, kind: str, latitude: float, longitude: float) -> bool:
        """Records a change only when something changed; returns whether it did."""
        kind = LocationKind(kind).value
        if (name, kind, latitude, longitude) == (self.name, self.kind, self.latitude, self.longitude):
            return False
        self._updated(name=name, kind=kind, latitude=latitude, longitude=longitude)
        return True

    @event("LocationUpdated")
    def _updated(self, name: str, kind: str, latitude: float, longitude: float) -> None:
        self.name = name
        self.kind = kind
        self.latitude = latitude
        self.longitude = longitude
