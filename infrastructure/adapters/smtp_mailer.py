"""E-mail over SMTP (``smtplib``), to the server ``OMS_SMTP_URL`` names:

- ``smtp://host[:port]`` (port 25): plain SMTP, as to a relay on the same host or network;
- ``smtp+starttls://host[:port]`` (port 587): SMTP upgraded to TLS with STARTTLS, required (a
  server that does not offer it is an error, never a fallback to plain text);
- ``smtps://host[:port]`` (port 465): TLS from the first byte.

``user:password@`` before the host logs in (percent-encode ``@``, ``:`` and ``/`` in them). The
server's certificate is verified against the system's trusted authorities.

One connection carries a batch of messages (``close`` ends it). What a failure means: the server
cannot be reached, drops the connection, or answers 4xx: try again later; it refuses the
recipient or the message with 5xx: never (``DeliveryFailed(permanent=True)``); it refuses our
login or sender with 5xx: our configuration, so later too (once it is fixed, the messages go).
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parseaddr
from typing import Literal
from urllib.parse import unquote, urlsplit

from application.ports import DeliveryFailed

Security = Literal["plain", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587),
                                            "smtps": ("tls", 465)}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:  # never the password
        return f"{self.security} SMTP at {self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    """``OMS_SMTP_URL`` read; ValueError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"an SMTP URL starts with {', '.join(s + '://' for s in SCHEMES)} (not {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("an SMTP URL names its host: smtp://host:port")
    security, default_port = SCHEMES[scheme]
    port = parts.port or default_port  # (a port that is not a number raises ValueError)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpServer(parts.hostname, port, security, username, password)


class SmtpMailer:
    def __init__(self, server: SmtpServer, mail_from: str, *, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = server
        self.envelope_from = parseaddr(mail_from)[1]
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._connection: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, *, handing_over: Callable[[], None]) -> None:
        recipient = parseaddr(str(message["To"]))[1]
        connection = self._connection or self._connect()
        try:
            code, reply = connection.mail(self.envelope_from)
            if code != 250:
                self._reset()
                raise DeliveryFailed(f"the mail server refused the sender {self.envelope_from}: {code} "
                                     f"{_text(reply)}", permanent=False)
            code, reply = connection.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                raise DeliveryFailed(f"the mail server refused the recipient {recipient}: {code} {_text(reply)}",
                                     permanent=code >= 500)
            handing_over()
            code, reply = connection.data(message.as_bytes(policy=SMTP))
            if code != 250:
                self._reset()
                raise DeliveryFailed(f"the mail server refused the message: {code} {_text(reply)}",
                                     permanent=code >= 500)
        except smtplib.SMTPDataError as refused:  # DATA itself refused
            self._reset()
            raise DeliveryFailed(f"the mail server refused the message: {refused.smtp_code} {_text(refused.smtp_error)}",
                                 permanent=refused.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as error:  # dropped, timed out, answered nonsense
            self._drop()
            raise DeliveryFailed(f"lost the connection to the mail server ({self.server}): "
                                 f"{type(error).__name__}: {error}", permanent=False) from None
        except BaseException:
            self._drop()  # (the outbox failed): this connection's transaction is in an unknown state
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        connection: smtplib.SMTP | None = None
        try:
            if server.security == "tls":
                connection = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=self.ssl_context)
            else:
                connection = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            connection.ehlo()
            if server.security == "starttls":
                connection.starttls(context=self.ssl_context)  # (SMTPNotSupportedError if not offered)
                connection.ehlo()
            if server.username is not None:
                connection.login(server.username, server.password or "")
        except smtplib.SMTPResponseException as refused:
            _close(connection)
            raise DeliveryFailed(f"the mail server ({server}) refused us: {refused.smtp_code} "
                                 f"{_text(refused.smtp_error)}", permanent=False) from None
        except (OSError, smtplib.SMTPException) as error:
            _close(connection)
            raise DeliveryFailed(f"cannot reach the mail server ({server}): {type(error).__name__}: {error}",
                                 permanent=False, unreachable=True) from None
        self._connection = connection
        return connection

    def _reset(self) -> None:
        """Ends the refused message's transaction; the connection serves the next one."""
        if self._connection is not None:
            try:
                self._connection.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        _close(connection)


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        try:
            connection.close()
        except OSError:
            pass


def _text(reply: bytes | str) -> str:
    return " ".join((reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply).split())
