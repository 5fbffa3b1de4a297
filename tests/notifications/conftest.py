"""A deployment of its own for the notification tests: a fresh database, a writer process, the
API with its read models, the outbox and its sender in this process, and a real SMTP server on
loopback that the OMS is pointed at (``OMS_SMTP_URL``). Retries come quickly here."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infrastructure.bootstrap import System, WriterProcess, build_system
from infrastructure.settings import Settings
from tests.api.support import Api
from tests.database import fresh_database_url
from tests.notifications.mailbox import Mailbox, SmtpServer

MAIL_FROM = "Example Shop <orders@shop.example>"


@pytest.fixture(scope="module")
def notifications_database_url() -> Iterator[str]:
    with fresh_database_url() as url:
        yield url


@pytest.fixture(scope="module")
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="module")
def smtp(mailbox: Mailbox) -> Iterator[SmtpServer]:
    server = SmtpServer(mailbox).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def deployment(notifications_database_url: str, smtp: SmtpServer) -> Iterator[System]:
    writer = WriterProcess(environment={"OMS_DATABASE_URL": notifications_database_url})
    writer.start()
    settings = Settings(writer_socket=writer.socket_path, read_your_writes_timeout=5.0, auth_failures_allowed=1_000_000,
                        smtp_url=smtp.url, mail_from=MAIL_FROM, notification_retry_seconds=0.3,
                        notification_retry_max_seconds=1.0, notification_max_attempts=20)
    system = build_system(settings, database_url=notifications_database_url)
    system.notifications.sender.poll_interval = 0.1  # (retries come due within a second here)
    system.start()
    try:
        yield system
    finally:
        system.stop()
        writer.stop()


@pytest.fixture(scope="module")
def keys(deployment: System) -> dict[str, str]:
    return {role: deployment.api_keys.create(f"notifications {role}", role)[1]
            for role in ("admin", "integrator", "auditor", "analyst")}


@pytest.fixture(scope="module")
def http(deployment: System) -> Iterator[TestClient]:
    with TestClient(create_app(deployment)) as client:
        yield client


@pytest.fixture(scope="module")
def shop(http: TestClient, keys: dict[str, str]) -> Api:
    return Api(http, keys["admin"], "notifications admin")


@pytest.fixture(scope="module")
def auditor(http: TestClient, keys: dict[str, str]) -> Api:
    return Api(http, keys["auditor"], "notifications auditor")
