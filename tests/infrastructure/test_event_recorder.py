"""The application recorder's own insert (infrastructure/event_recorder.py): a whole batch in one
statement, one transaction and one round trip, all of it or none of it, under the table lock."""
from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg.pq import TransactionStatus

from infrastructure.database import eventsourcing_env
from infrastructure.event_recorder import OmsApplicationRecorder
from tests.database import fresh_database_url


@pytest.fixture
def recorder() -> Iterator[OmsApplicationRecorder]:
    with fresh_database_url() as url:
        env = eventsourcing_env(url)
        datastore = PostgresDatastore(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"], pool_size=1, max_overflow=0)
        recorder = OmsApplicationRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        try:
            yield recorder
        finally:
            datastore.close()


def event(originator_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic="t", state=b"{}")


def recorded(recorder: OmsApplicationRecorder) -> list[tuple[uuid.UUID, int]]:
    return [(n.originator_id, n.originator_version) for n in recorder.select_notifications(start=1, limit=100)]


def test_a_batch_is_recorded_in_order_and_its_ids_returned_in_order(recorder: OmsApplicationRecorder) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()

    first = recorder.insert_events([event(a, 1), event(b, 1), event(a, 2)])
    second = recorder.insert_events([event(b, 2)])

    assert first == [1, 2, 3] and second == [4]
    assert recorded(recorder) == [(a, 1), (b, 1), (a, 2), (b, 2)]


def test_a_conflicting_version_records_nothing_of_its_batch_and_leaves_the_connection_clean(
        recorder: OmsApplicationRecorder, caplog: pytest.LogCaptureFixture) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([event(a, 1)])

    with caplog.at_level(logging.WARNING), pytest.raises(IntegrityError):
        recorder.insert_events([event(b, 1), event(a, 1)])

    assert recorded(recorder) == [(a, 1)]
    # The transaction was ended here, not by the pool's clean-up of a connection returned mid-transaction.
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]
    with recorder.datastore.get_connection() as conn:
        assert conn.info.transaction_status == TransactionStatus.IDLE
    recorder.insert_events([event(b, 1)])
    assert recorded(recorder) == [(a, 1), (b, 1)]


def test_a_batch_costs_one_round_trip(recorder: OmsApplicationRecorder) -> None:
    recorder.insert_events([event(uuid.uuid4(), 1)])  # connection opened and statements prepared
    with tempfile.TemporaryFile("w+") as trace:
        # The pool holds one connection: the one traced here is the one the insert takes.
        with recorder.datastore.get_connection() as conn:
            conn.pgconn.trace(trace.fileno())
        try:
            recorder.insert_events([event(uuid.uuid4(), 1), event(uuid.uuid4(), 1)])
        finally:
            with recorder.datastore.get_connection() as conn:
                conn.pgconn.untrace()
        trace.seek(0)
        messages = trace.read().splitlines()

    sent_syncs = [m for m in messages if "\tF\t" in m and "Sync" in m]
    assert len(sent_syncs) == 1, messages
    completed = [m.split('"')[1].split()[0] for m in messages if "\tB\t" in m and "CommandComplete" in m]
    assert completed == ["SELECT"], "the batch is one statement (the insert function), its own transaction"
    # Bind: portal, statement, the number of parameter format codes, the codes (1 = binary), ...
    binds = [m.split("\tBind\t")[1].split() for m in messages if "\tF\t" in m and "\tBind\t" in m]
    insert = [b for b in binds if b[2] == "4"]
    assert len(insert) == 1 and insert[0][3:7] == ["1"] * 4, "the batch's four arrays are not sent in binary"


def test_the_insert_waits_for_the_table_lock_so_the_feed_never_interleaves(recorder: OmsApplicationRecorder) -> None:
    """A plain INSERT takes ROW EXCLUSIVE, which another writer's ROW EXCLUSIVE does not block;
    the recorder's insert takes EXCLUSIVE first, so it waits for every other writer to commit."""
    import threading

    import psycopg

    recorder.insert_events([event(uuid.uuid4(), 1)])
    kwargs = dict(recorder.datastore.pool.kwargs or {})
    kwargs.pop("row_factory", None)
    with psycopg.connect(**kwargs) as other:
        other.execute("LOCK TABLE stored_events IN ROW EXCLUSIVE MODE")  # another writer, mid-transaction
        inserted: list = []
        thread = threading.Thread(target=lambda: inserted.append(recorder.insert_events([event(uuid.uuid4(), 1)])))
        thread.start()
        waiting = []
        for _ in range(100):
            waiting = other.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'stored_events'::regclass AND NOT granted").fetchall()
            if waiting:
                break
            thread.join(0.05)
        assert waiting == [("ExclusiveLock",)] and not inserted
        other.rollback()
        thread.join(10)
    assert inserted == [[2]]
