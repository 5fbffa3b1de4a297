"""What the sender does when the mail server is down, refuses for now, or refuses for good; and
the notifications as the API lists them."""
from __future__ import annotations

import socket
import threading
import time
import uuid

from tests.api.support import Api, assert_problem, order_body, unique
from tests.notifications.support import notifications, wait_notifications


def confirmed_order(shop: Api, email: str, **overrides) -> dict:
    _, sku = shop.stocked(3)
    body = order_body(sku, 1, **overrides)
    body["customer"] = {"name": "Ada Lovelace", "email": email, "phone": None}
    order = shop.wait_order(shop.place(body)["id"])
    assert order["status"] == "confirmed", order
    return order


def the_email(found: list[dict]) -> dict:
    (email,) = [n for n in found if n["channel"] == "email"]
    return email


def test_a_recipient_refused_with_550_fails_at_once_and_says_why(shop, mailbox):
    order = confirmed_order(shop, f"bounce-{uuid.uuid4().hex[:8]}@example.com")
    email = the_email(wait_notifications(shop, order["id"], lambda f: f and f[0]["status"] != "pending"))
    assert email["status"] == "failed" and email["attempts"] == 1 and email["sent_at"] is None
    assert "550" in email["last_error"] and "no such mailbox" in email["last_error"]
    assert mailbox.messages(order["number"]) == []


def test_a_temporary_refusal_is_tried_again_and_goes(shop, mailbox):
    order = confirmed_order(shop, f"greylist-{uuid.uuid4().hex[:8]}@example.com")
    email = the_email(wait_notifications(shop, order["id"], lambda f: f and f[0]["status"] == "sent"))
    assert email["attempts"] == 2 and "451" in email["last_error"] and email["sent_at"]
    assert len(mailbox.messages(order["number"])) == 1


def test_mail_waits_while_the_server_is_down_and_goes_once_when_it_is_back(shop, smtp, mailbox, deployment):
    smtp.stop()
    try:
        order = confirmed_order(shop, f"patient-{uuid.uuid4().hex[:8]}@example.com")
        found = wait_notifications(shop, order["id"], lambda f: f and f[0]["attempts"] >= 3)
        email = the_email(found)
        assert email["status"] == "pending" and "cannot reach the mail server" in email["last_error"]
        detail = shop.get(f"/notifications/{email['id']}").json()
        assert detail["next_attempt_at"] is not None
        # Growing delays: three attempts took at least 0.3 + 0.6 s (OMS_NOTIFICATION_RETRY_SECONDS=0.3).
    finally:
        smtp.start()
    email = the_email(wait_notifications(shop, order["id"], lambda f: f and f[0]["status"] == "sent"))
    time.sleep(0.5)
    assert len(mailbox.messages(order["number"])) == 1
    assert email["attempts"] >= 4


def test_without_a_mail_server_messages_are_recorded_and_say_why_they_were_not_sent(shop, deployment):
    composer = deployment.notifications.runner.projection.composer
    composer.mail_server = False  # as with OMS_SMTP_URL unset
    try:
        order = confirmed_order(shop, f"nowhere-{uuid.uuid4().hex[:8]}@example.com")
        email = the_email(wait_notifications(shop, order["id"], lambda f: len(f) == 1))
    finally:
        composer.mail_server = True
    assert (email["status"], email["attempts"]) == ("failed", 0)  # the sender never sees it
    assert email["last_error"] == "not sent: no mail server is configured (OMS_SMTP_URL)"
    detail = shop.get(f"/notifications/{email['id']}").json()
    assert detail["subject"].startswith("Ihre Bestellung") and "Gesamtbetrag" in detail["body_text"]


def test_an_sms_to_a_landline_is_recorded_failed_with_why(shop, deployment):
    _, sku = shop.stocked(3)
    body = order_body(sku, 1)
    body["customer"] = {"name": "Ada Lovelace", "phone": "030 1234567"}
    order = shop.wait_order(shop.place(body)["id"])
    (sms,) = wait_notifications(shop, order["id"], lambda f: len(f) == 1)
    assert (sms["channel"], sms["status"], sms["attempts"]) == ("sms", "failed", 0)
    assert "landline" in sms["last_error"] and sms["recipient"] == "030 1234567"


# ------------------------------------------------------------------ the API


