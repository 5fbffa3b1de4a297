"""Webhooks never reach this machine or a private network unless OMS_WEBHOOKS_ALLOW_PRIVATE says
so: a URL leading there is refused when saved (422), and at send time its host is resolved and
checked again, and the request goes only to the address that was checked."""
from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.app import create_app
from infrastructure.webhooks.addresses import RefusedAddress, public_addresses, refusal, refusal_of_url
from tests.api.support import Api, assert_problem, order_body, pointers
from tests.webhooks.conftest import Endpoints
from tests.webhooks.receiver import Receiver

REFUSED = [
    "http://127.0.0.1:9/hooks",
    "http://127.1.2.3/hooks",
    "http://10.1.2.3/hooks",
    "https://192.168.0.10/hooks",
    "http://172.16.5.4:8080/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[fd00::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://localhost:8080/hooks",  # a name that resolves to loopback
    "http://LOCALHOST./hooks",
]


@pytest.fixture
def strict_admin(webhook_system, admin: Api) -> Iterator[Api]:
    """The same deployment's API with OMS_WEBHOOKS_ALLOW_PRIVATE off."""
    strict = dataclasses.replace(webhook_system, settings=webhook_system.settings.model_copy(
        update={"webhooks_allow_private": False}))
    with TestClient(create_app(strict)) as client:
        yield Api(client, admin.secret, "strict admin")


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_leading_inward_is_refused_when_saved(strict_admin: Api, url: str) -> None:
    problem = assert_problem(strict_admin.post("/webhooks/endpoints", {"url": url, "event_types": ["*"]}), 422)
    assert pointers(problem) == ["/url"]
    assert "webhooks go to public addresses only" in problem["errors"][0]["detail"]


def test_a_url_changed_to_lead_inward_is_refused(strict_admin: Api, endpoints: Endpoints) -> None:
    endpoint, _ = endpoints.create(["*"])  # (saved while private addresses were allowed)
    problem = assert_problem(strict_admin.request("PATCH", f"/webhooks/endpoints/{endpoint['id']}",
                                                  json={"url": "http://169.254.169.254/"}), 422)
    assert pointers(problem) == ["/url"]


def test_public_addresses_and_names_that_do_not_resolve_are_accepted() -> None:
    assert refusal_of_url("https://93.184.216.34/hooks") is None
    assert refusal_of_url("https://[2606:4700:4700::1111]/hooks") is None
    assert refusal_of_url("https://hooks.example.invalid/") is None  # checked again when sending


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"])
def test_at_send_time_the_resolved_address_is_checked(host: str) -> None:
    with pytest.raises(RefusedAddress):
        public_addresses(host, 80)


def test_the_sender_checks_again_after_resolving_and_sends_nothing_inward(
        webhook_system, integrator: Api, endpoints: Endpoints, receiver: Receiver, admin: Api,
        monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, path = endpoints.create(["order.created"])
    by_name = receiver.path()
    r = admin.request("PATCH", f"/webhooks/endpoints/{endpoint['id']}",
                      json={"url": receiver.url(by_name, host="localhost")})
    assert r.status_code == 200, r.text
    receiver.trust(by_name, endpoint["secret"])
    monkeypatch.setattr(webhook_system.webhooks.sender, "allow_private", False)
    _, sku = integrator.stocked(50)
    order = integrator.place(order_body(sku))
    (delivery,) = endpoints.wait_deliveries(endpoint["id"], lambda found: found and found[0]["status"] == "failed")
    assert receiver.at(by_name, order["id"]) == [] and receiver.at(path, order["id"]) == []
    assert delivery["status_code"] is None and "loopback" in delivery["error"] and "localhost" in delivery["error"]
    log = admin.get(f"/webhooks/deliveries/{delivery['id']}").json()["attempt_log"]
    assert {a["outcome"] for a in log} == {"refused"}

    monkeypatch.setattr(webhook_system.webhooks.sender, "allow_private", True)
    r = admin.post(f"/webhooks/deliveries/{delivery['id']}/retry")
    assert r.status_code == 202, r.text
    (arrival,) = receiver.wait(by_name, lambda found: len(found) >= 1, order_id=order["id"])
    assert arrival.verified_with == [endpoint["secret"]]


NON_PUBLIC = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
              "0.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128", "224.0.0.0/4", "192.0.2.0/24"]


@given(st.sampled_from(NON_PUBLIC).flatmap(lambda net: st.integers(0, ipaddress.ip_network(net).num_addresses - 1)
                                           .map(lambda n: ipaddress.ip_network(net)[n])))
def test_no_address_of_a_non_public_range_is_allowed(address) -> None:
    assert refusal(address) is not None
    if address.version == 4:  # nor the same address written as IPv6
        assert refusal(ipaddress.IPv6Address(f"::ffff:{address}")) is not None


@given(st.integers(1, 2**32 - 1).map(ipaddress.IPv4Address))
def test_an_ipv4_address_is_refused_exactly_when_it_is_not_global(address) -> None:
    assert (refusal(address) is None) == (address.is_global and not address.is_multicast)
