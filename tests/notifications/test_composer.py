"""What each event of an order tells its customer, rendered from the repository's templates
(domain objects in memory, no database)."""
from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from babel.dates import format_date

from application.notifications.composer import TEMPLATE_FILES, Composer, notification_id
from application.notifications.delivery_estimate import add_business_days
from application.notifications.rendering import Renderer
from domain.entities import OrderLine, ReceivedLine, ReturnedLine
from domain.order import Order
from domain.sourcing import SourcingPlan

LOCATIONS = {"berlin": (52.52, 13.405), "munich": (48.137, 11.575), "zurich": (47.3769, 8.5417)}
POTSDAM = {"name": "Ada Lovelace", "line1": "Am Neuen Garten 1", "line2": None, "city": "Potsdam",
           "postal_code": "14469", "country": "DE", "latitude": 52.4125, "longitude": 13.0711}
LONDON = {"name": "Charles Babbage", "line1": "1 Dorset Street", "line2": None, "city": "London",
          "postal_code": "W1U 4EG", "country": "GB", "latitude": 51.5194, "longitude": -0.1566}


@pytest.fixture(scope="module")
def composer() -> Composer:
    renderer = Renderer()
    renderer.check(TEMPLATE_FILES)
    return Composer(renderer, "shop.example", LOCATIONS.get)


def placed(address=POTSDAM, *, phone="+49 151 12345678", email="ada@example.com", notify=True,
           currency="EUR", name="Ada <Lovelace>") -> Order:
    order = Order.place(
        order_id=uuid4(), channel="web", external_id="1", currency=currency,
        customer={"name": name, "email": email, "phone": phone}, shipping_address=dict(address),
        lines=[OrderLine("SHOE-42", 2, Decimal("1234.50"), name="Trail shoe"), OrderLine("SOCK", 1, Decimal("5.00"))],
        shipping_price=Decimal("4.90"), payment={"provider": "sandbox", "reference": "pay_1"},
        number="OMS-7K3F9Q", notify_customer=notify)
    order.allocate(SourcingPlan([("berlin", {"SHOE-42": 2}), ("munich", {"SOCK": 1})], {}))
    return order


def compose(composer: Composer, order: Order) -> list:
    """The messages of the events ``order`` has pending (as the outbox projection composes them:
    each with the order right after its event)."""
    events = order.collect_events()
    replayed, messages = None, []
    for position, event in enumerate(events, start=1):
        replayed = event.mutate(replayed)
        messages += composer.compose(position, event, replayed)
    return messages


def journey(order: Order) -> Order:
    order.authorize_payment("auth", order.total)
    for shipment_id in list(order.shipments):
        order.pick(shipment_id)
        order.pack(shipment_id)
        order.ship(shipment_id, "dhl", f"TRK-{shipment_id[-1]}", f"https://track.example/{shipment_id[-1]}")
        order.record_capture(shipment_id, order.capture_due()[0][1], f"cap_{shipment_id}")
        order.deliver(shipment_id, order.created_on)
    return_id = order.request_return([ReturnedLine("SHOE-42", 1, "too small")])
    order.receive_return(return_id, "berlin", [ReceivedLine("SHOE-42", 1, "resellable")])
    order.record_refund(return_id, Decimal("1234.50"), "ref_1")
    return order


def test_a_german_journey_tells_each_step_once_in_german_with_german_amounts(composer):
    messages = compose(composer, journey(placed()))
    assert [(m.template, m.channel) for m in messages] == [
        ("order_confirmed", "email"), ("order_confirmed", "sms"),
        ("shipment_shipped", "email"), ("shipment_shipped", "sms"), ("shipment_delivered", "email"),
        ("shipment_shipped", "email"), ("shipment_shipped", "sms"), ("shipment_delivered", "email"),
        ("return_received", "email"), ("refund_issued", "email")]
    assert {m.locale for m in messages} == {"de_DE"}
    assert len({m.id for m in messages}) == len(messages)
    confirmed = messages[0]
    assert confirmed.subject == "Ihre Bestellung OMS-7K3F9Q ist bestätigt"
    assert "2 x Trail shoe (SHOE-42), je 1.234,50\xa0€: 2.469,00\xa0€" in confirmed.body_text
    assert "Gesamtbetrag: 2.478,90\xa0€ (EUR)" in confirmed.body_text
    assert "Versand: 4,90\xa0€" in confirmed.body_text
    assert "Am Neuen Garten 1\n14469 Potsdam\nDeutschland" in confirmed.body_text
    assert confirmed.message_id == f"<{confirmed.id}@shop.example>"
    sms = messages[1]
    assert sms.recipient == "+4915112345678" and sms.body_text.startswith("Bestellung OMS-7K3F9Q bestätigt: 2.478,90")
    shipped = messages[2]
    assert "mit DHL unterwegs" in shipped.body_text and "Sendungsnummer: TRK-1" in shipped.body_text
    assert "https://track.example/1" in shipped.body_text and "2 x Trail shoe (SHOE-42)" in shipped.body_text
    assert "SOCK" not in shipped.body_text  # (the other parcel's)
    assert messages[-1].subject == "Ihre Erstattung von 1.234,50\xa0€ zu Bestellung OMS-7K3F9Q"


