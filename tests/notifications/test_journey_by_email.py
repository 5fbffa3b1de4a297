"""The customer's journey as their mailbox sees it: a real SMTP server on loopback receives every
message the OMS sends for a German and a British order (place, confirm, ship, deliver, return,
refund), each once, in the customer's language, with the amounts and dates of their locale."""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from babel.dates import format_date

from application.notifications.delivery_estimate import add_business_days
from tests.api.support import ADDRESS, BERLIN, Api, order_body, unique
from tests.notifications.conftest import MAIL_FROM
from tests.notifications.support import all_settled, notifications, wait_notifications

LONDON = (51.5072, -0.1276)
LONDON_ADDRESS = dict(name="Charles Babbage", line1="1 Dorset Street", line2=None, city="London",
                      postal_code="W1U 4EG", country="GB", latitude=51.5194, longitude=-0.1566)

GERMAN = dict(
    warehouse=BERLIN, address=ADDRESS, currency="EUR", phone="0151 12345678", e164="+4915112345678", locale="de_DE",
    subjects=["Ihre Bestellung {n} ist bestätigt", "Ihre Bestellung {n} ist unterwegs",
              "Ihre Bestellung {n} wurde zugestellt", "Ihre Rücksendung zu Bestellung {n} ist angekommen",
              "Ihre Erstattung von 99,90\xa0€ zu Bestellung {n}"],
    confirmation=["2 x {sku}, je 99,90\xa0€: 199,80\xa0€", "Versand: 4,95\xa0€",
                  "Gesamtbetrag: 204,75\xa0€ (EUR)", "Am Neuen Garten 1\n14469 Potsdam\nDeutschland",
                  "Voraussichtliche Lieferung: {expected}"],
    shipped=["mit FedEx unterwegs", "Sendungsnummer: {tracking}", "Sendungsverfolgung: {url}",
             "In diesem Paket:\n2 x {sku}"],
    sms=["Bestellung {n} bestätigt: 204,75 €. Voraussichtliche Lieferung {expected_short}.",
         "Ihre Bestellung {n} ist mit FedEx unterwegs, Sendungsnummer {tracking}: {url}"],
)
BRITISH = dict(
    warehouse=LONDON, address=LONDON_ADDRESS, currency="GBP", phone="07911 123456", e164="+447911123456",
    locale="en_GB",
    subjects=["Your order {n} is confirmed", "Your order {n} is on its way", "Your order {n} has been delivered",
              "We have received your return for order {n}", "Your refund of £99.90 for order {n}"],
    confirmation=["2 x {sku}, £99.90 each: £199.80", "Shipping: £4.95", "Total: £204.75 (GBP)",
                  "1 Dorset Street\nLondon W1U 4EG\nUnited Kingdom", "Expected delivery: {expected}"],
    shipped=["has left us with FedEx", "Tracking number: {tracking}", "Track it: {url}",
             "In this parcel:\n2 x {sku}"],
    sms=["Order {n} confirmed: £204.75. Expected delivery {expected_short}.",
         "Your order {n} is on its way with FedEx, tracking number {tracking}: {url}"],
)


def run_journey(shop: Api, case: dict, email: str, **order: object) -> dict:
    """Place, confirm, ship, deliver, return and refund an order of 2 x 99.90 (+ 4.95 shipping)."""
    location, sku = shop.stocked(5, at=case["warehouse"])
    body = order_body(sku, 2, currency=case["currency"], shipping_address=dict(case["address"]), **order)
    body["customer"] = {"name": case["address"]["name"], "email": email, "phone": case["phone"]}
    placed = shop.wait_order(shop.place(body)["id"])
    assert placed["status"] == "confirmed", placed
    shipment = placed["shipments"][0]["id"]
    shop.advance(shipment, "pick", "pack", "ship", "deliver")
    r = shop.post(f"/orders/{placed['id']}/returns", {"lines": [{"sku": sku, "quantity": 1, "reason": "too small"}]})
    assert r.status_code == 201, r.text
    r = shop.post(f"/returns/{r.json()['id']}/receive",
                  {"location_id": location, "lines": [{"sku": sku, "quantity": 1, "condition": "resellable"}]})
    assert r.status_code == 200, r.text
    final = shop.wait_order(placed["id"], lambda o: o["payment_status"] == "partially_refunded")
    assert final["payment_status"] == "partially_refunded", final
    return {**final, "sku": sku}


