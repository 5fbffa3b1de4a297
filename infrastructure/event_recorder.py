"""The library's Postgres application recorder with a cheaper insert.

The library sends a batch as one array of a composite type, which psycopg renders as text,
escaping every value in Python (about a tenth of the writer's time in profiles), and spends
three round trips and six statements on it (BEGIN, the lock timeout, the table lock, NOTIFY, the
insert, COMMIT). Here a batch is one call of a database function, ``oms_insert_events``, given
four parallel arrays in binary: one prepared statement, one round trip, run in autocommit so that
the statement is its own transaction. The function does what the library's statements do, in
the same order: the lock timeout, the table lock (insert order = commit order), the NOTIFY, and
``INSERT ... RETURNING notification_id`` in insertion order. The lock is held until the statement's
transaction commits, and the call returns only after that commit (durable, as before).

The library's recorder conformance tests run against this class
(``tests/infrastructure/test_recorder_conformance.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal

INSERT_FUNCTION = "oms_insert_events"


class OmsApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        function = SQL("{}.{}").format(schema, Identifier(INSERT_FUNCTION))
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {function}("
            "ids uuid[], versions bigint[], topics text[], states bytea[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "PERFORM set_config('lock_timeout', {timeout}, true); "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
            "END $$"
        ).format(function=function, schema=schema, table=table, channel=Identifier(self.channel_name),
                 timeout=Literal(f"{self.datastore.lock_timeout}s")))
        # Rendered once: a statement composed of identifiers is otherwise escaped on every call.
        self.insert_statement = SQL(
            "SELECT n AS notification_id FROM {}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) AS n"
        ).format(function).as_bytes(None)
        self.latest_position_statement = SQL(
            "SELECT max(notification_id) AS position FROM {schema}.{table} WHERE originator_id = %s"
        ).format(schema=schema, table=table)

    def latest_position(self, originator_id: Any) -> int | None:
        """The feed position of the aggregate's latest event (None if it has none)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.latest_position_statement, (originator_id,), prepare=True)
            row = curs.fetchone()
        return row["position"] if row else None

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """All of a batch's events in one transaction and one round trip; their notification ids
        in insertion order. A unique-key violation (another writer took a version) records
        nothing and raises the library's ``IntegrityError``."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            assert conn.autocommit  # the statement is its own transaction
            self._insert_arrays(curs, stored_events)
            ids = [notification_id for notification_id, in curs.fetchall()]
        if len(ids) != len(stored_events):
            raise ProgrammingError(f"got {len(ids)} notification ids for {len(stored_events)} events")
        return ids

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        """Inside a transaction of the caller's (the writer's exclusive retry): the function's
        lock is then held to the end of that transaction."""
        self._insert_arrays(curs, stored_events)

    def _insert_arrays(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        curs.execute(
            self.insert_statement,
            ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
             [e.topic for e in stored_events], [e.state for e in stored_events]),
            prepare=True, binary=True,
        )
