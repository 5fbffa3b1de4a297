from __future__ import annotations

import sys
import types
import uuid

import pytest

import infrastructure
from infrastructure import cli
from infrastructure.api_keys import ApiKeyStore
from infrastructure.database import create_pool


@pytest.fixture
def fake_bootstrap(monkeypatch, database_url):
    pool = create_pool(database_url, min_size=1, max_size=2)
    store = ApiKeyStore(pool)
    store.create_table()
    calls: list[tuple[str, object]] = []
    module = types.SimpleNamespace(
        serve=lambda settings: calls.append(("serve", settings)),
        api_key_store=lambda settings: store,
        rebuild_projections=lambda settings, partitions=1: calls.append(("rebuild", partitions))
        or {"orders": 3, "customers": 1},
    )
    monkeypatch.setitem(sys.modules, "infrastructure.bootstrap", module)
    monkeypatch.setattr(infrastructure, "bootstrap", module, raising=False)
    yield calls, store
    pool.close()


def test_api_keys_lifecycle(fake_bootstrap, capsys) -> None:
    _, store = fake_bootstrap
    assert cli.main(["api-keys", "create", "--role", "auditor", "--name", "cli-test"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    key_id, secret = lines["id"].strip(), lines["secret"].strip()
    assert store.authenticate(secret).id == uuid.UUID(key_id)

    assert cli.main(["api-keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and secret not in listing

    assert cli.main(["api-keys", "revoke", key_id]) == 0
    assert cli.main(["api-keys", "revoke", str(uuid.uuid4())]) == 1
    store.clear_cache()
    assert store.authenticate(secret) is None


def test_an_integrator_key_limited_to_channels(fake_bootstrap, capsys) -> None:
    _, store = fake_bootstrap
    assert cli.main(["api-keys", "create", "--role", "integrator", "--name", "amazon",
                     "--channel", "amazon-de", "--channel", "amazon-fr"]) == 0
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert lines["channels"].strip() == "amazon-de, amazon-fr"
    assert store.authenticate(lines["secret"].strip()).channels == frozenset({"amazon-de", "amazon-fr"})
    assert cli.main(["api-keys", "list", "--json"]) == 0
    assert '"amazon-fr"' in capsys.readouterr().out
    assert cli.main(["api-keys", "create", "--role", "auditor", "--name", "x", "--channel", "web"]) == 2
    assert "only integrator keys" in capsys.readouterr().err


def test_serve_and_rebuild(fake_bootstrap, capsys) -> None:
    calls, _ = fake_bootstrap
    assert cli.main(["serve", "--port", "9123"]) == 0
    assert calls[0][0] == "serve" and calls[0][1].port == 9123
    assert cli.main(["projections", "rebuild"]) == 0
    assert "orders: 3" in capsys.readouterr().out
    assert cli.main(["projections", "rebuild", "--partitions", "2"]) == 0
    assert [c for c in calls if c[0] == "rebuild"] == [("rebuild", 1), ("rebuild", 2)]


def test_bad_role_rejected() -> None:
    with pytest.raises(SystemExit):
        cli.main(["api-keys", "create", "--role", "root", "--name", "x"])
