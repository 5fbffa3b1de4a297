"""Great-circle distance, the measure sourcing uses to find the nearest location, and the
coordinates an address is placed at."""
from __future__ import annotations

from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt
from typing import Literal

EARTH_RADIUS_KM = 6371.0088


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres between two points given in degrees."""
    phi1, phi2 = radians(lat1), radians(lat2)
    dphi = phi2 - phi1
    dlambda = radians(lon2 - lon1)
    a = sin(dphi / 2) ** 2 + cos(phi1) * cos(phi2) * sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))


# How exactly an address was placed: "given" by the client, or looked up at its "city" or, short
# of that, its "country"; "unknown" when nothing could place it (sourcing then ignores distance).
CoordinatesPrecision = Literal["given", "city", "country", "unknown"]


@dataclass(frozen=True, slots=True)
class Coordinates:
    """A point in degrees, and how exactly a geocoder placed it (``"city"`` or ``"country"``)."""

    latitude: float
    longitude: float
    precision: Literal["city", "country"]
