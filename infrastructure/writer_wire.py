"""What the API processes and the writer process say to each other over the writer's socket.

A frame is a 4-byte big-endian length and a pickle. Pickle because commands, contexts, outcomes
and errors are plain Python values (Decimals, frozensets, nested dicts) that it copies exactly and
fast; restricted, because a pickle may name any callable: only the classes below are let through,
so a frame can build data and our own commands and errors, nothing else. The socket is a Unix
socket in a directory only the service's user can open (``writer_socket_directory``).

Requests: ``(call id, method name, args)``. Answers: ``(call id, outcome, None)`` or
``(call id, None, error)``.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import tempfile
from decimal import Decimal
from typing import Any

import orjson

from application.commands import PlaceOrder
from application.context import CommandContext
from application.documents import RenderedDocument
from application.service import Outcome

HEADER = struct.Struct(">I")
PROTOCOL = 5

_ALLOWED = {
    "builtins": {"set", "frozenset", "dict", "list", "tuple", "str", "int", "float", "bool", "bytes"},
    "decimal": {"Decimal"},
    "datetime": {"datetime", "date", "timezone", "timedelta"},
    "uuid": {"UUID"},
    "application.commands": None,  # every command
    "application.context": {"CommandContext"},
    "application.errors": None,
    "application.ports": {"PaymentGatewayUnavailable", "UnknownCarrier"},
    "application.writer": {"ConcurrencyConflict", "WriterUnavailable", "OutcomeUnknown"},
    "application.service": {"Outcome"},
    "domain.errors": None,
    "infrastructure.writer_wire": {"RemoteFailure"},
}


class RemoteFailure(Exception):
    """The writer process failed in a way the API has no mapping for (answered as a 500)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get(module, set())
        if allowed is None or name in allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} may not cross the writer's socket")


def encode(message: tuple) -> bytes:
    payload = pickle.dumps(message, protocol=PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> tuple:
    return _RestrictedUnpickler(io.BytesIO(payload)).load()


def transportable(error: BaseException) -> BaseException:
    """``error`` itself when the other side can rebuild it, else a RemoteFailure naming it."""
    try:
        decode(pickle.dumps(error, protocol=PROTOCOL))
        return error
    except Exception:  # noqa: BLE001 - anything that does not survive the trip
        return RemoteFailure(f"{type(error).__name__}: {error}")


# ---------------------------------------------------------------- placements
#
# Every order crosses the socket twice, so a placement skips pickling's generic walk of objects
# (the command's dataclasses and Decimals, the answer's nested document): the command goes as
# orjson of its fields, its amounts as decimal strings, and the answer as the document's JSON,
# which the API process sends on as it is. The frame around them is still a pickle, of a tuple.


def encode_placement(cmd: PlaceOrder, ctx: CommandContext) -> bytes:
    """The command's fields and context as JSON; amounts (lines' unit prices, the shipping price)
    as decimal strings. Anything else that is not JSON refuses to encode rather than change."""
    return orjson.dumps((
        cmd.channel, cmd.external_id, cmd.currency, cmd.customer, cmd.shipping_address,
        [{**line, "unit_price": str(line["unit_price"])} for line in cmd.lines], str(cmd.shipping_price),
        cmd.payment, cmd.idempotency_key, cmd.request_fingerprint, cmd.key_owner,
        ctx.actor_id, ctx.actor_name, ctx.command, ctx.request_id))


def decode_placement(data: bytes) -> tuple[PlaceOrder, CommandContext]:
    (channel, external_id, currency, customer, shipping_address, lines, shipping_price, payment,
     idempotency_key, request_fingerprint, key_owner, actor_id, actor_name, command, request_id) = orjson.loads(data)
    for line in lines:
        line["unit_price"] = Decimal(line["unit_price"])
    return (PlaceOrder(channel, external_id, currency, customer, shipping_address, lines, Decimal(shipping_price),
                       payment, idempotency_key, request_fingerprint, key_owner),
            CommandContext(actor_id, actor_name, command, request_id))


def encode_placed(outcome: Outcome) -> tuple[bytes, str, int, int | None, bool]:
    document = outcome.document
    return orjson.dumps(document), document["id"], document["version"], outcome.position, outcome.created


def decode_placed(answer: tuple[bytes, str, int, int | None, bool]) -> Outcome:
    json, order_id, version, position, created = answer
    return Outcome(RenderedDocument(json, order_id, version), position, created)


def writer_socket_directory() -> str:
    """A fresh directory that only this user can enter, for the writer's socket."""
    path = tempfile.mkdtemp(prefix="oms-writer-")
    os.chmod(path, 0o700)
    return path
