"""Blocks of order numbers from a PostgreSQL sequence: every writer process takes its own."""
from __future__ import annotations

from psycopg_pool import ConnectionPool

SEQUENCE = "order_number_blocks"


class SequenceNumberBlocks:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def create_sequence(self) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('oms.order_number_blocks'))")
            conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")

    def next_block(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT nextval('{SEQUENCE}')").fetchone()
        return int(row[0])
