"""The outbox as the dispatcher sees it (a port; ``infrastructure.notification_outbox`` is the
PostgreSQL table behind it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class ClaimedMessage:
    id: UUID
    channel: str  # "email" | "sms"
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    message_id: str | None
    created_at: datetime
    attempts: int  # attempts started, this one included
    # Earlier attempts that stopped (the process died) after the message was handed over: each
    # may have delivered it.
    unconfirmed: int


class Outbox(Protocol):
    def claim(self, limit: int) -> list[ClaimedMessage]:
        """Up to ``limit`` messages due, oldest first, each claimed by this sender only."""

    def handing_over(self, notification_id: UUID) -> None:
        """Recorded (committed) before the message is handed over: if the sender dies before
        ``sent``, the next one knows the message may have gone out."""

    def sent(self, notification_id: UUID, provider_id: str | None) -> None: ...

    def retry(self, notification_id: UUID, error: str, delay_seconds: float) -> None: ...

    def retry_many(self, notification_ids: list[UUID], error: str, delays: list[float]) -> None:
        """``retry`` for each, in one go."""

    def failed(self, notification_id: UUID, error: str) -> None: ...
