"""An outbox e-mail as the mail server gets it: multipart/alternative (plain text, then HTML),
built with the standard library's ``email`` package.

Every header is derived from what the outbox row stores, so each attempt sends the same bytes:
the ``Message-ID`` (from the notification id) and the ``Date`` (when the event happened) too.
"""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from application.notifications.dispatch_types import ClaimedMessage


def build_email(message: ClaimedMessage, mail_from: str) -> EmailMessage:
    """Raises ValueError for what no mail server could take (an address with a line break)."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message.message_id
    # RFC 3834: an automatic message; vacation responders and the like do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps the message 7-bit: any server takes it, 8BITMIME or not.
    email.set_content(message.body_text, cte="quoted-printable")
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html", cte="quoted-printable")
        # Not a random boundary: the same bytes on every attempt. Quoted-printable writes "=" as
        # "=3D", so a boundary that starts with "=_" cannot occur in the parts.
        email.set_boundary(f"=_{message.id.hex}")
    return email
