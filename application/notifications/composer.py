"""What an event of an order tells its customer: which messages, to whom, rendered.

Transactional messages only, each caused by one event:

| event | message | SMS too |
|---|---|---|
| PaymentAuthorized, PaymentCollectedByChannel (the order is taken and paid for) | order_confirmed | yes |
| ShipmentShipped (one per parcel) | shipment_shipped | yes |
| ShipmentDelivered | shipment_delivered | |
| OrderCancelled | order_cancelled | |
| PaymentDeclined (the customer must pay again) | order_on_hold | |
| ReturnReceived | return_received | |
| PaymentRefunded | refund_issued | |

Holds an operator puts on an order (a fraud check, an address to confirm) ask nothing of the
customer and tell them nothing. An order placed with ``notify_customer`` false gets no message at
all; an e-mail needs the customer's address, an SMS their phone number (in E.164; one that cannot
receive an SMS is recorded as failed, with why).

Each message has an id derived from (order, event version, template, channel): the same event
always makes the same message, and its e-mail's ``Message-ID`` is derived from that id.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from application.notifications.delivery_estimate import expected_delivery
from application.notifications.language import MessageLocale, message_locale
from application.notifications.phone import NoSmsNumber, to_e164
from application.notifications.rendering import EMAIL_PARTS, Renderer
from domain.money import ZERO, to_currency
from domain.order import Order

_NAMESPACE = uuid5(NAMESPACE_URL, "oms:notification")

EMAIL = "email"
SMS = "sms"

# event type -> template
TEMPLATE_OF_EVENT = {
    "PaymentAuthorized": "order_confirmed",
    "PaymentCollectedByChannel": "order_confirmed",
    "ShipmentShipped": "shipment_shipped",
    "ShipmentDelivered": "shipment_delivered",
    "OrderCancelled": "order_cancelled",
    "PaymentDeclined": "order_on_hold",
    "ReturnReceived": "return_received",
    "PaymentRefunded": "refund_issued",
}
SMS_TEMPLATES = frozenset({"order_confirmed", "shipment_shipped"})
# The template files each message needs (Renderer.check).
TEMPLATE_FILES = {template: EMAIL_PARTS + (("sms",) if template in SMS_TEMPLATES else ())
                  for template in set(TEMPLATE_OF_EVENT.values())}

CARRIER_NAMES = {"fedex": "FedEx", "ups": "UPS", "dhl": "DHL", "usps": "USPS", "dpd": "DPD"}

# A location's coordinates by its id (None for one unknown).
Locate = Callable[[str], "tuple[float, float] | None"]


@dataclass(frozen=True)
class Notification:
    """One message to one recipient, rendered: a row of the outbox."""

    id: UUID
    order_id: UUID
    sales_channel: str
    position: int  # the event that caused it
    order_version: int
    channel: str  # "email" | "sms"
    template: str
    locale: str
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    message_id: str | None
    created_at: datetime
    # Set when it cannot be sent at all (an SMS to a number that takes none, an e-mail with no mail
    # server configured): recorded failed, saying why.
    unsendable: str | None = None


def notification_id(order_id: UUID, version: int, template: str, channel: str) -> UUID:
    return uuid5(_NAMESPACE, f"{order_id}/{version}/{template}/{channel}")


def message_id(notification: UUID, mail_domain: str) -> str:
    """The e-mail's ``Message-ID``: the same for every attempt to send it, so a mail system that
    receives it twice (the sender died after DATA, before marking it sent) can drop the copy."""
    return f"<{notification}@{mail_domain}>"


# Why an e-mail was recorded but never sent.
NO_MAIL_SERVER = "not sent: no mail server is configured (OMS_SMTP_URL)"


class Composer:
    """``mail_server``: whether e-mails can be sent at all. Without one they are rendered and
    recorded as failed, saying why; the sender never sees them, and configuring a server later does
    not send customers a backlog of old news."""

    def __init__(self, renderer: Renderer, mail_domain: str, locate: Locate, *, mail_server: bool = True) -> None:
        self.renderer = renderer
        self.mail_domain = mail_domain
        self.locate = locate
        self.mail_server = mail_server

    def compose(self, position: int, event: Any, order: Order) -> list[Notification]:
        """The messages ``event`` causes, ``order`` being the order right after it."""
        template = TEMPLATE_OF_EVENT.get(type(event).__name__)
        if template is None or not order.notify_customer:
            return []
        if template == "order_confirmed" and order.cancelled:
            return []
        customer = order.customer or {}
        address = order.shipping_address or {}
        where = message_locale(address.get("country"))
        context = self._context(template, event, order, where)
        common = dict(order_id=order.id, sales_channel=order.channel, position=position,
                      order_version=event.originator_version, template=template, locale=where.locale,
                      created_at=event.timestamp)
        messages = []
        email = customer.get("email")
        if email:
            ident = notification_id(order.id, event.originator_version, template, EMAIL)
            rendered = self.renderer.email(template, where, context)
            messages.append(Notification(
                id=ident, channel=EMAIL, recipient=email, subject=rendered.subject, body_text=rendered.text,
                body_html=rendered.html, message_id=message_id(ident, self.mail_domain),
                unsendable=None if self.mail_server else NO_MAIL_SERVER, **common))
        phone = customer.get("phone")
        if phone and template in SMS_TEMPLATES:
            ident = notification_id(order.id, event.originator_version, template, SMS)
            text = self.renderer.sms(template, where, context)
            try:
                recipient, unsendable = to_e164(phone, address.get("country")), None
            except NoSmsNumber as why:
                recipient, unsendable = phone, f"not sent: {why}"
            messages.append(Notification(
                id=ident, channel=SMS, recipient=recipient, subject=None, body_text=text, body_html=None,
                message_id=None, unsendable=unsendable, **common))
        return messages

    # ------------------------------------------------------------------ what the templates see

    def _context(self, template: str, event: Any, order: Order, where: MessageLocale) -> dict[str, Any]:
        currency = order.currency
        names = {line["sku"]: line.get("name") for line in order.lines}  # (None: the SKU says it)
        customer = order.customer or {}
        address = dict(order.shipping_address or {})
        context: dict[str, Any] = {
            "number": order.number or str(order.id),
            "currency": currency,
            "customer_name": customer.get("name") or address.get("name") or "",
            "address": {k: address.get(k) for k in ("name", "line1", "line2", "city", "postal_code", "country")},
            "lines": [
                {"sku": line["sku"], "name": names[line["sku"]], "quantity": line["quantity"],
                 "unit_price": line["unit_price"],
                 "total": to_currency(line["unit_price"] * line["quantity"], currency),
                 "backordered": order.backordered.get(line["sku"], 0)}
                for line in order.lines
            ],
            "totals": {"subtotal": order.subtotal, "discount": order.discount, "shipping": order.shipping_price,
                       "tax": order.tax, "fees": order.fees, "total": order.total},
            "taxes_included": order.taxes_included,
        }
        if template == "order_confirmed":
            context["expected_delivery"] = self._expected_delivery(event, order, address)
        elif template in ("shipment_shipped", "shipment_delivered"):
            shipment = order.shipments[event.shipment_id]
            context["shipment"] = {
                "id": shipment.id,
                "carrier": CARRIER_NAMES.get(shipment.carrier or "", shipment.carrier),
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "delivered_at": shipment.delivered_at,
                "lines": [{"sku": sku, "name": names.get(sku), "quantity": quantity}
                          for sku, quantity in shipment.lines.items()],
            }
        elif template == "order_cancelled":
            context["reason"] = order.cancel_reason
            context["charged"] = order.captured > ZERO
        elif template in ("return_received", "refund_issued"):
            ret = order.returns[event.return_id]
            context["returned"] = {
                "id": ret.id,
                "lines": [{"sku": line.sku, "name": names.get(line.sku), "quantity": line.quantity}
                          for line in ret.received],
                "refund_amount": ret.refund_amount,
                "refund_owed_by": order.refund_owed_by,
            }
            if template == "refund_issued":
                context["refund_amount"] = Decimal(event.amount)
        return context

    def _expected_delivery(self, event: Any, order: Order, address: dict[str, Any]) -> Any:
        latitude, longitude = address.get("latitude"), address.get("longitude")
        destination = (latitude, longitude) if latitude is not None and longitude is not None else None
        origins = [self.locate(s.location_id) for s in order.shipments.values() if s.status.is_open]
        return expected_delivery(event.timestamp.date(), destination, origins)
