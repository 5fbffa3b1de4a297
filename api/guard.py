"""What every request is checked for before any route sees it: text that PostgreSQL cannot hold,
bodies that are too large, not UTF-8 or nested too deep.

PostgreSQL's ``text`` and ``jsonb`` refuse NUL (U+0000), and UTF-8 has no encoding for a lone
surrogate (U+D800-U+DFFF): such text, let into an event, could never be written to a read model
(the hardening issue: four requests stopped all four read models). So it is refused at the edge,
with a pointer to where it was, in every field of every endpoint: the body at any depth (keys
included), query parameters and path parameters. Headers cannot carry either (HTTP refuses NUL
in a header, and a header's bytes are Latin-1, which has no surrogates).

In a JSON text, NUL and surrogates can only be written as ``\\u`` escapes (a raw NUL is a control
character JSON does not allow in a string, and a raw surrogate is not UTF-8), so a body without
``\\u`` and with fewer brackets than the depth limit is passed at the cost of two byte scans;
only the others are parsed here (the route parses them again, as it would anyway).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

# What PostgreSQL's text cannot hold.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Refusal(Exception):
    """The request is refused before any route sees it. ``errors`` as in a problem's list."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def describe(text: str) -> str:
    found = UNSTORABLE.search(text)
    assert found is not None
    code = ord(found.group())
    what = "NUL (U+0000)" if code == 0 else f"a lone surrogate (U+{code:04X})"
    return f"contains {what}, which cannot be stored"


def shown(text: str) -> str:
    """``text`` with what cannot be stored (or sent in a JSON answer) written as escapes."""
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_parameters(where: str, items: Iterable[tuple[str, str]]) -> None:
    for name, value in items:
        for text in (name, value):
            if UNSTORABLE.search(text):
                raise Refusal(422, f"the {where} parameter {shown(name)!r} {describe(text)}",
                              [{"parameter": shown(name), "in": where, "detail": describe(text)}])


def check_json_body(raw: bytes, max_depth: int) -> None:
    """Refuses a body that is not UTF-8, not JSON, nests deeper than ``max_depth`` or holds text
    PostgreSQL cannot store: the same answer on every route, whether or not it takes a body."""
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Refusal(422, f"the request body is not valid UTF-8 (byte {error.start})",
                          [{"pointer": "", "detail": f"not valid UTF-8 at byte {error.start}"}]) from None
    if b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= max_depth:
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise _not_json(error) from None
        return
    try:
        document = json.loads(raw)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError as error:
        raise _not_json(error) from None
    _walk(document, "", 1, max_depth)


def _not_json(error: ValueError) -> Refusal:
    detail = f"malformed JSON: {error}"
    return Refusal(422, f"{detail} at the request body", [{"pointer": "", "detail": detail}])


def _walk(value: Any, pointer: str, depth: int, max_depth: int) -> None:
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise _unstorable(pointer, value)
    elif isinstance(value, dict):
        if depth > max_depth:
            raise _too_deep(max_depth, pointer)
        for key, item in value.items():
            inner = f"{pointer}/{_escape(key)}"
            if UNSTORABLE.search(key):
                raise _unstorable(inner, key, "the key")
            _walk(item, inner, depth + 1, max_depth)
    elif isinstance(value, list):
        if depth > max_depth:
            raise _too_deep(max_depth, pointer)
        for index, item in enumerate(value):
            _walk(item, f"{pointer}/{index}", depth + 1, max_depth)


def _escape(key: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return shown(key.replace("~", "~0").replace("/", "~1"))


def _unstorable(pointer: str, text: str, what: str = "the text") -> Refusal:
    detail = f"{what} {describe(text)}"
    return Refusal(422, f"{detail} at {pointer or 'the request body'}", [{"pointer": pointer, "detail": detail}])


def _too_deep(max_depth: int, pointer: str = "") -> Refusal:
    detail = f"nested deeper than {max_depth} levels"
    return Refusal(422, f"the request body is {detail}", [{"pointer": pointer, "detail": detail}])
