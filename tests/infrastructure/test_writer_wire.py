"""Commands cross the writer's socket by their type: every field of every command arrives as it
was sent, whatever command it is; answers and refusals come back as the same outcomes and
errors; what cannot be sent or read fails its own call, nothing else."""
from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.responses import order_response
from application.commands import Command
from application.context import CommandContext
from application.documents import RenderedDocument
from application.errors import CommandFailed, NotFound, PreconditionFailed
from application.service import Outcome, handled_commands
from domain.errors import ForbiddenTransition, InsufficientStock
from infrastructure.writer_wire import (
    call_id_of,
    decode_answer,
    decode_request,
    encode_error,
    encode_outcome,
    encode_request,
)

# What the API can put into a command: text without the code points the edge refuses, JSON
# values, exact amounts, instants with their offsets.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | texts
                           | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=8)
amounts = st.decimals(min_value=-10**12, max_value=10**12, places=4, allow_nan=False, allow_infinity=False)
instants = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))


def _strategy(annotation: typing.Any) -> st.SearchStrategy[typing.Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is str:
        return texts
    if annotation is int:
        return st.integers(-2**63, 2**63 - 1)
    if annotation is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if annotation is bool:
        return st.booleans()
    if annotation is Decimal:
        return amounts
    if annotation is datetime:
        return instants
    if annotation is type(None):
        return st.none()
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return st.one_of(*(_strategy(a) for a in args))
    if origin is frozenset:
        return st.frozensets(_strategy(args[0]), max_size=4)
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=4).map(tuple)
    if origin is dict:
        return st.dictionaries(texts, json_values, max_size=5)
    if dataclasses.is_dataclass(annotation):
        return _command_strategy(annotation)
    raise AssertionError(f"no strategy for {annotation!r}: teach this test the new field type")


def _command_strategy(cls: type) -> st.SearchStrategy[typing.Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def test_every_command_has_a_use_case():
    assert set(Command.all()) == handled_commands()


@pytest.mark.parametrize("command_type", Command.all(), ids=lambda t: t.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), context=st.builds(CommandContext, texts, texts, texts, texts))
def test_every_field_of_every_command_arrives_exactly_as_it_was_sent(command_type, data, context):
    cmd = data.draw(_command_strategy(command_type))
    call_id, received, received_context = decode_request(encode_request(7, cmd, context)[4:])
    assert (call_id, received, received_context) == (7, cmd, context)
    assert _same(cmd, received)


def _same(sent: typing.Any, got: typing.Any) -> bool:
    """The same types all the way down, and amounts and instants with the same digits and offsets."""
    if type(sent) is not type(got):
        return False
    if dataclasses.is_dataclass(sent):
        return all(_same(getattr(sent, f.name), getattr(got, f.name)) for f in dataclasses.fields(sent))
    if isinstance(sent, (tuple, list)):
        return len(sent) == len(got) and all(map(_same, sent, got))
    if isinstance(sent, dict):
        return sent.keys() == got.keys() and all(_same(v, got[k]) for k, v in sent.items())
    if isinstance(sent, (Decimal, datetime)):
        return str(sent) == str(got)
    return sent == got


def test_a_command_that_cannot_be_sent_fails_before_it_leaves():
    from application.commands import CancelOrder

    with pytest.raises(UnicodeEncodeError):
        encode_request(1, CancelOrder("\ud800", "x"), CommandContext("k", "n", "CancelOrder"))


def test_a_request_for_no_known_command_is_refused_with_its_call_id():
    frame = orjson.dumps([41, "LaunchRockets", {}, {"actor_id": "a", "actor_name": "b", "command": "c",
                                                   "request_id": "r"}])
    with pytest.raises(KeyError):
        decode_request(frame)
    assert call_id_of(frame) == 41 and call_id_of(b"\xff garbage") is None


def test_the_answer_is_the_document_and_leaves_the_api_process_as_it_came():
    document = {"id": "0192", "version": 3, "status": "pending", "totals": {"total": "9.90"}, "lines": []}
    call_id, outcome, error = decode_answer(encode_outcome(7, Outcome(document, 42, True))[4:])

    assert (call_id, error, outcome.position, outcome.created) == (7, None, 42, True)
    assert isinstance(outcome.document, RenderedDocument) and outcome.document == document
    response = order_response(outcome.document, 201)
    assert response.body == orjson.dumps(document) and response.headers["etag"] == '"3"'
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("error", [
    NotFound("shipment", "shp_x_1"), PreconditionFailed(4), ForbiddenTransition("cannot ship: it is ready"),
    InsufficientStock("only 2 available"),
], ids=lambda e: type(e).__name__)
def test_refusals_come_back_as_the_same_errors_with_their_details(error):
    _, outcome, received = decode_answer(encode_error(3, error)[4:])
    assert outcome is None and type(received) is type(error) and str(received) == str(error)
    assert vars(received) == vars(error)


def test_any_other_failure_comes_back_as_a_command_failure_naming_it():
    _, _, received = decode_answer(encode_error(3, KeyError("nope"))[4:])
    assert isinstance(received, CommandFailed) and "KeyError" in str(received)


def test_only_our_failures_are_rebuilt_from_what_the_other_side_names():
    frame = orjson.dumps([3, None, ["os:system", ["echo pwned"]]])
    _, _, received = decode_answer(frame)
    assert isinstance(received, CommandFailed) and "os:system" in str(received)


@pytest.mark.parametrize("channels", [None, frozenset(), frozenset({"amazon-de"}), frozenset({"amazon-de", "shop ü/1"}),
                                      ("amazon-de", "web", "amazon-de")],
                         ids=["unlimited", "empty", "one", "two", "tuple"])
def test_the_channels_of_a_limited_key_cross_with_its_context_as_a_frozenset(channels):
    from application.commands import CancelOrder

    context = CommandContext("key", "amazon connector", "CancelOrder", "req-1", channels=channels)
    _, _, received = decode_request(encode_request(1, CancelOrder("o", "r"), context)[4:])
    expected = None if channels is None else frozenset(channels)
    assert type(received.channels) is type(expected) and received.channels == expected
    assert dataclasses.replace(received, channels=None) == dataclasses.replace(context, channels=None)
    assert received.reaches("amazon-de") is (channels is None or "amazon-de" in channels)
    assert received.reaches("web") is (channels is None or "web" in channels)


def test_a_context_from_an_api_process_that_sends_no_channels_reaches_every_channel():
    frame = orjson.dumps([5, "CancelOrder", {"order_id": "o", "reason": "r"},
                          {"actor_id": "a", "actor_name": "b", "command": "c", "request_id": "r"}])
    _, _, received = decode_request(frame)
    assert received.channels is None and received.reaches("any")
