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
from typing import Any

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


def writer_socket_directory() -> str:
    """A fresh directory that only this user can enter, for the writer's socket."""
    path = tempfile.mkdtemp(prefix="oms-writer-")
    os.chmod(path, 0o700)
    return path
