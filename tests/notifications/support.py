"""Waiting for the outbox, through the API."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.api.support import Api


def notifications(api: Api, order_id: str, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in {"order_id": order_id, **filters}.items())
    return api.all_pages(f"/notifications?{query}")


def wait_notifications(api: Api, order_id: str, until: Callable[[list[dict[str, Any]]], bool],
                       timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = notifications(api, order_id)
        if until(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the order's notifications: {found}")
        time.sleep(0.05)


def all_settled(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    """``count`` messages, none of them pending."""
    return lambda found: len(found) == count and all(n["status"] != "pending" for n in found)