def test_the_list_filters_pages_and_is_for_admins_integrators_and_auditors(shop, auditor, http, keys):
    order = confirmed_order(shop, f"listed-{uuid.uuid4().hex[:8]}@example.com")
    found = wait_notifications(shop, order["id"], lambda f: len(f) == 1 and f[0]["status"] == "sent")
    assert set(found[0]) >= {"id", "order_id", "channel", "template", "recipient", "status", "attempts",
                             "last_error", "sent_at"}
    assert found[0]["order_id"] == order["id"] and found[0]["template"] == "order_confirmed"
    assert notifications(auditor, order["id"], status="sent") == found
    assert notifications(auditor, order["id"], status="failed") == []
    integrator = Api(http, keys["integrator"])
    assert notifications(integrator, order["id"]) == found
    page = shop.get("/notifications?limit=1")
    assert page.status_code == 200 and len(page.json()["data"]) == 1 and page.json()["next_cursor"]
    everything = shop.all_pages("/notifications?limit=2")
    assert len(everything) == len({n["id"] for n in everything}) >= 5
    assert [n["created_at"] for n in everything] == sorted((n["created_at"] for n in everything), reverse=True)
    assert_problem(Api(http, keys["analyst"]).get("/notifications"), 403)
    assert_problem(Api(http, None).get("/notifications"), 401)
    for query in ("status=lost", "order_id=42", "limit=0", "cursor=nonsense", "colour=red"):
        assert_problem(shop.get(f"/notifications?{query}"), 422)


def test_one_notification_shows_what_was_sent(shop, auditor):
    order = confirmed_order(shop, f"detail-{uuid.uuid4().hex[:8]}@example.com")
    (email,) = wait_notifications(shop, order["id"], lambda f: len(f) == 1 and f[0]["status"] == "sent")
    detail = auditor.get(f"/notifications/{email['id']}").json()
    assert detail["message_id"] == f"<{email['id']}@shop.example>"
    assert detail["locale"] == "de_DE" and detail["subject"] == f"Ihre Bestellung {order['number']} ist bestätigt"
    assert "<html" in detail["body_html"] and order["number"] in detail["body_text"]
    assert detail["next_attempt_at"] is None
    assert_problem(auditor.get(f"/notifications/{uuid.uuid4()}"), 404)
    assert_problem(auditor.get("/notifications/not-a-uuid"), 404)


def test_a_key_limited_to_channels_sees_only_their_orders_messages(shop, http, deployment):
    order = confirmed_order(shop, f"web-{uuid.uuid4().hex[:8]}@example.com")
    (email,) = wait_notifications(shop, order["id"], lambda f: len(f) == 1)
    _, secret = deployment.api_keys.create("elsewhere", "integrator", channels=[unique("other")])
    elsewhere = Api(http, secret)
    assert notifications(elsewhere, order["id"]) == []
    assert_problem(elsewhere.get(f"/notifications/{email['id']}"), 404)


def test_the_outbox_is_no_read_model_it_is_never_rebuilt_and_its_lag_is_shown(shop, deployment):
    import pytest

    assert "notifications" not in [runner.name for runner in deployment.projections]  # (oms projections rebuild)
    with pytest.raises(RuntimeError, match="never rebuilt"):
        deployment.notifications.runner.rebuild()
    status = {p["name"]: p for p in shop.get("/projections").json()["data"]}
    assert status["notifications"]["lag"] >= 0


def test_while_the_server_is_down_a_batch_tries_it_once(shop, smtp, deployment):
    """Not once per message: a batch of confirmations does not knock on a dead server's door once
    each. (The server here accepts each connection and hangs up at once, counting them.)"""
    sender = deployment.notifications.sender
    sender.stop()
    smtp.stop()
    hang_up = socket.create_server(("127.0.0.1", smtp.port))
    connections: list[int] = []

    def answer() -> None:
        while True:
            try:
                conn, _ = hang_up.accept()
            except OSError:
                return
            connections.append(1)
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        orders = [confirmed_order(shop, f"batch-{n}-{uuid.uuid4().hex[:6]}@example.com") for n in range(5)]
        for order in orders:
            wait_notifications(shop, order["id"], lambda f: len(f) == 1)
        assert sender.dispatcher.dispatch() >= 5
        assert len(connections) == 1
        for order in orders:
            (email,) = notifications(shop, order["id"])
            assert email["status"] == "pending" and "cannot reach the mail server" in email["last_error"]
    finally:
        hang_up.shutdown(socket.SHUT_RDWR)  # (wakes the accept; a close alone would leave it listening)
        hang_up.close()
        smtp.start()
        sender.start()
