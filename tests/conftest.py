from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.database import fresh_database_url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, shared by the whole test session and dropped afterwards."""
    with fresh_database_url() as url:
        yield url
