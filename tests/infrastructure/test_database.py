from __future__ import annotations

import pytest

from infrastructure.database import eventsourcing_env
from tests.database import with_dbname


def test_tcp_url() -> None:
    env = eventsourcing_env("postgresql://alice:s3cr%40t@db.example.com:6543/orders")
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.event_recorder:OmsApplicationRecorder",
        "POSTGRES_DBNAME": "orders",
        "POSTGRES_HOST": "db.example.com",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "alice",
        "POSTGRES_PASSWORD": "s3cr@t",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
    }


def test_defaults() -> None:
    env = eventsourcing_env("postgres://127.0.0.1/oms")
    assert env["POSTGRES_HOST"] == "127.0.0.1"
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PASSWORD"] == ""


def test_unix_socket_url() -> None:
    env = eventsourcing_env("postgresql://postgres:@/oms?host=/tmp/x/.oms/pgdata")
    assert env["POSTGRES_HOST"] == "/tmp/x/.oms/pgdata"
    assert env["POSTGRES_DBNAME"] == "oms"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POSTGRES_PORT"] == "5432"


def test_socket_with_port_and_conninfo_string() -> None:
    env = eventsourcing_env("host=/run/postgresql port=5433 dbname=oms user=bob")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_USER"]) == ("/run/postgresql", "5433", "bob")


def test_schema_and_pool_options() -> None:
    env = eventsourcing_env("postgresql://u@h/d", schema="oms", pool_size=20, max_overflow=0)
    assert env["POSTGRES_SCHEMA"] == "oms"
    assert env["POSTGRES_POOL_SIZE"] == "20"
    assert env["POSTGRES_MAX_OVERFLOW"] == "0"
    assert "POSTGRES_SCHEMA" not in eventsourcing_env("postgresql://u@h/d")


def test_never_enables_db_functions() -> None:
    for url in ("postgresql://u@h/d", "postgresql://postgres:@/oms?host=/tmp/s"):
        assert not any("DB_FUNCTIONS" in k for k in eventsourcing_env(url, schema="s"))


def test_requires_database_name() -> None:
    with pytest.raises(ValueError):
        eventsourcing_env("postgresql://u@h")


def test_with_dbname_roundtrip() -> None:
    url = with_dbname("postgresql://postgres:@/postgres?host=/tmp/sock", "oms_test_1")
    env = eventsourcing_env(url)
    assert (env["POSTGRES_HOST"], env["POSTGRES_DBNAME"]) == ("/tmp/sock", "oms_test_1")
    url = with_dbname("postgresql://a:b@127.0.0.1:5432/postgres", "x")
    assert url == "postgresql://a:b@127.0.0.1:5432/x"


def test_eventsourcing_accepts_env(database_url: str) -> None:
    """The mapped env really configures eventsourcing's Postgres recorders."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    class Thing(Aggregate):
        pass

    app = Application(env=eventsourcing_env(database_url, schema=""))
    try:
        thing = Thing()
        app.save(thing)
        assert app.repository.get(thing.id).id == thing.id
    finally:
        app.close()
