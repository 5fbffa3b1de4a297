"""``stock_levels`` read model: on hand, reserved and available units per SKU and location."""
from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL

from domain.stock import StockItem
from projections.base import AggregateStateProjection, ReadModelView


class StockLevelsView(ReadModelView):
    tables = ("stock_levels",)
    query_indexes = ("stock_levels_location_id_idx",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS {s}.stock_levels (
            sku text NOT NULL,
            location_id text NOT NULL,
            on_hand integer NOT NULL,
            reserved integer NOT NULL,
            available integer NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (sku, location_id)
        )""",
        # The primary key serves lookups by SKU; this one serves "what is at location X".
        "CREATE INDEX IF NOT EXISTS stock_levels_location_id_idx ON {s}.stock_levels (location_id, sku)",
        "COMMENT ON TABLE {s}.stock_levels IS "
        "'Units per SKU and location (read model): available = on_hand - reserved'",
    )


class StockLevelsProjection(AggregateStateProjection[StockLevelsView]):
    name = "stock_levels"
    aggregate_class = StockItem

    def to_rows(self, touched: dict[UUID, StockItem], new: set[UUID]) -> list[tuple[Any, ...]]:
        return sorted(
            ((i.sku, i.location_id, i.on_hand, i.reserved, i.available, i.modified_on) for i in touched.values()),
            key=lambda row: (row[0], row[1]),  # a stable lock order
        )

    def write(self, curs: Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
        """One statement for the batch: a row per stock item it touched, each at most once."""
        if not rows:
            return
        curs.execute(self._upsert, [list(column) for column in zip(*rows)], prepare=True, binary=True)

    @functools.cached_property
    def _upsert(self) -> bytes:
        return SQL(
            "INSERT INTO {} (sku, location_id, on_hand, reserved, available, updated_at) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::integer[], %b::integer[], %b::integer[], "
            "%b::timestamptz[]) "
            "ON CONFLICT (sku, location_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, "
            "reserved = EXCLUDED.reserved, available = EXCLUDED.available, updated_at = EXCLUDED.updated_at"
        ).format(self.view.table("stock_levels")).as_bytes(None)
