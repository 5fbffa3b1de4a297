"""Database URL resolution, eventsourcing environment mapping and connection pools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from psycopg.conninfo import conninfo_to_dict

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from infrastructure.settings import Settings


def resolve_database_url(settings: Settings) -> str:
    """``settings.database_url`` if configured, else the URL of the embedded server."""
    if settings.database_url:
        return settings.database_url
    from infrastructure.embedded_postgres import ensure_embedded_postgres

    return ensure_embedded_postgres(settings.data_dir)


def eventsourcing_env(
    url: str,
    *,
    schema: str = "",
    pool_size: int = 5,
    max_overflow: int = 10,
) -> dict[str, str]:
    """Map a ``postgresql://`` URL to the eventsourcing library's ``POSTGRES_*`` environment.

    Query parameters are honoured (``?host=/run/postgresql`` for unix sockets,
    ``?port=``, ``?user=`` ...).  ``POSTGRES_ENABLE_DB_FUNCTIONS`` is never set.
    """
    params = conninfo_to_dict(url)
    dbname = params.get("dbname")
    if not dbname:
        raise ValueError("database URL must name a database")
    host = str(params.get("host") or "localhost")
    if "," in host:
        raise ValueError("multi-host database URLs are not supported")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "infrastructure.event_recorder:OmsApplicationRecorder",
        "POSTGRES_DBNAME": str(dbname),
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
    }
    if "connect_timeout" in params:
        env["POSTGRES_CONNECT_TIMEOUT"] = str(params["connect_timeout"])
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


def create_pool(url: str, min_size: int = 1, max_size: int = 10) -> ConnectionPool:
    """Open a psycopg connection pool for read models and queries.

    Connections use autocommit off (use ``with conn.transaction()`` / the pool's
    context manager, which commits on success) and the server's default
    ``synchronous_commit`` (on).
    """
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": False},
        open=False,
        name="oms-read",
    )
    pool.open(wait=True, timeout=30.0)
    return pool


# Arbitrary but fixed: the advisory lock key under which processes create tables.
_SCHEMA_LOCK_KEY = 0x0_4F4D_5300


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Serialises table creation between processes that start together (API workers, the
    projection worker): PostgreSQL's ``CREATE TABLE IF NOT EXISTS`` is not safe under concurrency."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))


# What makes a commit durable: a 2xx means the events are on disk. Settings that trade that away
# for speed are refused, wherever they come from (postgresql.conf, ALTER ROLE/DATABASE, or
# PGOPTIONS in the service's environment), so each is read in a session of the service's own.
DURABILITY = {
    "fsync": ({"on"}, "fsync=off loses committed transactions when the machine stops"),
    "synchronous_commit": ({"on", "remote_apply"},
                           "a commit then returns before its WAL is flushed: an order answered 201 can be lost"),
    "full_page_writes": ({"on"}, "full_page_writes=off can corrupt pages torn by a crash"),
}


class UnsafeDatabase(RuntimeError):
    """The database is set up so that a committed event may be lost."""


def refuse_unsafe_settings(conn: Any, where: str) -> None:
    """Raises ``UnsafeDatabase`` naming every setting of ``conn``'s session that is unsafe."""
    problems = []
    for name, (safe, why) in DURABILITY.items():
        row = conn.execute(f"SHOW {name}").fetchone()
        value = str(next(iter(row.values())) if isinstance(row, dict) else row[0])  # (any row factory)
        if value not in safe:
            problems.append(f"{name}={value} ({why})")
    if problems:
        raise UnsafeDatabase(f"refusing to start: the database sessions of the {where} have " + "; ".join(problems)
                             + ". Set them back (postgresql.conf, ALTER SYSTEM/DATABASE/ROLE, or PGOPTIONS).")
