"""``locations`` read model: the warehouses and stores stock is held and shipped from."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL

from domain.location import Location
from projections.base import AggregateStateProjection, ReadModelView


class LocationsView(ReadModelView):
    tables = ("locations",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS {s}.locations (
            location_id text PRIMARY KEY,
            name text NOT NULL,
            kind text NOT NULL,
            latitude double precision NOT NULL,
            longitude double precision NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "COMMENT ON TABLE {s}.locations IS 'Warehouses and stores (read model); kind = warehouse | store'",
    )


class LocationsProjection(AggregateStateProjection[LocationsView]):
    name = "locations"
    aggregate_class = Location

    def to_rows(self, touched: dict[UUID, Location], new: set[UUID]) -> list[tuple[Any, ...]]:
        return [(l.location_id, l.name, l.kind, l.latitude, l.longitude, l.modified_on) for l in touched.values()]

    def write(self, curs: Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        curs.executemany(
            SQL(
                "INSERT INTO {} (location_id, name, kind, latitude, longitude, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (location_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
                "latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, updated_at = EXCLUDED.updated_at"
            ).format(self.view.table("locations")),
            rows,
        )
