from __future__ import annotations

import hashlib
import uuid

import psycopg
import pytest

from infrastructure.api_keys import ApiKey, ApiKeyStore, Role, hash_secret
from infrastructure.database import create_pool


@pytest.fixture(scope="module")
def pool(database_url):
    pool = create_pool(database_url, min_size=1, max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def store(pool) -> ApiKeyStore:
    store = ApiKeyStore(pool)
    store.create_table()
    store.create_table()  # idempotent
    with pool.connection() as conn:
        conn.execute("TRUNCATE api_keys")
    return store


def test_create_and_authenticate(store: ApiKeyStore) -> None:
    key, secret = store.create("erp-integration", Role.INTEGRATOR)
    assert isinstance(key, ApiKey)
    assert key.role is Role.INTEGRATOR and key.name == "erp-integration"
    assert key.revoked_at is None and key.created_at.tzinfo is not None
    assert secret.startswith("oms_") and len(secret) > 40

    assert store.authenticate(secret) == key
    assert store.authenticate(secret + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate("oms_wrong") is None


def test_secrets_are_unique(store: ApiKeyStore) -> None:
    secrets_ = {store.create(f"k{i}", "analyst")[1] for i in range(20)}
    assert len(secrets_) == 20
    assert store.count_active() == 20


def test_secret_is_stored_hashed(store: ApiKeyStore, pool) -> None:
    _, secret = store.create("auditor", Role.AUDITOR)
    with pool.connection() as conn:
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
        dump = conn.execute("SELECT api_keys::text FROM api_keys").fetchone()[0]
    assert len(rows) == 1
    assert secret not in dump
    assert secret.encode() not in b"".join(v if isinstance(v, bytes) else str(v).encode() for v in rows[0])
    with pool.connection() as conn:
        (stored,) = conn.execute("SELECT secret_sha256 FROM api_keys").fetchone()
    assert bytes(stored) == hashlib.sha256(secret.encode()).digest() == hash_secret(secret)


def test_role_constraint(store: ApiKeyStore, pool) -> None:
    with pytest.raises(ValueError):
        store.create("x", "superuser")
    with pytest.raises(psycopg.errors.CheckViolation):
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, secret_sha256) VALUES (%s, 'x', 'root', 'x')",
                (uuid.uuid4(),),
            )


def test_revoke(store: ApiKeyStore) -> None:
    key, secret = store.create("temp", Role.ANALYST)
    other, other_secret = store.create("keep", Role.ANALYST)
    assert store.authenticate(secret) == key  # now cached
    assert store.revoke(key.id) is True
    # Revocation through the same store takes effect immediately (cache entry dropped).
    assert store.authenticate(secret) is None
    assert store.authenticate(other_secret) == other
    assert store.revoke(key.id) is True  # already revoked, still known
    assert store.revoke(uuid.uuid4()) is False
    assert store.revoke("not-a-uuid") is False
    assert store.count_active() == 1
    listed = {k.id: k for k in store.list()}
    assert listed[key.id].revoked_at is not None
    assert listed[other.id].revoked_at is None


def test_revocation_by_another_process_is_seen_after_cache_ttl(pool) -> None:
    store = ApiKeyStore(pool, cache_ttl=0.0)
    store.create_table()
    elsewhere = ApiKeyStore(pool)
    key, secret = store.create("shared", Role.ADMIN)
    assert store.authenticate(secret) == key
    assert elsewhere.revoke(key.id)
    assert store.authenticate(secret) is None


def test_cache_holds_for_ttl(pool) -> None:
    store = ApiKeyStore(pool, cache_ttl=60.0)
    store.create_table()
    elsewhere = ApiKeyStore(pool)
    key, secret = store.create("cached", Role.ADMIN)
    assert store.authenticate(secret) == key
    elsewhere.revoke(key.id)
    assert store.authenticate(secret) == key  # stale for up to cache_ttl
    # the cache is keyed by digest, never by the secret itself
    assert all(isinstance(k, bytes) and len(k) == 32 for k in store._cache)
    store.clear_cache()
    assert store.authenticate(secret) is None


def test_ensure_is_idempotent(store: ApiKeyStore) -> None:
    secret = "my-bootstrap-admin-key-0123456789"
    key = store.ensure(secret, "bootstrap-admin", Role.ADMIN)
    again = store.ensure(secret, "bootstrap-admin", Role.ADMIN)
    assert key == again
    assert key.role is Role.ADMIN
    assert store.authenticate(secret) == key
    assert store.count_active() == 1
    assert [k.id for k in store.list()] == [key.id]


