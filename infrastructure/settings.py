"""Runtime configuration, read from environment variables prefixed with ``OMS_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from application.webhook_retries import DEFAULT_RETRY_DELAYS


MIN_ADMIN_KEY_LENGTH = 32


class Settings(BaseSettings):
    # (hide_input_in_errors: a wrong OMS_SMTP_URL or OMS_ADMIN_KEY is not echoed, secret and all)
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore", hide_input_in_errors=True)

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

    # Outbound webhooks (README, "Webhooks"; docs/webhooks.md). Endpoint URLs may lead only to
    # public addresses (checked when saved and again when sending), unless this allows others.
    webhooks_allow_private: bool = False
    # false: this process fills the outbox but sends nothing (`oms webhooks run` sends elsewhere).
    webhooks_sender: bool = True
    # Seconds to wait after the 1st, 2nd, ... failed attempt in a row (each lengthened by up to
    # 20 % of jitter); after the last, the delivery is given up. As JSON: [5, 300, 1800].
    webhooks_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    # An endpoint whose every attempt failed for this long (5 days) is disabled, with the reason.
    webhooks_disable_after: float = 5 * 86400.0
    # stock.low is sent when a SKU's units available at a location fall below this.
    stock_low_threshold: int = 5

    # Customer notifications (README, "Customer notifications"). The mail server: smtp://host:port,
    # smtp+starttls://host:587 (STARTTLS required) or smtps://host:465, with user:password@ to log
    # in. Unset: messages are still rendered and recorded, and marked failed "not sent: no mail
    # server is configured" (so that setting it later does not send a backlog of old news).
    smtp_url: SecretStr | None = None
    smtp_timeout: float = 30.0
    # The From of every e-mail ("Example Shop <orders@example.com>"); its domain is the domain of
    # the messages' Message-IDs.
    mail_from: str = "orders@localhost"
    # "sandbox" records each SMS and sends nothing; "twilio" sends them through Twilio's REST API.
    sms_provider: Literal["sandbox", "twilio"] = "sandbox"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # A folder of templates of your own, laid out as templates/notifications (the default).
    notification_templates: Path | None = None
    # After a failed attempt a message waits this long, doubling up to the maximum (with jitter);
    # after the last attempt it has failed for good. The defaults try for about a day.
    notification_retry_seconds: float = 30.0
    notification_retry_max_seconds: float = 7200.0
    notification_max_attempts: int = 18

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_readable(cls, url: SecretStr | None) -> SecretStr | None:
        from infrastructure.adapters.smtp_mailer import parse_smtp_url

        if url is not None:
            parse_smtp_url(url.get_secret_value())  # (its ValueError says what is wrong)
        return url

    @field_validator("mail_from")
    @classmethod
    def _mail_from_is_an_address(cls, value: str) -> str:
        from email.utils import parseaddr

        if "@" not in parseaddr(value)[1]:
            raise ValueError("OMS_MAIL_FROM is an e-mail address, with a name if you like: "
                             "'Example Shop <orders@example.com>'")
        return value

    @model_validator(mode="after")
    def _twilio_complete(self) -> Settings:
        if self.sms_provider == "twilio" and not (self.twilio_account_sid and self.twilio_auth_token
                                                  and self.twilio_from_number):
            raise ValueError("OMS_SMS_PROVIDER=twilio needs OMS_TWILIO_ACCOUNT_SID, OMS_TWILIO_AUTH_TOKEN and "
                             "OMS_TWILIO_FROM_NUMBER")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
