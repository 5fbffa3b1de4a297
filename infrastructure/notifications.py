"""Customer notifications, wired: the outbox runner that follows the feed, the sender that hands
the messages over, the adapters the settings choose, and the queries the API reads them with."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from psycopg_pool import ConnectionPool

from application.notifications.composer import TEMPLATE_FILES, Composer
from application.notifications.dispatch import Dispatcher
from application.notifications.rendering import DEFAULT_TEMPLATES, Renderer
from application.notifications.retry import RetryPolicy
from application.ports import EmailSender, SmsSender
from infrastructure.adapters.sandbox_sms import SandboxSmsSender
from infrastructure.adapters.smtp_mailer import SmtpMailer, parse_smtp_url
from infrastructure.adapters.twilio_sms import TwilioSmsSender
from infrastructure.notification_outbox import PostgresOutbox
from infrastructure.notification_sender import NotificationSender
from infrastructure.settings import Settings
from projections.notifications import CoordinatesOfLocations, NotificationQueries, OutboxRunner, build_outbox_runner


@dataclass
class Notifications:
    runner: OutboxRunner
    sender: NotificationSender
    queries: NotificationQueries
    sms: SmsSender  # (the sandbox's record, in tests)

    def start(self) -> None:
        self.runner.start()
        self.sender.start()

    def close(self) -> None:
        self.sender.close()
        self.runner.close()


def mail_domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def email_sender(settings: Settings, ssl_context: ssl.SSLContext | None = None) -> EmailSender | None:
    if settings.smtp_url is None:
        return None
    return SmtpMailer(parse_smtp_url(settings.smtp_url.get_secret_value()), settings.mail_from,
                      timeout=settings.smtp_timeout, ssl_context=ssl_context)


def sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_provider == "twilio":
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
        return TwilioSmsSender(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                               settings.twilio_from_number, base_url=settings.twilio_api_base)
    return SandboxSmsSender()


def build_sender(settings: Settings, pool: ConnectionPool, *, schema: str = "public",
                 sms: SmsSender | None = None) -> NotificationSender:
    outbox = PostgresOutbox(pool, schema)
    retry = RetryPolicy(settings.notification_retry_seconds, settings.notification_retry_max_seconds,
                        settings.notification_max_attempts)
    dispatcher = Dispatcher(outbox, email_sender(settings), sms or sms_sender(settings), mail_from=settings.mail_from,
                            retry=retry)
    return NotificationSender(dispatcher, outbox, pool.conninfo, schema=schema)


def build_notifications(app: Any, settings: Settings, pool: ConnectionPool, **runner_options: Any) -> Notifications:
    """Creates the outbox table (idempotent); nothing runs until ``start``."""
    renderer = Renderer(settings.notification_templates or DEFAULT_TEMPLATES)
    renderer.check(TEMPLATE_FILES)
    composer = Composer(renderer, mail_domain(settings.mail_from), CoordinatesOfLocations(app),
                        mail_server=settings.smtp_url is not None)
    runner = build_outbox_runner(app, composer, **runner_options)
    schema = app.recorder.datastore.schema
    sms = sms_sender(settings)
    sender = build_sender(settings, pool, schema=schema, sms=sms)
    runner.on_committed = sender.notify
    return Notifications(runner, sender, NotificationQueries(pool, schema), sms)
