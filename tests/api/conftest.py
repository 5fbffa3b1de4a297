"""The HTTP tests run the real System (event store, writer, projections, payment policy) on a
fresh PostgreSQL database of their own, through FastAPI's TestClient."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import System, build_system
from infrastructure.settings import Settings
from tests.api.support import Api
from tests.database import fresh_database_url


@pytest.fixture(scope="session")
def api_database_url() -> Iterator[str]:
    with fresh_database_url() as url:
        yield url


@pytest.fixture(scope="session")
def system(api_database_url: str) -> Iterator[System]:
    system = build_system(Settings(read_your_writes_timeout=5.0), database_url=api_database_url)
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
