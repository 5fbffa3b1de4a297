"""The HTTP tests run the real System on a fresh PostgreSQL database of their own, through
FastAPI's TestClient, as ``oms serve`` runs it by default: the API (with the read models) in this
process, the writer (with its cache and the payment policy) in a writer process of its own that
the API sends its commands to over the writer's socket. ``test_writer_in_thread.py`` runs the
journey with the writer inside the API process (``OMS_WRITER=thread``)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import System, WriterProcess, build_system
from infrastructure.settings import Settings
from tests.api.support import Api
from tests.database import fresh_database_url


@pytest.fixture(scope="session")
def api_database_url() -> Iterator[str]:
    with fresh_database_url() as url:
        yield url


@pytest.fixture(scope="session")
def writer_process(api_database_url: str) -> Iterator[WriterProcess]:
    writer = WriterProcess(environment={"OMS_DATABASE_URL": api_database_url})
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()


@pytest.fixture(scope="session")
def system(api_database_url: str, writer_process: WriterProcess) -> Iterator[System]:
    # Many tests fail to authenticate on purpose, all from one address: test_auth_failures.py
    # tests the limit on an app of its own.
    settings = Settings(read_your_writes_timeout=5.0, writer_socket=writer_process.socket_path,
                        auth_failures_allowed=1_000_000)
    system = build_system(settings, database_url=api_database_url)
    system.start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="session")
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system)) as client:
        yield client


@pytest.fixture(scope="session")
def secrets(system: System) -> dict[str, str]:
    """One API key per role: role -> secret."""
    return {role: system.api_keys.create(f"test {role}", role)[1]
            for role in ("admin", "integrator", "auditor", "analyst")}


@pytest.fixture(scope="session")
def admin(client: TestClient, secrets: dict[str, str]) -> Api:
    return Api(client, secrets["admin"], "test admin")


@pytest.fixture(scope="session")
def integrator(client: TestClient, secrets: dict[str, str]) -> Api:
    return Api(client, secrets["integrator"], "test integrator")


@pytest.fixture(scope="session")
def auditor(client: TestClient, secrets: dict[str, str]) -> Api:
    return Api(client, secrets["auditor"], "test auditor")


@pytest.fixture(scope="session")
def analyst(client: TestClient, secrets: dict[str, str]) -> Api:
    return Api(client, secrets["analyst"], "test analyst")


@pytest.fixture
def anonymous(client: TestClient) -> Api:
    return Api(client, None)


@pytest.fixture(scope="session")
def served(system: System) -> Iterator[tuple[str, int]]:
    """The app on a real HTTP server on loopback (uvicorn, as `oms serve` runs it), for what
    TestClient cannot show: it hands the app a body whole, where a socket streams it."""
    with serving(system) as address:
        yield address


@contextmanager
def serving(system: System) -> Iterator[tuple[str, int]]:
    server = uvicorn.Server(uvicorn.Config(create_app(system), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)
