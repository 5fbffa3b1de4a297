"""API keys, stored hashed in a plain PostgreSQL table (not event-sourced).

Secrets are ``"oms_" + secrets.token_urlsafe(32)`` (256 bits of entropy).  For
high-entropy random tokens a single fast SHA-256 is the right hash: brute force
is infeasible regardless of hash speed, and a slow KDF (bcrypt/argon2) would only
add latency to every request.  Only the digest is stored; the secret is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from psycopg_pool import ConnectionPool

SECRET_PREFIX = "oms_"
CACHE_TTL_SECONDS = 5.0
_CACHE_MAX_ENTRIES = 10_000


class Role(StrEnum):
    ADMIN = "admin"
    INTEGRATOR = "integrator"
    AUDITOR = "auditor"
    ANALYST = "analyst"


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None
    # The channels an integrator key is limited to (the orders it may place, read, list and
    # change); None: every channel, as for every key of another role.
    channels: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def reaches(self, channel: str) -> bool:
        """Whether this key may see and change the orders of ``channel``."""
        return self.channels is None or channel in self.channels


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


_COLUMNS = "id, name, role, created_at, revoked_at, channels"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS api_keys (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'integrator', 'auditor', 'analyst')),
    secret_sha256 bytea UNIQUE NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- Where a key came from: 'OMS_ADMIN_KEY' for the one made from that setting (revoked when the
-- setting changes), NULL for keys made through the API or the CLI.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS origin text;
-- The channels an integrator key is limited to; NULL: every channel.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS channels text[]
"""
ADMIN_KEY_ORIGIN = "OMS_ADMIN_KEY"
LEGACY_ADMIN_KEY_NAME = "admin (OMS_ADMIN_KEY)"  # what such keys were named before ``origin``


def _row_to_key(row: tuple) -> ApiKey:
    id_, name, role, created_at, revoked_at, channels = row
    return ApiKey(id=id_, name=name, role=Role(role), created_at=created_at, revoked_at=revoked_at,
                  channels=frozenset(channels) if channels is not None else None)


def key_channels(role: Role, channels: Iterable[str] | None) -> frozenset[str] | None:
    """The channels a key of ``role`` is limited to: None (every channel), or a non-empty set,
    for an integrator key only (ValueError otherwise)."""
    if channels is None:
        return None
    limited = frozenset(channels)
    if role is not Role.INTEGRATOR:
        raise ValueError(f"only integrator keys can be limited to channels, not {role.value} keys")
    if not limited or not all(isinstance(c, str) and c.strip() for c in limited):
        raise ValueError("a key limited to channels needs at least one channel, none of them blank")
    return limited


