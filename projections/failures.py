"""Where a projection or policy is stopped, and why: one row per stalled runner in
``projection_failures``, written in a transaction of its own (the failed batch's is rolled back)
and deleted once it applies that event after all. The API's health check and its reads that wait
for their own writes read it (``projections.queries``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.sql import SQL, Composed, Identifier

DDL = """CREATE TABLE IF NOT EXISTS {} (
    projection text PRIMARY KEY,
    position bigint NOT NULL,
    error text NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 1
)"""
TABLE = "projection_failures"


class ProjectionStalled(Exception):
    """A projection the caller waits on is stopped at an event it cannot apply."""

    def __init__(self, stall: Stall) -> None:
        super().__init__(f"the {stall.projection} read model is stopped at event {stall.position}: {stall.error}")
        self.stall = stall


@dataclass(frozen=True)
class Stall:
    projection: str
    position: int  # the notification id of the event it cannot apply (or, in a batch, the first of it)
    error: str
    since: datetime
    attempts: int

    def document(self) -> dict[str, Any]:
        return {"projection": self.projection, "position": self.position, "error": self.error,
                "since": self.since.isoformat(), "attempts": self.attempts}


def create(curs: Any, schema: str) -> None:
    curs.execute(SQL(DDL).format(Identifier(schema, TABLE)))


def record(curs: Any, schema: str, projection: str, position: int, error: str) -> None:
    curs.execute(_sql(
        "INSERT INTO {} AS f (projection, position, error) VALUES (%s, %s, %s) "
        "ON CONFLICT (projection) DO UPDATE SET error = EXCLUDED.error, last_failed_at = now(), "
        "attempts = CASE WHEN f.position = EXCLUDED.position THEN f.attempts + 1 ELSE 1 END, "
        "first_failed_at = CASE WHEN f.position = EXCLUDED.position THEN f.first_failed_at ELSE now() END, "
        "position = EXCLUDED.position", schema), (projection, position, error[:2000]))


def recorded(curs: Any, schema: str, projection: str) -> int | None:
    """The position ``projection`` is recorded as stopped at, if it is."""
    curs.execute(_sql("SELECT position FROM {} WHERE projection = %s", schema), (projection,))
    row = curs.fetchone()
    return row["position"] if row else None


def clear(curs: Any, schema: str, projection: str) -> None:
    curs.execute(_sql("DELETE FROM {} WHERE projection = %s", schema), (projection,))


def select(schema: str) -> Composed:
    return _sql("SELECT projection, position, error, first_failed_at, attempts FROM {} ORDER BY projection", schema)


def stalls(rows: list[Any]) -> list[Stall]:
    return [Stall(r["projection"], r["position"], r["error"], r["first_failed_at"], r["attempts"]) for r in rows]


def _sql(statement: str, schema: str) -> Composed:
    return SQL(statement).format(Identifier(schema, TABLE))
