"""The eventsourcing library's own recorder conformance tests, run against the Postgres settings
we ship (``infrastructure.database.eventsourcing_env``): the default insert path with its table
lock, never the DB functions, synchronous commit on, and our application recorder
(``infrastructure.event_recorder``: the library's, with a binary array insert).

Each test gets a database of its own, since these cases expect empty tables.
"""
from __future__ import annotations

import contextlib

import psycopg
from eventsourcing.persistence import TrackingRecorder
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from eventsourcing.utils import resolve_topic

from infrastructure.database import eventsourcing_env
from infrastructure.event_recorder import OmsApplicationRecorder
from tests.database import fresh_database_url


class _FreshDatabase:
    """Mixin: a fresh database per test, configured exactly as the service configures its own."""

    def setUp(self) -> None:
        self._stack = contextlib.ExitStack()
        self.url = self._stack.enter_context(fresh_database_url())
        env = eventsourcing_env(self.url)
        assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env
        self.datastore = PostgresDatastore(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
            pool_size=int(env["POSTGRES_POOL_SIZE"]), max_overflow=int(env["POSTGRES_MAX_OVERFLOW"]),
            lock_timeout=int(env["POSTGRES_LOCK_TIMEOUT"]),
            idle_in_transaction_session_timeout=int(env["POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"]),
        )
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.datastore.close()
        self._stack.close()


def shipped_application_recorder(datastore: PostgresDatastore) -> PostgresApplicationRecorder:
    recorder_class = resolve_topic(eventsourcing_env("postgresql:///x")["APPLICATION_RECORDER_TOPIC"])
    assert issubclass(recorder_class, PostgresApplicationRecorder)
    return recorder_class(datastore, events_table_name="stored_events")


class TestAggregateRecorder(_FreshDatabase, AggregateRecorderTestCase):
    """The recorder of the snapshot store."""

    def create_recorder(self) -> PostgresAggregateRecorder:
        recorder = PostgresAggregateRecorder(self.datastore, events_table_name="snapshots")
        recorder.create_table()
        return recorder


class TestApplicationRecorder(_FreshDatabase, ApplicationRecorderTestCase):
    def create_recorder(self) -> PostgresApplicationRecorder:
        recorder = shipped_application_recorder(self.datastore)
        recorder.create_table()
        return recorder

    def test_the_service_records_with_this_recorder(self) -> None:
        from application.event_store import OrderManagement

        env = eventsourcing_env(self.url)
        env["CREATE_TABLE"] = "y"
        app = OrderManagement(env)
        try:
            assert type(app.recorder) is OmsApplicationRecorder
        finally:
            app.close()

    def test_synchronous_commit_is_on(self) -> None:
        with psycopg.connect(self.url) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"

    def test_insert_takes_the_table_lock(self) -> None:
        """The library's DB functions insert without it; ours (``oms_insert_events``) takes it
        (tests/infrastructure/test_event_recorder.py shows an insert waiting for it)."""
        recorder = self.create_recorder()
        assert not self.datastore.enable_db_functions
        assert any("LOCK TABLE" in s.as_string() for s in recorder.lock_table_statements)
        with psycopg.connect(self.url) as conn:
            body = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'oms_insert_events'").fetchone()[0]
        assert "LOCK TABLE" in body and "IN EXCLUSIVE MODE" in body


class TestNonInterleavingNotificationIDs(_FreshDatabase, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> PostgresApplicationRecorder:
        recorder = shipped_application_recorder(self.datastore)
        recorder.create_table()
        return recorder


class TestTrackingRecorder(_FreshDatabase, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        recorder = PostgresTrackingRecorder(self.datastore, tracking_table_name="tracking")
        recorder.create_table()
        return recorder


class TestProcessRecorder(_FreshDatabase, ProcessRecorderTestCase):
    def create_recorder(self) -> PostgresProcessRecorder:
        recorder = PostgresProcessRecorder(
            self.datastore, events_table_name="stored_events", tracking_table_name="tracking")
        recorder.create_table()
        return recorder
