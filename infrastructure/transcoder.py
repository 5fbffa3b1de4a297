"""orjson transcoding of event state, with exact round-trips of the types the domain uses.

orjson writes UUIDs and datetimes as plain strings and rejects Decimal, so values of those types
are tagged (``{"__uuid__": ...}``) on the way in and turned back into their types on the way out.
Money therefore stays a Decimal string, never a float; datetimes keep their timezone. The
domain's entities (frozen dataclasses such as ``domain.entities.Shipment``, found in snapshots)
are tagged with their class's topic and rebuilt through their constructor; only classes of the
``domain`` package are rebuilt this way.
"""
from __future__ import annotations

from dataclasses import is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic, resolve_topic

_UUID, _DECIMAL, _DATETIME, _DATE, _TUPLE = "__uuid__", "__decimal__", "__datetime__", "__date__", "__tuple__"
_ENTITY = "__entity__"


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        # Plain values are by far the most common: no call for them (this runs for every event).
        return {k: v if type(v) in _PLAIN else _tag(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else _tag(v) for v in value]
    if kind in _PLAIN:
        return value
    if kind is Decimal:
        return {_DECIMAL: str(value)}
    if kind is UUID:
        return {_UUID: value.hex}
    if kind is datetime:
        return {_DATETIME: value.isoformat()}
    if kind is date:
        return {_DATE: value.isoformat()}
    if kind is tuple:
        return {_TUPLE: [_tag(v) for v in value]}
    if is_dataclass(value) and not isinstance(value, type):
        return {_ENTITY: [get_topic(kind), _tag(dict(vars(value)))]}
    if isinstance(value, str):  # StrEnum and other str subclasses
        return str(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"cannot transcode {kind.__name__}: {value!r}")


def _untag(value: Any) -> Any:
    """Turns the tags back into their values, in place: the containers are orjson's fresh ones,
    and rebuilding every one of them cost a quarter more per decoded event."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            (key, inner), = value.items()
            if key == _DECIMAL:
                return Decimal(inner)
            if key == _UUID:
                return UUID(hex=inner)
            if key == _DATETIME:
                return datetime.fromisoformat(inner)
            if key == _DATE:
                return date.fromisoformat(inner)
            if key == _TUPLE:
                return tuple(_untag(v) for v in inner)
            if key == _ENTITY:
                return _entity(*inner)
        for k, v in value.items():
            if type(v) not in _PLAIN:
                value[k] = _untag(v)  # replacing a value while iterating is allowed (no new keys)
        return value
    if kind is list:
        for i, v in enumerate(value):
            if type(v) not in _PLAIN:
                value[i] = _untag(v)
        return value
    return value


def _entity(topic: str, state: dict[str, Any]) -> Any:
    if not topic.startswith("domain."):
        raise ValueError(f"{topic} is not an entity of the domain")
    return resolve_topic(topic)(**_untag(state))


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))
