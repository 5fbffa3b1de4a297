"""What the API processes and the writer process say to each other over the writer's socket.

A frame is a 4-byte big-endian length and a JSON array (msgspec), one encoding for every command
and answer, found by type, so that a new command or field needs nothing here:

- request: ``[call id, command type name, command, context]``: the command is its dataclass's
  fields, decoded on the writer's side into the class ``Command.named(type name)`` with every
  field checked and converted to its declared type (Decimals, datetimes, frozensets, tuples of
  lines), so what arrives equals what was sent;
- answer: ``[call id, outcome, error]``, one of the two null. The outcome's document is sent as
  the JSON the writer rendered, and the API process sends it on to its client unread
  (``RenderedDocument``). An error is ``[class topic, constructor arguments]``, rebuilt only for
  the failures a command may answer with (``ApplicationError`` and ``DomainError``); anything
  else arrives as a ``CommandFailed`` naming it.

A frame the other side cannot read fails its own call only: the connection carries other
callers' commands and stays up. The socket is a Unix socket in a directory only the service's
user can open (``writer_socket_directory``).
"""
from __future__ import annotations

import os
import struct
import tempfile
from decimal import Decimal
from typing import Any

import msgspec
from eventsourcing.utils import get_topic, resolve_topic

from application.commands import Command
from application.context import CommandContext
from application.documents import RenderedDocument
from application.errors import ApplicationError, CommandFailed
from application.service import Outcome
from domain.errors import DomainError

HEADER = struct.Struct(">I")


def _encode_extra(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise NotImplementedError(f"cannot send {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_encode_extra, decimal_format="string")


class _Request(msgspec.Struct, array_like=True):
    call_id: int
    command_type: str
    command: msgspec.Raw
    context: msgspec.Raw


class _Outcome(msgspec.Struct, array_like=True):
    document: msgspec.Raw
    id: str | None
    version: int | None
    position: int | None
    created: bool


class _Error(msgspec.Struct, array_like=True):
    topic: str
    args: list[Any]


class _Answer(msgspec.Struct, array_like=True):
    call_id: int
    outcome: _Outcome | None
    error: _Error | None


class _CallOnly(msgspec.Struct, array_like=True):
    """What is left to read of a request that cannot be read whole: whose it was."""

    call_id: int


_requests = msgspec.json.Decoder(_Request)
_answers = msgspec.json.Decoder(_Answer)
_call_only = msgspec.json.Decoder(_CallOnly)
_contexts = msgspec.json.Decoder(CommandContext)


_command_decoders: dict[str, msgspec.json.Decoder[Any]] = {}


def _command_decoder(name: str) -> msgspec.json.Decoder[Any]:
    """A decoder into the command class called ``name`` (KeyError for a name no command has)."""
    decoder = _command_decoders.get(name)
    if decoder is None:
        decoder = _command_decoders[name] = msgspec.json.Decoder(Command.named(name))
    return decoder


def framed(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# ---------------------------------------------------------------- requests


def encode_request(call_id: int, cmd: Command, ctx: CommandContext) -> bytes:
    """Raises (for this call only) when the command holds something that cannot be sent."""
    command = msgspec.Raw(_encoder.encode(cmd))
    context = msgspec.Raw(_encoder.encode(ctx))
    return framed(_encoder.encode(_Request(call_id, type(cmd).__name__, command, context)))


def decode_request(payload: bytes) -> tuple[int, Command, CommandContext]:
    request = _requests.decode(payload)
    return (request.call_id, _command_decoder(request.command_type).decode(request.command),
            _contexts.decode(request.context))


def call_id_of(payload: bytes) -> int | None:
    """The call id of a request that could not be decoded, if even that is unreadable: None."""
    try:
        return _call_only.decode(payload).call_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


# ---------------------------------------------------------------- answers


def encode_outcome(call_id: int, outcome: Outcome) -> bytes:
    document = outcome.document
    json = document.json if isinstance(document, RenderedDocument) else _encoder.encode(document)
    return framed(_encoder.encode(_Answer(call_id, _Outcome(
        msgspec.Raw(json), _text_or_none(document.get("id")), document.get("version"),
        outcome.position, outcome.created), None)))


def encode_error(call_id: int, error: BaseException) -> bytes:
    return framed(_encoder.encode(_Answer(call_id, None, _error(error))))


def decode_answer(payload: bytes) -> tuple[int, Outcome | None, BaseException | None]:
    answer = _answers.decode(payload)
    if answer.error is not None:
        return answer.call_id, None, _rebuilt(answer.error)
    assert answer.outcome is not None
    o = answer.outcome
    return answer.call_id, Outcome(RenderedDocument(bytes(o.document), o.id, o.version), o.position, o.created), None


def answerable(error: BaseException) -> bool:
    """Whether ``error`` is a failure commands answer with, rather than a fault (logged)."""
    return isinstance(error, (ApplicationError, DomainError))


def _error(error: BaseException) -> _Error:
    if answerable(error):
        reduced = error.__reduce__()
        args = list(reduced[1]) if isinstance(reduced, tuple) and len(reduced) > 1 else list(error.args)
        try:
            _encoder.encode(args)
            return _Error(get_topic(type(error)), args)
        except (TypeError, NotImplementedError, UnicodeEncodeError):
            pass
    return _Error(get_topic(CommandFailed), [f"{type(error).__name__}: {error}"])


def _rebuilt(error: _Error) -> BaseException:
    try:
        kind = resolve_topic(error.topic)
        if isinstance(kind, type) and issubclass(kind, (ApplicationError, DomainError)):
            return kind(*error.args)
    except Exception:  # noqa: BLE001 - told as what it was, below
        pass
    return CommandFailed(f"{error.topic}: {error.args}")


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def writer_socket_directory() -> str:
    """A fresh directory that only this user can enter, for the writer's socket."""
    path = tempfile.mkdtemp(prefix="oms-writer-")
    os.chmod(path, 0o700)
    return path


__all__ = ["HEADER", "answerable", "call_id_of", "decode_answer", "decode_request", "encode_error",
           "encode_outcome", "encode_request", "writer_socket_directory"]
