"""Every fixture of the real variety (tests/fixtures/payloads) through its channel, end to end:
signed or keyed as its platform sends it, placed with the platform's total, confirmed, waiting
for its payment, or held for what it lacks."""
from __future__ import annotations

import pytest

from application.channel_import import MAPPERS
from tests.api.channel_support import channel, deliver_shopify, deliver_woocommerce, payload, stock_skus
from tests.api.support import Api, unique
from tests.application.test_channel_fixtures import EXPECTED, TOPIC


@pytest.mark.parametrize("name", sorted(EXPECTED) + ["amazon/pending.json"])
def test_each_fixture_goes_through_its_channel(admin: Api, name: str) -> None:
    platform = name.split("/")[0]
    body = payload(name)
    expected = EXPECTED.get(name)
    cmd = MAPPERS[platform](body, "c", TOPIC[platform])
    stock_skus(admin, [line.sku for line in cmd.lines if line.requires_shipping])
    channel_id = channel(admin, platform, secret=None if platform == "amazon" else "fixture-secret-123")
    if platform == "shopify":
        body["id"] = unique("")[1:]  # a new order each run: the session's database is shared
        r = deliver_shopify(admin, channel_id, body, secret="fixture-secret-123")
    elif platform == "woocommerce":
        r = deliver_woocommerce(admin, channel_id, body, secret="fixture-secret-123")
    else:
        r = admin.post(f"/channels/{channel_id}/orders", body)
    assert r.status_code == 201, r.text
    order = r.json()
    if expected is None:  # Amazon's Pending: no prices yet, waits for them and the payment
        assert (order["status"], order["hold"]["reason"]) == ("on_hold", "awaiting_payment")
        return
    currency, total, *_, paid, problems = expected
    assert (order["currency"], order["totals"]["total"]) == (currency, total)
    if problems:
        assert (order["status"], order["hold"]["reason"]) == ("on_hold", problems[0])
    elif not paid:
        assert (order["status"], order["hold"]["reason"], order["payment_status"]) == (
            "on_hold", "awaiting_payment", "pending")
    else:
        assert (order["status"], order["payment_status"], order["hold"]) == ("confirmed", "paid", None), order["hold"]
        assert order["payment"]["collected_by"] == "channel"
