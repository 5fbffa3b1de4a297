"""Projection names (also the suffix of each projection's tracking table)."""
from __future__ import annotations

ORDERS = "orders"
STOCK_LEVELS = "stock_levels"
LOCATIONS = "locations"
ORDER_HISTORY = "order_history"
ALL = (ORDERS, STOCK_LEVELS, LOCATIONS, ORDER_HISTORY)


def tracking_table_name(projection_name: str) -> str:
    return f"tracking_{projection_name}"
