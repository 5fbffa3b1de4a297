"""The mail and SMS adapters against real servers on loopback that the tests start: aiosmtpd
(plain, STARTTLS and implicit TLS, with a login) and an HTTP server answering as Twilio's REST API
does."""
from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from uuid import uuid4

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from application.notifications.dispatch_types import ClaimedMessage
from application.notifications.mime import build_email
from application.ports import DeliveryFailed
from infrastructure.adapters.smtp_mailer import SmtpMailer, parse_smtp_url
from infrastructure.adapters.twilio_sms import TwilioSmsSender
from infrastructure.notifications import sms_sender
from infrastructure.settings import Settings
from tests.notifications.mailbox import Mailbox, SmtpServer, free_port

MAIL_FROM = "Beispiel Läden <orders@shop.example>"


def claimed(recipient: str = "ada@example.com", subject: str = "Ihre Bestellung OMS-1 ist bestätigt") -> ClaimedMessage:
    ident = uuid4()
    return ClaimedMessage(id=ident, channel="email", recipient=recipient, subject=subject,
                          body_text="Gesamtbetrag: 1.234,50\xa0€\nZeile mit Umlauten: äöü\n",
                          body_html="<p>Gesamtbetrag: <b>1.234,50\xa0€</b></p>", message_id=f"<{ident}@shop.example>",
                          created_at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC), attempts=1, unconfirmed=0)


