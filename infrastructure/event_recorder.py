"""The library's Postgres application recorder with a cheaper insert.

The library sends a batch as one array of a composite type, which psycopg renders as text,
escaping every value in Python (about a tenth of the writer's time in profiles). Here the batch goes as
four parallel arrays in binary, unnested by the same kind of ``INSERT ... SELECT``. Everything
else is the library's: the table lock taken first (insert order = commit order), the NOTIFY, and
``RETURNING notification_id`` in insertion order. The library's recorder conformance tests run
against this class (``tests/infrastructure/test_recorder_conformance.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

class OmsApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
            " RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        self.latest_position_statement = SQL(
            "SELECT max(notification_id) AS position FROM {schema}.{table} WHERE originator_id = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    def latest_position(self, originator_id: Any) -> int | None:
        """The feed position of the aggregate's latest event (None if it has none)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.latest_position_statement, (originator_id,), prepare=True)
            row = curs.fetchone()
        return row["position"] if row else None

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_arrays_statement,
            ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
             [e.topic for e in stored_events], [e.state for e in stored_events]),
            binary=True,
        )
