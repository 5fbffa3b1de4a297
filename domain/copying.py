"""A deep copy for aggregate state made of dicts, lists and immutable values.

Every command decides on a private copy of the aggregates it changes (so a command that breaks a
rule leaves no trace). ``copy.deepcopy``'s generic walk (memo, reduce protocol) costs more than
deciding an order; state that is plain data can be copied by rebuilding its containers and
sharing its immutable leaves. Anything else falls back to ``copy.deepcopy``.
"""
from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal, UUID, datetime, date})


def copy_state(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else copy_state(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else copy_state(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


def copy_aggregate(aggregate: Any) -> Any:
    """A new instance of the aggregate's class with a deep copy of its state."""
    clone = object.__new__(type(aggregate))
    # Pending events are immutable: the clone gets its own list of the same events.
    clone.__dict__.update({k: list(v) if k == "_pending_events" else v if type(v) in _IMMUTABLE else copy_state(v)
                           for k, v in aggregate.__dict__.items()})
    return clone