class ApiKeyStore:
    def __init__(self, pool: ConnectionPool, *, cache_ttl: float = CACHE_TTL_SECONDS) -> None:
        self._pool = pool
        self._cache_ttl = cache_ttl
        # digest -> (expires_at_monotonic, ApiKey | None).  Keyed by the digest, never the secret.
        self._cache: dict[bytes, tuple[float, ApiKey | None]] = {}
        self._cache_lock = threading.Lock()

    # -- schema -------------------------------------------------------------
    def create_table(self) -> None:
        with self._pool.connection() as conn:
            # Serialise concurrent CREATE TABLE IF NOT EXISTS (it can race on the catalog).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('oms.api_keys.create_table'))")
            conn.execute(_CREATE_TABLE)

    # -- commands -----------------------------------------------------------
    def create(self, name: str, role: Role | str,
               channels: Iterable[str] | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (the only time the secret is available).
        ``channels``: limits an integrator key to these channels' orders (None: every channel)."""
        role = Role(role)
        limited = key_channels(role, channels)
        secret = generate_secret()
        key = self._insert(name, role, hash_secret(secret), limited)
        assert key is not None
        return key, secret

    def ensure(self, secret: str, name: str, role: Role | str) -> ApiKey:
        """Idempotently make ``secret`` a valid key (used for OMS_ADMIN_KEY).

        If a key with this secret exists it is returned unchanged, even if revoked
        (an explicit revocation is not silently undone).
        """
        role = Role(role)
        if not secret:
            raise ValueError("empty API key secret")
        digest = hash_secret(secret)
        key = self._insert(name, role, digest)
        if key is None:  # already present
            with self._pool.connection() as conn:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM api_keys WHERE secret_sha256 = %s", (digest,)
                ).fetchone()
            assert row is not None
            key = _row_to_key(row)
        self._forget(digest)
        return key

    def replace_admin_key(self, secret: str) -> ApiKey:
        """Makes ``secret`` (OMS_ADMIN_KEY) an admin key and revokes the key made from the
        setting's previous value, if it changed: a rotated secret stops working."""
        key = self.ensure(secret, LEGACY_ADMIN_KEY_NAME, Role.ADMIN)
        with self._pool.connection() as conn:
            conn.execute("UPDATE api_keys SET origin = %s WHERE id = %s", (ADMIN_KEY_ORIGIN, key.id))
            revoked = conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL AND id <> %s "
                "AND (origin = %s OR (origin IS NULL AND name = %s)) RETURNING secret_sha256",
                (key.id, ADMIN_KEY_ORIGIN, LEGACY_ADMIN_KEY_NAME)).fetchall()
        for (digest,) in revoked:
            self._forget(bytes(digest))
        return key

    def revoke(self, key_id: UUID | str) -> bool:
        """Revoke a key; False if no such key.  Revoking twice keeps the first timestamp."""
        try:
            key_id = key_id if isinstance(key_id, UUID) else UUID(str(key_id))
        except ValueError:
            return False
        with self._pool.connection() as conn:
            row = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s RETURNING secret_sha256",
                (key_id,),
            ).fetchone()
        if row is None:
            return False
        self._forget(bytes(row[0]))
        return True

    # -- queries ------------------------------------------------------------
    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """(known, key) from the in-process cache alone, without touching the database, so that
        the API can authenticate most requests on its event loop."""
        if not secret:
            return True, None
        with self._cache_lock:
            hit = self._cache.get(hash_secret(secret))
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key for ``secret``, or None.  Cached per digest for a few seconds."""
        known, key = self.cached(secret)
        if known:
            return key
        digest = hash_secret(secret)
        now = time.monotonic()
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE secret_sha256 = %s AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
        key = _row_to_key(row) if row else None
        with self._cache_lock:
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
                if len(self._cache) >= _CACHE_MAX_ENTRIES:
                    self._cache.clear()
            self._cache[digest] = (now + self._cache_ttl, key)
        return key

    def get(self, key_id: UUID | str) -> ApiKey | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s", (UUID(str(key_id)),)).fetchone()
        return _row_to_key(row) if row else None

    def list(self, *, limit: int | None = None, after: tuple[datetime, UUID] | None = None) -> list[ApiKey]:
        """Keys oldest first: all of them, or at most ``limit`` after the (created_at, id) ``after``."""
        created_at, key_id = after if after is not None else (None, None)
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE %s::timestamptz IS NULL OR (created_at, id) > (%s, %s) "
                "ORDER BY created_at, id LIMIT %s", (created_at, created_at, key_id, limit)).fetchall()
        return [_row_to_key(r) for r in rows]

    def count_active(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()
        return int(row[0])

    # -- helpers ------------------------------------------------------------
    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _forget(self, digest: bytes) -> None:
        with self._cache_lock:
            self._cache.pop(digest, None)

    def _insert(self, name: str, role: Role, digest: bytes,
                channels: frozenset[str] | None = None) -> ApiKey | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"INSERT INTO api_keys (id, name, role, secret_sha256, channels) VALUES (%s, %s, %s, %s, %s) "
                f"ON CONFLICT (secret_sha256) DO NOTHING RETURNING {_COLUMNS}",
                (uuid.uuid4(), name, role.value, digest, sorted(channels) if channels is not None else None),
            ).fetchone()
        return _row_to_key(row) if row else None
