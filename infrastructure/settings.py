"""Runtime configuration, read from environment variables prefixed with ``OMS_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


MIN_ADMIN_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    # postgresql:// URL; when unset an embedded server is started under data_dir.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Bootstrap admin API key (made a valid admin key at startup when set).
    admin_key: SecretStr | None = None
    data_dir: Path = Path(".oms")
    workers: int = 1
    log_level: str = "info"
    # Seconds a request may wait for projections to catch up with its own writes.
    read_your_writes_timeout: float = 2.0
    pool_size: int = 10
    # Requests with a larger body are refused (413) without reading the rest.
    max_body_bytes: int = 1_048_576
    # JSON bodies nested deeper are refused (422).
    max_json_depth: int = 32
    # Failed authentications from one client address before it is answered 429 (with growing
    # Retry-After) without its keys being looked up, and the window they are counted in.
    auth_failures_allowed: int = 10
    auth_failure_window_seconds: float = 60.0
    auth_block_max_seconds: float = 300.0

    @field_validator("admin_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"OMS_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters (it was "
                             f"{len(key.get_secret_value())}): a short key can be guessed; "
                             "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'` makes a good one")
        return key
    # Where the read-model projections run: "process" (a worker process that `oms serve` starts
    # beside the API, so their CPU does not compete with requests under one GIL), "thread" (inside
    # each API process) or "off" (run `oms projections run` yourself, e.g. on another machine).
    projections: Literal["process", "thread", "off"] = "process"
    # Where `oms serve` runs the group-commit writer (with the aggregate cache and the payment
    # policy): "process" (a process of its own, to which the API processes send their commands
    # over a Unix socket, so HTTP and deciding do not take turns under one GIL) or "thread"
    # (inside the API process; with several workers, each has its own writer).
    writer: Literal["process", "thread"] = "process"
    # Set by `oms serve` for its API processes: the writer process's socket.
    writer_socket: str | None = None
    # Seconds between the starts of a read model's batches once it has caught up (see
    # ProjectionRunner.min_batch_interval); 0 follows every commit at once. 0.1 is no longer than
    # the worker already waits between polls of an idle feed.
    projection_batch_interval: float = 0.1
    # Seconds between the starts of the payment policy's batches once it has caught up. Following
    # every writer commit at once, its authorisations went to the writer a few at a time, each a
    # batch, a feed read and a tracking write of their own; the order was accepted already, and
    # only its payment status waits (docs/performance.md, finding 29).
    policy_batch_interval: float = 0.05


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