@pytest.mark.parametrize("case", [GERMAN, BRITISH], ids=["DE", "GB"])
def test_the_journey_sends_each_message_once_in_the_customers_language(shop, auditor, mailbox, deployment, case):
    email = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    order = run_journey(shop, case, email)
    number = order["number"]
    sent = wait_notifications(shop, order["id"], all_settled(7))
    assert {(n["channel"], n["status"]) for n in sent} == {("email", "sent"), ("sms", "sent")}, sent
    mailbox.wait_for(lambda: len(mailbox.messages(number)) >= 5, what=f"the 5 e-mails of {number}")

    received = [r for r in mailbox.messages(number) if r.recipients == (email,)]
    assert [r.subject for r in received] == [s.format(n=number) for s in case["subjects"]]
    emails = sorted((n for n in sent if n["channel"] == "email"), key=lambda n: n["created_at"])
    assert [r.message_id for r in received] == [f"<{n['id']}@shop.example>" for n in emails]
    assert all(mailbox.message_ids()[r.message_id] == 1 for r in received)  # each once
    assert {str(r.message["From"]) for r in received} == {MAIL_FROM}

    history = auditor.get(f"/orders/{order['id']}/history").json()
    authorized = next(e for e in history["data"] if e["type"] == "PaymentAuthorized")
    # The warehouse is in the customer's city: a day's handling, a day's transit (weekdays).
    expected = add_business_days(datetime.fromisoformat(authorized["recorded_at"]).date(), 2)
    shipment = order["shipments"][0]
    values = dict(n=number, sku=order["sku"], tracking=shipment["tracking_number"], url=shipment["tracking_url"],
                  expected=format_date(expected, "full", locale=case["locale"]),
                  expected_short=format_date(expected, "long", locale=case["locale"]))
    confirmation, shipped = received[0], received[1]
    for expected_text in case["confirmation"]:
        assert expected_text.format(**values) in confirmation.part("plain")
    for expected_text in case["shipped"]:
        assert expected_text.format(**values) in shipped.part("plain")
    html = confirmation.part("html")
    assert f'<html lang="{case["locale"][:2]}">' in html and number in html
    assert case["confirmation"][2].format(**values).split(": ")[1].split(" (")[0] in html  # the total

    # SMS for the confirmation and the parcel, to the number in E.164 (the sandbox kept them).
    texts = [s.body for s in deployment.notifications.sms.sent if number in s.body]
    assert texts == [t.format(**values) for t in case["sms"]]
    assert {s.to for s in deployment.notifications.sms.sent if number in s.body} == {case["e164"]}

    # The order's history lists every message with the event that caused it.
    assert [(n["template"], n["channel"]) for n in history["notifications"]] == [
        ("order_confirmed", "email"), ("order_confirmed", "sms"), ("shipment_shipped", "email"),
        ("shipment_shipped", "sms"), ("shipment_delivered", "email"), ("return_received", "email"),
        ("refund_issued", "email")]
    positions = {e["position"]: e["type"] for e in history["data"]}
    assert [positions[n["position"]] for n in history["notifications"] if n["channel"] == "email"] == [
        "PaymentAuthorized", "ShipmentShipped", "ShipmentDelivered", "ReturnReceived", "PaymentRefunded"]


def test_an_order_placed_not_to_be_notified_sends_nothing(shop, mailbox):
    quiet_email = f"quiet-{uuid.uuid4().hex[:8]}@example.com"
    quiet = run_journey(shop, GERMAN, quiet_email, notify_customer=False)
    # An order that does notify, placed after it: once its messages are out, the outbox has long
    # passed every event of the quiet one.
    loud = run_journey(shop, GERMAN, f"loud-{uuid.uuid4().hex[:8]}@example.com")
    wait_notifications(shop, loud["id"], all_settled(7))
    assert quiet["notify_customer"] is False
    assert notifications(shop, quiet["id"]) == []
    assert [r for r in mailbox.received if quiet_email in r.recipients or quiet["number"] in r.subject] == []
