"""Read-side queries for the API: documents, lists, stock, history and projection status."""
from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from psycopg.errors import UndefinedTable
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import ConnectionPool

from domain.order import RETURN_PREFIX, SHIPMENT_PREFIX, order_id_of
from projections import failures
from projections.failures import ProjectionStalled, Stall
from projections.names import ALL, tracking_table_name


T = TypeVar("T")


class InvalidCursor(ValueError):
    """The pagination cursor was not one this service issued."""


def encode_cursor(*key: datetime | UUID | str) -> str:
    """An opaque cursor: the sort key of a page's last row, after which the next page starts."""
    raw = orjson.dumps([part.isoformat() if isinstance(part, datetime) else str(part) for part in key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cursor_key(cursor: str, size: int) -> list[str]:
    """The sort key (``size`` strings) in a cursor ``encode_cursor`` made; else InvalidCursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError, UnicodeError) as error:
        raise InvalidCursor("invalid cursor") from error
    if not isinstance(key, list) or len(key) != size or not all(isinstance(part, str) and "\x00" not in part
                                                                 for part in key):
        raise InvalidCursor("invalid cursor")  # (no key this service issues holds a NUL: text cannot)
    return key


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """A (created_at, id) cursor: the sort key of orders and of API keys."""
    created_at, identifier = cursor_key(cursor, 2)
    try:
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, UUID(identifier)
    except ValueError as error:
        raise InvalidCursor("invalid cursor") from error


def page_of(rows: list[T], limit: int, key: Callable[[T], tuple[Any, ...]]) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``rows`` (fetched as ``limit + 1``: one more tells whether another
    page follows) and the cursor of the next page, or None on the last."""
    page = rows[:limit]
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None


class ReadModelQueries:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        schema: str = "public",
        application_name: str = "oms",
        events_table_name: str = "oms_events",
    ) -> None:
        self.pool = pool
        self.schema = schema or "public"
        self.application_name = application_name
        self.events_table_name = events_table_name

    @classmethod
    def for_app(cls, pool: ConnectionPool, app: Any) -> ReadModelQueries:
        """Takes the application name, schema and events table from the application's recorder."""
        return cls(
            pool,
            schema=app.recorder.datastore.schema,
            application_name=app.name,
            events_table_name=app.recorder.events_table_name,
        )

    def _t(self, name: str) -> Identifier:
        return Identifier(self.schema, name)

    def _fetch(self, query: Composable, params: Any = None) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(query, params)
            return curs.fetchall()

    # ------------------------------------------------------------------ orders

    # ``channels`` (of an API key limited to channels): only orders of these channels are found;
    # None: every order.
    def order(self, order_id: UUID, channels: Collection[str] | None = None) -> dict[str, Any] | None:
        if channels is None:
            rows = self._fetch(SQL("SELECT document FROM {} WHERE id = %s").format(self._t("orders")), (order_id,))
        else:
            rows = self._fetch(SQL("SELECT document FROM {} WHERE id = %s AND channel = ANY(%s)").format(
                self._t("orders")), (order_id, list(channels)))
        return rows[0]["document"] if rows else None

    def shipment(self, shipment_id: str, channels: Collection[str] | None = None) -> dict[str, Any] | None:
        """The shipment's document, as in its order's, with ``order_id`` and ``order_version``."""
        return self._order_part("shipments", SHIPMENT_PREFIX, shipment_id, channels)

    def shipments_tracked_as(self, tracking_number: str) -> list[str]:
        """The ids of the shipments that left with this tracking number (a carrier's events name
        the parcel by it)."""
        rows = self._fetch(SQL("SELECT id FROM {} WHERE tracking_number = %s ORDER BY id").format(
            self._t("shipments")), (tracking_number,))
        return [row["id"] for row in rows]

    def return_(self, return_id: str, channels: Collection[str] | None = None) -> dict[str, Any] | None:
        """The return's document, as in its order's, with ``order_id`` and ``order_version``."""
        return self._order_part("returns", RETURN_PREFIX, return_id, channels)

    def _order_part(self, collection: str, prefix: str, part_id: str,
                    channels: Collection[str] | None) -> dict[str, Any] | None:
        # The id names its order (shp_<order hex>_<n>): one primary-key read, no index of its own.
        order_id = order_id_of(part_id) if part_id.startswith(prefix) else None
        if order_id is None:
            return None
        params: list[Any] = [collection, order_id, part_id]
        reach = SQL("")
        if channels is not None:
            reach = SQL(" AND o.channel = ANY(%s)")
            params.append(list(channels))
        rows = self._fetch(
            SQL("SELECT o.version, part FROM {} o, jsonb_array_elements(o.document -> %s) AS part "
                "WHERE o.id = %s AND part ->> 'id' = %s{}").format(self._t("orders"), reach), params)
        if not rows:
            return None
        return {**rows[0]["part"], "order_id": str(order_id), "order_version": rows[0]["version"]}

    def list_orders(
        self,
        *,
        status: str | None = None,
        payment_status: str | None = None,
        fulfillment_status: str | None = None,
        channel: str | None = None,
        channels: Collection[str] | None = None,
        sku: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first by (created_at, id). ``created_after`` is inclusive, ``created_before``
        exclusive; ``channels``: only orders of these (None: every channel; with ``channel``, both
        hold). Returns (documents, cursor of the next page or None)."""
        if limit < 1:
            raise ValueError("limit must be positive")
        where: list[Composable] = []
        params: list[Any] = []
        for column, value in (("status", status), ("payment_status", payment_status),
                              ("fulfillment_status", fulfillment_status), ("channel", channel)):
            if value is not None:
                where.append(SQL("o.{} = %s").format(Identifier(column)))
                params.append(value)
        if channels is not None:
            where.append(SQL("o.channel = ANY(%s)"))
            params.append(list(channels))
        if sku is not None:
            where.append(SQL("EXISTS (SELECT 1 FROM {} l WHERE l.order_id = o.id AND l.sku = %s)").format(
                self._t("order_lines")))
            params.append(sku)
        if created_after is not None:
            where.append(SQL("o.created_at >= %s"))
            params.append(created_after)
        if created_before is not None:
            where.append(SQL("o.created_at < %s"))
            params.append(created_before)
        if cursor is not None:
            after_created, after_id = decode_cursor(cursor)
            where.append(SQL("(o.created_at, o.id) < (%s, %s)"))
            params.extend((after_created, after_id))
        query = SQL("SELECT o.id, o.created_at, o.document FROM {} o {} "
                    "ORDER BY o.created_at DESC, o.id DESC LIMIT %s").format(
            self._t("orders"),
            SQL("WHERE ") + SQL(" AND ").join(where) if where else SQL(""),
        )
        params.append(limit + 1)
        page, next_cursor = page_of(self._fetch(query, params), limit, lambda row: (row["created_at"], row["id"]))
        return [row["document"] for row in page], next_cursor

    # ------------------------------------------------------------------ stock and locations

    def stock(self, sku: str) -> dict[str, Any] | None:
        rows = self._fetch(
            SQL("SELECT location_id, on_hand, reserved, available FROM {} WHERE sku = %s "
                "ORDER BY location_id").format(self._t("stock_levels")),
            (sku,),
        )
        if not rows:
            return None
        return {
            "sku": sku,
            "on_hand": sum(r["on_hand"] for r in rows),
            "reserved": sum(r["reserved"] for r in rows),
            "available": sum(r["available"] for r in rows),
            "locations": [dict(r) for r in rows],
        }

    def locations(self, *, limit: int | None = None, after: str | None = None) -> list[dict[str, Any]]:
        """Locations by id: all of them, or at most ``limit`` after the id ``after``."""
        return self._fetch(SQL("SELECT location_id, name, kind, latitude, longitude FROM {} "
                               "WHERE %s::text IS NULL OR location_id > %s "
                               "ORDER BY location_id LIMIT %s").format(self._t("locations")), (after, after, limit))

    def location_page(self, *, limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of locations by id, and the cursor of the next page (None on the last)."""
        after = cursor_key(cursor, 1)[0] if cursor is not None else None
        return page_of(self.locations(limit=limit + 1, after=after), limit, lambda row: (row["location_id"],))

    def location(self, location_id: str) -> dict[str, Any] | None:
        rows = self._fetch(SQL("SELECT location_id, name, kind, latitude, longitude FROM {} "
                               "WHERE location_id = %s").format(self._t("locations")), (location_id,))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ history

    def history(self, order_id: UUID) -> list[dict[str, Any]]:
        rows = self._fetch(
            SQL("SELECT position, type, version, recorded_at, actor_id, actor_name, request_id, command, data "
                "FROM {} WHERE order_id = %s ORDER BY position").format(self._t("order_history")),
            (order_id,),
        )
        return [
            {
                "position": r["position"],
                "type": r["type"],
                "version": r["version"],
                "recorded_at": r["recorded_at"].isoformat(),
                "actor": {"id": r["actor_id"], "name": r["actor_name"]},
                "request_id": r["request_id"],
                "command": r["command"],
                "data": r["data"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ projection status

    def _tracking_tables(self, runners_or_names: Iterable[Any]) -> list[tuple[str, str]]:
        tables = []
        for item in runners_or_names:
            if isinstance(item, str):
                tables.append((item, tracking_table_name(item)))
            else:
                tables.append((item.name, item.tracking_table_name))
        return tables

    def _positions(self, tables: list[tuple[str, str]]) -> dict[str, int]:
        if not tables:
            return {}
        query = SQL(" UNION ALL ").join(
            SQL("SELECT %s::text AS name, (SELECT notification_id FROM {} WHERE application_name = %s) AS position")
            .format(self._t(table))
            for _, table in tables
        )
        params: list[Any] = []
        for name, _ in tables:
            params.extend((name, self.application_name))
        return {r["name"]: r["position"] or 0 for r in self._fetch(query, params)}

    def head(self) -> int:
        rows = self._fetch(SQL("SELECT max(notification_id) AS head FROM {}").format(self._t(self.events_table_name)))
        return rows[0]["head"] or 0

    def projection_status(self, runners_or_names: Iterable[Any] = ALL) -> list[dict[str, Any]]:
        tables = self._tracking_tables(runners_or_names)
        positions = self._positions(tables)
        head = self.head()
        return [
            {"name": name, "position": positions[name], "head": head, "lag": max(head - positions[name], 0)}
            for name, _ in tables
        ]

    def stalls(self) -> list[Stall]:
        """The projections and policies stopped at an event they cannot apply."""
        try:
            return failures.stalls(self._fetch(failures.select(self.schema)))
        except UndefinedTable:  # no runner has created its tables in this database yet
            return []

    def wait_for(self, projection_names: Iterable[Any], position: int, timeout: float) -> bool:
        """Blocks until every named projection has applied ``position``; False on timeout.
        Raises ``ProjectionStalled`` at once when one of them is stopped before ``position``."""
        tables = self._tracking_tables(projection_names)
        deadline = time.monotonic() + timeout
        interval = 0.002
        while True:
            positions = self._positions(tables)
            if all(p >= position for p in positions.values()):
                return True
            for stall in self.stalls():  # (a record the projection has since passed does not count)
                if stall.projection in positions and positions[stall.projection] < stall.position <= position:
                    raise ProjectionStalled(stall)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, 0.02)
