"""Sales channels (their platform and webhook secret) and every delivery they made, in plain
tables beside the event store.

A channel's webhook secret is kept as given: verifying an HMAC needs it (it cannot be stored
hashed). It is written through the API and never read back out of it. Every delivery is
recorded as it arrived (the raw body, the headers that matter) before anything else happens,
with what became of it: an auditor can see what a platform sent, and an operator can process a
delivery again."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

_DDL = """
CREATE TABLE IF NOT EXISTS channels (
    channel_id text PRIMARY KEY,
    platform text NOT NULL,
    name text NOT NULL,
    webhook_secret text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS channel_deliveries (
    id bigserial PRIMARY KEY,
    channel_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic text,
    delivery_id text,
    external_id text,
    outcome text NOT NULL,
    order_id uuid,
    detail text,
    headers jsonb NOT NULL,
    body text NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_deliveries_channel_idx ON channel_deliveries (channel_id, id);
CREATE INDEX IF NOT EXISTS channel_deliveries_delivery_idx ON channel_deliveries (channel_id, delivery_id)
"""

_CHANNEL_COLUMNS = "channel_id, platform, name, webhook_secret IS NOT NULL AS webhook_secret_set, created_at, updated_at"
_DELIVERY_COLUMNS = "id, channel_id, received_at, topic, delivery_id, external_id, outcome, order_id, detail, headers"


class PlatformChanged(Exception):
    """A channel keeps its platform: its orders were mapped from that platform's payloads."""


class ChannelStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def create_tables(self) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('oms.channels.create_tables'))")
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)

    # ---------------------------------------------------------------- channels

    def configure(self, channel_id: str, platform: str, name: str,
                  webhook_secret: str | None) -> tuple[dict[str, Any], bool]:
        """Creates or updates the channel; a secret of None keeps the one it has. Returns the
        channel and whether it was created."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute("SELECT platform FROM channels WHERE channel_id = %s FOR UPDATE", (channel_id,))
            existing = curs.fetchone()
            if existing is not None and existing["platform"] != platform:
                raise PlatformChanged(f"channel {channel_id} is a {existing['platform']} channel; "
                                      f"make a new channel for {platform}")
            curs.execute(
                "INSERT INTO channels (channel_id, platform, name, webhook_secret) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (channel_id) DO UPDATE SET name = EXCLUDED.name, "
                "webhook_secret = COALESCE(EXCLUDED.webhook_secret, channels.webhook_secret), updated_at = now() "
                f"RETURNING {_CHANNEL_COLUMNS}", (channel_id, platform, name, webhook_secret))
            row = curs.fetchone()
        return dict(row), existing is None

    def get(self, channel_id: str) -> dict[str, Any] | None:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE channel_id = %s", (channel_id,))
            return curs.fetchone()

    def list(self) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(f"SELECT {_CHANNEL_COLUMNS} FROM channels ORDER BY channel_id")
            return curs.fetchall()

    def webhook_secret(self, channel_id: str) -> str | None:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT webhook_secret FROM channels WHERE channel_id = %s", (channel_id,)).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------- deliveries

    def record(self, channel_id: str, *, topic: str | None, delivery_id: str | None, headers: dict[str, str],
               body: str) -> int:
        """Records a delivery as it came (outcome ``received``); returns its id."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO channel_deliveries (channel_id, topic, delivery_id, outcome, headers, body) "
                "VALUES (%s, %s, %s, 'received', %s, %s) RETURNING id",
                (channel_id, topic, delivery_id, Jsonb(headers), body)).fetchone()
        return int(row[0])

    def settle(self, delivery: int, outcome: str, *, external_id: str | None = None, order_id: UUID | str | None = None,
               detail: str | None = None) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE channel_deliveries SET outcome = %s, external_id = COALESCE(%s, external_id), "
                         "order_id = COALESCE(%s, order_id), detail = %s WHERE id = %s",
                         (outcome, external_id, order_id, detail, delivery))

    def seen(self, channel_id: str, delivery_id: str, before: int) -> bool:
        """Whether an earlier delivery with this id was applied (a platform's retry)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM channel_deliveries WHERE channel_id = %s AND delivery_id = %s AND id < %s "
                "AND outcome IN ('placed', 'applied', 'unchanged', 'duplicate') LIMIT 1",
                (channel_id, delivery_id, before)).fetchone()
        return row is not None

    def deliveries(self, channel_id: str, *, outcome: str | None = None, limit: int = 100,
                   before: int | None = None) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM channel_deliveries WHERE channel_id = %s "
                "AND (%s::text IS NULL OR outcome = %s) AND (%s::bigint IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
                (channel_id, outcome, outcome, before, before, limit))
            return curs.fetchall()

    def delivery(self, channel_id: str, delivery: int) -> dict[str, Any] | None:
        """One delivery with its raw body, as it arrived."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(f"SELECT {_DELIVERY_COLUMNS}, body FROM channel_deliveries WHERE channel_id = %s AND id = %s",
                         (channel_id, delivery))
            return curs.fetchone()




__all__ = ["ChannelStore", "PlatformChanged"]