def test_list_order_and_fields(store: ApiKeyStore) -> None:
    a, _ = store.create("a", Role.ADMIN)
    b, _ = store.create("b", Role.AUDITOR)
    keys = store.list()
    assert [k.id for k in keys] == [a.id, b.id]
    assert keys[1].role == "auditor"
    with pytest.raises(AttributeError):
        keys[0].name = "changed"  # frozen


# ---------------------------------------------------------------- OMS_ADMIN_KEY


def test_a_changed_admin_key_setting_revokes_the_key_made_from_the_previous_value(store: ApiKeyStore, pool) -> None:
    from infrastructure.api_keys import LEGACY_ADMIN_KEY_NAME
    from infrastructure.bootstrap import ensure_admin_key
    from infrastructure.settings import Settings

    # Given a key made from OMS_ADMIN_KEY before keys knew their origin, and one from the API
    legacy = store.ensure("oms_legacy_admin_secret_0123456789abcdef", LEGACY_ADMIN_KEY_NAME, Role.ADMIN)
    other, other_secret = store.create("integrator from the API", Role.INTEGRATOR)
    first = "oms_first_admin_secret_0123456789abcdef0123"
    second = "oms_second_admin_secret_0123456789abcdef012"

    # When the service starts with one value, then with another
    ensure_admin_key(store, Settings(admin_key=first))
    assert store.authenticate(first) is not None
    assert store.get(legacy.id).revoked_at is not None  # the legacy one was the setting's too
    ensure_admin_key(store, Settings(admin_key=second))

    # Then only the current value works; keys made otherwise are untouched
    assert store.authenticate(first) is None and store.authenticate(second) is not None
    assert store.authenticate(other_secret) is not None and store.get(other.id).revoked_at is None
    ensure_admin_key(store, Settings(admin_key=second))  # the same value again changes nothing
    assert store.authenticate(second) is not None


@pytest.mark.parametrize("length", [0, 8, 31])
def test_an_admin_key_setting_shorter_than_32_characters_is_refused(length: int) -> None:
    from pydantic import ValidationError

    from infrastructure.settings import Settings

    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(admin_key="k" * length)
    assert Settings(admin_key="k" * 32).admin_key is not None


def test_the_oms_command_refuses_to_start_with_a_short_admin_key(monkeypatch, capsys) -> None:
    from infrastructure import cli
    from infrastructure.settings import get_settings

    monkeypatch.setenv("OMS_ADMIN_KEY", "too-short")
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    assert "OMS_ADMIN_KEY must be at least 32 characters" in capsys.readouterr().err


def test_an_integrator_key_can_be_limited_to_channels(store: ApiKeyStore, pool) -> None:
    key, secret = store.create("amazon connector", Role.INTEGRATOR, ["amazon-de", "amazon-fr", "amazon-de"])
    assert key.channels == frozenset({"amazon-de", "amazon-fr"})
    assert key.reaches("amazon-fr") and not key.reaches("web")
    assert store.authenticate(secret) == key and store.get(key.id) == key
    assert [k.channels for k in store.list()] == [key.channels]

    unlimited, _ = store.create("erp", Role.INTEGRATOR)
    assert unlimited.channels is None and unlimited.reaches("web")
    for role, channels in ((Role.ADMIN, ["web"]), (Role.AUDITOR, ["web"]), (Role.INTEGRATOR, []),
                           (Role.INTEGRATOR, [" "])):
        with pytest.raises(ValueError):
            store.create("x", role, channels)
    assert store.count_active() == 2


def test_the_channels_column_is_added_to_a_table_made_before_it(pool) -> None:
    with pool.connection() as conn:
        conn.execute("DROP TABLE IF EXISTS api_keys")
        conn.execute("CREATE TABLE api_keys (id uuid PRIMARY KEY, name text NOT NULL, role text NOT NULL, "
                     "secret_sha256 bytea UNIQUE NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                     "revoked_at timestamptz)")
        conn.execute("INSERT INTO api_keys (id, name, role, secret_sha256) VALUES (%s, 'old', 'integrator', %s)",
                     (uuid.uuid4(), hash_secret("oms_old")))
    store = ApiKeyStore(pool)
    store.create_table()
    old = store.authenticate("oms_old")
    assert old is not None and old.channels is None and old.reaches("web")
