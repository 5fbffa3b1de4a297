"""Brute force against API keys: a client that keeps failing is answered 429 with a growing
Retry-After, its guesses are not looked up meanwhile, and keys known valid still pass."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_failures import AuthFailures
from tests.api.support import assert_problem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def guarded(system, monkeypatch) -> Iterator[tuple[TestClient, Clock, list[str]]]:
    app = create_app(system)
    clock = Clock()
    app.state.auth_failures = AuthFailures(allowed=3, window=60, max_block=8, clock=clock)
    lookups: list[str] = []
    authenticate = system.api_keys.authenticate

    def counted(secret: str):  # noqa: ANN202
        lookups.append(secret)
        return authenticate(secret)

    monkeypatch.setattr(system.api_keys, "authenticate", counted)
    with TestClient(app) as client:
        yield client, clock, lookups


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_repeated_failures_are_answered_429_with_a_growing_retry_after(guarded) -> None:
    client, clock, lookups = guarded
    for n in range(4):  # the allowance, and the failure beyond it that starts a block: looked up
        assert_problem(client.get("/locations", headers=_bearer(f"oms_guess_{n}")), 401)
    assert len(lookups) == 4

    waits = []
    for n in range(6):
        r = client.get("/locations", headers=_bearer(f"oms_guess_again_{n}"))
        problem = assert_problem(r, 429)
        assert problem["type"] == "urn:oms:problem:too-many-failed-authentications"
        waits.append(int(r.headers["retry-after"]))
        clock.now += waits[-1]  # the client waits as told, and guesses again: one more 401, a longer block
        assert_problem(client.get("/locations", headers=_bearer(f"oms_guess_after_wait_{n}")), 401)
    assert waits == [1, 2, 4, 8, 8, 8]  # doubling, up to the cap
    assert len(lookups) == 4 + 6  # the refused attempts were never looked up


def test_a_blocked_client_is_not_looked_up_and_a_key_known_valid_still_passes(guarded, secrets) -> None:
    client, clock, lookups = guarded
    assert client.get("/locations", headers=_bearer(secrets["integrator"])).status_code == 200  # known valid now
    for n in range(4):
        client.get("/locations", headers=_bearer(f"oms_guess_{n}"))
    before = len(lookups)

    for n in range(5):
        r = client.get("/locations", headers=_bearer(f"oms_guess_blocked_{n}"))
        assert_problem(r, 429)
    assert len(lookups) == before  # not a query per guess
    assert client.get("/locations", headers=_bearer(secrets["integrator"])).status_code == 200
    assert_problem(client.get("/locations"), 429)  # no key at all: refused the same way

    clock.now += 61  # the block and the window pass
    assert_problem(client.get("/locations", headers=_bearer("oms_guess_later")), 401)


def test_429_is_documented_wherever_401_is(admin) -> None:
    document = admin.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "401" in operation["responses"]:
                assert "429" in operation["responses"], (method, path)
