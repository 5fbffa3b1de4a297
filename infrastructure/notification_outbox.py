"""The outbox table (``projections.notifications`` creates it) as the sender uses it: claim,
mark each step, recover what a dead sender left claimed. Every step commits on its own, so what is
recorded is what happened up to the moment the process stopped."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from application.notifications.dispatch_types import ClaimedMessage

INTERRUPTED_BEFORE = "interrupted: the sender stopped before handing the message over"
INTERRUPTED_AFTER = "interrupted: the sender stopped after handing the message over (it may have been delivered)"


class PostgresOutbox:
    def __init__(self, pool: ConnectionPool, schema: str = "public") -> None:
        self.pool = pool
        table = Identifier(schema or "public", "notifications")
        # FOR UPDATE SKIP LOCKED: a second sender (or an operator's UPDATE) never waits on these
        # rows nor takes them; claimed_at keeps them out of the next claims until marked.
        self._claim = SQL(
            "UPDATE {t} n SET attempts = n.attempts + 1, claimed_at = now() FROM ("
            "SELECT id FROM {t} WHERE status = 'pending' AND claimed_at IS NULL AND next_attempt_at <= now() "
            "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) due WHERE n.id = due.id "
            "RETURNING n.id, n.channel, n.recipient, n.subject, n.body_text, n.body_html, n.message_id, "
            "n.created_at, n.attempts, n.unconfirmed").format(t=table)
        self._handing_over = SQL("UPDATE {} SET handing_over_at = now() WHERE id = %s").format(table)
        self._sent = SQL("UPDATE {} SET status = 'sent', sent_at = now(), provider_id = %s, claimed_at = NULL, "
                         "handing_over_at = NULL WHERE id = %s").format(table)
        self._retry = SQL("UPDATE {} SET last_error = %s, next_attempt_at = now() + make_interval(secs => %s), "
                          "claimed_at = NULL, handing_over_at = NULL WHERE id = %s").format(table)
        self._retry_many = SQL(
            "UPDATE {} n SET last_error = %s, next_attempt_at = now() + make_interval(secs => w.delay), "
            "claimed_at = NULL, handing_over_at = NULL FROM unnest(%s::uuid[], %s::float8[]) AS w(id, delay) "
            "WHERE n.id = w.id").format(table)
        self._failed = SQL("UPDATE {} SET status = 'failed', last_error = %s, claimed_at = NULL, "
                           "handing_over_at = NULL WHERE id = %s").format(table)
        self._recover = SQL(
            "UPDATE {} SET unconfirmed = unconfirmed + (handing_over_at IS NOT NULL)::int, "
            "last_error = CASE WHEN handing_over_at IS NULL THEN %s ELSE %s END, "
            "claimed_at = NULL, handing_over_at = NULL WHERE status = 'pending' AND claimed_at IS NOT NULL"
        ).format(table)

    def _execute(self, statement: Any, params: Any) -> int:
        with self.pool.connection() as conn:
            return conn.execute(statement, params).rowcount

    def claim(self, limit: int) -> list[ClaimedMessage]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._claim, (limit,))
            rows = curs.fetchall()
        return sorted((ClaimedMessage(**row) for row in rows), key=lambda m: (m.created_at, str(m.id)))

    def handing_over(self, notification_id: UUID) -> None:
        self._execute(self._handing_over, (notification_id,))

    def sent(self, notification_id: UUID, provider_id: str | None) -> None:
        self._execute(self._sent, (provider_id, notification_id))

    def retry(self, notification_id: UUID, error: str, delay_seconds: float) -> None:
        self._execute(self._retry, (error, delay_seconds, notification_id))

    def retry_many(self, notification_ids: list[UUID], error: str, delays: list[float]) -> None:
        self._execute(self._retry_many, (error, notification_ids, delays))

    def failed(self, notification_id: UUID, error: str) -> None:
        self._execute(self._failed, (error, notification_id))

    def recover(self) -> int:
        """Releases every claim: called by the one active sender when it takes over (a sender
        that died left them) or after a failure of its own loop (none of its claims is in flight
        then). A message that was being handed over counts one unconfirmed hand-over more."""
        return self._execute(self._recover, (INTERRUPTED_BEFORE, INTERRUPTED_AFTER))
