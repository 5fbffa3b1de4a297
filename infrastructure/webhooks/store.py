"""Webhook endpoints, their deliveries and replays, as the API manages and shows them (the tables
are made by projections/webhook_outbox.py).

An endpoint's secret is kept as issued: signing needs it (it cannot be stored hashed). It is shown
once, when the endpoint is created or the secret rotated; after a rotation the previous secret
keeps signing beside the new one for a day (``ROTATION_OVERLAP``), so a receiver can switch over
without dropping a message in between (Standard Webhooks sends one signature per secret)."""
from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

ROTATION_OVERLAP = timedelta(hours=24)

_ENDPOINT_COLUMNS = ("id, url, event_types, description, enabled, disabled_reason, disabled_at, failing_since, "
                     "since_position, created_at, updated_at")
_DELIVERY_COLUMNS = ("d.id, d.endpoint_id, d.message_id AS webhook_id, d.type, d.position, d.origin, d.status, "
                     "d.attempts, d.next_attempt_at, d.in_flight_since IS NOT NULL AS in_flight, d.last_attempt_at, "
                     "d.status_code, d.duration_ms, d.response_excerpt, d.error, d.delivered_at, d.created_at")


class BeyondHead(ValueError):
    """A replay from a position the event feed has not reached."""


class NotRetryable(Exception):
    """The delivery cannot be sent again now (said why)."""


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def pause_endpoint_queues(curs: Any, schema: str, endpoint_id: UUID) -> None:
    """A disabled endpoint's pending deliveries wait, none due (those in flight end as they end)."""
    curs.execute(_sql(schema, "UPDATE {s}.webhook_deliveries SET next_attempt_at = NULL WHERE endpoint_id = %s "
                              "AND status = 'pending' AND next_attempt_at IS NOT NULL AND in_flight_since IS NULL"),
                 (endpoint_id,))


def resume_endpoint_queues(curs: Any, schema: str, endpoint_id: UUID) -> None:
    """The first pending delivery of each of the endpoint's queues is due again."""
    curs.execute(_sql(schema, "UPDATE {s}.webhook_deliveries d SET next_attempt_at = now() FROM ("
                              "SELECT DISTINCT ON (ordering_key) id FROM {s}.webhook_deliveries "
                              "WHERE endpoint_id = %s AND status = 'pending' ORDER BY ordering_key, id) first "
                              "WHERE d.id = first.id AND d.next_attempt_at IS NULL AND d.in_flight_since IS NULL"),
                 (endpoint_id,))


def _sql(schema: str, statement: str) -> Composed:
    return SQL(statement).format(s=Identifier(schema))  # type: ignore[arg-type]


