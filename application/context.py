"""Who asked for a change, and why: recorded with every event for auditors."""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property

from application.ids import new_request_id


@dataclass(frozen=True)
class CommandContext:
    actor_id: str
    actor_name: str
    command: str
    request_id: str = field(default_factory=new_request_id)
    # The channels whose orders the actor may reach (an integrator key limited to channels);
    # None: every channel. Handlers refuse an order outside them as if it did not exist.
    channels: frozenset[str] | None = None

    def reaches(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def for_command(self, command: str) -> CommandContext:
        """The same actor and request, causing another command (e.g. a policy's follow-up).
        Not limited to channels: a follow-up acts for the system on the order the command reached."""
        return CommandContext(self.actor_id, self.actor_name, command, self.request_id)

    def as_metadata(self) -> dict[str, str]:
        """A new dict each time: the caller may change it."""
        return dict(self.metadata)

    @cached_property
    def metadata(self) -> dict[str, str]:
        """The audit metadata of every event this command records, built once per command (a
        command records several events): shared, so read it, never change it."""
        return {
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "request_id": self.request_id,
            "command": self.command,
        }


SYSTEM = CommandContext(actor_id="system", actor_name="system", command="system")

current_context: ContextVar[CommandContext] = ContextVar("current_context", default=SYSTEM)


def system_context(command: str, request_id: str | None = None) -> CommandContext:
    return CommandContext("system", "system", command, request_id or new_request_id())
