"""Carrier accounts (their webhook secrets) and every carrier event received, in plain tables.

A carrier's webhook secret is kept as given: it is needed to verify signatures (an HMAC key
cannot be stored hashed). It is written through the API and never read back out of it.
Every event body is recorded as it arrived, with what became of it, so that none is lost and
an operator sees the ones that matched no shipment."""
from __future__ import annotations

from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

_DDL = """
CREATE TABLE IF NOT EXISTS carrier_accounts (
    carrier text PRIMARY KEY,
    webhook_secret text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS carrier_events (
    id bigserial PRIMARY KEY,
    carrier text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    event_id text,
    description text,
    tracking_code text,
    outcome text NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS carrier_events_outcome_idx ON carrier_events (carrier, outcome, id)
"""


class CarrierAccounts:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def create_tables(self) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('oms.carrier_accounts.create_tables'))")
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def configure(self, carrier: str, webhook_secret: str) -> dict[str, Any]:
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO carrier_accounts (carrier, webhook_secret) VALUES (%s, %s) ON CONFLICT (carrier) "
                "DO UPDATE SET webhook_secret = EXCLUDED.webhook_secret, updated_at = now() RETURNING updated_at",
                (carrier, webhook_secret)).fetchone()
        return {"carrier": carrier, "webhook_secret_set": True, "updated_at": row[0]}

    def webhook_secret(self, carrier: str) -> str | None:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT webhook_secret FROM carrier_accounts WHERE carrier = %s", (carrier,)).fetchone()
        return row[0] if row else None

    def record(self, carrier: str, body: dict[str, Any], *, event_id: str | None, description: str | None,
               tracking_code: str | None, outcome: str) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO carrier_events (carrier, event_id, description, tracking_code, outcome, body) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (carrier, event_id, description, tracking_code, outcome, Jsonb(body, dumps=_dumps))).fetchone()
        return int(row[0])

    def settle(self, event: int, outcome: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE carrier_events SET outcome = %s WHERE id = %s", (outcome, event))

    def events(self, carrier: str, outcome: str, limit: int = 200) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute("SELECT id, received_at, event_id, description, tracking_code, outcome, body "
                         "FROM carrier_events WHERE carrier = %s AND outcome = %s ORDER BY id DESC LIMIT %s",
                         (carrier, outcome, limit))
            return curs.fetchall()


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


__all__ = ["CarrierAccounts"]
