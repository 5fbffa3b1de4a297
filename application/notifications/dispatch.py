"""Hands the outbox's messages to the mail server or the SMS provider, and records the outcome.

Exactly once as far as it can be: a message is marked sent right after the server took it. If
the process dies between handing it over and that mark, the message may have been delivered;
the next sender sends it again, with the same ``Message-ID`` (mail systems drop the copy). It is
sent again once at most: a message whose second hand-over was interrupted too is not sent a
third time (it is marked failed, saying so). A failure to reach the server, or a temporary (4xx)
refusal, is tried again later (``RetryPolicy``); a permanent refusal of the recipient (5xx) is
final.
"""
from __future__ import annotations

import logging

from application.notifications.composer import EMAIL, NO_MAIL_SERVER
from application.notifications.dispatch_types import ClaimedMessage, Outbox
from application.notifications.mime import build_email
from application.notifications.retry import RetryPolicy
from application.ports import DeliveryFailed, EmailSender, SmsSender

log = logging.getLogger(__name__)

# Hand-overs that may each have delivered a message before it is no longer sent.
MAX_UNCONFIRMED = 2
TWICE_UNCONFIRMED = ("not sent again: two attempts were interrupted after the message was handed over, so it "
                     "has probably been delivered; a third could deliver it a third time")


class Dispatcher:
    def __init__(self, outbox: Outbox, email: EmailSender | None, sms: SmsSender, *, mail_from: str,
                 retry: RetryPolicy = RetryPolicy(), batch_size: int = 50) -> None:
        self.outbox = outbox
        self.email = email  # None: no mail server configured
        self.sms = sms
        self.mail_from = mail_from
        self.retry = retry
        self.batch_size = batch_size
        # Set in a batch once the mail server could not be reached: its other e-mails wait too.
        self._mail_server_down: DeliveryFailed | None = None

    def dispatch(self) -> int:
        """Sends one batch of due messages; returns how many were claimed."""
        claimed = self.outbox.claim(self.batch_size)
        self._mail_server_down = None
        waiting: list[ClaimedMessage] = []  # e-mails behind a mail server that could not be reached
        try:
            for message in claimed:
                if self._mail_server_down is not None and message.channel == EMAIL \
                        and message.unconfirmed < MAX_UNCONFIRMED:
                    waiting.append(message)
                else:
                    self._deliver(message)
        finally:
            if self.email is not None:
                self.email.close()
            if waiting and self._mail_server_down is not None:
                self._postpone(waiting, self._mail_server_down)
        return len(claimed)

    def _postpone(self, messages: list[ClaimedMessage], failure: DeliveryFailed) -> None:
        """Every one tried again later, as if each had failed so, in one statement."""
        later = [m for m in messages if not self.retry.gives_up(m.attempts)]
        for message in messages:
            if message not in later:
                self.outbox.failed(message.id, f"{failure} (gave up after {message.attempts} attempts)")
        if later:
            self.outbox.retry_many([m.id for m in later], str(failure), [self.retry.delay(m.attempts) for m in later])

    def _deliver(self, message: ClaimedMessage) -> None:
        outbox = self.outbox
        if message.unconfirmed >= MAX_UNCONFIRMED:
            outbox.failed(message.id, TWICE_UNCONFIRMED)
            return
        try:
            provider_id = None
            if message.channel == EMAIL:
                if self.email is None:  # (recorded failed already, unless the server was taken away since)
                    outbox.failed(message.id, NO_MAIL_SERVER)
                    return
                try:
                    email = build_email(message, self.mail_from)
                except ValueError as error:
                    raise DeliveryFailed(f"not a message a mail server takes: {error}", permanent=True) from None
                self.email.send(email, handing_over=lambda: outbox.handing_over(message.id))
            else:
                provider_id = self.sms.send(message.recipient, message.body_text,
                                            handing_over=lambda: outbox.handing_over(message.id))
        except DeliveryFailed as failure:
            if failure.unreachable and message.channel == EMAIL:
                self._mail_server_down = failure
            if failure.permanent:
                outbox.failed(message.id, str(failure))
            elif self.retry.gives_up(message.attempts):
                outbox.failed(message.id, f"{failure} (gave up after {message.attempts} attempts)")
            else:
                delay = self.retry.delay(message.attempts)
                log.info("notification %s: %s; trying again in %.0f s", message.id, failure, delay)
                outbox.retry(message.id, str(failure), delay)
            return
        outbox.sent(message.id, provider_id)