def test_an_english_order_is_written_in_english_with_the_countrys_formats(composer):
    order = placed(LONDON, phone="020 7946 0958", currency="GBP")
    order.authorize_payment("auth", order.total)
    (confirmed,) = [m for m in compose(composer, order) if m.channel == "email"]
    assert confirmed.locale == "en_GB"
    assert confirmed.subject == "Your order OMS-7K3F9Q is confirmed"
    assert "2 x Trail shoe (SHOE-42), £1,234.50 each: £2,469.00" in confirmed.body_text
    assert "Total: £2,478.90 (GBP)" in confirmed.body_text
    assert "United Kingdom" in confirmed.body_text


def test_the_expected_delivery_follows_the_farthest_location(composer):
    order = placed()
    order.authorize_payment("auth", order.total)
    confirmed = compose(composer, order)[0]
    # Berlin is 25 km from Potsdam, Munich 490: a day's handling and a day's transit either way.
    expected = add_business_days(order.created_on.date(), 2)
    assert f"Voraussichtliche Lieferung: {format_date(expected, 'full', locale='de_DE')}" in confirmed.body_text
    far = Order.place(
        order_id=uuid4(), channel="web", external_id="2", currency="EUR",
        customer={"name": "Ada", "email": "ada@example.com"}, shipping_address=dict(POTSDAM),
        lines=[OrderLine("A", 1, Decimal("1.00")), OrderLine("B", 1, Decimal("1.00"))],
        shipping_price=Decimal("0"), payment={"provider": "sandbox", "reference": "pay_2"}, number="OMS-2")
    far.allocate(SourcingPlan([("berlin", {"A": 1}), ("zurich", {"B": 1})], {}))
    far.authorize_payment("auth", far.total)
    # Zurich is 650 km away: two days' transit, and the order arrives with its last parcel.
    expected = add_business_days(far.created_on.date(), 3)
    assert f"Voraussichtliche Lieferung: {format_date(expected, 'full', locale='de_DE')}" in \
        compose(composer, far)[0].body_text


def test_html_is_escaped_and_text_is_not(composer):
    order = placed()
    order.authorize_payment("auth", order.total)
    confirmed = compose(composer, order)[0]
    assert "Ada &lt;Lovelace&gt;" in confirmed.body_html and "<Lovelace>" not in confirmed.body_html
    assert "Guten Tag Ada <Lovelace>," in confirmed.body_text
    assert confirmed.body_html.startswith("<!DOCTYPE html>\n<html lang=\"de\">")


def test_nothing_for_an_order_that_asked_for_no_messages(composer):
    assert compose(composer, journey(placed(notify=False))) == []


def test_sms_only_with_a_phone_number_and_email_only_with_an_address(composer):
    order = placed(phone=None, email=None)
    order.authorize_payment("auth", order.total)
    assert compose(composer, order) == []
    order = placed(phone="+49 151 12345678", email=None)
    order.authorize_payment("auth", order.total)
    assert [m.channel for m in compose(composer, order)] == ["sms"]


def test_a_number_that_takes_no_sms_is_recorded_unsendable_with_why(composer):
    order = placed(phone="030 1234567")  # a Berlin landline
    order.authorize_payment("auth", order.total)
    sms = [m for m in compose(composer, order) if m.channel == "sms"][0]
    assert sms.unsendable and "landline" in sms.unsendable


def test_a_declined_payment_asks_the_customer_to_act_and_an_operators_hold_says_nothing(composer):
    order = placed(LONDON)
    order.decline_payment("insufficient funds")
    order.cancel("payment never came")
    messages = compose(composer, order)
    assert [m.template for m in messages if m.channel == "email"] == ["order_on_hold", "order_cancelled"]
    assert messages[0].subject == "Action needed: the payment for order OMS-7K3F9Q was declined"
    assert "Reason: payment never came" in messages[1].body_text
    held = placed()
    held.authorize_payment("auth", held.total)
    held.put_on_hold("address_check", "no house number")
    held.release_hold()
    assert [m.template for m in compose(composer, held)] == ["order_confirmed", "order_confirmed"]


def test_the_same_event_always_makes_the_same_message_id():
    order_id = uuid4()
    assert notification_id(order_id, 3, "order_confirmed", "email") == notification_id(
        order_id, 3, "order_confirmed", "email")
    assert notification_id(order_id, 3, "order_confirmed", "email") != notification_id(
        order_id, 3, "order_confirmed", "sms")


def test_every_template_renders_in_both_languages(composer):
    """(Renderer.check compiles them; this renders each: no name a message lacks.)"""
    for address in (POTSDAM, LONDON):
        order = journey(placed(address))
        order2 = placed(address)
        order2.decline_payment("declined")
        order2.cancel("customer asked")
        templates = {m.template for m in compose(composer, order) + compose(composer, order2)}
        assert templates == set(TEMPLATE_FILES)