class WebhookStore:
    def __init__(self, pool: ConnectionPool, *, schema: str, events_table: str) -> None:
        self._pool = pool
        self.schema = schema
        self._events_table = Identifier(schema, events_table)

    def _sql(self, statement: str) -> Composed:
        return _sql(self.schema, statement)

    def head(self) -> int:
        """The feed's last position now."""
        with self._pool.connection() as conn:
            row = conn.execute(SQL("SELECT max(notification_id) FROM {}").format(self._events_table)).fetchone()
        return int(row[0] or 0)

    # ---------------------------------------------------------------- endpoints

    def any_enabled(self) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(self._sql("SELECT EXISTS (SELECT 1 FROM {s}.webhook_endpoints WHERE enabled)")).fetchone()
        return bool(row[0])

    def create(self, url: str, event_types: list[str], description: str | None) -> tuple[dict[str, Any], str]:
        """A new endpoint, owed what the feed records from now on; returns it and its secret."""
        secret = new_secret()
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(SQL(
                "INSERT INTO {s}.webhook_endpoints (id, url, event_types, description, secret, since_position) "
                "VALUES (%s, %s, %s, %s, %s, (SELECT coalesce(max(notification_id), 0) FROM {events})) "
                f"RETURNING {_ENDPOINT_COLUMNS}").format(s=Identifier(self.schema), events=self._events_table),
                (uuid4(), url, _unique(event_types), description, secret))
            return _endpoint(curs.fetchone()), secret

    def list(self) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(f"SELECT {_ENDPOINT_COLUMNS} FROM {{s}}.webhook_endpoints ORDER BY created_at, id"))
            return [_endpoint(row) for row in curs.fetchall()]

    def get(self, endpoint_id: UUID) -> dict[str, Any] | None:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(f"SELECT {_ENDPOINT_COLUMNS} FROM {{s}}.webhook_endpoints WHERE id = %s"),
                         (endpoint_id,))
            row = curs.fetchone()
        return _endpoint(row) if row else None

    def update(self, endpoint_id: UUID, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Applies ``changes`` (url, event_types, description, enabled). Disabling pauses its
        deliveries; enabling resumes them and forgets why it was disabled."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql("SELECT enabled FROM {s}.webhook_endpoints WHERE id = %s FOR UPDATE"),
                         (endpoint_id,))
            row = curs.fetchone()
            if row is None:
                return None
            assignments, values = [], []
            for column in ("url", "event_types", "description"):
                if column in changes:
                    value = changes[column]
                    assignments.append(f"{column} = %s")
                    values.append(_unique(value) if column == "event_types" else value)
            enabled = changes.get("enabled")
            if enabled is not None and enabled != row["enabled"]:
                if enabled:
                    assignments += ["enabled = true", "disabled_reason = NULL", "disabled_at = NULL",
                                    "failing_since = NULL"]
                else:
                    assignments += ["enabled = false", "disabled_reason = 'disabled through the API'",
                                    "disabled_at = now()"]
            curs.execute(self._sql(f"UPDATE {{s}}.webhook_endpoints SET {', '.join([*assignments, 'updated_at = now()'])} "
                                   f"WHERE id = %s RETURNING {_ENDPOINT_COLUMNS}"), (*values, endpoint_id))
            updated = curs.fetchone()
            if enabled is not None and enabled != row["enabled"]:
                (resume_endpoint_queues if enabled else pause_endpoint_queues)(curs, self.schema, endpoint_id)
        return _endpoint(updated)

    def delete(self, endpoint_id: UUID) -> bool:
        """The endpoint, with its deliveries and their attempts."""
        with self._pool.connection() as conn:
            return conn.execute(self._sql("DELETE FROM {s}.webhook_endpoints WHERE id = %s"),
                                (endpoint_id,)).rowcount == 1

    def rotate_secret(self, endpoint_id: UUID) -> tuple[dict[str, Any], str] | None:
        secret = new_secret()
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(
                "UPDATE {s}.webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = now() + %s, "
                f"secret = %s, updated_at = now() WHERE id = %s RETURNING {_ENDPOINT_COLUMNS}"),
                (ROTATION_OVERLAP, secret, endpoint_id))
            row = curs.fetchone()
        return (_endpoint(row), secret) if row else None

    def request_replay(self, endpoint_id: UUID, since_position: int) -> dict[str, Any] | None:
        """Owes the endpoint again what the feed recorded after ``since_position``, up to its
        head now (a worker adds the deliveries: projections/webhook_replay.py)."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql("SELECT 1 FROM {s}.webhook_endpoints WHERE id = %s"), (endpoint_id,))
            if curs.fetchone() is None:
                return None
            curs.execute(SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}").format(self._events_table))
            head = curs.fetchone()["head"]
            if since_position > head:
                raise BeyondHead(f"position {since_position} is beyond the event feed's head ({head})")
            curs.execute(self._sql(
                "INSERT INTO {s}.webhook_replays (endpoint_id, since_position, until_position, next_position) "
                "VALUES (%s, %s, %s, %s) RETURNING id, endpoint_id, since_position, until_position, created_at"),
                (endpoint_id, since_position, head, since_position))
            replay = curs.fetchone()
        return {**replay, "endpoint_id": str(replay["endpoint_id"]), "status": "running" if head > since_position
                else "finished"}

    # ---------------------------------------------------------------- deliveries

    def deliveries(self, *, endpoint_id: UUID | None, status: str | None, limit: int,
                   before: int | None) -> list[dict[str, Any]]:
        """Newest first, ``limit`` of them with an id below ``before``."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(
                f"SELECT {_DELIVERY_COLUMNS} FROM {{s}}.webhook_deliveries d "
                "WHERE (%s::uuid IS NULL OR d.endpoint_id = %s) AND (%s::text IS NULL OR d.status = %s) "
                "AND (%s::bigint IS NULL OR d.id < %s) ORDER BY d.id DESC LIMIT %s"),
                (endpoint_id, endpoint_id, status, status, before, before, limit))
            return [_delivery(row) for row in curs.fetchall()]

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """One delivery with every attempt made at it."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(f"SELECT {_DELIVERY_COLUMNS} FROM {{s}}.webhook_deliveries d WHERE d.id = %s"),
                         (delivery_id,))
            row = curs.fetchone()
            if row is None:
                return None
            curs.execute(self._sql(
                "SELECT attempt, started_at, duration_ms, status_code, response_excerpt, error, outcome "
                "FROM {s}.webhook_attempts WHERE delivery_id = %s ORDER BY id"), (delivery_id,))
            return {**_delivery(row), "attempt_log": curs.fetchall()}

    def retry(self, delivery_id: int) -> dict[str, Any] | None:
        """Sends the delivery's message again. A delivered or failed one is owed anew (a new
        delivery at the end of its queue, with the same webhook-id); a pending one first in its
        queue is due now. Raises NotRetryable if it waits for an earlier one, is being sent, or
        its endpoint is disabled."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as curs:
            curs.execute(self._sql(
                "SELECT d.id, d.endpoint_id, d.message_id, d.position, d.type, d.ordering_key, d.status, "
                "d.next_attempt_at, d.in_flight_since, e.enabled FROM {s}.webhook_deliveries d "
                "JOIN {s}.webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = %s FOR SHARE OF e"),
                (delivery_id,))
            row = curs.fetchone()
            if row is None:
                return None
            if not row["enabled"]:
                raise NotRetryable(f"endpoint {row['endpoint_id']} is disabled: enable it first "
                                   "(PATCH /webhooks/endpoints/{id} {\"enabled\": true})")
            if row["status"] == "pending":
                if row["in_flight_since"] is not None:
                    raise NotRetryable(f"delivery {delivery_id} is being sent now")
                if row["next_attempt_at"] is None:
                    raise NotRetryable(f"delivery {delivery_id} waits for an earlier delivery of the same order "
                                       "to this endpoint")
                curs.execute(self._sql("UPDATE {s}.webhook_deliveries SET next_attempt_at = now() WHERE id = %s"),
                             (delivery_id,))
                retried = delivery_id
            else:
                curs.execute(self._sql(
                    "INSERT INTO {s}.webhook_deliveries (endpoint_id, message_id, position, type, ordering_key, "
                    "origin, next_attempt_at) VALUES (%s, %s, %s, %s, %s, 'retry', CASE WHEN NOT EXISTS ("
                    "SELECT 1 FROM {s}.webhook_deliveries p WHERE p.endpoint_id = %s AND p.ordering_key = %s "
                    "AND p.status = 'pending') THEN now() END) RETURNING id"),
                    (row["endpoint_id"], row["message_id"], row["position"], row["type"], row["ordering_key"],
                     row["endpoint_id"], row["ordering_key"]))
                retried = curs.fetchone()["id"]
            curs.execute(self._sql(f"SELECT {_DELIVERY_COLUMNS} FROM {{s}}.webhook_deliveries d WHERE d.id = %s"),
                         (retried,))
            return _delivery(curs.fetchone())


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _endpoint(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": str(row["id"]), "event_types": list(row["event_types"])}


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "endpoint_id": str(row["endpoint_id"])}