class HandOver:
    """Records when the adapter says it hands the message over, beside what the server has."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.received_before: list[int] = []

    def __call__(self) -> None:
        self.received_before.append(self.mailbox.count())


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain(mailbox: Mailbox) -> Iterator[SmtpServer]:
    server = SmtpServer(mailbox).start()
    yield server
    server.stop()


def test_a_message_goes_over_plain_smtp_as_multipart_text_and_html(plain, mailbox):
    mailer = SmtpMailer(parse_smtp_url(plain.url), MAIL_FROM, timeout=5)
    message = claimed()
    handed = HandOver(mailbox)
    mailer.send(build_email(message, MAIL_FROM), handing_over=handed)
    mailer.send(build_email(claimed("babbage@example.com"), MAIL_FROM), handing_over=handed)  # same connection
    mailer.close()
    assert handed.received_before == [0, 1]  # right before each DATA, never after
    first = mailbox.received[0]
    assert first.recipients == ("ada@example.com",)
    assert first.message_id == message.message_id
    assert first.subject == "Ihre Bestellung OMS-1 ist bestätigt"
    assert str(first.message["From"]) == MAIL_FROM
    assert first.message["Date"] == "Fri, 04 Dec 2026 09:30:00 +0000"
    assert first.message["Auto-Submitted"] == "auto-generated"
    assert first.message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.message.iter_parts()] == ["text/plain", "text/html"]
    assert "Gesamtbetrag: 1.234,50\xa0€" in first.part("plain") and "<b>1.234,50\xa0€</b>" in first.part("html")
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in first.message.iter_parts())


def test_the_same_message_is_the_same_bytes_every_time():
    message = claimed()
    assert build_email(message, MAIL_FROM).as_bytes() == build_email(message, MAIL_FROM).as_bytes()


def test_a_recipient_refused_with_5xx_fails_for_good_and_is_never_handed_over(plain, mailbox):
    mailer = SmtpMailer(parse_smtp_url(plain.url), MAIL_FROM, timeout=5)
    handed = HandOver(mailbox)
    with pytest.raises(DeliveryFailed, match="550") as refused:
        mailer.send(build_email(claimed("bounce@example.com"), MAIL_FROM), handing_over=handed)
    assert refused.value.permanent and handed.received_before == []
    mailer.send(build_email(claimed(), MAIL_FROM), handing_over=handed)  # the connection goes on
    mailer.close()
    assert [r.recipients for r in mailbox.received] == [("ada@example.com",)]


def test_a_4xx_refusal_is_tried_again(plain, mailbox):
    mailer = SmtpMailer(parse_smtp_url(plain.url), MAIL_FROM, timeout=5)
    with pytest.raises(DeliveryFailed, match="451") as refused:
        mailer.send(build_email(claimed("greylist@example.com"), MAIL_FROM), handing_over=lambda: None)
    assert not refused.value.permanent
    mailer.send(build_email(claimed("greylist@example.com"), MAIL_FROM), handing_over=lambda: None)
    mailer.close()
    assert len(mailbox.received) == 1


def test_a_server_that_does_not_answer_is_tried_again():
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), MAIL_FROM, timeout=5)
    with pytest.raises(DeliveryFailed, match="cannot reach the mail server") as failed:
        mailer.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: pytest.fail("nothing to hand over"))
    assert not failed.value.permanent


# ------------------------------------------------------------------ TLS and login


@pytest.fixture(scope="module")
def certificates() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context, a client's that trusts it): a CA of the test's own (trustme)."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"shop", b"p@ss:w/rd")
    return AuthResult(success=ok, handled=False)  # (not handled: aiosmtpd answers 535 itself)


def test_starttls_with_a_login(certificates, mailbox):
    server_tls, client_tls = certificates
    server = SmtpServer(mailbox, tls_context=server_tls, require_starttls=True, authenticator=authenticator,
                        auth_require_tls=True).start()
    try:
        url = f"smtp+starttls://shop:p%40ss%3Aw%2Frd@127.0.0.1:{server.port}"
        mailer = SmtpMailer(parse_smtp_url(url), MAIL_FROM, timeout=5, ssl_context=client_tls)
        mailer.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: None)
        mailer.close()
        assert len(mailbox.received) == 1
        wrong = SmtpMailer(parse_smtp_url(url.replace("shop:", "shop:x")), MAIL_FROM, timeout=5, ssl_context=client_tls)
        with pytest.raises(DeliveryFailed, match="refused us: 535") as refused:
            wrong.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: None)
        assert not refused.value.permanent  # our configuration: the messages wait until it is fixed
        untrusting = SmtpMailer(parse_smtp_url(url), MAIL_FROM, timeout=5)  # the system's authorities only
        with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: None)
    finally:
        server.stop()


def test_starttls_asked_for_and_not_offered_is_never_plain_text(plain):
    mailer = SmtpMailer(parse_smtp_url(f"smtp+starttls://127.0.0.1:{plain.port}"), MAIL_FROM, timeout=5)
    with pytest.raises(DeliveryFailed, match="STARTTLS"):
        mailer.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: pytest.fail("sent in plain text"))


def test_implicit_tls(certificates, mailbox):
    server_tls, client_tls = certificates
    server = SmtpServer(mailbox, ssl_context=server_tls).start()
    try:
        mailer = SmtpMailer(parse_smtp_url(f"smtps://127.0.0.1:{server.port}"), MAIL_FROM, timeout=5,
                            ssl_context=client_tls)
        mailer.send(build_email(claimed(), MAIL_FROM), handing_over=lambda: None)
        mailer.close()
        assert len(mailbox.received) == 1
    finally:
        server.stop()


# ------------------------------------------------------------------ Twilio


class TwilioApi(BaseHTTPRequestHandler):
    """Answers as Twilio's Messages resource does; keeps each request."""

    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        TwilioApi.requests.append({"path": self.path, "authorization": self.headers["Authorization"],
                                   "content_type": self.headers["Content-Type"], "form": form})
        if form.get("To") == "+15005550001":  # Twilio's test number for "invalid"
            self._answer(400, {"code": 21211, "message": f"The 'To' number {form['To']} is not a valid phone number.",
                               "status": 400})
        elif form.get("To") == "+15005550009":
            self._answer(503, {"code": 20503, "message": "Service unavailable", "status": 503})
        else:
            self._answer(201, {"sid": "SM" + "0" * 32, "status": "queued", "to": form.get("To"), "body": form.get("Body")})

    def _answer(self, status: int, document: dict) -> None:
        raw = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def twilio() -> Iterator[str]:
    TwilioApi.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TwilioApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_twilio_gets_a_form_posted_with_basic_auth_to_the_accounts_messages(twilio):
    settings = Settings(sms_provider="twilio", twilio_account_sid="AC" + "1" * 32, twilio_auth_token="tok3n",
                        twilio_from_number="+15005550006", twilio_api_base=twilio)
    sender = sms_sender(settings)
    assert isinstance(sender, TwilioSmsSender)
    handed: list[int] = []
    sid = sender.send("+4915112345678", "Bestellung OMS-1 bestätigt: 1.234,50 €",
                      handing_over=lambda: handed.append(len(TwilioApi.requests)))
    assert sid == "SM" + "0" * 32 and handed == [0]
    (request,) = TwilioApi.requests
    assert request["path"] == f"/2010-04-01/Accounts/AC{'1' * 32}/Messages.json"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert base64.b64decode(request["authorization"].removeprefix("Basic ")) == f"AC{'1' * 32}:tok3n".encode()
    assert request["form"] == {"To": "+4915112345678", "From": "+15005550006",
                               "Body": "Bestellung OMS-1 bestätigt: 1.234,50 €"}


def test_twilio_refusing_a_number_is_final_and_its_outage_is_not(twilio):
    sender = TwilioSmsSender("AC1", "t", "+15005550006", base_url=twilio)
    with pytest.raises(DeliveryFailed, match="400: 21211 The 'To' number") as refused:
        sender.send("+15005550001", "hi", handing_over=lambda: None)
    assert refused.value.permanent
    with pytest.raises(DeliveryFailed, match="503") as unavailable:
        sender.send("+15005550009", "hi", handing_over=lambda: None)
    assert not unavailable.value.permanent
    gone = TwilioSmsSender("AC1", "t", "+15005550006", base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryFailed, match="cannot reach Twilio") as unreachable:
        gone.send("+4915112345678", "hi", handing_over=lambda: None)
    assert not unreachable.value.permanent
