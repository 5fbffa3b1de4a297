"""The delivery date a confirmation promises, from how far the goods travel.

The rule (stated to customers as an expectation, not a guarantee):

- a parcel leaves its location on the first business day after the order is confirmed;
- it travels one business day per started 500 km of great-circle distance from that location
  to the shipping address, and at least one;
- business days are Monday to Friday (public holidays are not known to the OMS);
- an order sent from several locations arrives with its last parcel: the latest date counts.

No date is promised when the address could not be placed (no coordinates) or nothing of the
order is sourced yet (all of it backordered).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta

from domain.geo import great_circle_km

KM_PER_TRANSIT_DAY = 500.0
HANDLING_DAYS = 1


def add_business_days(start: date, days: int) -> date:
    """The ``days``-th Monday-to-Friday day after ``start``."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def transit_days(distance_km: float) -> int:
    return max(1, math.ceil(distance_km / KM_PER_TRANSIT_DAY))


def expected_delivery(confirmed_on: date, destination: tuple[float, float] | None,
                      origins: Iterable[tuple[float, float] | None]) -> date | None:
    """The latest arrival of parcels sent from ``origins`` (their coordinates; None for one
    that cannot be placed) to ``destination``, for an order confirmed on ``confirmed_on``."""
    if destination is None:
        return None
    dates = []
    for origin in origins:
        if origin is None:
            return None
        distance = great_circle_km(origin[0], origin[1], destination[0], destination[1])
        dates.append(add_business_days(confirmed_on, HANDLING_DAYS + transit_days(distance)))
    return max(dates, default=None)
