"""A placement crosses the writer's socket as JSON: the command arrives exactly as sent, and the
answer's document, rendered once by the writer process, goes out of the API process unread."""
from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.responses import order_response
from application import commands
from application.context import CommandContext
from application.documents import RenderedDocument
from application.service import Outcome
from infrastructure.writer_wire import decode, decode_placed, decode_placement, encode, encode_placed, encode_placement

amounts = st.decimals(min_value=0, max_value=10**15, places=4, allow_nan=False, allow_infinity=False)
texts = st.text(max_size=20)


@given(external_id=texts, amounts=st.lists(amounts, min_size=1, max_size=4), shipping=amounts,
       latitude=st.floats(-90, 90), key=st.none() | texts, fingerprint=st.none() | texts)
def test_a_placement_arrives_exactly_as_it_was_sent(external_id, amounts, shipping, latitude, key, fingerprint):
    cmd = commands.PlaceOrder(
        channel="web", external_id=external_id, currency="EUR",
        customer={"name": "Ada", "email": "ada@example.com", "phone": None},
        shipping_address={"name": "Ada", "line1": "x", "line2": None, "city": "P", "postal_code": "1",
                          "country": "DE", "latitude": latitude, "longitude": 13.0},
        lines=[{"sku": f"S-{n}", "quantity": n + 1, "unit_price": amount} for n, amount in enumerate(amounts)],
        shipping_price=shipping, payment={"provider": "sandbox", "reference": "p"},
        idempotency_key=key, request_fingerprint=fingerprint, key_owner="owner")
    ctx = CommandContext("key-1", "Shop", "PlaceOrder", "req-1")

    # Inside the pickled frame, as the client sends it.
    (_, _, (payload,)), = [decode(encode((7, "place_order", (encode_placement(cmd, ctx),)))[4:])]
    received, context = decode_placement(payload)

    assert received == cmd and context == ctx
    assert [type(line["unit_price"]) for line in received.lines] == [Decimal] * len(amounts)
    assert str(received.shipping_price) == str(shipping)  # the same digits, not just an equal number


def test_a_value_that_json_would_change_is_refused_rather_than_sent():
    cmd = commands.PlaceOrder("web", "1", "EUR", {"name": "Ada", "credit": Decimal("5")}, {}, [], Decimal(0), {})
    with pytest.raises(TypeError):
        encode_placement(cmd, CommandContext("k", "n", "PlaceOrder"))


def test_the_answer_is_the_document_and_leaves_the_api_process_as_it_came():
    document = {"id": "0192", "version": 3, "status": "pending", "totals": {"total": "9.90"}, "lines": []}
    outcome = decode_placed(decode(encode((7, encode_placed(Outcome(document, 42, True)), None))[4:])[1])

    assert (outcome.position, outcome.created) == (42, True)
    assert isinstance(outcome.document, RenderedDocument) and outcome.document == document
    response = order_response(outcome.document, 201)
    assert response.body == orjson.dumps(document) and response.headers["etag"] == '"3"'
    assert response.headers["content-type"] == "application/json"
